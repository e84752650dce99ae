//! Fault injection and call counters, per simulated service.
//!
//! Every request first counts itself, then passes [`Faults::before`]: a queued `fail_next`
//! answer, a random error (`error_rate`), a hang (`timeout_rate`), then the configured latency
//! (fixed, uniform or exponential). GP Connect also has named error cases, per NHS number or
//! for every request ([`GpcCase`]). All of it can be set by flags, by the builder, or at run
//! time through `/_admin/`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use xhuma_common::NhsNumber;

/// A simulated service (path prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimService {
    Oauth,
    Pds,
    Sds,
    /// The Spine Secure Proxy (`/ssp/`).
    Ssp,
    /// The GP Connect providers (`/gpc/`).
    Gpconnect,
}

impl SimService {
    pub const ALL: [SimService; 5] = [
        Self::Oauth,
        Self::Pds,
        Self::Sds,
        Self::Ssp,
        Self::Gpconnect,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oauth => "oauth",
            Self::Pds => "pds",
            Self::Sds => "sds",
            Self::Ssp => "ssp",
            Self::Gpconnect => "gpconnect",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SimService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SimService {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown service {s:?} (oauth, pds, sds, ssp, gpconnect)"))
    }
}

/// Added delay before answering.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Latency {
    #[default]
    None,
    Fixed {
        ms: u64,
    },
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
    /// Exponential with this mean (a long tail, like real upstreams).
    Exponential {
        mean_ms: u64,
    },
}

impl Latency {
    pub fn sample(&self) -> Duration {
        match *self {
            Self::None => Duration::ZERO,
            Self::Fixed { ms } => Duration::from_millis(ms),
            Self::Uniform { min_ms, max_ms } => {
                let (lo, hi) = (min_ms.min(max_ms), min_ms.max(max_ms));
                Duration::from_millis(rand::random_range(lo..=hi))
            }
            Self::Exponential { mean_ms } => {
                let u: f64 = rand::random_range(f64::EPSILON..1.0);
                Duration::from_secs_f64((-u.ln() * mean_ms as f64 / 1000.0).min(600.0))
            }
        }
    }
}

impl FromStr for Latency {
    type Err = String;
    /// `50` (fixed ms), `10..200` (uniform), `exp:80` (exponential mean).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("bad latency {s:?}: use MS, MIN..MAX or exp:MEAN");
        if let Some(mean) = s.strip_prefix("exp:") {
            return Ok(Self::Exponential {
                mean_ms: mean.parse().map_err(|_| bad())?,
            });
        }
        if let Some((a, b)) = s.split_once("..") {
            return Ok(Self::Uniform {
                min_ms: a.parse().map_err(|_| bad())?,
                max_ms: b.parse().map_err(|_| bad())?,
            });
        }
        Ok(Self::Fixed {
            ms: s.parse().map_err(|_| bad())?,
        })
    }
}

/// The fault settings of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceFaults {
    pub latency: Latency,
    /// Probability (0–1) of answering `error_status` instead.
    pub error_rate: f64,
    pub error_status: u16,
    /// `Retry-After` seconds sent with 429/503 errors.
    pub retry_after_secs: Option<u64>,
    /// Probability (0–1) of hanging for `hang_ms` and then failing with 504.
    pub timeout_rate: f64,
    pub hang_ms: u64,
    /// Requests allowed per second (PDS's default is 5 per app); beyond it, 429 with
    /// `Retry-After: 1`.
    pub rate_limit_per_sec: Option<u32>,
}

impl Default for ServiceFaults {
    fn default() -> Self {
        Self {
            latency: Latency::None,
            error_rate: 0.0,
            error_status: 503,
            retry_after_secs: None,
            timeout_rate: 0.0,
            hang_ms: 120_000,
            rate_limit_per_sec: None,
        }
    }
}

/// Queued answers: the next `count` requests get `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailNext {
    pub count: u32,
    #[serde(default = "default_fail_status")]
    pub status: u16,
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
}

fn default_fail_status() -> u16 {
    503
}

/// What a fault decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Hung, then 504.
    Timeout,
}

/// Named GP Connect (provider and SSP) error cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GpcCase {
    InvalidNhsNumber,
    InvalidIdentifierSystem,
    InvalidIdentifierValue,
    InvalidPatientDemographics,
    BadRequest,
    NoPatientConsent,
    AccessDenied,
    NoRelationship,
    NoOrganisationConsent,
    PatientNotFound,
    NoRecordFound,
    OrganisationNotFound,
    PractitionerNotFound,
    InvalidResource,
    InvalidParameter,
    InternalServerError,
    NotImplemented,
    SspAsidCheckFailed,
    SspPartykeyCheckFailed,
    SspFotCheckFailed,
    SspTargetUrlVaries,
    SspMethodNotAllowed,
    SspUnsupportedMediaType,
    SspBadGateway,
}

