//! The simulator's patients and practices, built once at start-up.
//!
//! Sources, in order: the scenario patients of the spec's test data (restricted, deceased,
//! superseded, no consent… see `scenarios`), every fixture bundle (`fixtures`), the PDS fixture
//! Patients, then `--synthetic N` clones (`synthetic`). Each patient gets a pre-serialised PDS
//! record and a GP Connect behaviour (a bundle template, or a named error); each practice ODS
//! code gets an ASID, an MHS party key and a service root under this simulator's `/gpc/`.

pub mod directory;
pub mod fixtures;
pub mod pds_record;
pub mod scenarios;
pub mod synthetic;
pub mod template;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::OnceCell;
use xhuma_common::NhsNumber;

use crate::faults::GpcCase;
use pds_record::Person;
use template::{Identity, Template, json_str};

/// The practice the spec's demonstrator data belongs to (COXWOLD SURGERY) and its ASID.
pub const DEMO_ODS: &str = "B82617";
pub const DEMO_ASID: &str = "918999198738";

/// What PDS answers for a number.
#[derive(Debug, Clone)]
pub enum PdsEntry {
    Record {
        body: Bytes,
        version: u32,
    },
    /// Merged into another record: a read returns that record.
    Superseded(NhsNumber),
    /// `404 INVALIDATED_RESOURCE`.
    Invalidated,
    /// Not on PDS (`404 RESOURCE_NOT_FOUND`).
    Absent,
}

/// What the GP Connect provider answers for a number.
#[derive(Debug, Clone)]
pub enum GpcEntry {
    Record {
        source: Arc<BundleSource>,
        identity: Identity,
    },
    Error(GpcCase),
}

/// One simulated patient.
#[derive(Debug)]
pub struct PatientEntry {
    pub nhs: NhsNumber,
    pub person: Person,
    /// The fixture the record came from (or `scenario` / `synthetic:<fixture>`).
    pub fixture: String,
    /// A short description of what this patient exercises.
    pub scenario: String,
    pub pds: PdsEntry,
    pub gpc: GpcEntry,
    /// The practice holding the GP record (even when PDS hides it).
    pub ods: Option<String>,
}

/// A patient as `--list-patients` and `SimHandle::patients` show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SimPatient {
    pub nhs_number: String,
    pub name: String,
    pub fixture: String,
    pub ods: Option<String>,
    pub scenario: String,
    /// What GP Connect returns: `record` or a named error case.
    pub gp_connect: String,
}

/// One practice in SDS.
#[derive(Debug, Clone, Serialize)]
pub struct Practice {
    pub ods: String,
    pub name: String,
    pub asid: String,
    pub party_key: String,
    /// The Access Record Structured service root.
    pub address: String,
}

/// Distinct area masks cached per bundle (a client normally uses one or two).
const MAX_TEMPLATES_PER_BUNDLE: usize = 16;

/// A fixture bundle, with its templates per requested-area mask built on first use.
#[derive(Debug)]
pub struct BundleSource {
    pub label: String,
    path: PathBuf,
    templates: Mutex<HashMap<u16, Arc<OnceCell<Arc<Template>>>>>,
}

/// Everything the handlers read.
#[derive(Debug, Default)]
pub struct Store {
    pub patients: HashMap<NhsNumber, Arc<PatientEntry>>,
    /// Listing order.
    pub order: Vec<NhsNumber>,
    pub practices: BTreeMap<String, Practice>,
}

/// Why the data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("fixtures directory {0} has no bundles")]
    NoFixtures(PathBuf),
}

// === impl BundleSource ===

