//! Fuzzes the envelope parser: `soap::element::parse_within` (the namespace-aware tree builder
//! with its parse budget) and `soap::envelope::Envelope::parse` on top of it.
//!
//! In: any bytes as a plain `application/soap+xml` body. The tree is built with an
//! `xop:Include` resolver that answers every `cid:` href with up to 256 bytes of base64, so the
//! include budget (each href once, all included text ≤ 2 × the message) is exercised too.
//! Checked: no panic; parse either errors or yields a tree whose spans lie in the input and
//! whose depth, element, attribute and namespace counts are within the limits; the gateway's
//! serialiser writes that tree back as XML that parses to the same tree; an accepted envelope's
//! `wsse:Security` range lies in its bytes; each parse allocates at most
//! `K_TREE × input + C_PARSE`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use xhuma_fuzz::{C_PARSE, K_TREE, check_bound, check_round_trip, check_tree, measure};
use xhuma_gateway::fuzzing::{Envelope, Limits, parse_within};

fn resolve(href: &str) -> Option<String> {
    let cid = href.strip_prefix("cid:")?;
    Some("QUJD".repeat(cid.len() % 64 + 1))
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let (tree, peak) = measure(|| parse_within(data, data.len(), limits, &resolve));
    check_bound("envelope/element", data.len(), peak, K_TREE, C_PARSE);
    if let Ok(root) = &tree {
        check_tree(root, data.len(), limits);
        check_round_trip(root, limits);
    }
    drop(tree);

    let raw = Bytes::copy_from_slice(data);
    let (env, peak) = measure(|| Envelope::parse(raw, limits, &|_| None));
    check_bound("envelope", data.len(), peak, K_TREE, C_PARSE);
    if let Ok(env) = env {
        assert_eq!(env.security.is_some(), env.security_bytes().is_some());
        check_tree(&env.payload, data.len(), limits);
    }
});