impl GpcCase {
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidNhsNumber => "INVALID_NHS_NUMBER",
            Self::InvalidIdentifierSystem => "INVALID_IDENTIFIER_SYSTEM",
            Self::InvalidIdentifierValue => "INVALID_IDENTIFIER_VALUE",
            Self::InvalidPatientDemographics => "INVALID_PATIENT_DEMOGRAPHICS",
            Self::BadRequest => "BAD_REQUEST",
            Self::NoPatientConsent => "NO_PATIENT_CONSENT",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::NoRelationship => "NO_RELATIONSHIP",
            Self::NoOrganisationConsent => "NO_ORGANISATION_CONSENT",
            Self::PatientNotFound => "PATIENT_NOT_FOUND",
            Self::NoRecordFound => "NO_RECORD_FOUND",
            Self::OrganisationNotFound => "ORGANISATION_NOT_FOUND",
            Self::PractitionerNotFound => "PRACTITIONER_NOT_FOUND",
            Self::InvalidResource => "INVALID_RESOURCE",
            Self::InvalidParameter => "INVALID_PARAMETER",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::NotImplemented => "NOT_IMPLEMENTED",
            Self::SspAsidCheckFailed => "SSP_ASID_CHECK_FAILED",
            Self::SspPartykeyCheckFailed => "SSP_PARTYKEY_CHECK_FAILED",
            Self::SspFotCheckFailed => "SSP_FOT_CHECK_FAILED",
            Self::SspTargetUrlVaries => "SSP_TARGET_URL_VARIES",
            Self::SspMethodNotAllowed => "SSP_METHOD_NOT_ALLOWED",
            Self::SspUnsupportedMediaType => "SSP_UNSUPPORTED_MEDIA_TYPE",
            Self::SspBadGateway => "SSP_BAD_GATEWAY",
        }
    }

    /// Provider cases: (HTTP status, issue code, Spine code, display).
    pub fn provider(self) -> Option<(u16, &'static str, &'static str, &'static str)> {
        Some(match self {
            Self::InvalidNhsNumber => (400, "value", "INVALID_NHS_NUMBER", "Invalid NHS number"),
            Self::InvalidIdentifierSystem => (
                400,
                "value",
                "INVALID_IDENTIFIER_SYSTEM",
                "Invalid identifier system",
            ),
            Self::InvalidIdentifierValue => (
                400,
                "value",
                "INVALID_IDENTIFIER_VALUE",
                "Invalid identifier value",
            ),
            Self::InvalidPatientDemographics => (
                400,
                "business-rule",
                "INVALID_PATIENT_DEMOGRAPHICS",
                "Invalid patient demographics",
            ),
            Self::BadRequest => (400, "invalid", "BAD_REQUEST", "Bad request"),
            Self::NoPatientConsent => (
                403,
                "forbidden",
                "NO_PATIENT_CONSENT",
                "Patient has not provided consent to share data",
            ),
            Self::AccessDenied => (403, "forbidden", "ACCESS DENIED", "Access denied"),
            Self::NoRelationship => (
                403,
                "forbidden",
                "NO_RELATIONSHIP",
                "No legitimate relationship exists for this patient",
            ),
            Self::NoOrganisationConsent => (
                403,
                "forbidden",
                "NO_ORGANISATION_CONSENT",
                "Organisation has not provided consent to share data",
            ),
            Self::PatientNotFound => (404, "not-found", "PATIENT_NOT_FOUND", "Patient not found"),
            Self::NoRecordFound => (404, "not-found", "NO_RECORD_FOUND", "No record found"),
            Self::OrganisationNotFound => (
                404,
                "not-found",
                "ORGANISATION_NOT_FOUND",
                "Organisation record not found",
            ),
            Self::PractitionerNotFound => (
                404,
                "not-found",
                "PRACTITIONER_NOT_FOUND",
                "Practitioner record not found",
            ),
            Self::InvalidResource => (422, "invalid", "INVALID_RESOURCE", "Invalid resource"),
            Self::InvalidParameter => (422, "invalid", "INVALID_PARAMETER", "Invalid parameter"),
            Self::InternalServerError => (
                500,
                "exception",
                "INTERNAL_SERVER_ERROR",
                "Internal server error",
            ),
            Self::NotImplemented => (501, "not-supported", "NOT_IMPLEMENTED", "Not implemented"),
            _ => return None,
        })
    }
}

