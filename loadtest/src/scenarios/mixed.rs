//! `mixed`: an EHR's user types in one goose attack, weighted (`--mix`), as Locust users expect.
//!
//! - `ehr_flow`: ITI-55 → ITI-38 → ITI-39 for a new patient (the cold path);
//! - `cached_reads`: ITI-38 + ITI-39 for patients warmed before the window (the cache path);
//! - `discovery_storm`: bursts of `--storm-burst` ITI-55 for new patients, 1–3 s apart (a
//!   clinic list registered at once: the workers queue up behind it while the other types run);
//! - `hot_patient`: every such user reads the same patient, cold when the window opens, so the
//!   first reads contend on its single-flight lease and the rest on its one cache entry.
//!
//! Patients (disjoint, so each type's cache state is its own): the warm slice for
//! `cached_reads`; from the cold slice the first for `hot_patient`, then a half each for
//! `ehr_flow` and `discovery_storm`. Goose deals users to the types by weight (round-robin, so
//! with at least as many users as types each gets one); each request is reported under its
//! type (`hot_patient ITI-38`) and checked as in the single scenarios.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use goose::prelude::*;

use super::ehr_flow::flow;
use super::{Rows, discover, read_record};
use crate::patients::Rotation;

/// The mix when `--mix` is not given: mostly reads of cached records, as an EHR's day is once
/// prefetch has done its job, with new patients, a storm and a hot patient alongside.
pub const DEFAULT_MIX: &str = "ehr_flow=3,cached_reads=5,discovery_storm=1,hot_patient=1";
/// The largest weight `--mix` accepts (goose builds a list as long as the weights' sum).
const MAX_WEIGHT: usize = 100;
/// The largest burst `--storm-burst` accepts.
pub const MAX_BURST: usize = 100;
/// The pause between one discovery storm user's bursts.
const STORM_PAUSE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3));

/// One kind of simulated EHR user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UserType {
    EhrFlow,
    CachedReads,
    DiscoveryStorm,
    HotPatient,
}

const ALL: [UserType; 4] = [
    UserType::EhrFlow,
    UserType::CachedReads,
    UserType::DiscoveryStorm,
    UserType::HotPatient,
];

/// `--mix`: the weight of each user type (0 = not run), in `ALL`'s order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix([usize; 4]);

/// Each type's patients, set once before the attack.
struct Patients {
    ehr: Rotation,
    cached: Option<Rotation>,
    storm: Rotation,
    hot: Rotation,
}

static PATIENTS: OnceLock<Patients> = OnceLock::new();
/// ITI-55s per discovery storm burst (`--storm-burst`).
static BURST: AtomicUsize = AtomicUsize::new(10);
/// The goose users seen per type (`GooseUser::weighted_users_index`), for the report: at most
/// `--users` entries in all.
static USERS: Mutex<[BTreeSet<usize>; 4]> = Mutex::new([const { BTreeSet::new() }; 4]);

// === impl UserType ===

impl UserType {
    pub fn name(self) -> &'static str {
        match self {
            UserType::EhrFlow => "ehr_flow",
            UserType::CachedReads => "cached_reads",
            UserType::DiscoveryStorm => "discovery_storm",
            UserType::HotPatient => "hot_patient",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn rows(self) -> Rows {
        Rows::of(self.name())
    }

    /// Notes that goose user `user` runs this type.
    fn seen(self, user: &GooseUser) {
        if let Ok(mut users) = USERS.lock() {
            users[self.index()].insert(user.weighted_users_index);
        }
    }
}

// === impl Mix ===

impl Mix {
    /// The weight of one type.
    pub fn weight(&self, t: UserType) -> usize {
        self.0[t.index()]
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `ehr_flow=3,cached_reads=5,discovery_storm=1,hot_patient=1`: types left out weigh 0.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights = [0; 4];
        let mut named = [false; 4];
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, weight) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}': expected TYPE=WEIGHT"))?;
            let t = ALL
                .into_iter()
                .find(|t| t.name() == name.trim())
                .ok_or_else(|| {
                    format!(
                        "unknown user type '{}' (ehr_flow, cached_reads, discovery_storm, hot_patient)",
                        name.trim()
                    )
                })?;
            let weight: usize = weight
                .trim()
                .parse()
                .map_err(|_| format!("'{item}': the weight must be a whole number"))?;
            if weight > MAX_WEIGHT {
                return Err(format!("'{item}': weights go up to {MAX_WEIGHT}"));
            }
            if std::mem::replace(&mut named[t.index()], true) {
                return Err(format!("'{}' is given twice", t.name()));
            }
            weights[t.index()] = weight;
        }
        if weights.iter().all(|w| *w == 0) {
            return Err("at least one user type needs a weight above 0".into());
        }
        Ok(Mix(weights))
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = ALL
            .iter()
            .map(|t| format!("{}={}", t.name(), self.weight(*t)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Gives each type its patients (`warm` already cached; `cold` never asked about) and sets the
/// storm's burst size; once per process.
pub fn set_patients(warm: Vec<String>, cold: &[String], burst: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_BURST).contains(&burst),
        "--storm-burst must be 1-{MAX_BURST}"
    );
    anyhow::ensure!(
        cold.len() >= 3,
        "mixed needs at least 3 cold patients (hot, ehr_flow, discovery_storm)"
    );
    let (hot, rest) = cold.split_at(1);
    let (ehr, storm) = rest.split_at(rest.len() / 2);
    let patients = Patients {
        ehr: Rotation::new(ehr.to_vec())?,
        cached: if warm.is_empty() {
            None
        } else {
            Some(Rotation::new(warm)?)
        },
        storm: Rotation::new(storm.to_vec())?,
        hot: Rotation::new(hot.to_vec())?,
    };
    BURST.store(burst, Ordering::Relaxed);
    PATIENTS
        .set(patients)
        .map_err(|_| anyhow::anyhow!("mixed patients set twice"))
}

