//! What SDS and GP Connect agree on: the Access Record Structured interaction, which SDS is
//! asked to find for a practice ([`super::sds`]), and the endpoint it answers with, which
//! GP Connect is then called at ([`super::gpconnect`]). Neither client depends on the other.

use serde::{Deserialize, Serialize};

/// The GP Connect Access Record Structured interaction (`Ssp-InteractionID`, and the SDS
/// `interaction` searched for).
pub const INTERACTION_GET_STRUCTURED: &str =
    "urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1";

/// Where and to whom a GP Connect request for one practice goes. The worker caches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderEndpoint {
    /// The practice's ODS code.
    pub ods: String,
    /// The provider system's ASID (`Ssp-To`).
    pub asid: String,
    /// The FHIR service root registered in SDS (no trailing slash).
    pub address: String,
}
