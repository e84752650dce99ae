//! What every handler shares: the data set, the SDS answers, the fault injector, the OAuth
//! token endpoint's state and the simulator's own settings. Built once by
//! [`crate::SimBuilder`]; the handlers get it as axum state.

use std::collections::HashSet;
use std::sync::Arc;

use crate::data::Store;
use crate::data::directory::SdsIndex;
use crate::faults::Faults;
use crate::oauth::OAuth;

/// Everything the handlers share.
#[derive(Debug)]
pub struct Inner {
    pub store: Store,
    pub sds: SdsIndex,
    pub faults: Faults,
    pub oauth: OAuth,
    /// Where this simulator is reachable (service roots in SDS point under it).
    pub base_url: String,
    /// API keys SDS accepts (`apikey` header).
    pub api_keys: HashSet<String>,
    /// ASIDs the SSP accredits as consumers (`Ssp-From`).
    pub consumer_asids: HashSet<String>,
}

pub type SimState = Arc<Inner>;
