use std::sync::Mutex;

use xhuma_common::queue::Stage;

/// What each stage's consumer is doing right now, for `/health/ready`: written by
/// [`super::consume`], read by `crate::ops`. A worker whose broker answers again is not ready
/// until its consumers are back on their queues (they reconnect on their own backoff, up to
/// [`super::RECONNECT_MAX`] apart).
#[derive(Debug)]
pub struct ConsumerStatus {
    stages: Mutex<Vec<(Stage, ConsumerState)>>,
}

/// One consumer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerState {
    /// Not yet consuming since the worker started.
    Starting,
    /// `basic.consume` succeeded; deliveries arrive.
    Consuming,
    /// The channel or connection failed; waiting to try again.
    Reconnecting,
    /// Shut down (draining or done).
    Stopped,
}

// === impl ConsumerStatus ===

impl ConsumerStatus {
    /// Every stage in `stages` starts as [`ConsumerState::Starting`].
    pub fn new(stages: &[Stage]) -> Self {
        Self {
            stages: Mutex::new(
                stages
                    .iter()
                    .map(|s| (*s, ConsumerState::Starting))
                    .collect(),
            ),
        }
    }

    pub(crate) fn set(&self, stage: Stage, state: ConsumerState) {
        let mut stages = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = stages.iter_mut().find(|(s, _)| *s == stage) {
            entry.1 = state;
        }
    }

    /// The state of `stage`'s consumer (`None` when this worker does not run that stage).
    pub fn get(&self, stage: Stage) -> Option<ConsumerState> {
        let stages = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        stages.iter().find(|(s, _)| *s == stage).map(|(_, st)| *st)
    }

    /// Each configured stage with its consumer's state, in configuration order.
    pub fn snapshot(&self) -> Vec<(Stage, ConsumerState)> {
        self.stages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

// === impl ConsumerState ===

impl ConsumerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerState::Starting => "starting",
            ConsumerState::Consuming => "consuming",
            ConsumerState::Reconnecting => "reconnecting",
            ConsumerState::Stopped => "stopped",
        }
    }
}