impl FromStr for GpcCase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_uppercase().replace(['-', ' '], "_");
        serde_json::from_value(serde_json::Value::String(s.clone()))
            .map_err(|_| format!("unknown GP Connect error case {s:?}"))
    }
}

/// Requests received per service (before faults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub oauth: u64,
    pub pds: u64,
    pub sds: u64,
    pub ssp: u64,
    pub gpconnect: u64,
    /// Bundle bytes the GP Connect providers sent.
    pub gpconnect_bytes: u64,
}

impl Counters {
    pub fn get(&self, s: SimService) -> u64 {
        match s {
            SimService::Oauth => self.oauth,
            SimService::Pds => self.pds,
            SimService::Sds => self.sds,
            SimService::Ssp => self.ssp,
            SimService::Gpconnect => self.gpconnect,
        }
    }
}

/// Shared fault state and counters.
#[derive(Debug, Default)]
pub struct Faults {
    services: Mutex<[ServiceFaults; 5]>,
    fail_next: Mutex<[Option<FailNext>; 5]>,
    calls: [AtomicU64; 5],
    gpc_bytes: AtomicU64,
    gpc_global: Mutex<Option<GpcCase>>,
    gpc_by_patient: Mutex<HashMap<NhsNumber, GpcCase>>,
    /// A provider bug: asked for the key's record, it serves the value's.
    gpc_swapped: Mutex<HashMap<NhsNumber, NhsNumber>>,
    /// Patients whose GP Connect record carries their NHS number but someone else's
    /// demographics (what GEN-07's cross-check exists for).
    gpc_impostors: Mutex<HashSet<NhsNumber>>,
    /// Per service: (second since the epoch, requests admitted in it).
    windows: Mutex<[(u64, u32); 5]>,
}

