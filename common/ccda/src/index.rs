//! The bundle index: every entry parsed once, and reference resolution.
//!
//! Input: the raw bundle bytes. Each entry is parsed into a typed
//! [`Resource`] on its own; a resource that does not fit the model is kept as
//! [`Parsed::Unreadable`] so the section that lists it can show a visible
//! "could not be shown" row. Lookups: `Type/id`, `#id` inside a List's
//! `contained`, primary Lists by SNOMED code, consultation List by Encounter.
//! Maps are only used for lookups, never iterated, so output order is the
//! bundle's and stays deterministic. Which Patient the record is about is
//! decided once, in `patient`.

use crate::ConvertError;
use crate::fhir::{Bundle, List, Resource, ResourceHead};
use std::collections::HashMap;

mod patient;

/// GP Connect primary List codes (SNOMED CT).
pub mod list_code {
    pub const ALLERGIES: &str = "886921000000105";
    pub const ENDED_ALLERGIES: &str = "1103671000000101";
    pub const MEDICATIONS: &str = "933361000000108";
    pub const CONSULTATIONS: &str = "1149501000000101";
    pub const PROBLEMS: &str = "717711000000103";
    pub const IMMUNISATIONS: &str = "1102181000000102";
    pub const UNCATEGORISED: &str = "826501000000100";
    pub const INVESTIGATIONS: &str = "887191000000108";
    pub const OUTBOUND_REFERRALS: &str = "792931000000107";
    pub const RECALLS: &str = "714311000000108";
    /// Consultation structure: the consultation and its topics (categories, 24781000000107,
    /// are read through their topics' entries).
    pub const CONSULTATION: &str = "325851000000107";
    pub const TOPIC: &str = "25851000000105";
}

/// One bundle entry (or one contained resource) after parsing.
#[derive(Debug)]
pub struct Entry {
    pub resource_type: String,
    pub id: Option<String>,
    pub parsed: Parsed,
    /// `meta.security` codes (`NOPAT`, or Confidentiality `R`/`V`), upper case.
    pub security: Vec<String>,
}

#[derive(Debug)]
pub enum Parsed {
    Ok(Resource),
    /// Did not fit the model; the string is a PHI-free reason (position only).
    Unreadable(String),
}

/// The result of following a reference.
pub enum Resolved<'a> {
    Found(&'a Entry, &'a Resource),
    Unreadable(&'a Entry, &'a str),
    Missing,
}

pub struct Index {
    pub entries: Vec<Entry>,
    by_ref: HashMap<String, usize>,
    /// `"{list entry index}#{id}"` → entry index, for contained resources.
    contained: HashMap<String, usize>,
    consultation_by_encounter: HashMap<String, usize>,
    pub patient: usize,
    /// Notes for the report raised while indexing (duplicates, unreadable entries).
    pub warnings: Vec<String>,
}

// === impl Index ===

