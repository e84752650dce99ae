//! Clients for the NHS services Xhuma calls: the API-platform token endpoint, PDS, SDS and
//! GP Connect Access Record Structured (through the Spine Secure Proxy).
//!
//! Data flow: the gateway (ITI-47/55) reads PDS through [`PdsClient`]; the workers resolve the
//! registered practice's endpoint through [`SdsClient`] and fetch the STU3 record through
//! [`GpConnectClient`], whose bytes go to the C-CDA converter. Everything is configured by
//! [`NhsConfig`] (`XHUMA_NHS_*`), and every failure is an [`UpstreamError`] that says which
//! service failed, with what status and Spine code, and whether trying again can help.
//!
//! Layout:
//! - [`config`]: `NhsConfig`, read from the environment or pointed at `nhs-sim`.
//! - `transport`: one pooled `reqwest` client per upstream, timeouts, jittered retries.
//! - `auth`: the signed-JWT client assertion and the single-flight token cache.
//! - `pds`, `sds`, `gpconnect`: one file per service; `endpoint`: what SDS finds and
//!   GP Connect is called at (the interaction id, [`ProviderEndpoint`]).
//! - [`areas`]: the GP Connect clinical areas (shared with the simulator).
//! - `outcome`: OperationOutcome / OAuth error bodies → typed error codes.

pub mod areas;
mod auth;
pub mod config;
mod endpoint;
mod error;
mod gpconnect;
mod outcome;
mod pds;
mod sds;
mod transport;

use std::sync::Arc;

pub use areas::ClinicalArea;
pub use auth::{TokenSource, jwks_json};
pub use config::{GpcIdentity, NhsConfig, RetryPolicy, SigningKeyConfig, Timeouts, TlsConfig};
pub use endpoint::{INTERACTION_GET_STRUCTURED, ProviderEndpoint};
pub use error::{Service, SpineCode, UpstreamError};
pub use gpconnect::{GpConnectClient, build_jwt, build_parameters};
pub use pds::{PdsClient, PdsSearch, PdsSearchOutcome, demographics_from_patient};
pub use sds::SdsClient;

/// The three service clients, sharing one token source. Cheap to clone (each holds `Arc`s).
#[derive(Clone, Debug)]
pub struct NhsClients {
    pub pds: PdsClient,
    pub sds: SdsClient,
    pub gpconnect: GpConnectClient,
    /// The OAuth token cache PDS uses (exposed so callers can warm it or serve the JWKS).
    pub tokens: TokenSource,
}

// === impl NhsClients ===

impl NhsClients {
    /// Builds the pooled HTTP clients, loads the signing keys and the mTLS identity. Fails with
    /// an `UpstreamError` of kind `Config` when a key or certificate cannot be read.
    pub fn new(cfg: &NhsConfig) -> Result<Self, UpstreamError> {
        let cfg = Arc::new(cfg.clone());
        let tokens = TokenSource::new(cfg.clone())?;
        Ok(Self {
            pds: PdsClient::new(cfg.clone(), tokens.clone())?,
            sds: SdsClient::new(cfg.clone())?,
            gpconnect: GpConnectClient::new(cfg)?,
            tokens,
        })
    }
}