impl Faults {
    pub fn count(&self, s: SimService) {
        self.calls[s.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_gpc_bytes(&self, n: u64) {
        self.gpc_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn counters(&self) -> Counters {
        let c = |s: SimService| self.calls[s.index()].load(Ordering::Relaxed);
        Counters {
            oauth: c(SimService::Oauth),
            pds: c(SimService::Pds),
            sds: c(SimService::Sds),
            ssp: c(SimService::Ssp),
            gpconnect: c(SimService::Gpconnect),
            gpconnect_bytes: self.gpc_bytes.load(Ordering::Relaxed),
        }
    }

    pub fn get(&self, s: SimService) -> ServiceFaults {
        self.services
            .lock()
            .map(|f| f[s.index()].clone())
            .unwrap_or_default()
    }

    pub fn set(&self, s: SimService, f: ServiceFaults) {
        if let Ok(mut all) = self.services.lock() {
            all[s.index()] = f;
        }
    }

    pub fn set_fail_next(&self, s: SimService, f: Option<FailNext>) {
        if let Ok(mut all) = self.fail_next.lock() {
            all[s.index()] = f.filter(|f| f.count > 0);
        }
    }

    pub fn set_gpc_global(&self, case: Option<GpcCase>) {
        if let Ok(mut g) = self.gpc_global.lock() {
            *g = case;
        }
    }

    /// Asked for `asked`'s record, GP Connect serves `served`'s (`None` clears): the wrong-
    /// patient fault a consumer must catch.
    pub fn set_gpc_swap(&self, asked: NhsNumber, served: Option<NhsNumber>) {
        if let Ok(mut m) = self.gpc_swapped.lock() {
            match served {
                Some(s) => m.insert(asked, s),
                None => m.remove(&asked),
            };
        }
    }

    pub fn set_gpc_impostor(&self, nhs: NhsNumber, on: bool) {
        if let Ok(mut m) = self.gpc_impostors.lock() {
            match on {
                true => m.insert(nhs),
                false => m.remove(&nhs),
            };
        }
    }

    pub fn gpc_impostor(&self, nhs: NhsNumber) -> bool {
        self.gpc_impostors.lock().is_ok_and(|m| m.contains(&nhs))
    }

    /// The record served for a request about `asked`.
    pub fn gpc_served(&self, asked: NhsNumber) -> NhsNumber {
        self.gpc_swapped
            .lock()
            .ok()
            .and_then(|m| m.get(&asked).copied())
            .unwrap_or(asked)
    }

    pub fn set_gpc_patient(&self, nhs: NhsNumber, case: Option<GpcCase>) {
        if let Ok(mut m) = self.gpc_by_patient.lock() {
            match case {
                Some(c) => m.insert(nhs, c),
                None => m.remove(&nhs),
            };
        }
    }

    /// The named case for this request: per-patient first, then global.
    pub fn gpc_case(&self, nhs: Option<NhsNumber>) -> Option<GpcCase> {
        if let Some(n) = nhs
            && let Some(c) = self
                .gpc_by_patient
                .lock()
                .ok()
                .and_then(|m| m.get(&n).copied())
        {
            return Some(c);
        }
        self.gpc_global.lock().ok().and_then(|g| *g)
    }

    /// Clears faults and counters.
    pub fn reset(&self) {
        if let Ok(mut s) = self.services.lock() {
            *s = Default::default();
        }
        if let Ok(mut s) = self.fail_next.lock() {
            *s = Default::default();
        }
        for c in &self.calls {
            c.store(0, Ordering::Relaxed);
        }
        self.gpc_bytes.store(0, Ordering::Relaxed);
        self.set_gpc_global(None);
        if let Ok(mut m) = self.gpc_by_patient.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.gpc_impostors.lock() {
            m.clear();
        }
    }

    /// A fixed one-second window per service.
    fn admit(&self, s: SimService, limit: u32) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let Ok(mut w) = self.windows.lock() else {
            return true;
        };
        let slot = &mut w[s.index()];
        if slot.0 != now {
            *slot = (now, 0);
        }
        slot.1 += 1;
        slot.1 <= limit
    }

    /// Counts the request, then applies queued failures, random errors, hangs and latency.
    pub async fn before(&self, s: SimService) -> Option<Injected> {
        self.count(s);
        let queued = self.fail_next.lock().ok().and_then(|mut all| {
            let slot = &mut all[s.index()];
            let f = (*slot)?;
            *slot = (f.count > 1).then_some(FailNext {
                count: f.count - 1,
                ..f
            });
            Some(f)
        });
        if let Some(f) = queued {
            return Some(Injected::Status {
                status: f.status,
                retry_after_secs: f.retry_after_secs,
            });
        }
        let cfg = self.get(s);
        if let Some(limit) = cfg.rate_limit_per_sec
            && !self.admit(s, limit)
        {
            return Some(Injected::Status {
                status: 429,
                retry_after_secs: Some(1),
            });
        }
        if cfg.timeout_rate > 0.0 && rand::random::<f64>() < cfg.timeout_rate {
            tokio::time::sleep(Duration::from_millis(cfg.hang_ms)).await;
            return Some(Injected::Timeout);
        }
        let delay = cfg.latency.sample();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if cfg.error_rate > 0.0 && rand::random::<f64>() < cfg.error_rate {
            return Some(Injected::Status {
                status: cfg.error_status,
                retry_after_secs: cfg.retry_after_secs,
            });
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        assert_eq!("50".parse::<Latency>(), Ok(Latency::Fixed { ms: 50 }));
        assert_eq!(
            "10..200".parse::<Latency>(),
            Ok(Latency::Uniform {
                min_ms: 10,
                max_ms: 200
            })
        );
        assert_eq!(
            "exp:80".parse::<Latency>(),
            Ok(Latency::Exponential { mean_ms: 80 })
        );
        assert!("soon".parse::<Latency>().is_err());
        assert_eq!(
            "no-patient-consent".parse::<GpcCase>(),
            Ok(GpcCase::NoPatientConsent)
        );
        assert_eq!(
            "SSP_BAD_GATEWAY".parse::<GpcCase>(),
            Ok(GpcCase::SspBadGateway)
        );
        assert!("PLEASE".parse::<GpcCase>().is_err());
        assert_eq!("GPCONNECT".parse::<SimService>(), Ok(SimService::Gpconnect));
    }

    #[test]
    fn latencies_stay_in_range() {
        for _ in 0..100 {
            let d = Latency::Uniform {
                min_ms: 5,
                max_ms: 9,
            }
            .sample();
            assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(9));
        }
        assert_eq!(Latency::None.sample(), Duration::ZERO);
    }

    #[tokio::test]
    async fn fail_next_counts_down_then_clears() {
        let f = Faults::default();
        f.set_fail_next(
            SimService::Pds,
            Some(FailNext {
                count: 2,
                status: 503,
                retry_after_secs: None,
            }),
        );
        assert!(f.before(SimService::Pds).await.is_some());
        assert!(f.before(SimService::Pds).await.is_some());
        assert_eq!(f.before(SimService::Pds).await, None);
        assert_eq!(f.counters().pds, 3);
        f.set(
            SimService::Sds,
            ServiceFaults {
                rate_limit_per_sec: Some(0),
                ..Default::default()
            },
        );
        assert_eq!(
            f.before(SimService::Sds).await,
            Some(Injected::Status {
                status: 429,
                retry_after_secs: Some(1)
            })
        );
        f.reset();
        assert_eq!(f.counters(), Counters::default());
    }
}
