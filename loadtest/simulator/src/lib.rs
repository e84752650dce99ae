//! `nhs-sim`: a local stand-in for the NHS services Xhuma calls, faithful enough that a test
//! passing against it means something against the real ones.
//!
//! One listener serves the API platform token endpoint (`oauth`), PDS FHIR R4 (`pds`), SDS
//! FHIR R4 (`sds`), the Spine Secure Proxy (`ssp`) and a GP Connect Access Record Structured
//! provider per practice (`gpconnect`), plus `/_admin/` (`admin`). Data comes from the shared
//! fixtures at start-up (`data`); faults and counters live in `faults`. Tests start it
//! in-process:
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let sim = xhuma_simulator::Simulator::builder().spawn().await?;
//! let cfg = xhuma_common::nhs::NhsConfig::for_simulator(&sim.base_url());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod admin;
pub mod data;
pub mod faults;
mod gpconnect;
mod oauth;
mod outcome;
mod pds;
mod sds;
mod server;
mod ssp;
mod state;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use xhuma_common::NhsNumber;
use xhuma_common::nhs::config::{SIMULATOR_API_KEY, SIMULATOR_CONSUMER_ASID};

pub use data::scenarios;
pub use data::{Practice, SimPatient, Store};
pub use faults::{Counters, FailNext, GpcCase, Latency, ServiceFaults, SimService};
pub use oauth::DEV_PUBLIC_KEYS;
pub use server::router;

/// Where the shared fixtures sit relative to this crate (`/work/shared/fixtures` beside the repo).
pub fn default_fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ))
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("loading fixtures: {0}")]
    Load(#[from] data::LoadError),
    #[error("keys: {0}")]
    Keys(String),
    #[error("loader task failed: {0}")]
    Join(String),
}

/// Entry point: `Simulator::builder()`.
pub struct Simulator;

impl Simulator {
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }
}

/// Step-by-step set-up of a simulator.
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    fixtures_dir: PathBuf,
    synthetic: usize,
    listen: SocketAddr,
    public_url: Option<String>,
    faults: Vec<(SimService, ServiceFaults)>,
    fail_next: Vec<(SimService, FailNext)>,
    token_lifetime: Duration,
    apps: Vec<(String, Vec<(String, String)>)>,
    consumer_asids: HashSet<String>,
    gpc_cases: Vec<(Option<NhsNumber>, GpcCase)>,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        let dev_keys = DEV_PUBLIC_KEYS
            .iter()
            .map(|(k, p)| (k.to_string(), p.to_string()))
            .collect();
        Self {
            fixtures_dir: default_fixtures_dir(),
            synthetic: 0,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            faults: Vec::new(),
            fail_next: Vec::new(),
            token_lifetime: Duration::from_secs(599),
            apps: vec![(SIMULATOR_API_KEY.to_string(), dev_keys)],
            consumer_asids: HashSet::from([SIMULATOR_CONSUMER_ASID.to_string()]),
            gpc_cases: Vec::new(),
        }
    }
}

// === impl SimulatorBuilder ===

