#!/usr/bin/env python3
"""Offline checks of Xhuma's deployment artefacts; run through `deploy/validate`, which installs
the tools this needs (PyYAML, jsonschema, check-jsonschema's vendored compose-spec schema,
kubernetes-validate's vendored Kubernetes schemas, hadolint, promtool) and passes their paths.

Each check prints `ok`/`FAIL` lines; the exit code is the number of failed checks (capped).
No network access: every schema comes from an installed package or from deploy/tools/schemas.

  compose     docker-compose.yml against the compose-spec JSON schema, after variable
              interpolation, plus reference checks (depends_on, networks, volumes, build
              targets, bind-mount sources, loopback-only ports, the Redis settings).
  docker      hadolint on the Dockerfile; every per-binary target exists with a HEALTHCHECK.
  prometheus  promtool check config / check rules.
  grafana     the dashboard JSON is what dashboard.py writes, panels only use documented
              metrics, provisioning files parse.
  otel        the collector pipelines only name components the file defines.
  k8s         `kubectl kustomize` (or a built-in renderer for the subset we use), every object
              against the Kubernetes 1.32 schemas (strict), KEDA objects against our schemas,
              and cross-object checks (selectors, probes, security contexts, secrets, KEDA
              queue <-> worker stage).
  compose-cluster  cluster.yml merged over docker-compose.yml (3-node RabbitMQ, Redis under
              Sentinel): schema, references, and that every client lists every node/sentinel.
  observability  deploy/k8s/observability (the collector the base names, Loki), strict.
  data        deploy/k8s/data (3-node RabbitMQ, Redis + Sentinels), strict, against the names
              the base's Secret and ConfigMap use; PDBs, anti-affinity, quorum and replica
              settings.
  otel/grafana also check the log pipeline: OTLP -> PHI filter -> Loki, and the Loki source.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
K8S = DEPLOY / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
K8S_VERSION = "1.32.0"

IMAGE_TARGETS = {"gateway": 8000, "worker": 9200, "audit": 9300, "nhs-sim": 9100}

# The metric names the services export (docs/operations.md lists the same set). The dashboard
# must have a panel for each; alerts may only use these.
METRICS = {
    "xhuma_soap_requests_total", "xhuma_soap_request_duration_seconds",
    "xhuma_upstream_requests_total", "xhuma_upstream_duration_seconds",
    "xhuma_upstream_errors_total", "xhuma_upstream_retries_total",
    "xhuma_prefetch_total", "xhuma_wait_total", "xhuma_wait_seconds", "xhuma_jobs_total",
    "xhuma_job_duration_seconds", "xhuma_sds_cache_total", "xhuma_gpconnect_fetch_seconds",
    "xhuma_gpconnect_bundle_bytes", "xhuma_conversion_seconds", "xhuma_conversion_output_bytes",
    "xhuma_queue_depth", "xhuma_audit_events_total", "xhuma_audit_consumed_total",
    "xhuma_audit_store_errors_total", "xhuma_audit_syslog_total", "xhuma_audit_batch_seconds",
}
_EMIT = re.compile(r'(?:counter|histogram|gauge)!\(\s*"(xhuma_[a-z0-9_]+)"')


def emitted_metrics() -> set[str]:
    """Metric names the Rust sources emit through the `metrics` macros (literal names)."""
    found: set[str] = set()
    for path in ROOT.rglob("*.rs"):
        if "target" in path.relative_to(ROOT).parts:
            continue
        try:
            found.update(_EMIT.findall(path.read_text(errors="replace")))
        except OSError:
            continue
    return found


def check_metric_names(r: Report) -> None:
    """Warnings only: code and dashboard move at different speeds, and CI should not fail on a
    new metric; the warning tells whoever adds one to add its panel and its docs line."""
    code = emitted_metrics()
    for name in sorted(code - METRICS):
        print(f"warn metrics: {name} is emitted by the code but has no panel/docs entry "
              "(add it to METRICS in deploy/tools/validate.py, the dashboard and docs/operations.md)")
    for name in sorted(METRICS - code):
        print(f"warn metrics: {name} is documented and charted but no crate emits it (yet)")


class Report:
    def __init__(self, verbose: bool):
        self.failures: list[str] = []
        self.verbose = verbose

    def fail(self, area: str, msg: str) -> None:
        self.failures.append(f"{area}: {msg}")
        print(f"FAIL {area}: {msg}")

    def ok(self, area: str, msg: str) -> None:
        if self.verbose:
            print(f"ok   {area}: {msg}")

    def check(self, cond: bool, area: str, msg: str) -> bool:
        (self.ok if cond else self.fail)(area, msg)
        return cond


# --------------------------------------------------------------------------------- compose ----

_VAR = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value, env: dict[str, str], errors: list[str]):
    """Compose variable interpolation: $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e},
    ${VAR:+r}, ${VAR+r}, and $$ for a literal $."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, errors) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, errors) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(5)
        op, arg = m.group(3), m.group(4) or ""
        arg = interpolate(arg, env, errors) if arg else arg
        cur = env.get(name)
        if op is None:
            return cur or ""
        if op == ":-":
            return cur if cur else arg
        if op == "-":
            return cur if cur is not None else arg
        if op in (":?", "?"):
            if (op == ":?" and not cur) or (op == "?" and cur is None):
                errors.append(f"required variable {name} is missing: {arg}")
                return ""
            return cur
        if op == ":+":
            return arg if cur else ""
        if op == "+":
            return arg if cur is not None else ""
        return ""

    return _VAR.sub(sub, value)


def dockerfile_stages(path: Path) -> dict[str, list[str]]:
    """Stage name -> its instruction lines (continuations joined)."""
    stages: dict[str, list[str]] = {}
    current = None
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", s, re.I)
        if m:
            current = m.group(2) or f"<unnamed:{m.group(1)}>"
            stages[current] = [s]
            continue
        if current:
            stages[current].append(s)
    return stages


def compose_schema() -> dict:
    import importlib.resources as res
    ref = res.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(ref.read_text())


