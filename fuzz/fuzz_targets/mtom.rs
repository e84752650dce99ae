//! Fuzzes the MTOM splitter, `soap::mtom::unpack`, and what the gateway does with its result:
//! the root part parsed as the envelope with each `xop:Include` resolved from the other parts
//! (`app.rs` does exactly this for a `multipart/related` request).
//!
//! In: one fuzz input read as the request's `Content-Type` (up to the first line feed) and its
//! body (the rest). Checked: `unpack` never panics; an accepted body yields at most
//! `MAX_PARTS` parts whose bytes together are no more than the body's (parts are slices of it
//! or base64-decoded, hence smaller); the envelope parse errors or yields a tree within the
//! limits; splitting and parsing together allocate at most `K_TREE × input + C_PARSE`,
//! resolved parts included (the include budget: each href once, ≤ 2 × the message).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use xhuma_fuzz::{C_PARSE, K_TREE, check_bound, check_tree, measure};
use xhuma_gateway::fuzzing::{Envelope, Limits, MAX_PARTS, unpack};

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    // The gateway reads Content-Type with `HeaderValue::to_str`: visible ASCII only.
    let Ok(content_type) = std::str::from_utf8(content_type) else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    let limits = Limits::default();
    let (result, peak) = measure(|| {
        let parts = unpack(content_type, &body)?;
        let env = Envelope::parse_within(parts.root.clone(), body.len(), limits, &|href| {
            parts.resolve(href)
        });
        Ok::<_, xhuma_gateway::soap::mtom::MtomError>((parts, env))
    });
    check_bound("mtom", data.len(), peak, K_TREE, C_PARSE);
    if let Ok((parts, env)) = result {
        assert!(parts.parts.len() < MAX_PARTS);
        let total: usize = parts.root.len() + parts.parts.values().map(Bytes::len).sum::<usize>();
        assert!(
            total <= body.len(),
            "parts of {total} bytes from a {}-byte body",
            body.len()
        );
        if let Ok(env) = env {
            check_tree(&env.payload, parts.root.len(), limits);
        }
    }
});