/// What the report needs once the attack is over: the distinct cold patients started (the hot
/// one included), the patients warmed, whether a cold list wrapped, and one line describing
/// the mix (weights and the users goose gave each type).
pub fn outcome(mix: &Mix) -> (usize, usize, bool, String) {
    let Some(p) = PATIENTS.get() else {
        return (0, 0, false, format!("Mix {mix}: no patients were set"));
    };
    let started = p.ehr.distinct() + p.storm.distinct() + p.hot.distinct();
    let wrapped = p.ehr.handed_out() > p.ehr.len() || p.storm.handed_out() > p.storm.len();
    let warmed = p.cached.as_ref().map_or(0, Rotation::len);
    let users = USERS.lock().map(|u| u.clone()).unwrap_or_default();
    let parts: Vec<String> = ALL
        .iter()
        .filter(|t| mix.weight(**t) > 0)
        .map(|t| {
            format!(
                "`{}` weight {} → {} user{}",
                t.name(),
                mix.weight(*t),
                users[t.index()].len(),
                if users[t.index()].len() == 1 { "" } else { "s" }
            )
        })
        .collect();
    let line = format!(
        "Mix (`--mix {mix}`, storm bursts of {}): {}.",
        BURST.load(Ordering::Relaxed),
        parts.join(", ")
    );
    (started, warmed, wrapped, line)
}

/// One goose scenario per user type with a weight above 0.
pub fn scenarios(mix: &Mix) -> anyhow::Result<Vec<Scenario>> {
    let mut out = Vec::new();
    for t in ALL {
        let weight = mix.weight(t);
        if weight == 0 {
            continue;
        }
        let scenario = match t {
            UserType::EhrFlow => {
                scenario!("ehr_flow").register_transaction(transaction!(ehr).set_name("ehr_flow"))
            }
            UserType::CachedReads => scenario!("cached_reads")
                .register_transaction(transaction!(cached).set_name("cached_reads")),
            UserType::DiscoveryStorm => scenario!("discovery_storm")
                .set_wait_time(STORM_PAUSE.0, STORM_PAUSE.1)?
                .register_transaction(transaction!(storm).set_name("discovery_storm")),
            UserType::HotPatient => scenario!("hot_patient")
                .register_transaction(transaction!(hot).set_name("hot_patient")),
        };
        out.push(scenario.set_weight(weight)?);
    }
    Ok(out)
}

/// The next patient of one type's rotation.
fn next(
    t: UserType,
    pick: fn(&Patients) -> Option<&Rotation>,
) -> Result<String, Box<TransactionError>> {
    PATIENTS
        .get()
        .and_then(pick)
        .map(|r| r.next().to_owned())
        .ok_or_else(|| {
            Box::new(TransactionError::Custom(format!(
                "mixed {}: no patients",
                t.name()
            )))
        })
}

async fn ehr(user: &mut GooseUser) -> TransactionResult {
    let t = UserType::EhrFlow;
    t.seen(user);
    let nhs = next(t, |p| Some(&p.ehr))?;
    flow(user, t.rows(), &nhs).await
}

async fn cached(user: &mut GooseUser) -> TransactionResult {
    let t = UserType::CachedReads;
    t.seen(user);
    let nhs = next(t, |p| p.cached.as_ref())?;
    read_record(user, t.rows(), &nhs).await
}

async fn storm(user: &mut GooseUser) -> TransactionResult {
    let t = UserType::DiscoveryStorm;
    t.seen(user);
    for _ in 0..BURST.load(Ordering::Relaxed) {
        let nhs = next(t, |p| Some(&p.storm))?;
        discover(user, t.rows(), &nhs).await?;
    }
    Ok(())
}

async fn hot(user: &mut GooseUser) -> TransactionResult {
    let t = UserType::HotPatient;
    t.seen(user);
    let nhs = next(t, |p| Some(&p.hot))?;
    read_record(user, t.rows(), &nhs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mix_parses() {
        let mix: Mix = DEFAULT_MIX.parse().unwrap();
        assert_eq!(mix, Mix([3, 5, 1, 1]));
        assert_eq!(mix.to_string(), DEFAULT_MIX);
    }

    #[test]
    fn left_out_types_weigh_nothing() {
        let mix: Mix = " hot_patient=4 , ehr_flow=1".parse().unwrap();
        assert_eq!(mix, Mix([1, 0, 0, 4]));
    }

    #[test]
    fn bad_mixes_are_refused() {
        for bad in [
            "",
            "ehr_flow=0",
            "ehr_flow",
            "ehr_flow=x",
            "ehr_flow=-1",
            "readers=2",
            "ehr_flow=1,ehr_flow=2",
            "ehr_flow=101",
        ] {
            assert!(bad.parse::<Mix>().is_err(), "{bad:?} was accepted");
        }
    }
}
