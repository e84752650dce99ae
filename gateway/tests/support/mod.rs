//! Test support for the gateway's SOAP tests: an in-memory [`FakeBackend`], a router built
//! on it, request helpers, fixture paths, and the shared `validate-soap` judge.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use time::OffsetDateTime;
use tower::ServiceExt;
use xhuma_common::NhsNumber;
use xhuma_common::document::DocumentMeta;
use xhuma_common::nhs::{PdsSearch, PdsSearchOutcome};
use xhuma_common::patient::{Address, Demographics, Gender, PdsOutcome};
use xhuma_gateway::backend::{
    Backend, BackendError, BoxFuture, Caller, Discovery, Documents, Retrieved, SecurityAlert,
};
use xhuma_gateway::{AppState, GatewayConfig, router};

/// The patient of the synthetic requests.
pub const LUCIEN: &str = "9690937278";
/// The uniqueId the synthetic ITI-39 request asks for.
pub const FIXTURE_DOC_ID: &str = "7d0c6a1e-0000-4000-8000-000000000001";
pub const CCDA: &[u8] = b"<?xml version=\"1.0\"?><ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>";

/// Which failure the fake returns for every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    Unavailable,
    Busy,
    ShuttingDown,
    /// `discover` panics (the catch-panic layer must answer).
    Panic,
    /// `discover` never answers (the request deadline must answer).
    Hang,
}

/// An in-memory backend: patients, documents, and a record of the calls made.
#[derive(Default)]
pub struct FakeBackend {
    pub patients: HashMap<NhsNumber, PdsOutcome>,
    pub documents: HashMap<NhsNumber, Documents>,
    pub stored: HashMap<String, (DocumentMeta, Bytes)>,
    pub fail: Option<Fail>,
    pub calls: Mutex<Vec<String>>,
    /// Keys the replay guard has seen.
    pub seen: Mutex<std::collections::HashSet<String>>,
    /// Security alerts raised: "<iti> <refusal label>".
    pub alerts: Mutex<Vec<String>>,
}

// === impl FakeBackend ===

impl FakeBackend {
    /// Lucien Samual (found, cached document with warnings off) and the fixture document.
    pub fn standard() -> Self {
        let mut b = Self::default();
        let nhs = nhs(LUCIEN);
        b.patients.insert(nhs, PdsOutcome::Found(lucien()));
        let meta = meta(
            nhs,
            &xhuma_common::job::unique_id_for(uuid::Uuid::from_u128(42)),
        );
        b.documents.insert(nhs, Documents::Ready(meta.clone()));
        b.stored.insert(
            meta.unique_id.clone(),
            (meta.clone(), Bytes::from_static(CCDA)),
        );
        let mut fixture = meta;
        fixture.unique_id = FIXTURE_DOC_ID.into();
        b.stored
            .insert(FIXTURE_DOC_ID.into(), (fixture, Bytes::from_static(CCDA)));
        b
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub fn alerts(&self) -> Vec<String> {
        self.alerts.lock().unwrap().clone()
    }

    fn err(&self) -> Option<BackendError> {
        self.fail.map(|f| match f {
            Fail::Unavailable => BackendError::Unavailable("redis down at 10.0.0.7".into()),
            Fail::Busy => BackendError::Busy,
            Fail::ShuttingDown => BackendError::ShuttingDown,
            Fail::Panic | Fail::Hang => BackendError::Busy,
        })
    }
}

impl Backend for FakeBackend {
    fn prefetch<'a>(
        &'a self,
        patient: &'a xhuma_common::patient::Demographics,
        _caller: &'a Caller,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("prefetch {}", patient.nhs_number));
        Box::pin(async { Ok(()) })
    }

