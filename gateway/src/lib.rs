//! Xhuma's IHE responding gateway: ITI-55, ITI-47, ITI-38 and ITI-39 over SOAP 1.2 and MTOM.
//!
//! Layout:
//! - [`app`]: the axum router (routes, limits, layers) and the one SOAP handler.
//! - [`soap`]: bytes ↔ envelopes: namespace-aware parsing, WS-Addressing, MTOM/XOP, faults.
//! - [`caller`]: who is asking (verified SAML identity, or the configured default).
//! - [`offload`]: parsing and SAML checks on the blocking pool, bounded in number and memory.
//! - [`iti`]: the four transactions, each `parse` → `handle` (calls the [`backend`]) → `render`.
//! - [`error`]: the single map from failures to SOAP Faults, HL7 AE and XDS RegistryErrors.
//! - [`config`]: `XHUMA_*` settings.
//! - [`backend`]: what the SOAP layer needs from the record pipeline; [`records`] implements it.
#![forbid(unsafe_code)]

pub mod app;
pub mod backend;
pub mod caller;
pub mod config;
pub mod error;
pub mod inbound;
pub mod iti;
pub mod offload;
pub mod ops;
pub mod records;
pub mod soap;

pub use app::{AppState, router};
pub use config::GatewayConfig;

/// What the fuzz targets in `fuzz/` call: the code that reads a client's bytes before any
/// signature is checked. Not an API; re-exported here so the harness needs no other paths.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::soap::element::{Element, Limits, MAX_NAMESPACE_BYTES, parse_within};
    pub use crate::soap::envelope::Envelope;
    pub use crate::soap::markup::serialize;
    pub use crate::soap::mtom::{MAX_PARTS, unpack};
    pub use crate::soap::saml::scan_for_fuzzing as saml_scan;
}