impl BundleSource {
    pub fn new(label: String, path: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            label,
            path,
            templates: Mutex::new(HashMap::new()),
        })
    }

    /// The template for `mask`, parsed and built once (off the async threads).
    pub async fn template(self: &Arc<Self>, mask: u16) -> Result<Arc<Template>, String> {
        let cell = {
            let mut map = self
                .templates
                .lock()
                .map_err(|_| "template cache poisoned".to_string())?;
            if map.len() >= MAX_TEMPLATES_PER_BUNDLE && !map.contains_key(&mask) {
                // An unusual area mix: build it for this request only, keep memory bounded.
                Arc::new(OnceCell::new())
            } else {
                map.entry(mask).or_default().clone()
            }
        };
        let this = self.clone();
        cell.get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || {
                let bytes =
                    std::fs::read(&this.path).map_err(|e| format!("{}: {e}", this.label))?;
                let value =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", this.label))?;
                Ok(Arc::new(Template::build(value, mask)))
            })
            .await
            .map_err(|e| e.to_string())?
        })
        .await
        .cloned()
    }
}

// === impl Store ===

impl Store {
    /// Loads every source. `base_url` is where this simulator is reachable (service roots
    /// registered in SDS point under it).
    pub fn load(fixtures: &Path, base_url: &str, synthetic_n: usize) -> Result<Self, LoadError> {
        let (bundles, mut taken) = cached_fixtures(fixtures);
        if bundles.is_empty() {
            return Err(LoadError::NoFixtures(fixtures.to_path_buf()));
        }
        let mut store = Store::default();
        let mut practice_names: BTreeMap<String, String> = BTreeMap::new();
        let mut clone_sources = Vec::new();
        let mut demo_source = None;
        for (b, source) in bundles.iter() {
            let source = source.clone();
            let person = b
                .patient
                .as_ref()
                .map(|p| Person::from_stu3(p, b.ods.clone()))
                .unwrap_or_else(|| Person {
                    family: Some("NOPATIENT".into()),
                    given: vec![short_label(&b.label)],
                    ods: b.ods.clone(),
                    ..Person::default()
                });
            if let (Some(ods), Some(name)) = (&b.ods, &b.practice_name) {
                practice_names
                    .entry(ods.clone())
                    .or_insert_with(|| name.clone());
            }
            if b.label.ends_with("9690937287-skelly-normal.json") {
                demo_source = Some(source.clone());
            }
            // Synthetic patients stand for real ones, whose GP Connect Patient always has a
            // name, a birth date and a gender (the profile requires them) that PDS agrees
            // with: a record lacking one is served as itself, never cloned.
            let complete = person.family.is_some()
                && person.birth_date.is_some()
                && person.gender.as_deref().is_some_and(|g| g != "unknown");
            let usable =
                b.patient.is_some() && !b.label.contains("NEGATIVE") && b.ods.is_some() && complete;
            if usable {
                clone_sources.push((source.clone(), person.clone()));
            }
            store.insert(PatientEntry {
                nhs: b.nhs,
                gpc: GpcEntry::Record {
                    source,
                    identity: identity_of(b.nhs, &person),
                },
                pds: PdsEntry::Record {
                    body: person.render(b.nhs, 1),
                    version: 1,
                },
                ods: b.ods.clone(),
                fixture: b.label.clone(),
                scenario: "fixture record".into(),
                person,
            });
        }
        let demo = demo_source.or_else(|| clone_sources.first().map(|(s, _)| s.clone()));
        if let Some(demo) = &demo {
            for e in scenarios::patients(demo, &mut taken) {
                store.insert(e);
            }
        }
        for e in load_pds_fixtures(fixtures, &mut taken) {
            store.insert(e);
        }
        for e in synthetic::generate(synthetic_n, &clone_sources, &mut taken) {
            store.insert(e);
        }
        let mut odses: HashSet<String> = store
            .patients
            .values()
            .filter_map(|p| p.ods.clone())
            .collect();
        odses.insert(DEMO_ODS.to_string());
        for ods in odses {
            if ods == scenarios::NO_ENDPOINT_ODS {
                continue;
            }
            let name = practice_names
                .get(&ods)
                .cloned()
                .unwrap_or_else(|| format!("PRACTICE {ods}"));
            store
                .practices
                .insert(ods.clone(), practice(&ods, name, base_url));
        }
        Ok(store)
    }

    fn insert(&mut self, e: PatientEntry) {
        let nhs = e.nhs;
        if self.patients.insert(nhs, Arc::new(e)).is_none() {
            self.order.push(nhs);
        }
    }