impl SimulatorBuilder {
    pub fn fixtures_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.fixtures_dir = dir.into();
        self
    }
    /// Adds `n` generated patients (clones of the fixture records).
    pub fn synthetic(mut self, n: usize) -> Self {
        self.synthetic = n;
        self
    }
    /// Default `127.0.0.1:0` (a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
    /// The URL others reach this simulator at, when not `http://{listen addr}` (containers).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_string());
        self
    }
    /// A fixed delay for every request to `service`.
    pub fn latency(self, service: SimService, d: Duration) -> Self {
        self.latency_dist(
            service,
            Latency::Fixed {
                ms: d.as_millis() as u64,
            },
        )
    }
    pub fn latency_dist(mut self, service: SimService, l: Latency) -> Self {
        let mut f = self.fault_of(service);
        f.latency = l;
        self.faults.push((service, f));
        self
    }
    pub fn gpconnect_latency(self, d: Duration) -> Self {
        self.latency(SimService::Gpconnect, d)
    }
    /// All fault settings of a service at once.
    pub fn faults(mut self, service: SimService, f: ServiceFaults) -> Self {
        self.faults.push((service, f));
        self
    }
    /// The next `n` requests to `service` answer `status`.
    pub fn fail_next(mut self, service: SimService, n: u32, status: u16) -> Self {
        self.fail_next.push((
            service,
            FailNext {
                count: n,
                status,
                retry_after_secs: None,
            },
        ));
        self
    }
    /// Lifetime of issued access tokens (default 599 s, as the platform).
    pub fn token_lifetime(mut self, d: Duration) -> Self {
        self.token_lifetime = d;
        self
    }
    /// Registers another application: its API key and public keys (kid, PEM).
    pub fn app(mut self, api_key: impl Into<String>, keys: Vec<(String, String)>) -> Self {
        self.apps.push((api_key.into(), keys));
        self
    }
    /// Accredits another consumer ASID at the SSP.
    pub fn consumer_asid(mut self, asid: impl Into<String>) -> Self {
        self.consumer_asids.insert(asid.into());
        self
    }
    /// A named GP Connect error for one patient (`Some`) or for every request (`None`).
    pub fn gpconnect_case(mut self, nhs: Option<NhsNumber>, case: GpcCase) -> Self {
        self.gpc_cases.push((nhs, case));
        self
    }

    fn fault_of(&self, s: SimService) -> ServiceFaults {
        self.faults
            .iter()
            .rev()
            .find(|(x, _)| *x == s)
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    }

    /// Binds, loads the data and serves in a background task.
    pub async fn spawn(self) -> Result<SimHandle, SimError> {
        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: self.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: self.listen,
            source,
        })?;
        let state = self.build_state(addr).await?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "Simulator server failed.");
            }
        });
        Ok(SimHandle {
            addr,
            state,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The shared state for a simulator reachable at `addr` (or the public URL).
    pub async fn build_state(self, addr: SocketAddr) -> Result<state::SimState, SimError> {
        let base_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let (dir, n, url) = (self.fixtures_dir.clone(), self.synthetic, base_url.clone());
        let store = tokio::task::spawn_blocking(move || Store::load(&dir, &url, n))
            .await
            .map_err(|e| SimError::Join(e.to_string()))??;
        let oauth = oauth::OAuth::new(
            format!("{base_url}/oauth2/token"),
            &self.apps,
            self.token_lifetime,
        )
        .map_err(SimError::Keys)?;
        let sds = data::directory::SdsIndex::build(store.practices.values(), &base_url);
        let inner = state::Inner {
            sds,
            faults: faults::Faults::default(),
            oauth,
            base_url,
            api_keys: self.apps.iter().map(|(k, _)| k.clone()).collect(),
            consumer_asids: self.consumer_asids.clone(),
            store,
        };
        for (s, f) in self.faults {
            inner.faults.set(s, f);
        }
        for (s, f) in self.fail_next {
            inner.faults.set_fail_next(s, Some(f));
        }
        for (nhs, case) in self.gpc_cases {
            match nhs {
                Some(n) => inner.faults.set_gpc_patient(n, Some(case)),
                None => inner.faults.set_gpc_global(Some(case)),
            }
        }
        Ok(Arc::new(inner))
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    addr: SocketAddr,
    state: state::SimState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

// === impl SimHandle ===

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// e.g. `http://127.0.0.1:38211` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }
    pub async fn counters(&self) -> Counters {
        self.state.faults.counters()
    }
    pub fn patients(&self) -> Vec<SimPatient> {
        self.state.store.list()
    }
    pub fn practices(&self) -> Vec<Practice> {
        self.state.store.practices.values().cloned().collect()
    }
    pub fn set_faults(&self, service: SimService, f: ServiceFaults) {
        self.state.faults.set(service, f);
    }
    pub fn fail_next(
        &self,
        service: SimService,
        n: u32,
        status: u16,
        retry_after_secs: Option<u64>,
    ) {
        self.state.faults.set_fail_next(
            service,
            Some(FailNext {
                count: n,
                status,
                retry_after_secs,
            }),
        );
    }
    /// Asked for `asked`'s record, GP Connect serves `served`'s (`None` restores).
    pub fn swap_gpconnect_record(&self, asked: NhsNumber, served: Option<NhsNumber>) {
        self.state.faults.set_gpc_swap(asked, served);
    }

    /// GP Connect answers for `nhs` with a record that carries the NHS number but another
    /// person's demographics (`false` restores).
    pub fn gpconnect_impostor(&self, nhs: NhsNumber, on: bool) {
        self.state.faults.set_gpc_impostor(nhs, on);
    }

    /// A named GP Connect case for one patient (`Some`) or all (`None`); `case: None` clears.
    pub fn set_gpconnect_case(&self, nhs: Option<NhsNumber>, case: Option<GpcCase>) {
        match nhs {
            Some(n) => self.state.faults.set_gpc_patient(n, case),
            None => self.state.faults.set_gpc_global(case),
        }
    }
    pub fn revoke_tokens(&self) {
        self.state.oauth.revoke_all();
    }
    pub fn set_token_lifetime(&self, d: Duration) {
        self.state.oauth.set_lifetime(d);
    }
    /// Clears faults and counters.
    pub fn reset(&self) {
        self.state.faults.reset();
    }
    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
