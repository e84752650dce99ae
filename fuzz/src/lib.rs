//! What every fuzz target shares: a counting global allocator and the allocation bound.
//!
//! In: a target hands [`measure`] the call under test (the MTOM splitter, the envelope parser,
//! the SAML pre-pass, the escaper) with the fuzz input. Out: the peak number of bytes that call
//! held allocated at once, which [`check_bound`] compares with `k × input + c` and panics over
//! (libFuzzer then saves the input as a crash). The largest peak/input ratio seen so far is
//! printed to stderr each time it grows, so a run's log ends with the worst ratio it found.
//!
//! Counting is conservative: a `realloc` is counted as the new block allocated before the old
//! one is freed (what happens when the allocator has to move it), so a `Vec` that doubles
//! counts three times its old size at that moment. libFuzzer's own (C++) allocations are not
//! Rust allocations and are not counted. libFuzzer runs the target on one thread, so one pair
//! of counters is enough.

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use xhuma_gateway::fuzzing::{Element, Limits, MAX_NAMESPACE_BYTES, parse_within, serialize};

/// Element trees (the MTOM root part, the envelope): one `Element` is 128 bytes and the
/// smallest element, `<a/>`, is 4 bytes of input. In its parent's `Vec` it costs at most three
/// times that while the `Vec` doubles (old and new block both alive), plus 17 bytes of name and
/// empty-namespace `Arc`: (3 × 128 + 17) / 4 ≈ 100. Everything else the parse budget allows is
/// smaller: an attribute (64 bytes for ` b=""`, 5 bytes), interned namespace names (each
/// distinct URI stored once, ≤ 2 KiB, ≤ 256 of them), resolved `xop:Include` text (≤ 2 × the
/// message, each href once). `k = 128` leaves a margin over 100.
pub const K_TREE: usize = 128;
/// The SAML pre-pass keeps no tree: open element names (≤ 96 deep), the set of ID values and
/// the assertion IDs, each bounded by the bytes that wrote them (a hash-set entry of 25 bytes
/// per `ID="x"` of 7 bytes, ×3 while the set grows, plus the value itself).
pub const K_SCAN: usize = 32;
/// The escaper allocates once, exactly the output: at most `xhuma_xml::MAX_EXPANSION` (6)
/// times the input, and nothing when nothing changes.
pub const K_ESCAPE: usize = xhuma_xml::MAX_EXPANSION;
/// Fixed costs independent of the input size: quick-xml's namespace stack, a depth-bounded
/// element stack (64 × 128 bytes, ×3 while it grows), hash maps' first tables.
pub const C_PARSE: usize = 64 * 1024;

/// The global allocator of every fuzz binary: `System`, counted.
pub struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let now = CURRENT.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

fn shrink(n: usize) {
    CURRENT.fetch_sub(n, Relaxed);
}

