//! PDS FHIR R4 Patient records: built once at start-up (from a PDS fixture, or derived from a
//! bundle's STU3 Patient) and kept as bytes.

use bytes::Bytes;
use serde_json::{Value, json};
use xhuma_common::NhsNumber;

/// The demographic facts a PDS record is rendered from.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub family: Option<String>,
    pub given: Vec<String>,
    pub prefix: Vec<String>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub address_lines: Vec<String>,
    pub postcode: Option<String>,
    pub telecom: Vec<Value>,
    pub ods: Option<String>,
    pub restricted: bool,
    pub deceased: Option<String>,
}

// === impl Person ===

impl Person {
    /// Reads name, gender, birth date, address and telecom from an STU3 Patient.
    pub fn from_stu3(patient: &Value, ods: Option<String>) -> Self {
        let name = patient.get("name").and_then(|n| n.get(0));
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let address = patient.get("address").and_then(|a| a.get(0));
        let mut lines = strings(address.and_then(|a| a.get("line")));
        for k in ["city", "district"] {
            if let Some(s) = address.and_then(|a| a.get(k)).and_then(Value::as_str) {
                lines.push(s.to_string());
            }
        }
        let telecom = patient
            .get("telecom")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|c| {
                        Some(json!({
                            "system": c.get("system")?.as_str()?,
                            "value": c.get("value")?.as_str()?,
                            "use": c.get("use").and_then(Value::as_str).unwrap_or("home")
                        }))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            family: name
                .and_then(|n| n.get("family"))
                .and_then(Value::as_str)
                .map(String::from),
            given: strings(name.and_then(|n| n.get("given"))),
            prefix: strings(name.and_then(|n| n.get("prefix"))),
            gender: patient
                .get("gender")
                .and_then(Value::as_str)
                .map(String::from),
            birth_date: patient
                .get("birthDate")
                .and_then(Value::as_str)
                .map(String::from),
            address_lines: lines,
            postcode: address
                .and_then(|a| a.get("postalCode"))
                .and_then(Value::as_str)
                .map(String::from),
            telecom,
            ods,
            restricted: false,
            deceased: None,
        }
    }

    /// Reads a PDS R4 Patient fixture.
    pub fn from_r4(p: &Value) -> Self {
        let mut person = Self::from_stu3(p, None);
        person.ods = p
            .pointer("/generalPractitioner/0/identifier/value")
            .and_then(Value::as_str)
            .map(String::from);
        person.restricted = p
            .pointer("/meta/security/0/code")
            .and_then(Value::as_str)
            .is_some_and(|c| c != "U");
        person.deceased = p
            .get("deceasedDateTime")
            .and_then(Value::as_str)
            .map(String::from);
        person
    }

    /// "Family, Given" for listings.
    pub fn display_name(&self) -> String {
        match (self.family.as_deref(), self.given.first()) {
            (Some(f), Some(g)) => format!("{f}, {g}"),
            (Some(f), None) => f.to_string(),
            (None, Some(g)) => g.clone(),
            (None, None) => String::new(),
        }
    }

    /// The R4 Patient as PDS returns it. A restricted record has no address, telecom or GP.
    pub fn render(&self, nhs: NhsNumber, version: u32) -> Bytes {
        let mut name = json!({"id": "name-1", "use": "usual", "period": {"start": "2000-01-01"}});
        if let Some(f) = &self.family {
            name["family"] = json!(f);
        }
        if !self.given.is_empty() {
            name["given"] = json!(self.given);
        }
        if !self.prefix.is_empty() {
            name["prefix"] = json!(self.prefix);
        }
        let mut p = json!({
            "resourceType": "Patient",
            "id": nhs.to_string(),
            "meta": {
                "versionId": version.to_string(),
                "security": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                    "code": if self.restricted { "R" } else { "U" },
                    "display": if self.restricted { "restricted" } else { "unrestricted" }
                }]
            },
            "identifier": [{
                "system": "https://fhir.nhs.uk/Id/nhs-number",
                "value": nhs.to_string(),
                "extension": [{
                    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
                    "valueCodeableConcept": {"coding": [{
                        "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus",
                        "version": "1.0.0",
                        "code": "01",
                        "display": "Number present and verified"
                    }]}
                }]
            }],
            "name": [name],
            "gender": self.gender.as_deref().unwrap_or("unknown"),
        });
        if let Some(b) = &self.birth_date {
            p["birthDate"] = json!(b);
        }
        if let Some(d) = &self.deceased {
            p["deceasedDateTime"] = json!(d);
        }
        if !self.restricted {
            if !self.address_lines.is_empty() || self.postcode.is_some() {
                let mut a = json!({"id": "addr-1", "use": "home", "line": self.address_lines,
                    "period": {"start": "2000-01-01"}});
                if let Some(pc) = &self.postcode {
                    a["postalCode"] = json!(pc);
                }
                p["address"] = json!([a]);
            }
            if !self.telecom.is_empty() {
                p["telecom"] = json!(self.telecom);
            }
            if let Some(ods) = &self.ods {
                p["generalPractitioner"] = json!([{
                    "id": "gp-1",
                    "type": "Organization",
                    "identifier": {
                        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                        "value": ods,
                        "period": {"start": "2020-01-01"}
                    }
                }]);
            }
        }
        Bytes::from(p.to_string())
    }
}
