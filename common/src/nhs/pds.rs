//! PDS FHIR R4: read a patient by NHS number, or search by demographics (single match,
//! application-restricted).
//!
//! The NHS number is a [`NhsNumber`], so it has passed Modulus 11 before any call. Each call
//! sends a new `X-Request-ID` (kept across retries, as PDS de-duplicates on it), the caller's
//! `X-Correlation-ID` and the API-platform bearer token. The Patient is reduced to a
//! [`PdsOutcome`]: found, superseded (PDS answered with another number), restricted (S-flag:
//! never fetch GP data), deceased, or not found.

use std::sync::Arc;

use serde::Deserialize;
use tracing::Instrument;

use super::auth::TokenSource;
use super::config::NhsConfig;
use super::transport::{Reply, Upstream};
use super::{Service, SpineCode, UpstreamError};
use crate::NhsNumber;
use crate::patient::{Address, Demographics, Gender, PdsOutcome};

/// Demographic search terms (`family` + `birthdate` at least, unless fuzzy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PdsSearch {
    pub family: Option<String>,
    pub given: Vec<String>,
    pub gender: Option<Gender>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    pub postcode: Option<String>,
    pub fuzzy: bool,
}

/// What a single-match search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdsSearchOutcome {
    Match(Box<PdsOutcome>),
    NoMatch,
    /// More than one patient matched (PDS does not say which).
    TooManyMatches,
}

/// The PDS client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PdsClient {
    cfg: Arc<NhsConfig>,
    upstream: Upstream,
    tokens: TokenSource,
}

// === impl PdsClient ===

impl PdsClient {
    pub(crate) fn new(cfg: Arc<NhsConfig>, tokens: TokenSource) -> Result<Self, UpstreamError> {
        let upstream = Upstream::new(Service::Pds, &cfg, cfg.timeouts.pds, 1024 * 1024, false)?;
        Ok(Self {
            cfg,
            upstream,
            tokens,
        })
    }