// SAFETY: every method forwards to `System` with the same layout and only updates counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size);
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            shrink(new_size);
        } else {
            shrink(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`; returns its result and the most bytes it held allocated at once (beyond what was
/// allocated before it started). What `f` returns is counted too, since it is built inside.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = CURRENT.load(Relaxed);
    PEAK.store(base, Relaxed);
    let r = f();
    let peak = PEAK.load(Relaxed).saturating_sub(base);
    (r, peak)
}

/// Largest peak/input ratio seen (f64 bits), over inputs of at least [`RATIO_MIN_INPUT`].
static MAX_RATIO: AtomicU64 = AtomicU64::new(0);
/// Below this size the fixed costs dominate and the ratio says nothing.
pub const RATIO_MIN_INPUT: usize = 256;

/// Panics when `peak > k × input + c`; reports a new largest ratio on stderr.
pub fn check_bound(target: &str, input: usize, peak: usize, k: usize, c: usize) {
    let limit = k.saturating_mul(input).saturating_add(c);
    assert!(
        peak <= limit,
        "{target}: {peak} bytes allocated at peak for {input} bytes of input; \
         the bound is {k} x input + {c} = {limit}"
    );
    if input >= RATIO_MIN_INPUT {
        let ratio = peak as f64 / input as f64;
        let old = f64::from_bits(MAX_RATIO.load(Relaxed));
        if ratio > old * 1.01 {
            MAX_RATIO.store(ratio.to_bits(), Relaxed);
            eprintln!(
                "xhuma-fuzz {target}: largest ratio so far {ratio:.1} \
                 ({peak} bytes at peak for {input} bytes of input; bound k = {k})"
            );
        }
    }
}

/// Structural checks on a parsed tree (the envelope and MTOM targets): every span lies in the
/// input, depth and element count are within `limits`, namespace names within their bound.
pub fn check_tree(root: &Element, input: usize, limits: Limits) {
    let mut elements = 0;
    let mut stack = vec![(root, 1usize)];
    while let Some((el, depth)) = stack.pop() {
        elements += 1;
        assert!(
            depth <= limits.max_depth,
            "tree deeper than {}",
            limits.max_depth
        );
        assert!(
            el.span.start <= el.span.end && el.span.end <= input,
            "span {:?}",
            el.span
        );
        assert!(el.ns.len() <= MAX_NAMESPACE_BYTES);
        assert!(el.attributes.len() <= limits.max_attributes);
        stack.extend(el.children.iter().map(|c| (c, depth + 1)));
    }
    assert!(elements <= limits.max_elements);
}

/// The gateway's serialiser (`soap::markup::serialize`, which echoes `queryByParameter`) writes
/// any parsed tree as XML that parses back to the same tree: names, attributes, trimmed text,
/// with forbidden characters as U+FFFD. Skipped, by design, when a namespace name holds a
/// character the escaper changes (quick-xml compares namespace names as written, not decoded;
/// the SAML pre-pass refuses such names for that reason), and when the tree uses more than 128
/// namespaces (the serialiser declares them all on the root, and quick-xml reads at most 128
/// bindings in scope; a tree may have up to 256 in separate scopes).
pub fn check_round_trip(root: &Element, limits: Limits) {
    let mut names = HashSet::new();
    if !namespaces_plain(root, &mut names) || names.len() > 128 {
        return;
    }
    let xml = serialize(root, &root.ns);
    let again = parse_within(xml.as_bytes(), xml.len(), limits, &|_| None)
        .unwrap_or_else(|e| panic!("the serialised tree does not parse back ({e}): {xml}"));
    same_tree(root, &again, &xml);
}

/// True when no namespace name needs escaping; collects the names into `names`.
fn namespaces_plain<'a>(el: &'a Element, names: &mut HashSet<&'a str>) -> bool {
    let all = std::iter::once(&*el.ns).chain(el.attributes.iter().map(|a| &*a.ns));
    for ns in all.filter(|ns| !ns.is_empty()) {
        if !matches!(xhuma_xml::escape(ns), Cow::Borrowed(_)) {
            return false;
        }
        names.insert(ns);
    }
    el.children.iter().all(|c| namespaces_plain(c, names))
}

fn cleaned(s: &str) -> String {
    s.chars()
        .map(|c| {
            if xhuma_xml::is_xml_char(c) {
                c
            } else {
                xhuma_xml::REPLACEMENT
            }
        })
        .collect()
}

fn same_tree(a: &Element, b: &Element, xml: &str) {
    assert!(
        a.ns == b.ns && a.local == b.local,
        "{{{}}}{} came back as {{{}}}{} in {xml}",
        a.ns,
        a.local,
        b.ns,
        b.local
    );
    let attrs = |e: &Element| -> Vec<(String, String, String)> {
        e.attributes
            .iter()
            .map(|t| (t.ns.to_string(), t.local.clone(), cleaned(&t.value)))
            .collect()
    };
    assert_eq!(attrs(a), attrs(b), "attributes of {} in {xml}", a.local);
    assert_eq!(
        cleaned(a.text.trim()),
        b.text,
        "text of {} in {xml}",
        a.local
    );
    assert_eq!(
        a.children.len(),
        b.children.len(),
        "children of {} in {xml}",
        a.local
    );
    for (x, y) in a.children.iter().zip(&b.children) {
        same_tree(x, y, xml);
    }
}