impl Index {
    /// Indexes the bundle and picks its patient: the one the Lists' `subject`
    /// names, else the only Patient, else (several Patients, no subject) the
    /// one with the `expected` NHS number. Lists naming different patients,
    /// a subject that is not in the bundle, or a choice it cannot make are
    /// errors: a document about the wrong patient is worse than none.
    pub fn build_for(bytes: &[u8], expected: Option<&str>) -> Result<Index, ConvertError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ConvertError::NotUtf8)?;
        let bundle: Bundle<'_> = serde_json::from_str(text).map_err(|e| ConvertError::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
        match bundle.resource_type.as_deref() {
            Some("Bundle") => {}
            other => {
                return Err(ConvertError::NotABundle {
                    found: other.map(short),
                });
            }
        }
        let mut ix = Index {
            entries: Vec::new(),
            by_ref: HashMap::new(),
            contained: HashMap::new(),
            consultation_by_encounter: HashMap::new(),
            patient: usize::MAX,
            warnings: Vec::new(),
        };
        for (n, e) in bundle.entry.unwrap_or_default().into_iter().enumerate() {
            let Some(raw) = e.resource else {
                ix.warnings.push(format!("Bundle.entry[{n}]: no resource"));
                continue;
            };
            let entry = parse_entry(raw.get(), n);
            let i = ix.entries.len();
            if let Some(id) = &entry.id {
                let key = format!("{}/{}", entry.resource_type, id);
                match ix.by_ref.entry(key) {
                    std::collections::hash_map::Entry::Occupied(o) => {
                        ix.warnings.push(format!(
                            "{}: duplicate resource id, first one used",
                            o.key()
                        ));
                    }
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(i);
                    }
                }
            }
            if let Parsed::Unreadable(why) = &entry.parsed {
                ix.warnings.push(format!("{}: {why}", entry.label()));
            }
            ix.entries.push(entry);
            ix.index_list_extras(i);
        }
        ix.patient = ix.pick_patient(expected)?;
        Ok(ix)
    }

    /// Contained resources and consultation → encounter links of the List at `i`.
    fn index_list_extras(&mut self, i: usize) {
        let Parsed::Ok(Resource::List(list)) = &self.entries[i].parsed else {
            return;
        };
        let mut contained = Vec::new();
        for raw in &list.contained {
            contained.push(parse_entry(raw.get(), i));
        }
        if is_list_code(list, list_code::CONSULTATION)
            && let Some(enc) = list.encounter.as_ref().and_then(|r| r.target())
        {
            self.consultation_by_encounter
                .entry(enc.to_string())
                .or_insert(i);
        }
        for c in contained {
            if let Some(id) = &c.id {
                self.contained
                    .insert(format!("{i}#{id}"), self.entries.len());
            }
            self.entries.push(c);
        }
    }

    pub fn patient(&self) -> &crate::fhir::Patient {
        match &self.entries[self.patient].parsed {
            Parsed::Ok(Resource::Patient(p)) => p,
            // Index::build only succeeds with a readable Patient at `self.patient`.
            _ => &EMPTY_PATIENT,
        }
    }

    /// Follows `reference`; `list` is the index of the List it appears in (for `#id`).
    pub fn resolve(&self, reference: &str, list: Option<usize>) -> Resolved<'_> {
        match self.index_of(reference, list).map(|i| &self.entries[i]) {
            Some(e) => match &e.parsed {
                Parsed::Ok(r) => Resolved::Found(e, r),
                Parsed::Unreadable(why) => Resolved::Unreadable(e, why),
            },
            None => Resolved::Missing,
        }
    }

    /// The entry index `reference` points to (`Type/id`, a full URL ending in
    /// `Type/id`, or `#id` within List `list`).
    pub fn index_of(&self, reference: &str, list: Option<usize>) -> Option<usize> {
        if let Some(local) = reference.strip_prefix('#') {
            return list
                .and_then(|l| self.contained.get(&format!("{l}#{local}")))
                .copied();
        }
        let mut parts = reference.rsplitn(3, '/');
        let (id, ty) = (parts.next()?, parts.next()?);
        self.by_ref.get(&format!("{ty}/{id}")).copied()
    }

    /// Convenience: the resource behind `reference`, if present and readable.
    pub fn get(&self, reference: Option<&str>) -> Option<&Resource> {
        match self.resolve(reference?, None) {
            Resolved::Found(_, r) => Some(r),
            _ => None,
        }
    }

    /// Primary Lists with this SNOMED code, in bundle order, with their entry index.
    pub fn lists(&self, code: &str) -> impl Iterator<Item = (usize, &List)> + '_ {
        let code = code.to_string();
        self.entries
            .iter()
            .enumerate()
            .filter_map(move |(i, e)| match &e.parsed {
                Parsed::Ok(Resource::List(l)) if is_list_code(l, &code) => Some((i, &**l)),
                _ => None,
            })
    }

    /// True when the bundle carries any GP Connect primary query List. Extracts
    /// without them (GP2GP-derived bundles, small supplier samples) are shown
    /// by resource type instead.
    pub fn has_primary_lists(&self) -> bool {
        use list_code::*;
        const PRIMARY: &[&str] = &[
            ALLERGIES,
            ENDED_ALLERGIES,
            MEDICATIONS,
            CONSULTATIONS,
            PROBLEMS,
            IMMUNISATIONS,
            UNCATEGORISED,
            INVESTIGATIONS,
            OUTBOUND_REFERRALS,
            RECALLS,
        ];
        self.entries.iter().any(|e| match &e.parsed {
            Parsed::Ok(Resource::List(l)) => PRIMARY.iter().any(|c| is_list_code(l, c)),
            _ => false,
        })
    }

    /// The consultation List whose `encounter` is `Encounter/{id}`.
    pub fn consultation_for(&self, encounter_ref: &str) -> Option<(usize, &List)> {
        let i = *self.consultation_by_encounter.get(encounter_ref)?;
        match &self.entries[i].parsed {
            Parsed::Ok(Resource::List(l)) => Some((i, l)),
            _ => None,
        }
    }

    /// Every readable resource of one type, in bundle order.
    pub fn all(&self, resource_type: &str) -> impl Iterator<Item = &Entry> + '_ {
        let t = resource_type.to_string();
        self.entries.iter().filter(move |e| e.resource_type == t)
    }
}