    pub fn get(&self, nhs: &NhsNumber) -> Option<&Arc<PatientEntry>> {
        self.patients.get(nhs)
    }

    /// The listing, in load order.
    pub fn list(&self) -> Vec<SimPatient> {
        self.order
            .iter()
            .filter_map(|n| self.patients.get(n))
            .map(|p| SimPatient {
                nhs_number: p.nhs.to_string(),
                name: p.person.display_name(),
                fixture: p.fixture.clone(),
                ods: p.ods.clone(),
                scenario: p.scenario.clone(),
                gp_connect: match &p.gpc {
                    GpcEntry::Record { .. } => "record".into(),
                    GpcEntry::Error(c) => c.name().into(),
                },
            })
            .collect()
    }
}

type LoadedFixtures = Arc<Vec<(fixtures::FixtureBundle, Arc<BundleSource>)>>;
/// The bundles and the NHS numbers they (and the scenarios) took.
type CachedFixtures = (LoadedFixtures, HashSet<NhsNumber>);

/// Fixture bundles parsed once per process and directory, with their template caches: every
/// simulator a test process starts shares them (their content does not depend on the URL).
fn cached_fixtures(dir: &Path) -> CachedFixtures {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<PathBuf, CachedFixtures>>> =
        std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(dir).cloned()) {
        return hit;
    }
    let mut taken = scenarios::reserved();
    let loaded: Vec<_> = fixtures::load(dir, &mut taken)
        .into_iter()
        .map(|b| {
            let source = BundleSource::new(b.label.clone(), b.path.clone());
            (b, source)
        })
        .collect();
    let entry = (Arc::new(loaded), taken);
    if let Ok(mut c) = cache.lock() {
        c.insert(dir.to_path_buf(), entry.clone());
    }
    entry
}

/// The hole values of a bundle template for this patient.
pub fn identity_of(nhs: NhsNumber, p: &Person) -> Identity {
    Identity {
        nhs: nhs.to_string(),
        family: json_str(p.family.as_deref().unwrap_or("")),
        given: json_str(p.given.first().map(String::as_str).unwrap_or("")),
        birth_date: p.birth_date.as_deref().map(json_str),
        gender: p.gender.as_deref().map(json_str),
    }
}

fn practice(ods: &str, name: String, base_url: &str) -> Practice {
    let h = ods.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let asid = if ods == DEMO_ODS {
        DEMO_ASID.to_string()
    } else {
        format!("9{:011}", h % 100_000_000_000)
    };
    Practice {
        ods: ods.to_string(),
        name,
        asid,
        party_key: format!("{ods}-{:06}", (h >> 20) % 1_000_000),
        address: format!(
            "{}/gpc/{ods}/STU3/1/gpconnect/structured",
            base_url.trim_end_matches('/')
        ),
    }
}

fn short_label(label: &str) -> String {
    label
        .rsplit('/')
        .next()
        .unwrap_or(label)
        .trim_end_matches(".json")
        .to_uppercase()
}

/// `pds/patient/*.json`: served as PDS has them (no GP Connect record behind them).
fn load_pds_fixtures(fixtures: &Path, taken: &mut HashSet<NhsNumber>) -> Vec<PatientEntry> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures.join("pds/patient"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let Some(nhs) = v
            .get("id")
            .and_then(|i| i.as_str())
            .and_then(|s| NhsNumber::parse(s).ok())
        else {
            continue;
        };
        if !taken.insert(nhs) {
            continue;
        }
        let person = Person::from_r4(&v);
        let version = v
            .pointer("/meta/versionId")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let label = f
            .strip_prefix(fixtures)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(PatientEntry {
            nhs,
            pds: PdsEntry::Record {
                body: Bytes::from(bytes),
                version,
            },
            gpc: GpcEntry::Error(GpcCase::PatientNotFound),
            ods: person.ods.clone(),
            scenario: match (person.restricted, person.deceased.is_some()) {
                (true, _) => "PDS fixture: restricted".into(),
                (false, true) => "PDS fixture: deceased".into(),
                _ => "PDS fixture (no GP record)".into(),
            },
            fixture: label,
            person,
        });
    }
    out
}
