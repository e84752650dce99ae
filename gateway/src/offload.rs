//! CPU-heavy request work, off the async runtime and bounded.
//!
//! `app` hands the MTOM split and envelope parse, and `caller` the SAML check (quick-xml
//! pre-pass, libxml2 parse, libxmlsec1), to [`Offload::run`]: each runs on tokio's blocking
//! pool, at most `XHUMA_XML_WORKERS` at once. Before this, four signed 2 MB ITI-55s parsed on
//! the runtime's own threads made `/health/live` take 2.6 s and Redis calls time out, so other
//! callers' requests failed (docs/reliability.md, hostile finding 3). Work that builds a
//! libxml2 tree also draws its size from a memory budget (`XHUMA_XML_MEMORY_BYTES`), so the
//! sum of those trees is bounded whatever the number of requests in flight.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Why work was not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OffloadError {
    /// The work alone needs more memory than the whole budget: it can never run.
    #[error("the work needs more memory than the budget")]
    OverBudget,
    /// The work panicked (the blocking task is gone; the process is not).
    #[error("the work panicked")]
    Panicked,
}

/// The blocking-pool slots and the memory budget, shared by every request.
#[derive(Clone, Debug)]
pub struct Offload {
    slots: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    /// The budget in KiB (the semaphore's unit: `acquire_many` counts in `u32`).
    memory_kib: u32,
}

// === impl Offload ===

impl Offload {
    /// `workers` pieces of work at once; `memory_bytes` for what they declare they allocate.
    pub fn new(workers: usize, memory_bytes: usize) -> Self {
        let memory_kib = u32::try_from(memory_bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        Self {
            slots: Arc::new(Semaphore::new(workers.max(1))),
            memory: Arc::new(Semaphore::new(memory_kib as usize)),
            memory_kib,
        }
    }

    /// Runs `work` on the blocking pool once a slot and `memory_bytes` of the budget are free
    /// (waiting in arrival order; the request deadline bounds the wait).
    pub async fn run<T, F>(&self, memory_bytes: usize, work: F) -> Result<T, OffloadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let kib = u32::try_from(memory_bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        if kib > self.memory_kib {
            return Err(OffloadError::OverBudget);
        }
        // Memory first: a request waiting for memory then holds no slot that smaller work
        // could use. The semaphores are never closed, so acquiring only fails if they were.
        let _memory = self
            .memory
            .acquire_many(kib)
            .await
            .map_err(|_| OffloadError::Panicked)?;
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| OffloadError::Panicked)?;
        // The request's span follows the work, so its log lines keep their context.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|_| OffloadError::Panicked)
    }

    /// Free slots, for tests and metrics.
    pub fn idle_workers(&self) -> usize {
        self.slots.available_permits()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_workers_at_once() {
        let offload = Offload::new(2, 1 << 20);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (offload, running, most) = (offload.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    offload
                        .run(0, move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_budget_is_shared_and_never_exceeded() {
        // Room for two 400 KiB pieces, eight workers.
        let offload = Offload::new(8, 1000 * 1024);
        let held = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (offload, held, most) = (offload.clone(), held.clone(), most.clone());
                tokio::spawn(async move {
                    offload
                        .run(400 * 1024, move || {
                            let now = held.fetch_add(400, Ordering::SeqCst) + 400;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            held.fetch_sub(400, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 800);
        assert_eq!(
            offload.run(2000 * 1024, || ()).await,
            Err(OffloadError::OverBudget)
        );
    }

    #[tokio::test]
    async fn a_panic_is_an_error_and_frees_its_slot() {
        let offload = Offload::new(1, 1 << 20);
        let r: Result<(), _> = offload.run(0, || panic!("boom")).await;
        assert_eq!(r, Err(OffloadError::Panicked));
        assert_eq!(offload.idle_workers(), 1);
        assert_eq!(offload.run(0, || 7).await, Ok(7));
    }
}
