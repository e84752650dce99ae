use super::*;
use crate::soap::element::{Limits, parse as parse_xml};

fn query(params: &str) -> Query {
    let xml = format!(
        r#"<PRPA_IN201305UV02 xmlns="urn:hl7-org:v3"><id root="1.2" extension="M1"/>
<controlActProcess><queryByParameter><queryId root="9.9" extension="Q"/><parameterList>{params}</parameterList></queryByParameter></controlActProcess></PRPA_IN201305UV02>"#
    );
    let el = parse_xml(xml.as_bytes(), Limits::default(), &|_| None).unwrap();
    parse(&el).unwrap()
}

#[test]
fn nhs_number_from_one_or_many_values_and_either_oid() {
    let single = query(
        r#"<livingSubjectId><value root="2.16.840.1.113883.2.1.4.1" extension="9690937278"/></livingSubjectId>"#,
    );
    assert_eq!(single.nhs.unwrap().to_string(), "9690937278");
    let many = query(
        r#"<livingSubjectId><value root="1.2.840.114350" extension="UHL5MFM2ZLPQCW5"/><value root="2.16.840.1.113883.2.1.4.1.99" extension="9690937278"/></livingSubjectId>"#,
    );
    assert_eq!(many.nhs.unwrap().to_string(), "9690937278");
    let repeated = query(
        r#"<livingSubjectId><value root="1.2.3" extension="X"/></livingSubjectId><livingSubjectId><value root="2.16.840.1.113883.2.1.4.1" extension="9690937278"/></livingSubjectId>"#,
    );
    assert!(repeated.nhs.is_ok());
    assert_eq!(query("").nhs.unwrap_err(), IdProblem::Missing);
    let bad = query(
        r#"<livingSubjectId><value root="2.16.840.1.113883.2.1.4.1" extension="9690937277"/></livingSubjectId>"#,
    );
    assert_eq!(bad.nhs.unwrap_err(), IdProblem::Invalid);
    assert_eq!(bad.query_id.unwrap().extension.as_deref(), Some("Q"));
}

#[test]
fn demographic_cross_check() {
    let q = query(
        r#"<livingSubjectAdministrativeGender><value code="M"/></livingSubjectAdministrativeGender><livingSubjectBirthTime><value value="19381211"/></livingSubjectBirthTime><livingSubjectName><value><given>Lucien</given><family>Samual</family></value></livingSubjectName>"#,
    );
    let mut d = Demographics {
        nhs_number: NhsNumber::parse("9690937278").unwrap(),
        given: vec!["Lucien".into()],
        family: Some("SAMUAL".into()),
        prefix: vec![],
        gender: Gender::Male,
        birth_date: Some("1938-12-11".into()),
        address: None,
        gp_ods: None,
        version_id: None,
    };
    assert!(demographics_agree(&q, &d));
    d.birth_date = Some("1938-12-12".into());
    assert!(!demographics_agree(&q, &d));
    d.birth_date = Some("1938-12-11".into());
    d.gender = Gender::Female;
    assert!(!demographics_agree(&q, &d));
}

#[test]
fn hl7_timestamps() {
    let t = time::macros::datetime!(2026-01-02 03:04:05 UTC);
    assert_eq!(hl7_ts(t), "20260102030405");
    assert_eq!(hl7_now().len(), 14);
}