def check_compose(r: Report) -> None:
    area = "compose"
    raw = yaml.safe_load(COMPOSE.read_text())
    # The values CI and a newcomer would have: only the required key, everything else default.
    env = {"XHUMA_CACHE_KEY": "0" * 64}
    errors: list[str] = []
    doc = interpolate(raw, env, errors)
    r.check(not errors, area, f"interpolation ({'; '.join(errors) or 'clean'})")
    missing: list[str] = []
    interpolate(raw, {}, missing)
    r.check(any("XHUMA_CACHE_KEY" in e for e in missing), area,
            "XHUMA_CACHE_KEY is required (no default key in the file)")

    validator = jsonschema.Draft7Validator(compose_schema())
    errs = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    for e in errs[:20]:
        r.fail(area, f"schema: {'/'.join(map(str, e.path))}: {e.message}")
    if not errs:
        r.ok(area, "compose-spec schema")

    services: dict = doc.get("services", {})
    networks = set((doc.get("networks") or {}).keys())
    volumes = set((doc.get("volumes") or {}).keys())
    stages = dockerfile_stages(DOCKERFILE)
    for want in ("gateway", "worker", "audit", "nhs-sim", "rabbitmq", "redis", "postgres",
                 "prometheus", "grafana", "otel-collector", "loki"):
        r.check(want in services, area, f"service {want} present")

    for name, svc in services.items():
        where = f"{area}: service {name}"
        for dep, spec in (svc.get("depends_on") or {}).items() if isinstance(svc.get("depends_on"), dict) \
                else [(d, {}) for d in svc.get("depends_on") or []]:
            if not r.check(dep in services, where, f"depends_on {dep} exists"):
                continue
            if (spec or {}).get("condition") == "service_healthy":
                target = services[dep]
                has = "healthcheck" in target or (
                    "build" in target and any(l.upper().startswith("HEALTHCHECK")
                                              for l in _stage_chain(stages, target["build"].get("target"))))
                r.check(has, where, f"depends_on {dep} healthy: {dep} has a healthcheck")
        for net in svc.get("networks") or []:
            r.check(net in networks, where, f"network {net} declared")
        for v in svc.get("volumes") or []:
            src = v.split(":", 1)[0] if isinstance(v, str) else v.get("source", "")
            if src.startswith((".", "/")):
                p = (COMPOSE.parent / src).resolve()
                if "shared" in Path(src).parts:
                    r.ok(where, f"bind mount {src} (outside the repository, checked at run time)")
                else:
                    r.check(p.exists(), where, f"bind mount source {src} exists")
            elif src:
                r.check(src in volumes, where, f"named volume {src} declared")
        for port in svc.get("ports") or []:
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            r.check(str(text).startswith("127.0.0.1:"), where, f"port {text} bound to 127.0.0.1 only")
        build = svc.get("build")
        if isinstance(build, dict):
            df = (COMPOSE.parent / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()
            r.check(df == DOCKERFILE.resolve(), where, f"builds {df.relative_to(ROOT)}")
            r.check(build.get("target") in stages, where, f"build target {build.get('target')} in Dockerfile")
        test = (svc.get("healthcheck") or {}).get("test") or []
        if "xhuma-healthcheck" in test and isinstance(build, dict):
            chain = " ".join(_stage_chain(stages, build.get("target")))
            r.check("XHUMA_HEALTH_PORT" in chain, where, "image sets XHUMA_HEALTH_PORT for xhuma-healthcheck")

    # Services with no published port must not be reachable from outside the backend network.
    for name in ("redis", "postgres"):
        svc = services.get(name, {})
        r.check(not svc.get("ports"), area, f"{name} publishes no port")
    backend = (doc.get("networks") or {}).get("backend") or {}
    r.check(backend.get("internal") is True, area, "backend network is internal")

    redis_cmd = " ".join(services.get("redis", {}).get("command") or [])
    for want in ("--maxmemory 256mb", "--maxmemory-policy volatile-lru", "--appendonly yes"):
        r.check(want in redis_cmd, area, f"redis runs with {want}")
    workers = services.get("worker", {})
    r.check((workers.get("deploy") or {}).get("replicas") == 2, area, "two worker replicas")
    for name in ("gateway", "worker"):
        envs = services.get(name, {}).get("environment") or {}
        r.check(len(envs.get("XHUMA_CACHE_KEY", "")) == 64, area, f"{name} gets XHUMA_CACHE_KEY")

    # The real CLI, when this machine has a working `docker compose` (it needs no engine).
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            res = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
                                 capture_output=True, text=True,
                                 env={**os.environ, "XHUMA_CACHE_KEY": "0" * 64})
            r.check(res.returncode == 0, area, f"docker compose config -q {res.stderr.strip()}")
        else:
            r.ok(area, "docker compose plugin absent: schema + reference checks only")


