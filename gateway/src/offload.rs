//! CPU-heavy request work, off the async runtime and bounded.
//!
//! `app` hands the MTOM split and envelope parse, and `caller` the SAML check (quick-xml
//! pre-pass, header tree, canonicalisation and RSA), to [`Offload::run`]: each runs on tokio's blocking
//! pool, at most `XHUMA_XML_WORKERS` at once. Before this, four signed 2 MB ITI-55s parsed on
//! the runtime's own threads made `/health/live` take 2.6 s and Redis calls time out, so other
//! callers' requests failed (docs/reliability.md, hostile finding 3). Work that builds a
//! signed-XML tree also draws its size from a memory budget (`XHUMA_XML_MEMORY_BYTES`), and each
//! request, before its body is parsed, [`Offload::reserve`]s its body plus the most its parsed
//! envelope may cost (`XHUMA_REQUEST_MEMORY_BYTES`) until it is answered: so the sum of those
//! trees is bounded whatever the number of requests in flight (sixteen 2 MB ITI-55s at once
//! had taken the gateway to 466 MiB). The two budgets are separate because a request holds its
//! reservation while it waits for the tree one; tree work waits for nothing, so nothing
//! can wait in a circle.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    memory: Budget,
    requests: Budget,
}

/// Memory, in KiB (the semaphore's unit: `acquire_many` counts in `u32`).
#[derive(Clone, Debug)]
struct Budget {
    kib: Arc<Semaphore>,
    capacity: u32,
}

/// A request's share of `XHUMA_REQUEST_MEMORY_BYTES`, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl Budget {
    fn new(bytes: usize) -> Self {
        let capacity = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        Self {
            kib: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Waits (in arrival order) until `bytes` are free.
    async fn take(&self, bytes: usize) -> Result<OwnedSemaphorePermit, OffloadError> {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        if kib > self.capacity {
            return Err(OffloadError::OverBudget);
        }
        // The semaphore is never closed, so acquiring cannot fail.
        self.kib
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(|_| OffloadError::OverBudget)
    }
}

// === impl Offload ===

impl Offload {
    /// `workers` pieces of work at once; `memory_bytes` for what they declare they allocate;
    /// `request_bytes` for the requests' reservations.
    pub fn new(workers: usize, memory_bytes: usize, request_bytes: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(workers.max(1))),
            memory: Budget::new(memory_bytes),
            requests: Budget::new(request_bytes),
        }
    }

    /// Waits until `bytes` of the request budget are free and holds them for the caller.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation, OffloadError> {
        Ok(Reservation {
            _permit: self.requests.take(bytes).await?,
        })
    }

    /// Runs `work` on the blocking pool once a slot and `memory_bytes` of the budget are free
    /// (waiting in arrival order; the request deadline bounds the wait).
    pub async fn run<T, F>(&self, memory_bytes: usize, work: F) -> Result<T, OffloadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Memory first: a request waiting for memory then holds no slot that smaller work
        // could use.
        let _memory = self.memory.take(memory_bytes).await?;
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

    /// `bytes` of the memory budget now, or `None` when they are not free at once (or others
    /// are already waiting: the semaphore hands released room to waiters first). Work that
    /// gets room this way runs where it is, already off the runtime; the rest waits in
    /// [`Self::run`].
    pub fn try_memory(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024)).ok()?;
        self.memory.kib.clone().try_acquire_many_owned(kib).ok()
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
        let offload = Offload::new(2, 1 << 20, 1 << 20);
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
        let offload = Offload::new(8, 1000 * 1024, 1 << 20);
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
    async fn reservations_wait_for_room_and_give_it_back() {
        let offload = Offload::new(1, 1 << 20, 1000 * 1024);
        let first = offload.reserve(600 * 1024).await.unwrap();
        let second = offload.reserve(600 * 1024);
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut second)
                .await
                .is_err(),
            "the second reservation must wait for the first"
        );
        drop(first);
        second.await.unwrap();
        assert_eq!(
            offload.reserve(2000 * 1024).await.unwrap_err(),
            OffloadError::OverBudget
        );
    }

    #[tokio::test]
    async fn a_panic_is_an_error_and_frees_its_slot() {
        let offload = Offload::new(1, 1 << 20, 1 << 20);
        let r: Result<(), _> = offload.run(0, || panic!("boom")).await;
        assert_eq!(r, Err(OffloadError::Panicked));
        assert_eq!(offload.idle_workers(), 1);
        assert_eq!(offload.run(0, || 7).await, Ok(7));
    }
}
