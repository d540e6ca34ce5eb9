//! The in-memory world as the pipeline runner (`cartback-pipeline`) sees it: the in-memory
//! table's stream and scheduler, read without faults (they play AWS, not cartback's calls),
//! beside the ports the functions run on.

use aws_lambda_events::dynamodb::EventRecord;
use cartback_core::model::schedule::WakeUp;
use cartback_pipeline::World;
use jiff::Timestamp;

use crate::{MemorySchedules, MemoryStore, RuntimeError};

/// The in-memory ports `P` (with or without faults), and the store and scheduler behind them.
pub struct MemoryWorld<P> {
    /// The table whose stream feeds the planner.
    pub store: MemoryStore,
    /// The scheduler whose due schedules wake the sender.
    pub schedules: MemorySchedules,
    /// What the functions run on.
    pub ports: P,
}

impl<P: cartback_app::Ports> World for MemoryWorld<P> {
    type Ports = P;
    type Error = RuntimeError;

    fn ports(&self) -> &P {
        &self.ports
    }

    async fn read_stream(&self) -> Result<Vec<EventRecord>, RuntimeError> {
        serde_json::from_value(serde_json::Value::Array(self.store.take_stream()))
            .map_err(|e| RuntimeError::Stream(e.to_string()))
    }

    fn next_due_at(&self) -> Option<Timestamp> {
        self.schedules.next_due_at()
    }

    async fn take_due(
        &self,
        until: Timestamp,
    ) -> Result<Option<(Timestamp, WakeUp)>, RuntimeError> {
        Ok(self
            .schedules
            .take_due(until)
            .map(|spec| (spec.at, spec.wake_up)))
    }
}
