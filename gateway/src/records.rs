//! The real [`crate::backend::Backend`]: PDS lookups, prefetch jobs on RabbitMQ, documents from
//! Redis, bounded waits on job completion (being built: issue 5).

use xhuma_common::config::{ConfigError, Env};

/// Settings of the record pipeline as the gateway sees it.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {}

impl PipelineConfig {
    pub fn from_env(_env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {})
    }
}
