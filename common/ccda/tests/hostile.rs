//! Hostile input: each bad bundle gives a typed error, never a panic, and
//! broken individual resources become "could not be shown" rows.

mod support;

use xhuma_ccda::{ConvertError, convert};

/// (name, input, expected error).
type Case = (&'static str, &'static [u8], fn(&ConvertError) -> bool);

#[test]
fn unusable_bundles_are_typed_errors() {
    let cx = support::context();
    let cases: &[Case] = &[
        ("empty", b"", |e| matches!(e, ConvertError::NotJson { .. })),
        ("not json", b"<Bundle/>", |e| matches!(e, ConvertError::NotJson { .. })),
        ("truncated", br#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient""#, |e| {
            matches!(e, ConvertError::NotJson { .. })
        }),
        ("not utf8", b"\xff\xfe{}", |e| matches!(e, ConvertError::NotUtf8)),
        ("array", b"[]", |e| matches!(e, ConvertError::NotJson { .. })),
        ("not a bundle", br#"{"resourceType":"Patient"}"#, |e| matches!(e, ConvertError::NotABundle { .. })),
        ("no resourceType", br#"{"entry":[]}"#, |e| matches!(e, ConvertError::NotABundle { found: None })),
        ("empty bundle", br#"{"resourceType":"Bundle"}"#, |e| matches!(e, ConvertError::NoPatient)),
        ("entry wrong type", br#"{"resourceType":"Bundle","entry":{"a":1}}"#, |e| matches!(e, ConvertError::NotJson { .. })),
        ("resource not object", br#"{"resourceType":"Bundle","entry":[{"resource":42}]}"#, |e| matches!(e, ConvertError::NoPatient)),
        ("patient wrong types", br#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","name":"Bob"}}]}"#, |e| {
            matches!(e, ConvertError::UnreadablePatient)
        }),
    ];
    for (name, input, ok) in cases {
        let r = std::panic::catch_unwind(|| convert(input, &cx));
        let Ok(r) = r else { panic!("{name}: panicked") };
        match r {
            Err(e) => assert!(ok(&e), "{name}: unexpected error {e:?}"),
            Ok(_) => panic!("{name}: converted"),
        }
    }
}

const PATIENT: &str = r#"{"resource":{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],"name":[{"use":"official","family":"Test","given":["Ann"]}],"gender":"female","birthDate":"1970-01-01"}}"#;

fn bundle(entries: &[&str]) -> Vec<u8> {
    format!(
        r#"{{"resourceType":"Bundle","entry":[{PATIENT},{}]}}"#,
        entries.join(",")
    )
    .into_bytes()
}

#[test]
fn bad_entry_becomes_a_visible_row_and_keeps_neighbours() {
    let list = r#"{"resource":{"resourceType":"List","title":"Allergies and adverse reactions","code":{"coding":[{"system":"http://snomed.info/sct","code":"886921000000105"}]},
        "entry":[{"item":{"reference":"AllergyIntolerance/good"}},{"item":{"reference":"AllergyIntolerance/bad"}},{"item":{"reference":"AllergyIntolerance/missing"}}]}}"#;
    let good = r#"{"resource":{"resourceType":"AllergyIntolerance","id":"good","clinicalStatus":"active","category":["medication"],"code":{"coding":[{"system":"http://snomed.info/sct","code":"91936005","display":"Allergy to penicillin"}]},"assertedDate":"2020-01-02"}}"#;
    let bad =
        r#"{"resource":{"resourceType":"AllergyIntolerance","id":"bad","code":"not a concept"}}"#;
    let c = convert(&bundle(&[list, good, bad]), &support::context()).expect("converts");
    let s = &c.report.sections[1];
    assert_eq!(s.title, "Allergies and adverse reactions");
    assert_eq!((s.entries, s.unreadable), (1, 2));
    let xml = String::from_utf8(c.xml).expect("utf8");
    assert!(xml.contains("Allergy to penicillin"));
    assert_eq!(
        xml.matches("could not be shown").count(),
        3,
        "two rows plus the Important Information summary"
    );
    assert!(
        c.report
            .warnings
            .iter()
            .any(|w| w.starts_with("AllergyIntolerance/bad: could not be read"))
    );
    // warnings never quote the bad value
    assert!(
        !c.report
            .warnings
            .iter()
            .any(|w| w.contains("not a concept"))
    );
}

#[test]
fn strange_strings_stay_well_formed() {
    let obs = r#"{"resource":{"resourceType":"Observation","id":"o","code":{"text":"a <b> & \"c\" \u0001 \ud83d\ude00"},"valueString":"]]> </text>","effectiveDateTime":"2020-02-30T99:00"}}"#;
    let list = r#"{"resource":{"resourceType":"List","code":{"coding":[{"code":"826501000000100"}]},"entry":[{"item":{"reference":"Observation/o"}}]}}"#;
    let c = convert(&bundle(&[list, obs]), &support::context()).expect("converts");
    let xml = String::from_utf8(c.xml).expect("utf8");
    assert!(xml.contains("a &lt;b&gt; &amp; &quot;c&quot; \u{FFFD} \u{1F600}"));
    assert!(!xml.contains('\u{1}'));
    assert!(
        c.report
            .warnings
            .iter()
            .any(|w| w.contains("malformed date"))
    );
}

#[test]
fn cyclic_references_terminate() {
    let a = r#"{"resource":{"resourceType":"Observation","id":"a","related":[{"type":"has-member","target":{"reference":"Observation/b"}}]}}"#;
    let b = r#"{"resource":{"resourceType":"Observation","id":"b","related":[{"type":"has-member","target":{"reference":"Observation/a"}}]}}"#;
    let dr = r#"{"resource":{"resourceType":"DiagnosticReport","id":"d","result":[{"reference":"Observation/a"}]}}"#;
    let l1 = r#"{"resource":{"resourceType":"List","id":"l1","code":{"coding":[{"code":"325851000000107"}]},"encounter":{"reference":"Encounter/e"},"entry":[{"item":{"reference":"List/l2"}}]}}"#;
    let l2 = r#"{"resource":{"resourceType":"List","id":"l2","code":{"coding":[{"code":"25851000000105"}]},"entry":[{"item":{"reference":"List/l1"}}]}}"#;
    let enc = r#"{"resource":{"resourceType":"Encounter","id":"e"}}"#;
    let cl = r#"{"resource":{"resourceType":"List","code":{"coding":[{"code":"1149501000000101"}]},"entry":[{"item":{"reference":"Encounter/e"}}]}}"#;
    let il = r#"{"resource":{"resourceType":"List","code":{"coding":[{"code":"887191000000108"}]},"entry":[{"item":{"reference":"DiagnosticReport/d"}}]}}"#;
    let c = convert(
        &bundle(&[a, b, dr, l1, l2, enc, cl, il]),
        &support::context(),
    )
    .expect("converts");
    assert!(
        c.report
            .sections
            .iter()
            .any(|s| s.title == "Consultations" && s.entries == 1)
    );
    assert!(
        c.report
            .sections
            .iter()
            .any(|s| s.title == "Investigations and results" && s.entries == 1)
    );
}

#[test]
fn oversized_input_is_refused() {
    let big = vec![b' '; xhuma_ccda::MAX_BUNDLE_BYTES + 1];
    assert!(matches!(
        convert(&big, &support::context()),
        Err(ConvertError::TooLarge { .. })
    ));
}
