//! Walks every GP Connect fixture bundle: each converts (or, for bundles
//! without a Patient, gives a typed error), never panics, produces
//! well-formed XML, and converting twice gives byte-identical output.

mod support;

use quick_xml::events::Event;
use xhuma_ccda::{ConvertError, convert};

fn well_formed(xml: &[u8]) -> Result<usize, String> {
    let mut r = quick_xml::Reader::from_reader(xml);
    r.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut elements = 0;
    loop {
        match r.read_event_into(&mut buf) {
            Ok(Event::Eof) => return Ok(elements),
            Ok(Event::Start(_) | Event::Empty(_)) => elements += 1,
            Ok(_) => {}
            Err(e) => return Err(format!("at {}: {e}", r.buffer_position())),
        }
        buf.clear();
    }
}

#[test]
fn every_fixture_converts_or_fails_typed() {
    let cx = support::context();
    let mut converted = 0;
    for p in support::bundles() {
        let name = support::name(&p);
        let bytes = std::fs::read(&p).expect("read fixture");
        let result = std::panic::catch_unwind(|| convert(&bytes, &cx));
        let Ok(result) = result else {
            panic!("{name}: conversion panicked")
        };
        if support::expect_error(&p) {
            assert_eq!(result.err(), Some(ConvertError::NoPatient), "{name}");
            continue;
        }
        let c = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        well_formed(&c.xml).unwrap_or_else(|e| panic!("{name}: output not well-formed {e}"));
        assert!(
            c.report.sections.len() >= 12,
            "{name}: sections {:?}",
            c.report.sections
        );
        assert_eq!(
            c.report.sections[0].title, "Important Information",
            "{name}"
        );
        converted += 1;
    }
    assert!(converted >= 45, "converted only {converted}");
}

#[test]
fn output_is_deterministic() {
    let cx = support::context();
    for rel in [
        "gpconnect/bundles/emis-uat/9465701262-meyers.json",
        "xhuma/bundles/9692136744.json",
    ] {
        let b = support::fixture(rel);
        let one = convert(&b, &cx).expect("convert");
        let two = convert(&b, &cx).expect("convert");
        assert!(one.xml == two.xml, "{rel}: output differs between runs");
    }
}

#[test]
fn report_carries_patient_and_practice() {
    let c = convert(
        &support::fixture("gpconnect/bundles/demonstrator/9690937287-skelly-normal.json"),
        &support::context(),
    )
    .expect("convert");
    assert_eq!(c.report.nhs_number.as_deref(), Some("9690937287"));
    assert_eq!(c.report.patient_name.as_deref(), Some("Horace SKELLY"));
    assert_eq!(c.report.practice_ods.as_deref(), Some("B82617"));
    assert!(c.report.practice_name.is_some());
}

#[test]
fn malformed_date_is_a_warning_not_a_failure() {
    let c = convert(
        &support::fixture("gpconnect/bundles/edge-cases/NEGATIVE-malformed-date-9690872294.json"),
        &support::context(),
    )
    .expect("document with warnings");
    assert!(
        c.report
            .warnings
            .iter()
            .any(|w| w.contains("malformed date")),
        "{:?}",
        c.report.warnings
    );
    let xml = String::from_utf8(c.xml).expect("utf8");
    // the allergy is still there, its onset unknown
    assert!(xml.contains("2.16.840.1.113883.10.20.22.4.7"));
}

#[test]
fn ended_allergies_never_appear_active() {
    let c = convert(
        &support::fixture(
            "gpconnect/bundles/edge-cases/allergies-contained-resolved-9728951256.json",
        ),
        &support::context(),
    )
    .expect("convert");
    let xml = String::from_utf8(c.xml).expect("utf8");
    let allergies = xml
        .split("<title>Allergies and adverse reactions</title>")
        .nth(1)
        .expect("section");
    let allergies = allergies.split("</section>").next().expect("section end");
    assert!(allergies.contains("<caption>Ended allergies</caption>"));
    // every concern act in this fixture is ended (contained, resolved)
    assert!(
        !allergies.contains("<statusCode code=\"active\"/>"),
        "an ended allergy is marked active"
    );
    assert!(allergies.contains("<statusCode code=\"completed\"/>"));
}
