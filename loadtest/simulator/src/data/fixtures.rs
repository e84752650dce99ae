//! Finds the fixture bundles, reads just enough of each (the Patient and its practice), and
//! gives every bundle a valid, distinct NHS number.
//!
//! Numbers: a preferred mapping first (the demonstrator's full Skelly record is patient 2,
//! 9690937286), then the number in the file name, then the Patient's own number, each only if it
//! passes Modulus 11 and is still free; otherwise one derived from the file path in the
//! 999 test range. The order of files is fixed, so the mapping is the same on every start.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use xhuma_common::NhsNumber;

/// Files whose number we choose by hand (path relative to the fixtures dir → NHS number).
const PREFERRED: &[(&str, &str)] = &[(
    "gpconnect/bundles/demonstrator/9690937287-skelly-normal.json",
    "9690937286",
)];

/// What the loader learnt about one bundle file.
#[derive(Debug, Clone)]
pub struct FixtureBundle {
    /// Path relative to the fixtures directory.
    pub label: String,
    pub path: PathBuf,
    pub nhs: NhsNumber,
    /// The STU3 Patient's fields PDS needs (None: the bundle has no Patient).
    pub patient: Option<Value>,
    /// ODS code of the practice (`Patient.managingOrganization`, else the first ODS code).
    pub ods: Option<String>,
    pub practice_name: Option<String>,
}

#[derive(Deserialize)]
struct LightBundle {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(default)]
    entry: Vec<LightEntry>,
}

#[derive(Deserialize)]
struct LightEntry {
    resource: Option<LightResource>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LightResource {
    resource_type: Option<String>,
    id: Option<String>,
    identifier: Option<Value>,
    name: Option<Value>,
    gender: Option<Value>,
    birth_date: Option<Value>,
    address: Option<Value>,
    telecom: Option<Value>,
    managing_organization: Option<Value>,
}

struct Parsed {
    label: String,
    path: PathBuf,
    patient: Option<Value>,
    ods: Option<String>,
    practice_name: Option<String>,
}

/// Every `*.json` under `gpconnect/bundles` and `xhuma/bundles`, in a fixed order.
pub fn discover(fixtures: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for dir in ["gpconnect/bundles", "xhuma/bundles"] {
        let mut files = Vec::new();
        walk(&fixtures.join(dir), &mut files);
        files.sort();
        for f in files {
            let label = f
                .strip_prefix(fixtures)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_else(|_| f.to_string_lossy().into_owned());
            out.push((label, f));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// Reads the files on all cores, then assigns numbers in order. Files that are not Bundles are
/// skipped with a warning.
pub fn load(fixtures: &Path, taken: &mut HashSet<NhsNumber>) -> Vec<FixtureBundle> {
    let files = discover(fixtures);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    let chunk = files.len().div_ceil(threads).max(1);
    let mut parsed: Vec<Parsed> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter_map(|(l, p)| parse(l, p))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    parsed.sort_by_key(|p| {
        let preferred = PREFERRED.iter().any(|(l, _)| *l == p.label);
        (!preferred, p.label.clone())
    });
    // Three passes so a file named after a number gets it before another file claims it as
    // its Patient's own number: preferred/file-name numbers, then own numbers, then derived.
    let mut chosen: Vec<Option<NhsNumber>> = vec![None; parsed.len()];
    for pass in 0..3 {
        for (i, p) in parsed.iter().enumerate() {
            if chosen[i].is_some() {
                continue;
            }
            let n = match pass {
                0 => preferred_or_file_number(p, taken),
                1 => own_number(p, taken),
                _ => Some(derived(&p.label, taken)),
            };
            if let Some(n) = n {
                taken.insert(n);
                chosen[i] = Some(n);
            }
        }
    }
    parsed
        .into_iter()
        .zip(chosen)
        .filter_map(|(p, n)| {
            Some(FixtureBundle {
                label: p.label,
                path: p.path,
                nhs: n?,
                patient: p.patient,
                ods: p.ods,
                practice_name: p.practice_name,
            })
        })
        .collect()
}

fn parse(label: &str, path: &Path) -> Option<Parsed> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(fixture = label, error = %e, "Cannot read fixture.");
            return None;
        }
    };
    let b: LightBundle = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(fixture = label, error = %e, "Fixture is not JSON.");
            return None;
        }
    };
    if b.resource_type.as_deref() != Some("Bundle") {
        return None;
    }
    let resources: Vec<LightResource> = b.entry.into_iter().filter_map(|e| e.resource).collect();
    let patient = resources
        .iter()
        .find(|r| r.resource_type.as_deref() == Some("Patient"));
    let ods_of = |r: &LightResource| -> Option<String> {
        r.identifier.as_ref()?.as_array()?.iter().find_map(|i| {
            let sys = i.get("system")?.as_str()?;
            sys.ends_with("ods-organization-code")
                .then(|| i.get("value")?.as_str().map(String::from))?
        })
    };
    let orgs: Vec<&LightResource> = resources
        .iter()
        .filter(|r| r.resource_type.as_deref() == Some("Organization"))
        .collect();
    let managing = patient
        .and_then(|p| p.managing_organization.as_ref())
        .and_then(|m| m.get("reference"))
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|id| orgs.iter().find(|o| o.id.as_deref() == Some(id)).copied());
    let practice = managing
        .filter(|o| ods_of(o).is_some())
        .or_else(|| orgs.iter().find(|o| ods_of(o).is_some()).copied());
    let patient_json = patient.map(|p| {
        serde_json::json!({
            "identifier": p.identifier, "name": p.name, "gender": p.gender,
            "birthDate": p.birth_date, "address": p.address, "telecom": p.telecom
        })
    });
    Some(Parsed {
        label: label.to_string(),
        path: path.to_path_buf(),
        patient: patient_json,
        ods: practice.and_then(ods_of),
        practice_name: practice
            .and_then(|o| o.name.as_ref())
            .and_then(Value::as_str)
            .map(String::from),
    })
}

fn preferred_or_file_number(p: &Parsed, taken: &HashSet<NhsNumber>) -> Option<NhsNumber> {
    let free = |s: &str| NhsNumber::parse(s).ok().filter(|n| !taken.contains(n));
    if let Some((_, n)) = PREFERRED.iter().find(|(l, _)| *l == p.label) {
        return free(n);
    }
    let file_name = p
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file_name.get(..10).and_then(free)
}

fn own_number(p: &Parsed, taken: &HashSet<NhsNumber>) -> Option<NhsNumber> {
    let own = p
        .patient
        .as_ref()
        .and_then(|pt| pt.get("identifier"))
        .and_then(Value::as_array)
        .and_then(|ids| {
            ids.iter().find_map(|i| {
                let sys = i.get("system")?.as_str()?;
                sys.ends_with("nhs-number")
                    .then(|| i.get("value")?.as_str())?
            })
        })?;
    NhsNumber::parse(own).ok().filter(|n| !taken.contains(n))
}

/// A number in the 999 test range derived from `label` (FNV-1a), skipping taken ones.
pub fn derived(label: &str, taken: &HashSet<NhsNumber>) -> NhsNumber {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut stem = 999_000_000 + (h % 1_000_000) as u32 * 999 % 999_999;
    loop {
        if let Some(n) = NhsNumber::from_stem(stem).filter(|n| !taken.contains(n)) {
            return n;
        }
        stem = if stem >= 999_999_998 {
            999_000_000
        } else {
            stem + 1
        };
    }
}