// === impl Entry ===

impl Entry {
    /// `Type/id` for warnings (ids are supplier GUIDs, not patient identifiers).
    pub fn label(&self) -> String {
        format!(
            "{}/{}",
            self.resource_type,
            self.id.as_deref().unwrap_or("?")
        )
    }

    /// A key for deterministic entry ids.
    pub fn key(&self, n: usize) -> String {
        match &self.id {
            Some(id) => format!("{}/{}", self.resource_type, id),
            None => format!("{}#{n}", self.resource_type),
        }
    }
}

static EMPTY_PATIENT: crate::fhir::Patient = crate::fhir::Patient {
    id: None,
    extension: Vec::new(),
    identifier: Vec::new(),
    name: Vec::new(),
    gender: None,
    birth_date: None,
    address: Vec::new(),
    telecom: Vec::new(),
    general_practitioner: Vec::new(),
    managing_organization: None,
};

pub fn is_list_code(list: &List, code: &str) -> bool {
    list.code
        .as_ref()
        .is_some_and(|c| c.coding.iter().any(|c| c.code.as_deref() == Some(code)))
}

fn parse_entry(raw: &str, n: usize) -> Entry {
    let mut e = parse_resource(raw, n);
    if raw.contains("\"security\"")
        && let Ok(h) = serde_json::from_str::<crate::fhir::SecurityHead>(raw)
    {
        e.security = h
            .meta
            .map(|m| m.security)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.code)
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .collect();
    }
    e
}

fn parse_resource(raw: &str, n: usize) -> Entry {
    // Fast path: type sniffed from the first member, one typed parse, id from
    // the model. Unknown types and errors take the slow path (which finds the id).
    if let Some(t) = Resource::sniff_type(raw)
        && let Ok(r) = Resource::parse(t, raw)
        && !matches!(r, Resource::Other)
    {
        let id = r.id().map(str::to_string);
        return Entry {
            resource_type: t.to_string(),
            id,
            parsed: Parsed::Ok(r),
            security: Vec::new(),
        };
    }
    let head: ResourceHead = match serde_json::from_str(raw) {
        Ok(h) => h,
        Err(e) => {
            return Entry {
                resource_type: "Unknown".into(),
                id: Some(format!("entry-{n}")),
                parsed: Parsed::Unreadable(why(&e)),
                security: Vec::new(),
            };
        }
    };
    let resource_type = head.resource_type.unwrap_or_else(|| "Unknown".into());
    let parsed = match Resource::parse(&resource_type, raw) {
        Ok(r) => Parsed::Ok(r),
        Err(e) => Parsed::Unreadable(why(&e)),
    };
    Entry {
        resource_type,
        id: head.id,
        parsed,
        security: Vec::new(),
    }
}

/// A PHI-free description of a JSON error: the category and position only
/// (serde's message can quote the offending value).
fn why(e: &serde_json::Error) -> String {
    format!("could not be read (data error near column {})", e.column())
}

fn short(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(40)
        .collect()
}
