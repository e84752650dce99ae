//! FHIR STU3 general-purpose datatypes (Coding, CodeableConcept, Reference, …).

use serde::Deserialize;
use serde_json::Number;

/// `Reference`: `Type/id`, `#contained-id`, or only a display text.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Reference {
    pub reference: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Coding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
    pub extension: Vec<Extension>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct CodeableConcept {
    pub coding: Vec<Coding>,
    pub text: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Identifier {
    pub system: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Period {
    pub start: Option<String>,
    pub end: Option<String>,
}

/// Decimal values keep their JSON spelling (`5.0` stays `5.0`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Quantity {
    pub extension: Vec<Extension>,
    /// Some suppliers send the decimal as a JSON string (`"80"`); accepted when numeric.
    #[serde(deserialize_with = "lenient_decimal")]
    pub value: Option<Number>,
    pub comparator: Option<String>,
    pub unit: Option<String>,
    pub system: Option<String>,
    pub code: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Range {
    pub low: Option<Quantity>,
    pub high: Option<Quantity>,
}

/// `Timing`: only its `repeat` is read; `event` lists and `code` stay in the dosage text.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Timing {
    pub repeat: Option<TimingRepeat>,
}

/// `Timing.repeat`: "`frequency` times per `period` `periodUnit`". The numbers
/// are read like `Quantity.value` (a numeric string is accepted) so that a
/// supplier's spelling never makes the whole statement unreadable.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct TimingRepeat {
    #[serde(deserialize_with = "lenient_decimal")]
    pub frequency: Option<Number>,
    #[serde(rename = "frequencyMax", deserialize_with = "lenient_decimal")]
    pub frequency_max: Option<Number>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub period: Option<Number>,
    #[serde(rename = "periodMax", deserialize_with = "lenient_decimal")]
    pub period_max: Option<Number>,
    #[serde(rename = "periodUnit")]
    pub period_unit: Option<String>,
    #[serde(rename = "dayOfWeek")]
    pub day_of_week: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Annotation {
    pub text: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct HumanName {
    #[serde(rename = "use")]
    pub use_: Option<String>,
    pub text: Option<String>,
    pub family: Option<String>,
    pub given: Vec<String>,
    pub prefix: Vec<String>,
}

impl HumanName {
    /// The name to show: official → usual → any other current one (not `old`,
    /// not `maiden`) → the first; only names that say something (a family or
    /// given name, or a text) count.
    pub fn best(names: &[HumanName]) -> Option<&HumanName> {
        let named: Vec<&HumanName> = names.iter().filter(|n| n.has_content()).collect();
        let with_use = |u: &str| named.iter().copied().find(|n| n.use_.as_deref() == Some(u));
        with_use("official")
            .or_else(|| with_use("usual"))
            .or_else(|| {
                named
                    .iter()
                    .copied()
                    .find(|n| !matches!(n.use_.as_deref(), Some("old" | "maiden")))
            })
            .or(named.first().copied())
    }

    /// The family name, when it says something.
    pub fn family_name(&self) -> Option<&str> {
        self.family
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
    }

    /// A family or given name, or a text: a name that says something.
    pub fn has_content(&self) -> bool {
        let some = |s: Option<&str>| s.is_some_and(|s| !s.trim().is_empty());
        some(self.family.as_deref())
            || self.given.iter().any(|g| !g.trim().is_empty())
            || some(self.text.as_deref())
    }

    /// The name as people read it: its text, or prefix, given and family names.
    pub fn display(&self) -> String {
        if let Some(t) = self.text.as_deref().filter(|t| !t.trim().is_empty()) {
            return t.trim().to_string();
        }
        let mut parts: Vec<&str> = self.prefix.iter().map(String::as_str).collect();
        parts.extend(self.given.iter().map(String::as_str));
        if let Some(f) = self.family.as_deref() {
            parts.push(f);
        }
        parts.join(" ")
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Address {
    #[serde(rename = "use")]
    pub use_: Option<String>,
    pub text: Option<String>,
    pub line: Vec<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    #[serde(rename = "postalCode")]
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ContactPoint {
    pub system: Option<String>,
    pub value: Option<String>,
    #[serde(rename = "use")]
    pub use_: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Meta {
    pub security: Vec<Coding>,
}

fn lenient_decimal<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Number>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(Number),
        Str(String),
    }
    Ok(match Option::<NumOrStr>::deserialize(d)? {
        None => None,
        Some(NumOrStr::Num(n)) => Some(n),
        Some(NumOrStr::Str(s)) => {
            let t = s.trim();
            let decimal = !t.is_empty()
                && t.trim_start_matches('-')
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.')
                && t.chars().filter(|&c| c == '.').count() <= 1;
            if !decimal {
                return Err(serde::de::Error::custom("value is not a decimal"));
            }
            Some(t.parse::<Number>().map_err(serde::de::Error::custom)?)
        }
    })
}

/// An extension with the value types GP Connect uses; nested extensions kept.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Extension {
    pub url: String,
    pub extension: Vec<Extension>,
    #[serde(rename = "valueCodeableConcept")]
    pub value_codeable_concept: Option<CodeableConcept>,
    #[serde(rename = "valueReference")]
    pub value_reference: Option<Reference>,
    #[serde(rename = "valueDateTime")]
    pub value_date_time: Option<String>,
    #[serde(rename = "valueDate")]
    pub value_date: Option<String>,
    #[serde(rename = "valueString")]
    pub value_string: Option<String>,
    #[serde(rename = "valueCode")]
    pub value_code: Option<String>,
    #[serde(rename = "valueId")]
    pub value_id: Option<String>,
    #[serde(rename = "valuePositiveInt")]
    pub value_positive_int: Option<u64>,
    #[serde(rename = "valueUnsignedInt")]
    pub value_unsigned_int: Option<u64>,
    #[serde(rename = "valueBoolean")]
    pub value_boolean: Option<bool>,
    #[serde(rename = "valuePeriod")]
    pub value_period: Option<Period>,
    #[serde(rename = "valueQuantity")]
    pub value_quantity: Option<Quantity>,
}

/// Lookup helpers over `extension` arrays; URLs are matched by their suffix so
/// that `http`/`https` and version drift (`-1`) between suppliers do not matter.
pub trait Extensions {
    fn extensions(&self) -> &[Extension];

    /// First extension whose URL ends with `name` (e.g. `"PrescriptionType-1"`).
    fn ext(&self, name: &str) -> Option<&Extension> {
        self.extensions().iter().find(|e| e.url.ends_with(name))
    }

    /// Every extension whose URL ends with `name`.
    fn exts<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Extension> + 'a {
        self.extensions()
            .iter()
            .filter(move |e| e.url.ends_with(name))
    }
}

impl Extensions for Vec<Extension> {
    fn extensions(&self) -> &[Extension] {
        self
    }
}

impl Extensions for Quantity {
    fn extensions(&self) -> &[Extension] {
        &self.extension
    }
}

impl Extensions for Extension {
    fn extensions(&self) -> &[Extension] {
        &self.extension
    }
}

// === impl CodeableConcept ===

impl CodeableConcept {
    /// The best human label: SNOMED description extension, then coding display, then text.
    pub fn label(&self) -> Option<&str> {
        if let Some(t) = self.text.as_deref().filter(|t| !t.trim().is_empty())
            && self.coding.is_empty()
        {
            return Some(t);
        }
        let primary = self.primary();
        primary
            .and_then(Coding::description_display)
            .or_else(|| primary.and_then(|c| c.display.as_deref()))
            .or_else(|| self.coding.iter().find_map(|c| c.display.as_deref()))
            .or(self.text.as_deref())
            .filter(|s| !s.trim().is_empty())
    }

    /// The coding to put in CD/@code: SNOMED first, then dm+d, then the first with a code.
    pub fn primary(&self) -> Option<&Coding> {
        let coded = |c: &&Coding| c.has_code();
        self.coding
            .iter()
            .filter(coded)
            .find(|c| c.system.as_deref() == Some(crate::codes::SNOMED_URI))
            .or_else(|| {
                self.coding
                    .iter()
                    .filter(coded)
                    .find(|c| crate::codes::oid_for(c.system.as_deref()).is_some())
            })
            .or_else(|| self.coding.iter().find(coded))
    }
}

// === impl Coding ===

impl Coding {
    /// A code usable in CD/@code: present, no whitespace (the XSD `cs` type).
    pub fn has_code(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty() && !s.trim().contains(char::is_whitespace))
    }

    /// `Extension-coding-sctdescid.descriptionDisplay`: the term the clinician picked.
    pub fn description_display(&self) -> Option<&str> {
        self.extension
            .ext("coding-sctdescid")
            .and_then(|e| e.ext("descriptionDisplay"))
            .and_then(|e| e.value_string.as_deref())
            .filter(|s| !s.trim().is_empty())
    }
}

// === impl Reference ===

impl Reference {
    pub fn target(&self) -> Option<&str> {
        self.reference.as_deref().filter(|s| !s.is_empty())
    }
}