def compose_merge(base, over, key: str = ""):
    """`docker compose -f base -f over`'s merge, for what our files use: mappings merge
    recursively; `command`, `entrypoint` and `healthcheck.test` are replaced; `volumes` and
    `ports` of a service are appended (an override adds mounts); other sequences replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = compose_merge(base[k], v, k) if k in base else v
        return out
    if isinstance(base, list) and isinstance(over, list) and key in ("volumes", "ports"):
        return base + [v for v in over if v not in base]
    return over


def check_compose_cluster(r: Report) -> None:
    """deploy/compose/cluster.yml over docker-compose.yml: the 3-node RabbitMQ and the Redis
    Sentinel variant, as `docker compose -f … -f …` would run it."""
    area = "compose-cluster"
    over_path = COMPOSE.parent / "cluster.yml"
    env = {"XHUMA_CACHE_KEY": "0" * 64}
    errors: list[str] = []
    doc = compose_merge(interpolate(yaml.safe_load(COMPOSE.read_text()), env, errors),
                        interpolate(yaml.safe_load(over_path.read_text()), env, errors))
    r.check(not errors, area, f"interpolation ({'; '.join(errors) or 'clean'})")
    doc = {k: v for k, v in doc.items() if not k.startswith("x-")}
    errs = sorted(jsonschema.Draft7Validator(compose_schema()).iter_errors(doc), key=lambda e: list(e.path))
    for e in errs[:20]:
        r.fail(area, f"schema: {'/'.join(map(str, e.path))}: {e.message}")
    if not errs:
        r.ok(area, "merged file: compose-spec schema")
    services = doc.get("services", {})
    volumes = set((doc.get("volumes") or {}).keys())
    networks = set((doc.get("networks") or {}).keys())
    rabbits = ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    sentinels = ["sentinel-1", "sentinel-2", "sentinel-3"]
    for want in rabbits + ["redis", "redis-replica-1", "redis-replica-2"] + sentinels:
        r.check(want in services, area, f"service {want}")
    for name, svc in services.items():
        where = f"{area}: service {name}"
        deps = svc.get("depends_on") or {}
        for dep in (deps if isinstance(deps, dict) else {d: {} for d in deps}):
            r.check(dep in services, where, f"depends_on {dep} exists")
        for net in svc.get("networks") or []:
            r.check(net in networks, where, f"network {net} declared")
        for v in svc.get("volumes") or []:
            src = v.split(":", 1)[0] if isinstance(v, str) else v.get("source", "")
            if src.startswith("."):
                r.check((COMPOSE.parent / src).resolve().exists(), where, f"bind mount {src} exists")
            elif src and not src.startswith("/"):
                r.check(src in volumes, where, f"named volume {src} declared")
        for port in svc.get("ports") or []:
            r.check(str(port).startswith("127.0.0.1:"), where, f"port {port} bound to 127.0.0.1 only")
    conf = (COMPOSE.parent / "rabbitmq-cluster.conf").read_text()
    for i, n in enumerate(rabbits, 1):
        svc = services.get(n, {})
        r.check(svc.get("hostname") == n, area, f"{n}: hostname {n} (its node name rabbit@{n})")
        r.check(f"classic_config.nodes.{i} = rabbit@{n}" in conf, area, f"rabbitmq-cluster.conf names rabbit@{n}")
        r.check(any("20-cluster.conf" in str(v) for v in svc.get("volumes") or []), area,
                f"{n} mounts the cluster configuration")
        r.check("RABBITMQ_ERLANG_COOKIE" in (svc.get("environment") or {}), area, f"{n} shares the Erlang cookie")
    r.check("default_queue_type = quorum" in conf, area, "quorum queues by default")
    for name in ("gateway", "worker", "audit"):
        envs = services.get(name, {}).get("environment") or {}
        hosts = [u.split("@", 1)[1].split(":", 1)[0] for u in envs.get("XHUMA_AMQP_URL", "").split(",") if "@" in u]
        r.check(hosts == rabbits, area, f"{name}: XHUMA_AMQP_URL lists every RabbitMQ node")
    for name in ("gateway", "worker"):
        envs = services.get(name, {}).get("environment") or {}
        listed = [h.split(":")[0] for h in envs.get("XHUMA_REDIS_SENTINELS", "").split(",")]
        r.check(listed == sentinels, area, f"{name}: XHUMA_REDIS_SENTINELS lists every sentinel")
    for n in ("redis-replica-1", "redis-replica-2"):
        cmd = " ".join(services.get(n, {}).get("command") or [])
        r.check("--replicaof redis 6379" in cmd, area, f"{n} replicates redis")
    for n in ["redis", "redis-replica-1", "redis-replica-2"]:
        cmd = " ".join(services.get(n, {}).get("command") or [])
        r.check("--min-replicas-to-write 1" in cmd, area, f"{n}: min-replicas-to-write 1")
    for n in sentinels:
        cmd = " ".join(services.get(n, {}).get("command") or [])
        r.check("sentinel monitor xhuma redis 6379 2" in cmd and "--sentinel" in cmd, area,
                f"{n} monitors redis as xhuma, quorum 2")
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            res = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "-f", str(over_path), "config", "-q"],
                                 capture_output=True, text=True,
                                 env={**os.environ, "XHUMA_CACHE_KEY": "0" * 64})
            r.check(res.returncode == 0, area, f"docker compose -f … -f cluster.yml config -q {res.stderr.strip()}")


def _stage_chain(stages: dict[str, list[str]], target: str | None) -> list[str]:
    """Instructions of a stage and of the stages it is built FROM (for inherited HEALTHCHECK)."""
    out: list[str] = []
    seen = set()
    while target and target in stages and target not in seen:
        seen.add(target)
        lines = stages[target]
        out.extend(lines)
        m = re.match(r"FROM\s+(\S+)", lines[0], re.I)
        target = m.group(1) if m else None
    return out


# ---------------------------------------------------------------------------------- docker ----

def check_docker(r: Report, hadolint: str | None) -> None:
    area = "docker"
    stages = dockerfile_stages(DOCKERFILE)
    builder = " ".join(stages.get("builder", []))
    for pkg in ("libxmlsec1-dev", "libxml2-dev", "pkg-config", "libclang-dev"):
        r.check(pkg in builder, area, f"builder installs {pkg}")
    r.check("rust:1.95-bookworm" in DOCKERFILE.read_text(), area, "builder is rust:1.95-bookworm")
    runtime = " ".join(stages.get("runtime", []))
    # The binaries link only glibc, libgcc_s and libm (SAML is verified in Rust, TLS is rustls on
    # aws-lc, linked statically), so the runtime adds CA certificates and nothing else.
    r.check("ca-certificates" in runtime, area, "runtime installs ca-certificates")
    for pkg in ("libxmlsec1", "libxml2", "libssl"):
        r.check(pkg not in runtime, area, f"runtime does not install {pkg} (no binary links it)")
    # deploy/local/images builds the same targets from host-built binaries: every target copies
    # its binary from the `binaries` stage, which is the builder unless BINARIES_FROM says otherwise.
    text = DOCKERFILE.read_text()
    r.check("ARG BINARIES_FROM=builder" in text, area, "BINARIES_FROM defaults to the builder")
    r.check("prebuilt" in stages and "binaries" in stages, area, "prebuilt and binaries stages exist")
    r.check(bool(re.search(r"^USER\s+\$\{XHUMA_UID\}", "\n".join(stages.get("runtime", [])), re.M)),
            area, "runtime runs as the unprivileged user")
    r.check("XHUMA_UID=10001" in runtime, area, "unprivileged uid 10001")
    for target, port in IMAGE_TARGETS.items():
        chain = _stage_chain(stages, target)
        if not r.check(bool(chain), area, f"target {target} exists"):
            continue
        own = " ".join(stages[target])
        r.check(chain[0].lower().startswith("from runtime"), area, f"{target} is built on the runtime stage")
        r.check("HEALTHCHECK" in own, area, f"{target} has a HEALTHCHECK")
        r.check(f"XHUMA_HEALTH_PORT={port}" in own, area, f"{target} health port {port}")
        r.check(f"EXPOSE {port}" in own, area, f"{target} exposes {port}")
        r.check("ENTRYPOINT" in own, area, f"{target} has an ENTRYPOINT")
        r.check("COPY --from=binaries " in own, area, f"{target} copies its binary from the binaries stage")
    hc = DEPLOY / "docker" / "healthcheck"
    r.check(os.access(hc, os.X_OK), area, "deploy/docker/healthcheck is executable")
    if hadolint:
        res = subprocess.run([hadolint, "--no-color", "--config", str(DEPLOY / "docker" / "hadolint.yaml"),
                              str(DOCKERFILE)], capture_output=True, text=True)
        r.check(res.returncode == 0, area, f"hadolint {(res.stdout + res.stderr).strip()}")
    di = ROOT / ".dockerignore"
    r.check(di.exists() and "target" in di.read_text().split(), area, ".dockerignore excludes target/")
    check_build_context(r)


def _dockerignore_rules() -> list[tuple[bool, re.Pattern]]:
    """(negated, regex) per .dockerignore line, in order; the last matching rule wins."""
    rules = []
    di = ROOT / ".dockerignore"
    for line in di.read_text().splitlines() if di.exists() else []:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = line[1:] if neg else line
        pat = pat.strip("/")
        rx = ""
        i = 0
        while i < len(pat):
            if pat.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
            elif pat.startswith("**", i):
                rx += ".*"
                i += 2
            elif pat[i] == "*":
                rx += "[^/]*"
                i += 1
            elif pat[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(pat[i])
                i += 1
        # A pattern naming a directory excludes everything below it.
        rules.append((neg, re.compile(f"^{rx}(?:/.*)?$")))
    return rules


def in_build_context(rel: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    included = True
    for neg, rx in rules:
        if rx.match(rel):
            included = neg
    return included


def check_build_context(r: Report) -> None:
    """Would `docker build` find every file the build reads? Cargo manifests, the lock file,
    the files `include_str!`/`include_bytes!` pull in at compile time, and the Dockerfile's COPY
    sources must all be inside the repository and not excluded by .dockerignore."""
    area = "docker"
    rules = _dockerignore_rules()
    needed: set[str] = {"Cargo.toml", "Cargo.lock", "deploy/docker/healthcheck"}
    ws = ROOT / "Cargo.toml"
    members = re.findall(r'"([^"]+)"', ws.read_text().split("members", 1)[1].split("]", 1)[0])
    for m in members:
        needed.add(f"{m}/Cargo.toml")
        src = ROOT / m / "src"
        for rs in src.rglob("*.rs") if src.exists() else []:
            for inc in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"', rs.read_text(errors="replace")):
                target = (rs.parent / inc).resolve()
                try:
                    needed.add(str(target.relative_to(ROOT)))
                except ValueError:
                    r.fail(area, f"{rs.relative_to(ROOT)} includes {inc}, outside the repository "
                           "(the image build context)")
    for rel in sorted(needed):
        r.check((ROOT / rel).exists() and in_build_context(rel, rules), area,
                f"build context has {rel}")
    keys = ROOT / "deploy" / "local" / "keys"
    for key in sorted([*keys.glob("*.pem"), *keys.glob("*.key")]):
        rel = str(key.relative_to(ROOT))
        if not key.name.endswith(".pub.pem"):
            r.check(not in_build_context(rel, rules), area, f"private key {rel} stays out of the build context")


# ------------------------------------------------------------------------------ prometheus ----

def check_prometheus(r: Report, promtool: str | None) -> None:
    area = "prometheus"
    cfg_path = DEPLOY / "compose" / "prometheus.yml"
    rules_path = DEPLOY / "compose" / "alerts.yml"
    cfg = yaml.safe_load(cfg_path.read_text())
    jobs = {j["job_name"] for j in cfg.get("scrape_configs", [])}
    for want in ("xhuma-gateway", "xhuma-worker", "xhuma-audit"):
        r.check(want in jobs, area, f"scrapes {want}")
    rules = yaml.safe_load(rules_path.read_text())
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            for name in re.findall(r"\bxhuma_[a-z_]+", rule.get("expr", "")):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                r.check(base in METRICS, area, f"alert {rule.get('alert')} uses known metric {name}")
    if not promtool:
        r.fail(area, "promtool not installed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        rules_copy = Path(tmp) / "alerts.yml"
        shutil.copy(rules_path, rules_copy)
        text = cfg_path.read_text().replace("/etc/prometheus/alerts.yml", str(rules_copy))
        (Path(tmp) / "prometheus.yml").write_text(text)
        res = subprocess.run([promtool, "check", "config", str(Path(tmp) / "prometheus.yml")],
                             capture_output=True, text=True)
        r.check(res.returncode == 0, area, f"promtool check config {(res.stdout + res.stderr).strip()}"
                if res.returncode else "promtool check config")
    res = subprocess.run([promtool, "check", "rules", str(rules_path)], capture_output=True, text=True)
    r.check(res.returncode == 0, area, "promtool check rules" if res.returncode == 0
            else f"promtool check rules {(res.stdout + res.stderr).strip()}")


# --------------------------------------------------------------------------------- grafana ----

def check_grafana(r: Report) -> None:
    area = "grafana"
    gdir = DEPLOY / "grafana"
    res = subprocess.run([sys.executable, str(gdir / "dashboard.py"), "--check"], capture_output=True, text=True)
    r.check(res.returncode == 0, area, "dashboards/xhuma.json matches dashboard.py " + res.stderr.strip())
    dash = json.loads((gdir / "dashboards" / "xhuma.json").read_text())
    used = set()
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            for name in re.findall(r"\bxhuma_[a-z_]+", t.get("expr", "")):
                used.add(re.sub(r"_(bucket|sum|count)$", "", name))
    for name in sorted(used):
        r.check(name in METRICS, area, f"panel metric {name} is documented")
    for name in sorted(METRICS - used):
        r.fail(area, f"metric {name} has no panel")
    ds = yaml.safe_load((gdir / "provisioning" / "datasources" / "datasources.yaml").read_text())
    uids = {d["uid"] for d in ds["datasources"]}
    r.check("prometheus" in uids, area, "Prometheus data source uid 'prometheus' (the dashboard default)")
    r.check("loki" in uids, area, "Loki data source uid 'loki' (the logs)")
    loki = next((d for d in ds["datasources"] if d["uid"] == "loki"), {})
    r.check(loki.get("url") == "http://loki:3100", area, "Loki data source points at the compose loki service")
    prov = yaml.safe_load((gdir / "provisioning" / "dashboards" / "dashboards.yaml").read_text())
    r.check(prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards", area,
            "dashboard provider path matches the compose mount")


# ------------------------------------------------------------------------------------ otel ----

def check_otel(r: Report) -> None:
    area = "otel"
    cfg = yaml.safe_load((DEPLOY / "compose" / "otel-collector.yaml").read_text())
    service = cfg.get("service", {})
    for ext in service.get("extensions", []):
        r.check(ext in (cfg.get("extensions") or {}), area, f"extension {ext} defined")
    pipelines = service.get("pipelines", {})
    r.check("traces" in pipelines, area, "traces pipeline")
    for pname, p in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for comp in p.get(kind, []):
                r.check(comp in (cfg.get(kind) or {}), area, f"{pname}.{kind}: {comp} defined")
        procs = p.get("processors", [])
        if procs:
            r.check(procs[0] == "memory_limiter", area, f"{pname}: memory_limiter runs first")
            r.check(procs[-1] == "batch", area, f"{pname}: batch runs last")
    r.check(cfg.get("receivers", {}).get("otlp", {}).get("protocols", {}).get("grpc", {}).get("endpoint", "")
            .endswith(":4317"), area, "OTLP gRPC on 4317 (what OTEL_EXPORTER_OTLP_ENDPOINT names)")
    check_log_pipeline(r, area, cfg, "compose")


def check_log_pipeline(r: Report, area: str, cfg: dict, where: str) -> None:
    """A collector config ships logs: an OTLP-fed logs pipeline with the PHI filter, ending in
    Loki's OTLP endpoint."""
    logs = (cfg.get("service", {}).get("pipelines") or {}).get("logs")
    if not r.check(logs is not None, area, f"{where}: logs pipeline"):
        return
    r.check("otlp" in logs.get("receivers", []), area, f"{where}: logs pipeline receives OTLP")
    r.check(any(p.startswith("attributes/phi") for p in logs.get("processors", [])), area,
            f"{where}: logs pass the PHI attribute filter")
    exporters = cfg.get("exporters") or {}
    loki = [e for e in logs.get("exporters", [])
            if str((exporters.get(e) or {}).get("endpoint", "")).rstrip("/").endswith(":3100/otlp")]
    r.check(bool(loki), area, f"{where}: logs exported to Loki's /otlp endpoint")


