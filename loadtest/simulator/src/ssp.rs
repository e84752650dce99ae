//! The Spine Secure Proxy: `/ssp/{absolute provider URL}`.
//!
//! Like the real SSP it checks the method and media type, the four `Ssp-*` headers, that the
//! sender ASID is an accredited consumer, that the target's service root is exactly the one
//! SDS registers for a practice, and that `Ssp-To` is that practice's ASID and may receive the
//! interaction. Then it strips the prefix and forwards in-process to the provider. SSP-level
//! failures use the SSP's own OperationOutcome shape; named `SSP_*` cases force them.

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use bytes::Bytes;
use xhuma_common::NhsNumber;

use crate::faults::{GpcCase, SimService};
use crate::outcome;
use crate::outcome::injected;
use crate::state::SimState;
use crate::{gpconnect, gpconnect::case_response};

/// Any method on `/ssp/*`.
pub async fn proxy(
    State(st): State<SimState>,
    OriginalUri(uri): OriginalUri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(inj) = st.faults.before(SimService::Ssp).await {
        return injected(SimService::Ssp, inj);
    }
    let target = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("")
        .strip_prefix("/ssp/")
        .unwrap_or("")
        .to_string();
    if method != Method::POST && method != Method::GET {
        return outcome::ssp(405, "forbidden", "405: Method Not Allowed");
    }
    if method == Method::POST {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !(ct.starts_with("application/fhir+json")
            || ct.starts_with("application/json")
            || ct.starts_with("application/fhir+xml"))
        {
            return outcome::ssp(415, "not-supported", "Unsupported_Media_Type");
        }
    }
    let hdr = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let (Some(_trace), Some(from), Some(to), Some(interaction)) = (
        hdr("ssp-traceid"),
        hdr("ssp-from"),
        hdr("ssp-to"),
        hdr("ssp-interactionid"),
    ) else {
        return case_response(
            GpcCase::BadRequest,
            Some("Ssp-TraceID, Ssp-From, Ssp-To and Ssp-InteractionID are required"),
        );
    };
    let forced = st
        .faults
        .gpc_case(nhs_of(&body))
        .filter(|c| c.provider().is_none());
    if !st.consumer_asids.contains(from) || forced == Some(GpcCase::SspAsidCheckFailed) {
        return outcome::ssp(
            403,
            "forbidden",
            &format!("ASID_CHECK_FAILED_MESSAGESENDER_{from}"),
        );
    }
    // The target must start with a registered service root, exactly.
    let prefix = format!("{}/gpc/", st.base_url);
    let ods = target
        .strip_prefix(&prefix)
        .and_then(|r| r.split('/').next())
        .unwrap_or("");
    let practice = st.store.practices.get(ods);
    let root_ok = practice.is_some_and(|p| target.starts_with(&format!("{}/", p.address)));
    if !root_ok || forced == Some(GpcCase::SspTargetUrlVaries) {
        let (sds, cpa) = practice.map_or(("UNKNOWN".to_string(), "UNKNOWN".to_string()), |p| {
            (p.address.clone(), format!("S{}", p.asid))
        });
        return outcome::ssp(
            400,
            "invalid",
            &format!("ENDPOINT_{sds}_CPAID_{cpa}_VARIES_FROM_TARGETURL_{target}"),
        );
    }
    let Some(practice) = practice else {
        return outcome::ssp(400, "invalid", "TARGET_URL_UNKNOWN");
    };
    if to != practice.asid
        || interaction != xhuma_common::nhs::INTERACTION_GET_STRUCTURED
        || forced == Some(GpcCase::SspPartykeyCheckFailed)
    {
        return outcome::ssp(
            403,
            "forbidden",
            &format!("PARTYKEY_INTERACTION_CHECK_FAILED_MESSAGERECEIVER_{to}"),
        );
    }
    match forced {
        Some(GpcCase::SspFotCheckFailed) => {
            return outcome::ssp(
                403,
                "forbidden",
                &format!("FOT_CHECK_FAILED_MESSAGESENDER_{from}_MESSAGERECEIVER_{to}"),
            );
        }
        Some(GpcCase::SspMethodNotAllowed) => {
            return outcome::ssp(405, "forbidden", "405: Method Not Allowed");
        }
        Some(GpcCase::SspUnsupportedMediaType) => {
            return outcome::ssp(415, "not-supported", "Unsupported_Media_Type");
        }
        Some(GpcCase::SspBadGateway) => {
            return outcome::ssp(
                502,
                "transient",
                &format!("ERROR_COMMUNICATING_TO_ENDPOINT_URL_{}", practice.address),
            );
        }
        _ => {}
    }
    let rest = target[practice.address.len()..]
        .trim_start_matches('/')
        .to_string();
    let ods = practice.ods.clone();
    let resp = gpconnect::handle(&st, &ods, &rest, &method, &headers, body).await;
    if resp.status().as_u16() == 504 {
        return outcome::ssp(
            502,
            "transient",
            &format!("ERROR_COMMUNICATING_TO_ENDPOINT_URL_{}", practice.address),
        );
    }
    resp
}

/// The NHS number in a Parameters body, when there is one (for per-patient SSP cases).
fn nhs_of(body: &[u8]) -> Option<NhsNumber> {
    gpconnect::params::parse(body).ok().map(|r| r.nhs)
}