    fn discover<'a>(
        &'a self,
        nhs: NhsNumber,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Discovery, BackendError>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("discover {nhs} as {}", caller.requester.subject_id));
        if self.fail == Some(Fail::Panic) {
            panic!("backend bug with patient {nhs}");
        }
        if self.fail == Some(Fail::Hang) {
            return Box::pin(std::future::pending());
        }
        let r = match self.err() {
            Some(e) => Err(e),
            None => Ok(self
                .patients
                .get(&nhs)
                .cloned()
                .unwrap_or(PdsOutcome::NotFound)),
        };
        Box::pin(async move { r })
    }

    fn search<'a>(
        &'a self,
        q: &'a PdsSearch,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<PdsSearchOutcome, BackendError>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("search as {}", caller.requester.subject_id));
        // PDS's single-match semantics over the patients this backend knows.
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let matches: Vec<&PdsOutcome> = self
            .patients
            .values()
            .filter(|o| match o {
                PdsOutcome::Found(d) => {
                    q.family
                        .as_deref()
                        .zip(d.family.as_deref())
                        .is_some_and(|(a, b)| same(a, b))
                        && q.birth_date == d.birth_date
                        && q.given.iter().all(|g| d.given.iter().any(|dg| same(g, dg)))
                        && q.gender.is_none_or(|g| g == d.gender)
                        && q.postcode.as_deref().is_none_or(|p| {
                            d.address
                                .as_ref()
                                .and_then(|a| a.postal_code.as_deref())
                                .is_some_and(|dp| same(p, dp))
                        })
                }
                _ => false,
            })
            .collect();
        let r = match (self.err(), matches.as_slice()) {
            (Some(e), _) => Err(e),
            (None, []) => Ok(PdsSearchOutcome::NoMatch),
            (None, [one]) => Ok(PdsSearchOutcome::Match(Box::new((*one).clone()))),
            (None, _) => Ok(PdsSearchOutcome::TooManyMatches),
        };
        Box::pin(async move { r })
    }

    fn documents<'a>(
        &'a self,
        nhs: NhsNumber,
        _caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Documents, BackendError>> {
        self.calls.lock().unwrap().push(format!("documents {nhs}"));
        let r = match self.err() {
            Some(e) => Err(e),
            None => Ok(self
                .documents
                .get(&nhs)
                .cloned()
                .unwrap_or(Documents::Failed(xhuma_common::job::JobFailure {
                    kind: xhuma_common::job::FailureKind::PatientNotFound,
                    reason: "not found".into(),
                }))),
        };
        Box::pin(async move { r })
    }

    fn retrieve<'a>(
        &'a self,
        unique_ids: &'a [String],
        _caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<Retrieved>, BackendError>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("retrieve {}", unique_ids.len()));
        let r = match self.err() {
            Some(e) => Err(e),
            None => Ok(unique_ids
                .iter()
                .map(|id| match self.stored.get(id) {
                    Some((meta, doc)) => Retrieved::Found {
                        meta: meta.clone(),
                        document: doc.clone(),
                    },
                    None => Retrieved::Unknown,
                })
                .collect()),
        };
        Box::pin(async move { r })
    }

    fn first_use<'a>(
        &'a self,
        key: &'a str,
        _ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        let first = self.seen.lock().unwrap().insert(key.to_string());
        Box::pin(async move { Ok(first) })
    }

    fn security_alert(&self, alert: SecurityAlert<'_>) {
        self.alerts.lock().unwrap().push(format!(
            "{} {}",
            alert.iti,
            xhuma_gateway::caller::refusal_label(alert.refusal)
        ));
    }
}

pub fn nhs(s: &str) -> NhsNumber {
    NhsNumber::parse(s).unwrap()
}

/// A valid NHS number other than Lucien's, from a stem.
pub fn other_nhs(stem: u32) -> NhsNumber {
    (stem..stem + 20).find_map(NhsNumber::from_stem).unwrap()
}

pub fn lucien() -> Demographics {
    Demographics {
        nhs_number: nhs(LUCIEN),
        given: vec!["Lucien".into()],
        family: Some("SAMUAL".into()),
        prefix: vec!["MR".into()],
        gender: Gender::Male,
        birth_date: Some("1938-12-11".into()),
        address: Some(Address {
            lines: vec!["1 Trevelyan Square".into(), "Leeds".into()],
            postal_code: Some("LS1 6AE".into()),
        }),
        gp_ods: Some("E82665".into()),
        version_id: Some("2".into()),
    }
}

pub fn meta(nhs: NhsNumber, unique_id: &str) -> DocumentMeta {
    let uuid = xhuma_common::job::uuid_of_unique_id(unique_id).unwrap_or(uuid::Uuid::from_u128(7));
    DocumentMeta {
        unique_id: unique_id.into(),
        entry_uuid: format!("urn:uuid:{uuid}"),
        nhs_number: nhs,
        created: OffsetDateTime::now_utc(),
        sha1: "da39a3ee5e6b4b0d3255bfef95601890afd80709".into(),
        size: CCDA.len() as u64,
        patient_name: Some("SAMUAL, Lucien".into()),
        practice_ods: "E82665".into(),
        practice_name: Some("Test Surgery".into()),
        warnings: Vec::new(),
        ssp_trace_id: None,
    }
}

