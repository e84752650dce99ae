//! GP Connect Access Record Structured (FHIR STU3) through the Spine Secure Proxy.
//!
//! `POST {ssp}{service root}/Patient/$gpc.getstructuredrecord` with the `Ssp-*` headers, an
//! unsigned audit JWT made fresh for every attempt (its `exp` is `iat + 300`), and a
//! `Parameters` body asking for the configured clinical areas. The answer is the Bundle's raw
//! bytes, handed to the converter untouched.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde_json::{Value, json};
use tracing::Instrument;

use super::config::NhsConfig;
use super::endpoint::{INTERACTION_GET_STRUCTURED, ProviderEndpoint};
use super::transport::Upstream;
use super::{ClinicalArea, Service, UpstreamError};
use crate::NhsNumber;
use crate::identity::Requester;

const FHIR_JSON: &str = "application/fhir+json;charset=utf-8";
/// The largest structured record we accept (the GP2GP adaptor allows 150 MB).
const MAX_BUNDLE_BYTES: usize = 256 * 1024 * 1024;

/// The GP Connect client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct GpConnectClient {
    cfg: Arc<NhsConfig>,
    upstream: Upstream,
}

// === impl GpConnectClient ===

impl GpConnectClient {
    pub(crate) fn new(cfg: Arc<NhsConfig>) -> Result<Self, UpstreamError> {
        let upstream = Upstream::new(
            Service::GpConnect,
            &cfg,
            cfg.timeouts.gpconnect,
            MAX_BUNDLE_BYTES,
            true,
        )?;
        Ok(Self { cfg, upstream })
    }

    /// Fetches the structured record of `nhs` from `endpoint`, on behalf of `requester`.
    /// `ssp_trace_id` goes into `Ssp-TraceID` (and comes back as `Bundle.id`).
    pub async fn get_structured_record(
        &self,
        nhs: NhsNumber,
        endpoint: &ProviderEndpoint,
        requester: &Requester,
        ssp_trace_id: &str,
    ) -> Result<Bytes, UpstreamError> {
        let span = tracing::info_span!(
            "upstream",
            upstream = "gpconnect",
            http.status = tracing::field::Empty
        );
        async {
            check_endpoint_address(&endpoint.address, &self.cfg.gpc_allowed_hosts).map_err(
                |reason| UpstreamError::Config {
                    service: Service::GpConnect,
                    reason: format!("SDS endpoint address refused: {reason}"),
                },
            )?;
            let url = format!(
                "{}{}/Patient/$gpc.getstructuredrecord",
                self.cfg.ssp_url, endpoint.address
            );
            let body = Bytes::from(build_parameters(nhs, &self.cfg).to_string());
            let reply = self
                .upstream
                .retrying(|| {
                    let jwt = build_jwt(&self.cfg, requester, &endpoint.address, now_secs());
                    let req = self
                        .upstream
                        .http
                        .post(&url)
                        .bearer_auth(jwt)
                        .header("Accept", FHIR_JSON)
                        .header("Content-Type", FHIR_JSON)
                        .header("Ssp-TraceID", ssp_trace_id)
                        .header("Ssp-From", &self.cfg.consumer_asid)
                        .header("Ssp-To", &endpoint.asid)
                        .header("Ssp-InteractionID", INTERACTION_GET_STRUCTURED)
                        .body(body.clone());
                    self.upstream.attempt(req)
                })
                .await?;
            tracing::Span::current().record("http.status", reply.status);
            metrics::histogram!("xhuma_gpconnect_bundle_bytes").record(reply.body.len() as f64);
            Ok(reply.body)
        }
        .instrument(span)
        .await
    }
}

/// The `Parameters` body: the patient plus one `include*` per configured area.
pub fn build_parameters(nhs: NhsNumber, cfg: &NhsConfig) -> Value {
    let mut params = vec![json!({
        "name": "patientNHSNumber",
        "valueIdentifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs.to_string()}
    })];
    for area in &cfg.areas {
        let p = match area {
            ClinicalArea::Allergies => json!({"name": area.parameter(), "part": [
                {"name": "includeResolvedAllergies", "valueBoolean": cfg.include_resolved_allergies}
            ]}),
            ClinicalArea::Medication => json!({"name": area.parameter(), "part": [
                {"name": "includePrescriptionIssues", "valueBoolean": cfg.include_prescription_issues}
            ]}),
            _ => json!({"name": area.parameter()}),
        };
        params.push(p);
    }
    json!({"resourceType": "Parameters", "parameter": params})
}

/// An endpoint address is used only when it is an absolute `https` URL (`http` only to a
/// loopback host: the local simulator) without credentials, query or fragment, on a host
/// `allowed` names (suffixes; empty = any). Addresses come from SDS, from the SDS cache in
/// Redis and from job messages: none of them is trusted to steer the call.
pub fn check_endpoint_address(address: &str, allowed: &[String]) -> Result<(), &'static str> {
    let url = reqwest::Url::parse(address).map_err(|_| "not an absolute URL")?;
    let host = url.host_str().ok_or("no host")?.to_ascii_lowercase();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("not https"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the address");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("query or fragment in the address");
    }
    if !allowed.is_empty() && !loopback && !allowed.iter().any(|s| host_matches(&host, s)) {
        return Err("host not allowed");
    }
    Ok(())
}