    /// `GET /Patient/{nhs}`. 404 (`RESOURCE_NOT_FOUND`, `INVALIDATED_RESOURCE`) is
    /// `Ok(NotFound)`; other failures are errors.
    pub async fn read_patient(
        &self,
        nhs: NhsNumber,
        correlation_id: &str,
    ) -> Result<PdsOutcome, UpstreamError> {
        let span = tracing::info_span!(
            "upstream",
            upstream = "pds",
            http.status = tracing::field::Empty
        );
        async {
            let url = format!("{}/Patient/{nhs}", self.cfg.pds_url);
            match self.get(&url, &[], correlation_id).await {
                Ok(reply) => {
                    tracing::Span::current().record("http.status", reply.status);
                    let patient: Patient = serde_json::from_slice(&reply.body).map_err(|e| {
                        UpstreamError::invalid(Service::Pds, format!("Patient: {e}"))
                    })?;
                    outcome_of(&patient, nhs)
                }
                Err(e) if e.status() == Some(404) => {
                    tracing::Span::current().record("http.status", 404);
                    match e.code() {
                        Some(SpineCode::ResourceNotFound | SpineCode::InvalidatedResource)
                        | None => Ok(PdsOutcome::NotFound),
                        Some(_) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        .instrument(span)
        .await
    }

    /// `GET /Patient?…` with `_max-results=1`.
    pub async fn search(
        &self,
        q: &PdsSearch,
        correlation_id: &str,
    ) -> Result<PdsSearchOutcome, UpstreamError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if q.fuzzy {
            query.push(("_fuzzy-match", "true".into()));
        }
        if let Some(f) = &q.family {
            query.push(("family", f.clone()));
        }
        for g in &q.given {
            query.push(("given", g.clone()));
        }
        if let Some(g) = q.gender {
            let g = match g {
                Gender::Male => "male",
                Gender::Female => "female",
                Gender::Other => "other",
                Gender::Unknown => "unknown",
            };
            query.push(("gender", g.into()));
        }
        if let Some(b) = &q.birth_date {
            query.push(("birthdate", format!("eq{b}")));
        }
        if let Some(p) = &q.postcode {
            query.push(("address-postalcode", p.clone()));
        }
        let url = format!("{}/Patient", self.cfg.pds_url);
        let reply = self.get(&url, &query, correlation_id).await?;
        let body: SearchBody = serde_json::from_slice(&reply.body)
            .map_err(|e| UpstreamError::invalid(Service::Pds, format!("searchset: {e}")))?;
        if body.resource_type == "OperationOutcome" {
            return Ok(PdsSearchOutcome::TooManyMatches);
        }
        let Some(entry) = body.entry.into_iter().next() else {
            return Ok(PdsSearchOutcome::NoMatch);
        };
        let nhs = NhsNumber::parse(&entry.resource.id)
            .map_err(|_| UpstreamError::invalid(Service::Pds, "Patient.id is not an NHS number"))?;
        outcome_of(&entry.resource, nhs).map(|o| PdsSearchOutcome::Match(Box::new(o)))
    }

    /// One GET with the PDS headers; retried when transient, and once more with a new token
    /// after a 401.
    async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
        correlation_id: &str,
    ) -> Result<Reply, UpstreamError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut refreshed = false;
        loop {
            let token = self.tokens.token().await?;
            let result = self
                .upstream
                .retrying(|| {
                    let mut req = self
                        .upstream
                        .http
                        .get(url)
                        .query(query)
                        .bearer_auth(&*token)
                        .header("Accept", "application/fhir+json")
                        .header("X-Request-ID", &request_id)
                        .header("X-Correlation-ID", correlation_id);
                    if let Some(ods) = &self.cfg.end_user_ods {
                        req = req.header("NHSD-End-User-Organisation-ODS", ods);
                    }
                    self.upstream.attempt(req)
                })
                .await;
            match result {
                Err(e) if e.status() == Some(401) && !refreshed => {
                    self.tokens.invalidate(&token).await;
                    refreshed = true;
                }
                other => return other,
            }
        }
    }
}

// --- the parts of a FHIR R4 Patient we read ---

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Patient {
    id: String,
    meta: Option<Meta>,
    name: Vec<HumanName>,
    gender: Option<String>,
    birth_date: Option<String>,
    deceased_date_time: Option<String>,
    deceased_boolean: Option<bool>,
    address: Vec<FhirAddress>,
    general_practitioner: Vec<Reference>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    version_id: Option<String>,
    security: Vec<Coding>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Coding {
    code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HumanName {
    #[serde(rename = "use")]
    use_: Option<String>,
    given: Vec<String>,
    family: Option<String>,
    prefix: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FhirAddress {
    #[serde(rename = "use")]
    use_: Option<String>,
    line: Vec<String>,
    postal_code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Reference {
    identifier: Option<Identifier>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Identifier {
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    resource_type: String,
    #[serde(default)]
    entry: Vec<SearchEntry>,
}

#[derive(Deserialize)]
struct SearchEntry {
    resource: Patient,
}

/// Reduces a PDS Patient JSON to demographics (the `nhs_number` is the record's `id`).
pub fn demographics_from_patient(json: &[u8]) -> Result<Demographics, UpstreamError> {
    let p: Patient = serde_json::from_slice(json)
        .map_err(|e| UpstreamError::invalid(Service::Pds, format!("Patient: {e}")))?;
    let nhs = NhsNumber::parse(&p.id)
        .map_err(|_| UpstreamError::invalid(Service::Pds, "Patient.id is not an NHS number"))?;
    Ok(demographics(&p, nhs))
}

fn outcome_of(p: &Patient, requested: NhsNumber) -> Result<PdsOutcome, UpstreamError> {
    let restricted = p.meta.as_ref().is_some_and(|m| {
        m.security
            .iter()
            .any(|c| matches!(c.code.as_deref(), Some("R" | "V")))
    });
    if restricted {
        return Ok(PdsOutcome::Restricted);
    }
    if p.deceased_date_time.is_some() || p.deceased_boolean == Some(true) {
        return Ok(PdsOutcome::Deceased {
            date: p.deceased_date_time.clone(),
        });
    }
    let current = NhsNumber::parse(&p.id)
        .map_err(|_| UpstreamError::invalid(Service::Pds, "Patient.id is not an NHS number"))?;
    let d = demographics(p, current);
    if current != requested {
        return Ok(PdsOutcome::Superseded {
            requested,
            current: Box::new(d),
        });
    }
    Ok(PdsOutcome::Found(d))
}

fn demographics(p: &Patient, nhs: NhsNumber) -> Demographics {
    let name = ["official", "usual"]
        .iter()
        .find_map(|u| p.name.iter().find(|n| n.use_.as_deref() == Some(u)))
        .or_else(|| p.name.first());
    let address = p
        .address
        .iter()
        .find(|a| a.use_.as_deref() == Some("home"))
        .or_else(|| p.address.first())
        .map(|a| Address {
            lines: a.line.clone(),
            postal_code: a.postal_code.clone(),
        });
    Demographics {
        nhs_number: nhs,
        given: name.map(|n| n.given.clone()).unwrap_or_default(),
        family: name.and_then(|n| n.family.clone()),
        prefix: name.map(|n| n.prefix.clone()).unwrap_or_default(),
        gender: match p.gender.as_deref() {
            Some("male") => Gender::Male,
            Some("female") => Gender::Female,
            Some("other") => Gender::Other,
            _ => Gender::Unknown,
        },
        birth_date: p.birth_date.clone(),
        address,
        gp_ods: p
            .general_practitioner
            .first()
            .and_then(|r| r.identifier.as_ref())
            .and_then(|i| i.value.clone()),
        version_id: p.meta.as_ref().and_then(|m| m.version_id.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../shared/fixtures/pds/patient/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn reads_sandbox_patients() {
        let full: Patient = serde_json::from_slice(&fixture("patient_9693632109.json")).unwrap();
        let n = NhsNumber::parse("9693632109").unwrap();
        let PdsOutcome::Found(d) = outcome_of(&full, n).unwrap() else {
            panic!("expected Found")
        };
        assert_eq!(d.gp_ods.as_deref(), Some("A20047"));
        assert_eq!(d.family.as_deref(), Some("GARTON"));
        // The sandbox's "full" patient carries a date of death.
        let dead: Patient = serde_json::from_slice(&fixture("patient_9000000009.json")).unwrap();
        let n = NhsNumber::parse("9000000009").unwrap();
        assert!(matches!(
            outcome_of(&dead, n).unwrap(),
            PdsOutcome::Deceased { .. }
        ));
        let restricted: Patient =
            serde_json::from_slice(&fixture("patient_9000000025.json")).unwrap();
        let n = NhsNumber::parse("9000000025").unwrap();
        assert_eq!(outcome_of(&restricted, n).unwrap(), PdsOutcome::Restricted);
    }
}
