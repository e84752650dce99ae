//! The patients a run uses: fetched once from the simulator's `GET /_admin/patients`, kept to
//! the synthetic ones with a GP Connect record, and split into disjoint slices so one
//! scenario's traffic never warms another's cache.
//!
//! Slices, from the front of the synthetic list: `cached_reads` takes the first `warm`
//! patients; `prefetch-latency` takes the last `2 × its count`; `ehr_flow` and
//! `discovery_only` share everything between.

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use serde::Deserialize;

/// One entry of `/_admin/patients` (only the fields used here).
#[derive(Debug, Clone, Deserialize)]
struct SimPatient {
    nhs_number: String,
    scenario: String,
    gp_connect: String,
}

/// NHS numbers of the synthetic patients that have a GP Connect record, in simulator order.
pub async fn synthetic(client: &reqwest::Client, sim: &str) -> anyhow::Result<Vec<String>> {
    let url = format!("{}/_admin/patients", sim.trim_end_matches('/'));
    let list: Vec<SimPatient> = client
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .context("parsing /_admin/patients")?;
    let numbers: Vec<String> = list
        .into_iter()
        .filter(|p| p.scenario == "synthetic" && p.gp_connect == "record")
        .map(|p| p.nhs_number)
        .collect();
    anyhow::ensure!(
        !numbers.is_empty(),
        "the simulator has no synthetic patients: start nhs-sim with --synthetic N"
    );
    Ok(numbers)
}

/// How the synthetic list is shared between scenarios.
#[derive(Debug, Clone)]
pub struct Slices {
    /// Patients `cached_reads` warms and then reads.
    pub warm: Vec<String>,
    /// Cold patients for `ehr_flow` and `discovery_only` (the reserved tail left out).
    pub cold: Vec<String>,
}

// === impl Slices ===

impl Slices {
    /// Splits `all` into `warm` (front) and `cold` (the rest, at least one), leaving out the
    /// last `probe` patients (reserved for `prefetch-latency`).
    pub fn split(all: &[String], warm: usize, probe: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(
            all.len() > warm + probe,
            "{} synthetic patients are too few for {warm} warm + {probe} probe patients",
            all.len()
        );
        Ok(Self {
            warm: all[..warm].to_vec(),
            cold: all[warm..all.len() - probe].to_vec(),
        })
    }
}

/// Hands out patients round-robin across all users: each call returns the next one, so every
/// iteration of every user gets a different patient until the list wraps.
#[derive(Debug)]
pub struct Rotation {
    patients: Vec<String>,
    next: AtomicUsize,
}

// === impl Rotation ===

impl Rotation {
    /// A rotation over a non-empty list.
    pub fn new(patients: Vec<String>) -> anyhow::Result<Self> {
        anyhow::ensure!(!patients.is_empty(), "no patients to rotate over");
        Ok(Self {
            patients,
            next: AtomicUsize::new(0),
        })
    }

    /// The next patient.
    pub fn next(&self) -> &str {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        &self.patients[i % self.patients.len()]
    }

    /// How many patients were handed out so far (may exceed `len` when it wrapped).
    pub fn handed_out(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.patients.len()
    }

    /// Distinct patients handed out so far.
    pub fn distinct(&self) -> usize {
        self.handed_out().min(self.len())
    }
}
