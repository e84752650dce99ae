#!/usr/bin/env bash
# Shared by deploy/local/run and deploy/local/test: make sure the real services Xhuma needs are
# installed (Debian packages) and running on loopback. Idempotent; quiet when all is well.
#   RabbitMQ 127.0.0.1:5672 (guest/guest), Redis 127.0.0.1:6379, PostgreSQL 127.0.0.1:5432 (db test)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
_apt_updated=0

apt_install() {
    if [ "$_apt_updated" = 0 ]; then
        $SUDO apt-get update -q >/dev/null
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds name
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        port_open "$1" && return 0
        sleep 0.1
    done
    echo "services: $3 did not come up on 127.0.0.1:$1" >&2
    return 1
}

ensure_redis() {
    if port_open 6379; then return 0; fi
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    echo "services: starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --logfile /tmp/xhuma-redis.log >/dev/null
    wait_port 6379 20 redis
}

ensure_rabbitmq() {
    if port_open 5672; then return 0; fi
    command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
    echo "services: starting rabbitmq-server on 127.0.0.1:5672 (takes ~10 s)"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    # The Debian package may start (and bind) the node itself through its service scripts.
    $SUDO rabbitmq-server -detached >/dev/null 2>&1 || true
    wait_port 5672 90 rabbitmq
    local i
    for ((i = 0; i < 120; i++)); do
        rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "services: rabbitmq did not finish starting" >&2
    return 1
}

ensure_postgres() {
    if port_open 5432; then return 0; fi
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        apt_install postgresql ssl-cert
    fi
    echo "services: starting PostgreSQL on 127.0.0.1:5432"
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then
        version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
        $SUDO pg_createcluster "$version" main >/dev/null
    fi
    # Trust auth on loopback, as on the project machines (local development only).
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    if [ -f "$hba" ] && ! grep -q "xhuma-local" "$hba"; then
        $SUDO sed -i '1i host all all 127.0.0.1/32 trust # xhuma-local\nlocal all all trust # xhuma-local' "$hba"
    fi
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 \
        || $SUDO pg_ctlcluster "$version" main start
    wait_port 5432 30 postgres
    $SUDO -u postgres psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1 \
        || psql -h 127.0.0.1 -U postgres -c "create database test" >/dev/null 2>&1 || true
}

ensure_services() {
    ensure_redis && ensure_rabbitmq && ensure_postgres
}
