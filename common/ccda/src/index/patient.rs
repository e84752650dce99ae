//! Whose record the bundle is: the Patient the Lists' `subject` names, or
//! the only Patient, or the requested one; anything less clear is refused.

use super::{Index, Parsed};
use crate::ConvertError;
use crate::fhir::Resource;

// === impl Index ===

impl Index {
    /// See [`Index::build_for`] for the rules.
    pub(super) fn pick_patient(&self, expected: Option<&str>) -> Result<usize, ConvertError> {
        let mut subjects: Vec<&str> = Vec::new();
        for e in &self.entries {
            if let Parsed::Ok(Resource::List(l)) = &e.parsed
                && let Some(s) = l.subject.as_ref().and_then(|r| r.target())
            {
                let key = ref_key(s);
                if !subjects.contains(&key) {
                    subjects.push(key);
                }
            }
        }
        let readable =
            |i: &usize| matches!(self.entries[*i].parsed, Parsed::Ok(Resource::Patient(_)));
        match subjects.as_slice() {
            [] => {}
            [one] => {
                return match self.index_of(one, None) {
                    Some(i) if readable(&i) => Ok(i),
                    Some(i) if self.entries[i].resource_type == "Patient" => {
                        Err(ConvertError::UnreadablePatient)
                    }
                    _ if !self.entries.iter().any(|e| e.resource_type == "Patient") => {
                        Err(ConvertError::NoPatient)
                    }
                    _ => Err(ConvertError::SubjectNotInBundle),
                };
            }
            _ => return Err(ConvertError::ConflictingSubjects),
        }
        let patients: Vec<usize> = (0..self.entries.len())
            .filter(|i| self.entries[*i].resource_type == "Patient")
            .collect();
        let ok: Vec<usize> = patients.iter().copied().filter(readable).collect();
        match (ok.as_slice(), expected) {
            ([one], _) => Ok(*one),
            ([], _) if patients.is_empty() => Err(ConvertError::NoPatient),
            ([], _) => Err(ConvertError::UnreadablePatient),
            (many, Some(want)) => {
                let matching: Vec<usize> = many
                    .iter()
                    .copied()
                    .filter(|i| match &self.entries[*i].parsed {
                        Parsed::Ok(Resource::Patient(p)) => p.nhs_number() == Some(want),
                        _ => false,
                    })
                    .collect();
                match matching.as_slice() {
                    [one] => Ok(*one),
                    [] => Err(ConvertError::PatientMismatch),
                    _ => Err(ConvertError::AmbiguousPatient {
                        patients: many.len(),
                    }),
                }
            }
            (many, None) => Err(ConvertError::AmbiguousPatient {
                patients: many.len(),
            }),
        }
    }
}

/// `Type/id` of a reference (a full URL keeps only its last two segments).
fn ref_key(r: &str) -> &str {
    match r.rmatch_indices('/').nth(1) {
        Some((i, _)) => &r[i + 1..],
        None => r,
    }
}
