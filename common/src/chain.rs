//! An error with every cause it carries, for the one log line each failure gets at its edge.
//!
//! `tracing`'s `%error` prints only the outermost message ("gpconnect call failed"); an
//! operator needs the status, the Spine code or the Redis error underneath. [`Chain`] writes
//! the outermost message and then each `source()` in turn, joined by ": ", skipping a source
//! whose text the previous message already ends with (thiserror's `{0}` wrappers repeat it).
//! Our error types keep PHI out of their `Display` (NHS clients drop request URLs from
//! transport errors), so the chain is as safe to log as its head.

use std::error::Error;
use std::fmt;

/// Displays `error` and its sources: `gpconnect call failed: gpconnect: HTTP 502 INTERNAL_SERVER_ERROR`.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = self.0.to_string();
        f.write_str(&last)?;
        let mut next = self.0.source();
        // Bounded: a cyclic `source` chain (a bug, but possible) must not hang a log call.
        for _ in 0..16 {
            let Some(cause) = next else { break };
            let text = cause.to_string();
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            next = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("gpconnect call failed")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("unavailable: {0}")]
    struct Middle(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("HTTP 502")]
    struct Inner;

    #[test]
    fn every_cause_once() {
        let e = Outer(Middle(Inner));
        assert_eq!(
            Chain(&e).to_string(),
            "gpconnect call failed: unavailable: HTTP 502"
        );
    }
}
