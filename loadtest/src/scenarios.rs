//! The goose scenarios and what they share: the patient rotations (set once before the
//! attack starts) and `soap_call`, one POST whose failures goose counts.
//!
//! - `ehr_flow`: ITI-55 → ITI-38 → ITI-39 for a new patient each iteration (cold: the record
//!   is fetched from GP Connect and converted while the EHR waits).
//! - `cached_reads`: ITI-38 + ITI-39 for patients warmed beforehand (the cache path).
//! - `discovery_only`: ITI-55 alone (PDS + lease + enqueue; workers prefetch behind it).
//! - `iti38_reads`, `iti39_reads`: one warm transaction alone, so that the report's CPU per
//!   request is that path's own cost (issue 12's table by path).
//! - `mixed`: weighted user types in one attack (`mixed.rs`): the EHR flow, cached readers,
//!   discovery storms and one hot patient.

mod cached_reads;
mod discovery_only;
mod ehr_flow;
pub mod mixed;
mod single_reads;

use std::collections::HashMap;
use std::sync::OnceLock;

use anyhow::Context as _;
use goose::metrics::GooseRequestMetric;
use goose::prelude::*;

use crate::patients::Rotation;
use crate::{progress, soap};

pub use cached_reads::warm;
pub use single_reads::presign;

use cached_reads::run as cached_reads_tx;
use discovery_only::run as discovery_only_tx;
use ehr_flow::run as ehr_flow_tx;
use single_reads::{iti38 as iti38_tx, iti39 as iti39_tx};

/// Which scenario a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    #[value(name = "ehr_flow")]
    EhrFlow,
    #[value(name = "cached_reads")]
    CachedReads,
    #[value(name = "discovery_only")]
    DiscoveryOnly,
    #[value(name = "iti38_reads")]
    Iti38Reads,
    #[value(name = "iti39_reads")]
    Iti39Reads,
    #[value(name = "mixed")]
    Mixed,
}

static EHR_FLOW: OnceLock<Rotation> = OnceLock::new();
static CACHED_READS: OnceLock<Rotation> = OnceLock::new();
static DISCOVERY_ONLY: OnceLock<Rotation> = OnceLock::new();
static ITI38_READS: OnceLock<Rotation> = OnceLock::new();
static ITI39_READS: OnceLock<Rotation> = OnceLock::new();
/// The document uniqueId of each warmed patient (what ITI-38 advertised during the warm-up).
static DOCUMENTS: OnceLock<HashMap<String, String>> = OnceLock::new();

// === impl Which ===

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::EhrFlow => "ehr_flow",
            Which::CachedReads => "cached_reads",
            Which::DiscoveryOnly => "discovery_only",
            Which::Iti38Reads => "iti38_reads",
            Which::Iti39Reads => "iti39_reads",
            Which::Mixed => "mixed",
        }
    }

    /// Reads documents warmed before the window (rather than starting new patients).
    pub fn warmed(self) -> bool {
        matches!(
            self,
            Which::CachedReads | Which::Iti38Reads | Which::Iti39Reads
        )
    }

    /// The scenario's one rotation (`mixed` keeps one per user type, in `mixed`).
    fn slot(self) -> Option<&'static OnceLock<Rotation>> {
        match self {
            Which::EhrFlow => Some(&EHR_FLOW),
            Which::CachedReads => Some(&CACHED_READS),
            Which::DiscoveryOnly => Some(&DISCOVERY_ONLY),
            Which::Iti38Reads => Some(&ITI38_READS),
            Which::Iti39Reads => Some(&ITI39_READS),
            Which::Mixed => None,
        }
    }

    /// Gives the scenario its patients; once per process.
    pub fn set_patients(self, rotation: Rotation) -> anyhow::Result<()> {
        self.slot()
            .with_context(|| format!("{} has no single rotation", self.name()))?
            .set(rotation)
            .map_err(|_| anyhow::anyhow!("{} patients set twice", self.name()))
    }

    /// The scenario's rotation, once set.
    pub fn rotation(self) -> Option<&'static Rotation> {
        self.slot()?.get()
    }

    /// The goose scenarios: one, or `mixed`'s weighted user types.
    pub fn scenarios(self, mix: &mixed::Mix) -> anyhow::Result<Vec<Scenario>> {
        let one = match self {
            Which::EhrFlow => scenario!("ehr_flow")
                .register_transaction(transaction!(ehr_flow_tx).set_name("ehr_flow")),
            Which::CachedReads => scenario!("cached_reads")
                .register_transaction(transaction!(cached_reads_tx).set_name("cached_reads")),
            Which::DiscoveryOnly => scenario!("discovery_only")
                .register_transaction(transaction!(discovery_only_tx).set_name("discovery_only")),
            Which::Iti38Reads => scenario!("iti38_reads")
                .register_transaction(transaction!(iti38_tx).set_name("iti38_reads")),
            Which::Iti39Reads => scenario!("iti39_reads")
                .register_transaction(transaction!(iti39_tx).set_name("iti39_reads")),
            Which::Mixed => return mixed::scenarios(mix),
        };
        Ok(vec![one])
    }
}

