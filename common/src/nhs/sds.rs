//! SDS FHIR R4: which ASID and which service root a practice (ODS code) uses for GP Connect
//! Access Record Structured.
//!
//! `GET /Device?organization=…|{ODS}&identifier=…|{interaction}` gives the provider ASID (and
//! MHS party key); `GET /Endpoint` with the same terms (plus the party key) gives the address.
//! Both use the `apikey` header. No match is `200` with an empty Bundle, which becomes
//! `Ok(None)`: the practice has no GP Connect endpoint.

use std::sync::Arc;

use serde::Deserialize;
use tracing::Instrument;

use super::config::NhsConfig;
use super::endpoint::{INTERACTION_GET_STRUCTURED, ProviderEndpoint};
use super::transport::Upstream;
use super::{Service, UpstreamError};

pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const INTERACTION_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhsServiceInteractionId";
pub const ASID_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhsSpineASID";
pub const PARTY_KEY_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhsMhsPartyKey";

/// The SDS client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SdsClient {
    cfg: Arc<NhsConfig>,
    upstream: Upstream,
}

#[derive(Deserialize)]
struct Bundle {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    resource: Resource,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    identifier: Vec<Identifier>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct Identifier {
    system: Option<String>,
    value: Option<String>,
}

// === impl SdsClient ===

impl SdsClient {
    pub(crate) fn new(cfg: Arc<NhsConfig>) -> Result<Self, UpstreamError> {
        let upstream = Upstream::new(Service::Sds, &cfg, cfg.timeouts.sds, 1024 * 1024, false)?;
        Ok(Self { cfg, upstream })
    }

    /// The GP Connect Access Record Structured endpoint of practice `ods`, or `None` when SDS
    /// has no Device or no Endpoint for it.
    pub async fn gp_connect_endpoint(
        &self,
        ods: &str,
        correlation_id: &str,
    ) -> Result<Option<ProviderEndpoint>, UpstreamError> {
        let span = tracing::info_span!("upstream", upstream = "sds");
        async {
            let org = format!("{ODS_SYSTEM}|{ods}");
            let interaction = format!("{INTERACTION_SYSTEM}|{INTERACTION_GET_STRUCTURED}");
            let device_query = vec![
                ("organization", org.clone()),
                ("identifier", interaction.clone()),
            ];
            let Some(device) = self.first("Device", &device_query, correlation_id).await? else {
                return Ok(None);
            };
            let find = |system: &str| {
                device
                    .identifier
                    .iter()
                    .find(|i| i.system.as_deref() == Some(system))
                    .and_then(|i| i.value.clone())
            };
            let asid = find(ASID_SYSTEM).ok_or_else(|| {
                UpstreamError::invalid(Service::Sds, "Device without an nhsSpineASID identifier")
            })?;
            let mut endpoint_query = vec![("organization", org), ("identifier", interaction)];
            if let Some(party_key) = find(PARTY_KEY_SYSTEM) {
                endpoint_query.push(("identifier", format!("{PARTY_KEY_SYSTEM}|{party_key}")));
            }
            let Some(endpoint) = self
                .first("Endpoint", &endpoint_query, correlation_id)
                .await?
            else {
                return Ok(None);
            };
            let address = endpoint.address.filter(|a| !a.is_empty()).ok_or_else(|| {
                UpstreamError::invalid(Service::Sds, "Endpoint without an address")
            })?;
            Ok(Some(ProviderEndpoint {
                ods: ods.to_string(),
                asid,
                address: address.trim_end_matches('/').to_string(),
            }))
        }
        .instrument(span)
        .await
    }

    async fn first(
        &self,
        resource: &str,
        query: &[(&str, String)],
        correlation_id: &str,
    ) -> Result<Option<Resource>, UpstreamError> {
        let url = format!("{}/{resource}", self.cfg.sds_url);
        let request_id = uuid::Uuid::new_v4().to_string();
        let reply = self
            .upstream
            .retrying(|| {
                let req = self
                    .upstream
                    .http
                    .get(&url)
                    .query(query)
                    .header("apikey", self.cfg.api_key.expose())
                    .header("Accept", "application/fhir+json")
                    .header("X-Request-ID", &request_id)
                    .header("X-Correlation-Id", correlation_id);
                self.upstream.attempt(req)
            })
            .await?;
        let bundle: Bundle = serde_json::from_slice(&reply.body)
            .map_err(|e| UpstreamError::invalid(Service::Sds, format!("{resource} Bundle: {e}")))?;
        Ok(bundle.entry.into_iter().next().map(|e| e.resource))
    }
}