/// Required variables of the pipeline's NHS settings, plus `extra`.
pub fn config(extra: &[(&str, &str)]) -> GatewayConfig {
    let base = [
        ("XHUMA_NHS_API_KEY", "test-key"),
        ("XHUMA_NHS_ASID", "200000000001"),
        ("XHUMA_NHS_SIGNING_KEY_PATH", "/nonexistent/test-key.pem"),
        ("XHUMA_SAML_REQUIRED", "false"),
        ("XHUMA_SAML_ALLOW_UNSIGNED", "true"),
        ("XHUMA_SAML_DEV_MODE", "true"),
        ("XHUMA_SAML_REQUIRE_RESOURCE_ID", "false"),
    ];
    let map: HashMap<String, String> = base
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    GatewayConfig::from_lookup(&move |k| map.get(k).cloned()).expect("test config")
}

pub fn app_with(backend: FakeBackend, extra: &[(&str, &str)]) -> (Router, Arc<FakeBackend>) {
    let backend = Arc::new(backend);
    let state = AppState::new(config(extra), backend.clone()).expect("state");
    (router(state), backend)
}

pub fn standard_app() -> (Router, Arc<FakeBackend>) {
    app_with(FakeBackend::standard(), &[])
}

/// A response as the tests look at it.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn content_type(&self) -> String {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
    /// The bytes with a `Content-Type:` line on top, as `validate-soap` reads MTOM.
    pub fn raw_with_headers(&self) -> Vec<u8> {
        let mut v = format!("Content-Type: {}\r\n\r\n", self.content_type()).into_bytes();
        v.extend_from_slice(&self.body);
        v
    }
}

pub async fn post(app: &Router, path: &str, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", content_type)
        .body(Body::from(body.into()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

pub const SOAP_CT: &str = "application/soap+xml; charset=utf-8";

pub async fn post_soap(app: &Router, path: &str, xml: impl Into<Bytes>) -> Reply {
    post(app, path, SOAP_CT, xml).await
}

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

pub fn fixture(rel: &str) -> String {
    let p = shared().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

pub fn synthetic(name: &str) -> String {
    fixture(&format!("fixtures/xhuma/synthetic-requests/{name}"))
}

/// A shared judge (`validate-soap`, `ehr-soap-client`), or `None` with a note when it is not
/// installed here. With `CI=true` a missing tool fails the test.
pub fn tool(name: &str) -> Option<PathBuf> {
    let p = shared().join("tools").join(name);
    let usable = p.exists()
        && Command::new("xmllint")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if usable {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name} is required in CI: run shared/tools/install-validators");
    }
    eprintln!("note: {name} not available here; skipping the external check");
    None
}

/// Runs `validate-soap KIND` on `bytes` and panics with its report unless it passes.
pub fn validate(kind: &str, bytes: &[u8], require_mtom: bool) {
    let Some(tool) = tool("validate-soap") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("xhuma-gw-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("message.xml");
    std::fs::write(&file, bytes).unwrap();
    let mut cmd = Command::new(tool);
    if require_mtom {
        cmd.arg("--require-mtom");
    }
    let out = cmd.arg(kind).arg(&file).output().unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) && std::env::var("CI").as_deref() != Ok("true") {
        eprintln!("note: validate-soap could not run here:\n{report}");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "validate-soap {kind} failed:\n{report}"
    );
}

/// The text of the first element with this local name (any prefix).
pub fn first_text(xml: &str, local: &str) -> Option<String> {
    let re_open = [format!("<{local}>"), format!(":{local}>")];
    for open in re_open {
        if let Some(i) = xml.find(&open) {
            let rest = &xml[i + open.len()..];
            let end = rest.find('<')?;
            return Some(rest[..end].to_string());
        }
    }
    None
}

/// Replaces the wsa:Action of an envelope written with the `a:` prefix.
pub fn with_action(xml: &str, action: &str) -> String {
    let start = xml.find("<a:Action").unwrap();
    let open_end = start + xml[start..].find('>').unwrap() + 1;
    let close = open_end + xml[open_end..].find("</a:Action>").unwrap();
    format!("{}{action}{}", &xml[..open_end], &xml[close..])
}