# ------------------------------------------------------------------------------------- k8s ----

SUPPORTED_KUSTOMIZE_KEYS = {"apiVersion", "kind", "namespace", "resources", "labels"}


def render_kustomize(kdir: Path, r: Report) -> list[dict]:
    kfile = kdir / "kustomization.yaml"
    kust = yaml.safe_load(kfile.read_text())
    extra = set(kust) - SUPPORTED_KUSTOMIZE_KEYS
    r.check(not extra, "k8s", f"kustomization uses only {sorted(SUPPORTED_KUSTOMIZE_KEYS)} "
            f"(what the built-in renderer supports){' - extra: ' + str(sorted(extra)) if extra else ''}")
    kubectl = shutil.which("kubectl")
    if kubectl and not os.environ.get("XHUMA_VALIDATE_NO_KUBECTL"):
        res = subprocess.run([kubectl, "kustomize", str(kdir)], capture_output=True, text=True)
        if not r.check(res.returncode == 0, "k8s", "kubectl kustomize renders" if res.returncode == 0
                       else f"kubectl kustomize: {res.stderr.strip()}"):
            return []
        docs = [d for d in yaml.safe_load_all(res.stdout) if d]
        # Keep the fallback honest: it must produce the same objects kubectl does.
        key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
        same = sorted(builtin_kustomize(kdir, r), key=key) == sorted(docs, key=key)
        r.check(same, "k8s", "built-in renderer agrees with kubectl kustomize")
        return docs
    return builtin_kustomize(kdir, r)