/// Keeps the uniqueId of each warmed patient's document; once per process.
pub fn set_documents(documents: HashMap<String, String>) -> anyhow::Result<()> {
    DOCUMENTS
        .set(documents)
        .map_err(|_| anyhow::anyhow!("documents set twice"))
}

/// The uniqueId of a warmed patient's document.
fn document_of(nhs: &str) -> Result<&'static str, Box<TransactionError>> {
    DOCUMENTS
        .get()
        .and_then(|d| d.get(nhs))
        .map(String::as_str)
        .ok_or_else(|| Box::new(TransactionError::Custom("no warmed document".into())))
}

/// The next patient of a scenario, or a transaction error when none were set.
fn next_patient(which: Which) -> Result<String, Box<TransactionError>> {
    which
        .rotation()
        .map(|r| r.next().to_owned())
        .ok_or_else(|| {
            Box::new(TransactionError::Custom(format!(
                "{}: no patients",
                which.name()
            )))
        })
}

/// The report rows a user type's requests go under: `ITI-38` in a run of one scenario (as
/// earlier reports have them), `hot_patient ITI-38` in `mixed`, so that its report breaks the
/// figures down by user type.
#[derive(Debug, Clone, Copy)]
pub struct Rows(Option<&'static str>);

// === impl Rows ===

impl Rows {
    /// A run of one scenario: the transaction's name alone.
    pub const PLAIN: Rows = Rows(None);

    /// The rows of one `mixed` user type.
    pub const fn of(user_type: &'static str) -> Rows {
        Rows(Some(user_type))
    }

    fn name(self, transaction: &str) -> String {
        match self.0 {
            Some(user_type) => format!("{user_type} {transaction}"),
            None => transaction.to_owned(),
        }
    }
}

/// Marks a request failed (counted by goose under `tag`) and returns the error that ends the
/// iteration.
fn fail(user: &mut GooseUser, tag: &str, metric: &mut GooseRequestMetric) -> Box<TransactionError> {
    progress::failed();
    match user.set_failure(tag, metric, None, None) {
        Err(e) => e,
        Ok(()) => Box::new(TransactionError::Custom(tag.to_owned())),
    }
}

/// POSTs one SOAP request named `name` (the row it is reported under) and returns the metric
/// and the body of a 2xx answer. A transport error or another status is a counted failure.
async fn soap_call(
    user: &mut GooseUser,
    path: &str,
    name: &str,
    body: String,
) -> Result<(GooseRequestMetric, String), Box<TransactionError>> {
    // ITI-39 goes as MTOM when `--mtom` said so (its answer then carries the document as an
    // attachment); everything else as plain SOAP 1.2.
    let (content_type, body) = if path == soap::ITI39_PATH {
        soap::packaged(body)
    } else {
        (soap::CONTENT_TYPE.to_owned(), body)
    };
    let builder = user
        .get_request_builder(&GooseMethod::Post, path)?
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(path)
        .name(name)
        .set_request_builder(builder)
        .build();
    progress::sent();
    let goose = user.request(request).await?;
    let mut metric = goose.request;
    let response = match goose.response {
        Ok(r) => r,
        Err(_) => return Err(fail(user, &format!("{name}: transport error"), &mut metric)),
    };
    let status = response.status();
    match response.text().await {
        Ok(text) if status.is_success() => Ok((metric, text)),
        Ok(_) => Err(fail(
            user,
            &format!("{name}: HTTP {}", status.as_u16()),
            &mut metric,
        )),
        Err(_) => Err(fail(user, &format!("{name}: body not read"), &mut metric)),
    }
}

/// ITI-55 for `nhs`, checking that the answer is AA and names the patient: how `ehr_flow`,
/// `discovery_only` and `mixed`'s discovery storms start.
async fn discover(user: &mut GooseUser, rows: Rows, nhs: &str) -> TransactionResult {
    let name = rows.name("ITI-55");
    let (mut m, body) = soap_call(user, soap::ITI55_PATH, &name, soap::iti55(nhs)).await?;
    if !soap::iti55_found(&body, nhs) {
        return Err(fail(
            user,
            &format!("{name}: patient not found (no AA)"),
            &mut m,
        ));
    }
    Ok(())
}

/// ITI-38 for `nhs`, then ITI-39 for the document it advertises, checking each answer: the
/// read both `cached_reads` and `ehr_flow` end with.
async fn read_record(user: &mut GooseUser, rows: Rows, nhs: &str) -> TransactionResult {
    let name = rows.name("ITI-38");
    let (mut m, body) = soap_call(user, soap::ITI38_PATH, &name, soap::iti38(nhs)).await?;
    let Some(unique_id) = soap::iti38_unique_id(&body).map(str::to_owned) else {
        return Err(fail(user, &format!("{name}: no document uniqueId"), &mut m));
    };
    let name = rows.name("ITI-39");
    let (mut m, body) =
        soap_call(user, soap::ITI39_PATH, &name, soap::iti39(nhs, &unique_id)).await?;
    if !soap::iti39_has_ccda(&body) {
        return Err(fail(user, &format!("{name}: no C-CDA document"), &mut m));
    }
    Ok(())
}
