//! Coded, not only narrative: what an EHR's reconciliation reads from the
//! entries — allergy severity and criticality, problem status, not-given
//! immunisations with their reason, a structured dose, and the document's
//! confidentiality.

mod support;

use xhuma_ccda::convert;

fn doc(rel: &str) -> Vec<u8> {
    convert(&support::fixture(rel), &support::context())
        .expect("convert")
        .xml
}

fn flat(s: &str) -> String {
    s.lines().map(str::trim).collect()
}

#[test]
fn reaction_severity_and_criticality_are_coded() {
    let (mut severe, mut mild) = (0, 0);
    for (name, bytes) in support::documents() {
        let c = convert(&bytes, &support::context()).expect("convert");
        let s = flat(&support::section_text(
            &c.xml,
            "Allergies and adverse reactions",
        ));
        // the Severity Observation sits in the Reaction Observation, never on the allergy itself
        for sev in s
            .split(r#"<templateId root="2.16.840.1.113883.10.20.22.4.8" extension="2014-06-09"/>"#)
            .skip(1)
        {
            assert!(sev.starts_with(r#"<code code="SEV""#), "{name}: {sev:.200}");
        }
        let in_reaction = s
            .matches(r#"<entryRelationship typeCode="SUBJ" inversionInd="true"><observation classCode="OBS" moodCode="EVN"><templateId root="2.16.840.1.113883.10.20.22.4.8"/>"#)
            .count();
        severe += s.matches(r#"code="24484000" codeSystem="2.16.840.1.113883.6.96" codeSystemName="SNOMED CT" displayName="Severe""#).count();
        mild += s.matches(r#"code="255604002" codeSystem="2.16.840.1.113883.6.96" codeSystemName="SNOMED CT" displayName="Mild""#).count();
        assert_eq!(
            in_reaction,
            s.matches("<code code=\"SEV\"").count(),
            "{name}"
        );
        if name != "variant-allergy-criticality" {
            assert!(!s.contains("2.16.840.1.113883.10.20.22.4.145"), "{name}");
        }
    }
    // The converted fixtures hold 6 reactions recorded severe (one allergy
    // served in six bundles) and 6 mild (five of them in ended allergies
    // contained in a List); the variant adds one severe.
    assert_eq!((severe, mild), (7, 6));

    // No listed allergy in the fixtures has a criticality: the variant has three.
    let c = convert(
        &support::variant("variant-allergy-criticality"),
        &support::context(),
    )
    .expect("convert");
    let s = flat(&support::section_text(
        &c.xml,
        "Allergies and adverse reactions",
    ));
    let crit = r#"<entryRelationship typeCode="SUBJ" inversionInd="true"><observation classCode="OBS" moodCode="EVN"><templateId root="2.16.840.1.113883.10.20.22.4.145"/><code code="82606-5" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC" displayName="Allergy or intolerance criticality"/><statusCode code="completed"/><value xsi:type="CD" code=""#;
    let values: Vec<&str> = s.split(crit).skip(1).map(|v| &v[..5]).collect();
    assert_eq!(values, ["CRITL", "CRITH", "CRITU"]);
    assert!(s.contains(r#"displayName="Moderate""#));
    // a severity without a manifestation still has its reaction observation
    assert!(s.contains(r#"<value xsi:type="CD" nullFlavor="UNK"/><entryRelationship typeCode="SUBJ" inversionInd="true"><observation classCode="OBS" moodCode="EVN"><templateId root="2.16.840.1.113883.10.20.22.4.8"/>"#));
}

#[test]
fn every_problem_has_a_coded_status() {
    let (mut active, mut inactive) = (0, 0);
    for p in support::bundles() {
        if support::expect_error(&p) {
            continue;
        }
        let c = convert(&std::fs::read(&p).expect("read"), &support::context()).expect("convert");
        let s = flat(&support::section_text(&c.xml, "Problems"));
        let problems = s
            .matches(
                r#"<templateId root="2.16.840.1.113883.10.20.22.4.4" extension="2015-08-01"/>"#,
            )
            .count();
        let status = r#"<templateId root="2.16.840.1.113883.10.20.22.4.6"/><templateId root="2.16.840.1.113883.10.20.22.4.6" extension="2019-06-20"/><code code="33999-4" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC" displayName="Status"/><statusCode code="completed"/><value xsi:type="CD" code=""#;
        let statuses: Vec<&str> = s.split(status).skip(1).collect();
        assert_eq!(statuses.len(), problems, "{}", support::name(&p));
        active += statuses
            .iter()
            .filter(|v| v.starts_with("55561003\""))
            .count();
        inactive += statuses
            .iter()
            .filter(|v| v.starts_with("73425007\""))
            .count();
        // an inactive problem's concern is completed
        let inactive_table = s
            .split("<caption>Inactive problems</caption>")
            .nth(1)
            .unwrap_or("");
        let rows = inactive_table
            .split("</table>")
            .next()
            .unwrap_or("")
            .matches("<tr ID=")
            .count();
        assert_eq!(
            rows,
            statuses
                .iter()
                .filter(|v| v.starts_with("73425007\""))
                .count(),
            "{}",
            support::name(&p)
        );
    }
    assert_eq!(inactive, 36, "inactive problems in the fixtures");
    assert!(active >= 100, "{active} active problems");
}

#[test]
fn not_given_immunisations_are_negated_with_a_reason() {
    let c = convert(
        &support::variant("variant-not-given-immunisations"),
        &support::context(),
    )
    .expect("convert");
    let s = flat(&support::section_text(&c.xml, "Immunisations"));
    assert_eq!(s.matches(r#"negationInd="true""#).count(), 2, "{s}");
    assert_eq!(s.matches(r#"negationInd="false""#).count(), 6);
    assert_eq!(s.matches("<td>Not given</td>").count(), 2);
    assert!(s.contains("Reason not given: Immunisation declined"));
    let refused = r#"<entryRelationship typeCode="RSON"><observation classCode="OBS" moodCode="EVN"><templateId root="2.16.840.1.113883.10.20.22.4.53"/>"#;
    assert_eq!(s.matches(refused).count(), 2);
    assert!(s.contains(r#"<code code="PATOBJ" codeSystem="2.16.840.1.113883.5.8" codeSystemName="HL7ActReason" displayName="patient objection">"#));
    // no ActReason for "postponed": other, with the GP's SNOMED code kept
    assert!(s.contains(r##"<code nullFlavor="OTH"><originalText><reference value="#imm-2-note"/></originalText><translation code="1343541000000101""##), "{s}");
}

#[test]
fn a_structured_dose_is_coded_and_free_text_stays_a_sig() {
    let mut coded = 0;
    let mut unknown = 0;
    let mut with_sig = 0;
    for (_, bytes) in support::documents() {
        let c = convert(&bytes, &support::context()).expect("convert");
        let s = flat(&support::section_text(&c.xml, "Medications"));
        // the Free Text Sig is still there for a coded dose
        for a in s.split("<doseQuantity value=").skip(1) {
            let activity = a.split("<entry typeCode=").next().unwrap_or("");
            assert!(activity.contains(r#"<templateId root="2.16.840.1.113883.10.20.22.4.147"/>"#));
            with_sig += 1;
        }
        coded += s
            .matches(r#"<doseQuantity value="1"><translation value="1" code="428673006" codeSystem="2.16.840.1.113883.6.96" codeSystemName="SNOMED CT" displayName="tablet"/></doseQuantity>"#)
            .count();
        unknown += s.matches(r#"<doseQuantity nullFlavor="NI"/>"#).count();
        // every Medication Activity has exactly one doseQuantity
        assert_eq!(
            s.matches("<doseQuantity").count(),
            s.matches(
                r#"<templateId root="2.16.840.1.113883.10.20.22.4.16" extension="2014-06-09"/>"#
            )
            .count()
        );
    }
    assert!(coded >= 10, "{coded} coded one-tablet doses");
    assert!(with_sig >= coded);
    assert!(unknown > 0);
}

#[test]
fn confidentiality_follows_the_gp_connect_flags() {
    let code = |xml: &[u8]| -> String {
        let s = String::from_utf8_lossy(xml);
        let at = s
            .find("<confidentialityCode code=\"")
            .expect("confidentialityCode")
            + 27;
        s[at..at + 1].to_string()
    };
    // a List warns that confidential items were withheld
    assert_eq!(
        code(&doc("gpconnect/bundles/emis-uat/9465701262-meyers.json")),
        "R"
    );
    // resources labelled NOPAT: restricted, and the clinician is told why
    let nopat = doc(
        "gpconnect/bundles/edge-cases/unit-fhir_bundle_with_duplicated_medication_requests.json",
    );
    assert_eq!(code(&nopat), "R");
    let sensitive = "marked by the GP as sensitive";
    assert!(support::section_text(&nopat, "Important Information").contains(sensitive));
    let meyers = doc("gpconnect/bundles/emis-uat/9465701262-meyers.json");
    assert!(!support::section_text(&meyers, "Important Information").contains(sensitive));
    // neither
    assert_eq!(
        code(&doc("gpconnect/bundles/emis-uat/9465701483-dougill.json")),
        "N"
    );
    let c = convert(
        &support::fixture("gpconnect/bundles/emis-uat/9465701262-meyers.json"),
        &support::context(),
    )
    .expect("convert");
    assert_eq!(c.report.confidentiality, "R");
}

#[test]
fn structured_timing_is_a_pivl_period_after_the_ivl() {
    let pivl = |v: &str, u: &str| {
        format!(
            r#"</effectiveTime><effectiveTime xsi:type="PIVL_TS" institutionSpecified="true" operator="A"><period value="{v}" unit="{u}"/></effectiveTime><doseQuantity"#
        )
    };
    let c = convert(
        &support::variant("variant-dose-timing"),
        &support::context(),
    )
    .expect("convert");
    let s = flat(&support::section_text(&c.xml, "Medications"));
    // once a day keeps its unit; three times a day is every 8 hours
    assert_eq!(s.matches(&pivl("1", "d")).count(), 1, "{s}");
    assert_eq!(s.matches(&pivl("8", "h")).count(), 1, "{s}");
    // "up to four times a day" (frequencyMax) has no single period
    assert_eq!(s.matches("PIVL_TS").count(), 2);
    assert!(s.contains("One Or Two Puffs To Be Inhaled Up To Four Times A Day"));

    // real GP Connect timings in the xhuma bundles: twice, three and four
    // times a day, every 2 hours; "every 2-3 hours" (periodMax) and a
    // meal-time-only timing have none
    let s: String = ["9690937472", "9692140466"]
        .iter()
        .map(|b| {
            flat(&support::section_text(
                &doc(&format!("xhuma/bundles/{b}.json")),
                "Medications",
            ))
        })
        .collect();
    for (v, u) in [("1", "d"), ("12", "h"), ("8", "h"), ("6", "h"), ("2", "h")] {
        assert!(s.contains(&pivl(v, u)), "{v} {u}");
    }
    // every PIVL is the second effectiveTime of a Medication Activity
    for (name, bytes) in support::documents() {
        let c = convert(&bytes, &support::context()).expect("convert");
        let s = flat(&support::section_text(&c.xml, "Medications"));
        for a in s.split(r#"<effectiveTime xsi:type="PIVL_TS""#).skip(1) {
            assert!(a.starts_with(r#" institutionSpecified="true" operator="A"><period value=""#));
        }
        assert_eq!(
            s.matches(r#"<effectiveTime xsi:type="PIVL_TS""#).count(),
            s.matches(r#"</effectiveTime><effectiveTime xsi:type="PIVL_TS""#)
                .count(),
            "{name}"
        );
    }
}

#[test]
fn a_dose_range_is_low_and_high_with_ucum_units_only() {
    let c = convert(
        &support::variant("variant-dose-timing"),
        &support::context(),
    )
    .expect("convert");
    let s = flat(&support::section_text(&c.xml, "Medications"));
    // UCUM: the unit travels as @unit
    assert!(
        s.contains(
            r#"<doseQuantity><low value="5" unit="mL"/><high value="10" unit="mL"/></doseQuantity>"#
        ),
        "{s}"
    );
    // "puff" is not UCUM: no @unit, the GP's word kept as original text
    assert!(s.contains(r#"<doseQuantity><low value="1"><translation value="1" nullFlavor="OTH"><originalText>puff</originalText></translation></low><high value="2"><translation value="2" nullFlavor="OTH"><originalText>puff</originalText></translation></high></doseQuantity>"#), "{s}");
    assert!(!s.contains(r#"unit="puff""#));
    // a single SNOMED dose form is unchanged
    assert!(s.contains(r#"<doseQuantity value="1"><translation value="1" code="428673006" codeSystem="2.16.840.1.113883.6.96" codeSystemName="SNOMED CT" displayName="tablet"/></doseQuantity>"#));
}

#[test]
fn a_refusal_reason_is_mapped_by_its_snomed_code() {
    let c = convert(
        &support::variant("variant-coded-refusal"),
        &support::context(),
    )
    .expect("convert");
    let s = flat(&support::section_text(&c.xml, "Immunisations"));
    assert_eq!(s.matches(r#"negationInd="true""#).count(), 2, "{s}");
    // neither "Medical C/I - immunization" nor "Immunization consent not
    // given" matches an ActReason by its words: the code decides
    let reason = |act: &str, display: &str, n: u8, sct: &str| {
        format!(
            r##"<code code="{act}" codeSystem="2.16.840.1.113883.5.8" codeSystemName="HL7ActReason" displayName="{display}"><originalText><reference value="#imm-{n}-note"/></originalText><translation code="{sct}" codeSystem="2.16.840.1.113883.6.96""##
        )
    };
    assert!(
        s.contains(&reason("MEDPREC", "medical precaution", 1, "268560002")),
        "{s}"
    );
    assert!(
        s.contains(&reason("PATOBJ", "patient objection", 2, "310376006")),
        "{s}"
    );
    assert!(!s.contains(r##"<code nullFlavor="OTH"><originalText><reference value="#imm-"##));
}