def builtin_kustomize(kdir: Path, r: Report) -> list[dict]:
    """Resources (files or directories with a kustomization), namespace, labels."""
    kust = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for res_path in kust.get("resources", []):
        p = kdir / res_path
        if p.is_dir():
            docs.extend(builtin_kustomize(p, r))
        else:
            docs.extend(d for d in yaml.safe_load_all(p.read_text()) if d)
    ns = kust.get("namespace")
    for d in docs:
        if ns and d.get("kind") not in ("Namespace",):
            d.setdefault("metadata", {})["namespace"] = ns
        for lab in kust.get("labels", []):
            pairs = lab.get("pairs", {})
            d.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
            if lab.get("includeTemplates") and d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
                d["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
                # kustomize labels a StatefulSet's volume claim templates too.
                for claim in d["spec"].get("volumeClaimTemplates", []):
                    claim.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
            if lab.get("includeSelectors"):
                r.fail("k8s", "built-in renderer does not support labels.includeSelectors")
    return docs


def load_keda_schemas() -> dict[str, dict]:
    out = {}
    for f in SCHEMAS.glob("keda-*.json"):
        s = json.loads(f.read_text())
        out[s["x-kubernetes-kind"]] = s
    return out


def _matches(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels/matchExpressions) or a Service's plain selector map; an
    empty selector matches nothing here (callers treat "select all" themselves)."""
    if not isinstance(selector, dict) or not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return all(labels.get(k) == v for k, v in selector.items())
    ok = all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In":
            ok = ok and labels.get(key) in values
        elif op == "NotIn":
            ok = ok and labels.get(key) not in values
        elif op == "Exists":
            ok = ok and key in labels
        elif op == "DoesNotExist":
            ok = ok and key not in labels
    return ok


def check_k8s(r: Report) -> None:
    area = "k8s"
    import kubernetes_validate
    from kubernetes_validate import utils as kv

    docs = render_kustomize(K8S, r)
    if not docs:
        r.fail(area, "no objects rendered")
        return
    keda = load_keda_schemas()
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        kind, name = d.get("kind"), d.get("metadata", {}).get("name")
        by_kind.setdefault(kind, {})[name] = d
        ident = f"{kind}/{name}"
        if d.get("apiVersion", "").startswith("keda.sh/"):
            schema = keda.get(kind)
            if not r.check(schema is not None, area, f"{ident}: schema for KEDA kind"):
                continue
            errs = list(jsonschema.Draft7Validator(schema).iter_errors(d))
            for e in errs[:10]:
                r.fail(area, f"{ident}: {'/'.join(map(str, e.path))}: {e.message}")
            if not errs:
                r.ok(area, f"{ident} valid (KEDA schema)")
            continue
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
            r.ok(area, f"{ident} valid (Kubernetes {K8S_VERSION}, strict)")
        except kv.ValidationError as e:
            r.fail(area, f"{ident}: {'.'.join(map(str, e.path))}: {e.message}")
        except kv.SchemaNotFoundError as e:
            r.fail(area, f"{ident}: {e.message}")

    deployments = by_kind.get("Deployment", {})
    for want in ("xhuma-gateway", "xhuma-worker-sds", "xhuma-worker-gpconnect", "xhuma-audit"):
        r.check(want in deployments, area, f"Deployment {want}")
    config_maps = by_kind.get("ConfigMap", {})
    secrets = by_kind.get("Secret", {})

    def secret_keys(name: str) -> set[str]:
        s = secrets.get(name, {})
        return set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())

    for name, dep in deployments.items():
        where = f"{area}: Deployment/{name}"
        spec = dep["spec"]
        tmpl = spec["template"]
        plabels = tmpl["metadata"].get("labels", {})
        r.check(_matches(spec["selector"], plabels), where, "selector matches the pod labels")
        pspec = tmpl["spec"]
        psc = pspec.get("securityContext", {})
        r.check(psc.get("runAsNonRoot") is True, where, "pod runAsNonRoot")
        r.check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where,
                "seccompProfile RuntimeDefault (Pod Security restricted)")
        r.check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, where, "numeric non-zero runAsUser")
        r.check(pspec.get("automountServiceAccountToken") is False, where, "no service-account token mounted")
        for c in pspec["containers"]:
            cw = f"{where} container {c['name']}"
            sc = c.get("securityContext", {})
            r.check(sc.get("readOnlyRootFilesystem") is True, cw, "readOnlyRootFilesystem")
            r.check(sc.get("allowPrivilegeEscalation") is False, cw, "allowPrivilegeEscalation false")
            r.check(sc.get("capabilities", {}).get("drop") == ["ALL"], cw, "capabilities drop ALL")
            r.check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, cw, "runAsNonRoot")
            res = c.get("resources", {})
            r.check(bool(res.get("requests", {}).get("cpu")) and bool(res.get("requests", {}).get("memory")),
                    cw, "cpu and memory requests")
            r.check(bool(res.get("limits", {}).get("memory")), cw, "memory limit")
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
                pr = c.get(probe, {}).get("httpGet", {})
                r.check(pr.get("path") == path, cw, f"{probe} on {path}")
                port = pr.get("port")
                r.check(port in ports or port in ports.values(), cw, f"{probe} port {port} is a container port")
            envs = {e["name"]: e for e in c.get("env", [])}
            for e in envs.values():
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    r.check(ref["key"] in secret_keys(ref["name"]), cw,
                            f"env {e['name']} -> Secret {ref['name']} key {ref['key']} exists")
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and not ref.get("optional"):
                    r.check(ref["key"] in (config_maps.get(ref["name"], {}).get("data") or {}), cw,
                            f"env {e['name']} -> ConfigMap {ref['name']} key {ref['key']} exists")
            for ef in c.get("envFrom", []):
                if "configMapRef" in ef:
                    r.check(ef["configMapRef"]["name"] in config_maps, cw, f"envFrom ConfigMap {ef['configMapRef']['name']}")
                if "secretRef" in ef:
                    r.check(ef["secretRef"]["name"] in secrets, cw, f"envFrom Secret {ef['secretRef']['name']}")
            for vm in c.get("volumeMounts", []):
                r.check(any(v["name"] == vm["name"] for v in pspec.get("volumes", [])), cw,
                        f"volumeMount {vm['name']} has a volume")
        for v in pspec.get("volumes", []):
            if "secret" in v:
                r.check(v["secret"]["secretName"] in secrets, where, f"volume Secret {v['secret']['secretName']}")
            if "configMap" in v:
                r.check(v["configMap"]["name"] in config_maps, where, f"volume ConfigMap {v['configMap']['name']}")

    def pods_matching(selector: dict) -> list[str]:
        return [n for n, d in deployments.items() if _matches(selector, d["spec"]["template"]["metadata"].get("labels", {}))]

    for name, svc in by_kind.get("Service", {}).items():
        targets = pods_matching(svc["spec"].get("selector", {}))
        r.check(bool(targets), area, f"Service/{name} selects {targets or 'nothing'}")
        for p in svc["spec"].get("ports", []):
            tp = p.get("targetPort")
            ok = all(any(tp == cp.get("name") or tp == cp.get("containerPort")
                         for c in deployments[t]["spec"]["template"]["spec"]["containers"] for cp in c.get("ports", []))
                     for t in targets)
            r.check(ok, area, f"Service/{name} targetPort {tp} exists on its pods")
    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        r.check(bool(pods_matching(pdb["spec"]["selector"])), area, f"PodDisruptionBudget/{name} selects a Deployment")
    covered = set()
    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        covered.update(pods_matching(pdb["spec"]["selector"]))
    for name in deployments:
        r.check(name in covered, area, f"Deployment/{name} has a PodDisruptionBudget")
    netpol_selected = set()
    for name, np_ in by_kind.get("NetworkPolicy", {}).items():
        sel = np_["spec"].get("podSelector", {})
        if not sel:
            netpol_selected.update(deployments)  # default-deny style policy: selects every pod
        else:
            got = pods_matching(sel)
            r.check(bool(got), area, f"NetworkPolicy/{name} selects {got or 'nothing'}")
            netpol_selected.update(got)
    for name in deployments:
        r.check(name in netpol_selected, area, f"Deployment/{name} is covered by a NetworkPolicy")

    hpas = by_kind.get("HorizontalPodAutoscaler", {})
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()}
    r.check("xhuma-gateway" in hpa_targets, area, "HorizontalPodAutoscaler for xhuma-gateway")
    for name, h in hpas.items():
        r.check(h["spec"]["scaleTargetRef"]["name"] in deployments, area, f"HPA/{name} target exists")
        r.check(any(m.get("resource", {}).get("name") == "cpu" for m in h["spec"].get("metrics", [])), area,
                f"HPA/{name} scales on CPU")

    tas = by_kind.get("TriggerAuthentication", {})
    for name, ta in tas.items():
        for ref in ta["spec"].get("secretTargetRef", []):
            r.check(ref["key"] in secret_keys(ref["name"]), area,
                    f"TriggerAuthentication/{name}: Secret {ref['name']} key {ref['key']} exists")
    sos = by_kind.get("ScaledObject", {})
    scaled = set()
    for name, so in sos.items():
        where = f"{area}: ScaledObject/{name}"
        target = so["spec"]["scaleTargetRef"]["name"]
        scaled.add(target)
        if not r.check(target in deployments, where, f"target Deployment {target} exists"):
            continue
        r.check(target not in hpa_targets, where, "target has no other HPA (KEDA owns its HPA)")
        r.check(so["spec"].get("minReplicaCount", 0) >= 1, where,
                "minReplicaCount >= 1 (a worker is always there to take the first job)")
        stages = ""
        for c in deployments[target]["spec"]["template"]["spec"]["containers"]:
            for e in c.get("env", []):
                if e["name"] == "XHUMA_WORKER_STAGES":
                    stages = e.get("value", "")
        for t in so["spec"]["triggers"]:
            if t["type"] != "rabbitmq":
                continue
            queue = t["metadata"].get("queueName", "")
            r.check(queue.split(".")[-1] == stages and "," not in stages, where,
                    f"scales on {queue}, the queue of its only stage ({stages or 'unset'})")
            auth = (t.get("authenticationRef") or {}).get("name")
            r.check(auth in tas, where, f"authenticationRef {auth} exists")
            r.check(t["metadata"].get("mode") == "QueueLength", where, "mode QueueLength")
    for want in ("xhuma-worker-sds", "xhuma-worker-gpconnect"):
        r.check(want in scaled, area, f"{want} is scaled by a KEDA ScaledObject")


# ---------------------------------------------------------------------------- observability ----

def check_observability(r: Report) -> None:
    """deploy/k8s/observability: the collector the base's pods send OTLP to, and Loki."""
    area = "observability"
    import kubernetes_validate
    from kubernetes_validate import utils as kv

    docs = render_kustomize(K8S / "observability", r)
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        kind, name = d.get("kind"), d.get("metadata", {}).get("name")
        by_kind.setdefault(kind, {})[name] = d
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
            r.ok(area, f"{kind}/{name} valid (Kubernetes {K8S_VERSION}, strict)")
        except (kv.ValidationError, kv.SchemaNotFoundError) as e:
            r.fail(area, f"{kind}/{name}: {e.message}")
        if kind != "Namespace":
            r.check(d["metadata"].get("namespace") == "observability", area,
                    f"{kind}/{name} in namespace observability")
    # The base names the collector by its Service DNS name; it must exist with that port.
    base = yaml.safe_load((K8S / "config.yaml").read_text())
    endpoint = (base.get("data") or {}).get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    svc = by_kind.get("Service", {}).get("otel-collector", {})
    ports = {p["port"] for p in svc.get("spec", {}).get("ports", [])}
    r.check(endpoint == "http://otel-collector.observability.svc:4318" and 4318 in ports, area,
            f"the base's OTEL_EXPORTER_OTLP_ENDPOINT ({endpoint}) is the collector Service's :4318")
    cm = by_kind.get("ConfigMap", {}).get("otel-collector", {})
    cfg = yaml.safe_load((cm.get("data") or {}).get("config.yaml", "{}")) or {}
    pipelines = cfg.get("service", {}).get("pipelines", {})
    for pname, pipe in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for comp in pipe.get(kind, []):
                r.check(comp in (cfg.get(kind) or {}), area, f"{pname}.{kind}: {comp} defined")
    check_log_pipeline(r, area, cfg, "k8s collector")
    loki_url = str(((cfg.get("exporters") or {}).get("otlphttp/loki") or {}).get("endpoint", ""))
    r.check(loki_url.startswith("http://loki.observability.svc:3100"), area,
            "collector ships logs to the loki Service")
    r.check("loki" in by_kind.get("Service", {}) and "loki" in by_kind.get("StatefulSet", {}), area,
            "Loki StatefulSet and Service")
    sts = by_kind.get("StatefulSet", {}).get("loki", {})
    r.check(bool(sts.get("spec", {}).get("volumeClaimTemplates")), area, "Loki keeps logs on a volume")


# ------------------------------------------------------------------------------------- data ----

def check_data(r: Report) -> None:
    """deploy/k8s/data: the clustered RabbitMQ and Redis the base's Secret and ConfigMap name."""
    area = "data"
    import kubernetes_validate
    from kubernetes_validate import utils as kv

    docs = render_kustomize(K8S / "data", r)
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        kind, name = d.get("kind"), d.get("metadata", {}).get("name")
        by_kind.setdefault(kind, {})[name] = d
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
            r.ok(area, f"{kind}/{name} valid (Kubernetes {K8S_VERSION}, strict)")
        except (kv.ValidationError, kv.SchemaNotFoundError) as e:
            r.fail(area, f"{kind}/{name}: {e.message}")
    sets = by_kind.get("StatefulSet", {})
    services = by_kind.get("Service", {})
    pdbs = by_kind.get("PodDisruptionBudget", {}).values()
    secrets = by_kind.get("Secret", {})
    base_secret = next(d for d in yaml.safe_load_all((K8S / "secrets.yaml").read_text())
                       if d and d["metadata"]["name"] == "xhuma-secrets")["stringData"]
    base_config = yaml.safe_load((K8S / "config.yaml").read_text())["data"]

    def clustered(name: str, headless: str, port: int) -> list[str]:
        sts = sets.get(name)
        if not r.check(sts is not None, area, f"StatefulSet {name}"):
            return []
        spec = sts["spec"]
        r.check(spec.get("replicas") == 3, area, f"{name}: 3 replicas")
        r.check(spec.get("serviceName") == headless, area, f"{name}: pods named under {headless}")
        svc = services.get(headless, {})
        r.check(svc.get("spec", {}).get("clusterIP") == "None", area, f"{headless} is headless")
        r.check(port in {p["port"] for p in svc.get("spec", {}).get("ports", [])}, area,
                f"{headless} serves :{port}")
        labels = spec["template"]["metadata"]["labels"]
        anti = (spec["template"]["spec"].get("affinity") or {}).get("podAntiAffinity", {})
        required = anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        r.check(any(t.get("topologyKey") == "kubernetes.io/hostname" and
                    _matches(t.get("labelSelector", {}), labels) for t in required), area,
                f"{name}: one pod per host (required anti-affinity)")
        r.check(any(_matches(p["spec"]["selector"], labels) and p["spec"].get("maxUnavailable") == 1
                    for p in pdbs), area, f"{name}: a PDB keeps two of three up")
        r.check(bool(spec.get("volumeClaimTemplates")), area, f"{name}: data on volumes")
        for c in spec["template"]["spec"].get("containers", []) + \
                spec["template"]["spec"].get("initContainers", []):
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    keys = set((secrets.get(ref["name"], {}).get("stringData") or {}).keys())
                    r.check(ref["key"] in keys, area, f"{name}: secret {ref['name']}/{ref['key']} exists")
        return [f"{name}-{i}.{headless}.xhuma-data.svc" for i in range(3)]

    rabbit_hosts = clustered("rabbitmq-server", "rabbitmq-nodes", 5672)
    amqp_hosts = [u.split("@", 1)[1].split("/", 1)[0] for u in base_secret["XHUMA_AMQP_URL"].split(",")]
    r.check(amqp_hosts == [f"{h}:5672" for h in rabbit_hosts], area,
            "the base's XHUMA_AMQP_URL lists every RabbitMQ node")
    conf = by_kind.get("ConfigMap", {}).get("rabbitmq-config", {}).get("data", {}).get("rabbitmq.conf", "")
    for want in ("default_queue_type = quorum", "rabbit_peer_discovery_k8s",
                 "cluster_partition_handling = pause_minority"):
        r.check(want in conf, area, f"rabbitmq.conf: {want}")

    redis_hosts = clustered("redis", "redis-nodes", 26379)
    sentinels = base_config.get("XHUMA_REDIS_SENTINELS", "").split(",")
    r.check(sentinels == [f"{h}:26379" for h in redis_hosts], area,
            "the base's XHUMA_REDIS_SENTINELS lists every sentinel")
    rconf = by_kind.get("ConfigMap", {}).get("redis-config", {}).get("data", {})
    r.check("min-replicas-to-write 1" in rconf.get("redis.conf", ""), area,
            "redis.conf: min-replicas-to-write 1")
    master = base_config.get("XHUMA_REDIS_MASTER_NAME", "xhuma")
    r.check(f"sentinel monitor {master} " in rconf.get("init.sh", ""), area,
            f"the sentinels monitor the primary as {master} (XHUMA_REDIS_MASTER_NAME)")


# ------------------------------------------------------------------------------------ main ----

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hadolint")
    ap.add_argument("--promtool")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("only", nargs="*", help="compose compose-cluster docker prometheus grafana otel k8s observability data metrics (default: all)")
    args = ap.parse_args()
    r = Report(args.verbose)
    checks = {
        "compose": lambda: check_compose(r),
        "compose-cluster": lambda: check_compose_cluster(r),
        "docker": lambda: check_docker(r, args.hadolint),
        "prometheus": lambda: check_prometheus(r, args.promtool),
        "grafana": lambda: check_grafana(r),
        "otel": lambda: check_otel(r),
        "k8s": lambda: check_k8s(r),
        "observability": lambda: check_observability(r),
        "data": lambda: check_data(r),
        "metrics": lambda: check_metric_names(r),
    }
    for name in args.only or list(checks):
        if name not in checks:
            print(f"unknown check {name}", file=sys.stderr)
            return 2
        before = len(r.failures)
        try:
            checks[name]()
        except Exception as e:  # a crash in one area is a failure of that area, not of all
            r.fail(name, f"check crashed: {type(e).__name__}: {e}")
        print(f"{'FAIL' if len(r.failures) > before else 'ok  '} {name}")
    if r.failures:
        print(f"deploy/validate: {len(r.failures)} problem(s)")
        return 1
    print("deploy/validate: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
