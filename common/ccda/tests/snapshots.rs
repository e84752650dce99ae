//! Golden C-CDA documents: one per fixture bundle (every file under
//! `shared/fixtures/gpconnect/bundles` and `shared/fixtures/xhuma/bundles`
//! that converts) and one per in-memory variant (`support::variants`), in
//! `tests/snapshots/snapshots__<fixture>.snap`. A new fixture gets a new
//! snapshot. Regenerate with `INSTA_UPDATE=always cargo nextest run -p
//! xhuma-ccda --test snapshots` (or `cargo insta review`) and review the diff:
//! it is the change an EHR will see.

mod support;

use xhuma_ccda::convert;

#[test]
fn every_fixture_document_matches_its_snapshot() {
    let cx = support::context();
    let mut failed = Vec::new();
    let docs = support::documents();
    for (name, bytes) in &docs {
        let c = convert(bytes, &cx).unwrap_or_else(|e| panic!("{name}: {e}"));
        let xml = String::from_utf8(c.xml).expect("utf8");
        let r = std::panic::catch_unwind(|| {
            insta::with_settings!({ omit_expression => true, description => name.as_str() }, {
                insta::assert_snapshot!(name.as_str(), xml);
            });
        });
        if r.is_err() {
            failed.push(name.clone());
        }
    }
    assert!(docs.len() >= 50, "only {} documents", docs.len());
    assert!(failed.is_empty(), "snapshots differ: {failed:?}");

    // and no golden file outlives its fixture
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    for e in std::fs::read_dir(&dir).expect("snapshot dir").flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = file
            .strip_prefix("snapshots__")
            .and_then(|f| f.strip_suffix(".snap"))
        else {
            continue;
        };
        assert!(
            stem == "skelly_normal_report" || docs.iter().any(|(n, _)| n == stem),
            "{file} has no fixture any more: delete it"
        );
    }
}

#[test]
fn skelly_normal_report() {
    let c = convert(
        &support::fixture("gpconnect/bundles/demonstrator/9690937287-skelly-normal.json"),
        &support::context(),
    )
    .expect("convert");
    insta::assert_debug_snapshot!(c.report);
}
