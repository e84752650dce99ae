//! Fuzzes the SAML pre-pass (`soap::saml::scan`), the quick-xml pass over the whole envelope
//! that runs before libxml2 and the XML-DSig library see it.
//!
//! In: any bytes as a SOAP envelope. Checked: no panic; when it passes, at most one
//! `wsse:Security` header and no assertion ID twice; the pass allocates at most
//! `K_SCAN × input + C_PARSE` (it keeps names, IDs and counts, never a tree).
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use xhuma_fuzz::{C_PARSE, K_SCAN, check_bound, measure};
use xhuma_gateway::fuzzing::saml_scan;

fuzz_target!(|data: &[u8]| {
    let (result, peak) = measure(|| saml_scan(data));
    check_bound("saml_scan", data.len(), peak, K_SCAN, C_PARSE);
    if let Ok((security_headers, assertion_ids, _wsu_ids)) = result {
        assert!(security_headers <= 1);
        let mut seen = HashSet::new();
        for id in assertion_ids.iter().filter(|id| !id.is_empty()) {
            assert!(seen.insert(id), "assertion ID {id:?} twice");
        }
    }
});