/// `host` is `suffix` (without its leading dot) or ends with it at a label boundary.
fn host_matches(host: &str, suffix: &str) -> bool {
    let bare = suffix.trim_start_matches('.');
    host == bare || host.ends_with(&format!(".{bare}"))
}

/// The unsigned GP Connect audit JWT (`alg: none`, empty signature). The requesting
/// practitioner and organisation come from `requester` when it has them, from configuration
/// otherwise.
pub fn build_jwt(cfg: &NhsConfig, requester: &Requester, aud: &str, iat: u64) -> String {
    let id = &cfg.gpc_identity;
    let subject = if requester.subject_id.trim().is_empty() {
        id.practitioner.clone()
    } else {
        requester.subject_id.clone()
    };
    let (family, given) = Requester {
        subject_id: subject.clone(),
        ..Default::default()
    }
    .name_parts();
    let mut name = json!({"family": family});
    if let Some(g) = given {
        name["given"] = json!([g]);
    }
    let user_system = if requester.organization_id.is_empty() {
        id.user_id_system.clone()
    } else {
        requester.organization_id.clone()
    };
    let org_ods = requester
        .ods_code
        .clone()
        .unwrap_or_else(|| id.org_ods.clone());
    let org_name = if requester.organization.is_empty() {
        id.org_name.clone()
    } else {
        requester.organization.clone()
    };
    let claims = json!({
        "iss": id.jwt_issuer,
        "sub": subject,
        "aud": aud,
        "exp": iat + 300,
        "iat": iat,
        "reason_for_request": requester.reason_for_request(),
        "requested_scope": "patient/*.read",
        "requesting_device": {
            "resourceType": "Device",
            "identifier": [{"system": id.device_system, "value": id.device_id}],
            "model": id.device_model,
            "version": id.device_version
        },
        "requesting_organization": {
            "resourceType": "Organization",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": org_ods}],
            "name": org_name
        },
        "requesting_practitioner": {
            "resourceType": "Practitioner",
            "id": subject,
            "identifier": [
                {"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "UNK"},
                {"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "UNK"},
                {"system": user_system, "value": subject}
            ],
            "name": [name]
        }
    });
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_addresses_are_checked() {
        let check = check_endpoint_address;
        let nhs = vec![".nhs.uk".to_string()];
        assert!(
            check(
                "https://provider.thirdparty.nhs.uk/GP0001/STU3/1/gpconnect",
                &nhs
            )
            .is_ok()
        );
        assert!(check("https://provider.thirdparty.nhs.uk/x", &[]).is_ok());
        assert!(check("http://127.0.0.1:9100/gpc/B82617/STU3/1/gpconnect", &nhs).is_ok());
        assert_eq!(check("http://provider.nhs.uk/x", &nhs), Err("not https"));
        assert_eq!(
            check("https://evil.example/x", &nhs),
            Err("host not allowed")
        );
        assert_eq!(
            check("https://nhs.uk.evil.example/x", &nhs),
            Err("host not allowed")
        );
        assert_eq!(check("https://evilnhs.uk/x", &nhs), Err("host not allowed"));
        assert_eq!(
            check("https://a:b@provider.nhs.uk/x", &nhs),
            Err("credentials in the address")
        );
        assert_eq!(
            check("https://provider.nhs.uk/x?y=1", &nhs),
            Err("query or fragment in the address")
        );
        assert_eq!(check("/relative", &nhs), Err("not an absolute URL"));
        assert_eq!(check("file:///etc/passwd", &[]), Err("no host"));
    }

    #[test]
    fn jwt_claims() {
        let cfg = NhsConfig::for_simulator("http://127.0.0.1:1");
        let r = Requester {
            subject_id: "CONE, Stephen".into(),
            organization: "St Elsewhere".into(),
            ods_code: Some("X1".into()),
            ..Default::default()
        };
        let jwt = build_jwt(
            &cfg,
            &r,
            "https://p/GP0001/STU3/1/gpconnect/structured",
            1000,
        );
        assert!(jwt.ends_with('.'));
        let parts: Vec<_> = jwt.split('.').collect();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["exp"], 1300);
        assert_eq!(claims["sub"], "CONE, Stephen");
        assert_eq!(
            claims["requesting_practitioner"]["name"][0]["given"][0],
            "Stephen"
        );
        assert_eq!(
            claims["requesting_organization"]["identifier"][0]["value"],
            "X1"
        );
        let anon = build_jwt(&cfg, &Requester::default(), "a", 0);
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(anon.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            claims["requesting_organization"]["identifier"][0]["value"],
            "RRV00"
        );
    }

    #[test]
    fn parameters_follow_areas() {
        let mut cfg = NhsConfig::for_simulator("http://127.0.0.1:1");
        cfg.areas = vec![ClinicalArea::Allergies, ClinicalArea::Problems];
        let p = build_parameters(NhsNumber::parse("9690937286").unwrap(), &cfg);
        let names: Vec<_> = p["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            ["patientNHSNumber", "includeAllergies", "includeProblems"]
        );
    }
}
