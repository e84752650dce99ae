//! The work of each stage. Handlers take a decoded job and return what happened; the
//! consumer decides about the message.

pub mod crosscheck;
pub mod gpconnect;
pub mod sds;

/// What a handler did with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The document is in the cache.
    Cached,
    /// The job was handed on to the next stage.
    Forwarded,
    /// A document at least as new as the job's request is already cached (single-flight).
    AlreadyFresh,
    /// Another job holds the patient's lease (this one outlived its own): that job's result
    /// is the one waiters get, so this one does no upstream work.
    Yielded,
    /// The document was stored, but a job with a later fencing token had already made its
    /// own current.
    Superseded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Cached => "cached",
            Outcome::Forwarded => "forwarded",
            Outcome::AlreadyFresh => "already_fresh",
            Outcome::Yielded => "yielded",
            Outcome::Superseded => "superseded",
        }
    }
}
