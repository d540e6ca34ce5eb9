//! The scheduler in memory: one-shot schedules by name, fired by the runtime.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cartback_core::ports::{PortError, Schedules};
use cartback_core::schedule::ScheduleSpec;
use jiff::Timestamp;

use crate::calls::CallCounts;

#[derive(Debug, Default)]
struct State {
    pending: BTreeMap<String, ScheduleSpec>,
    creates: u64,
    deletes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct MemorySchedules(Arc<Mutex<State>>, CallCounts);

impl MemorySchedules {
    /// A scheduler that counts the calls the real adapter would make.
    pub fn counting(calls: CallCounts) -> Self {
        Self(Arc::default(), calls)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, PortError> {
        self.0
            .lock()
            .map_err(|_| PortError::permanent("scheduler", "lock poisoned"))
    }

    /// Removes and returns the earliest schedule due at or before `until` (it fires and,
    /// like ActionAfterCompletion DELETE, is gone).
    pub fn take_due(&self, until: Timestamp) -> Option<ScheduleSpec> {
        let mut state = self.lock().ok()?;
        let name = state
            .pending
            .values()
            .filter(|spec| spec.at <= until)
            .min_by(|a, b| a.at.cmp(&b.at).then_with(|| a.name.cmp(&b.name)))?
            .name
            .clone();
        state.pending.remove(&name)
    }

    pub fn pending(&self) -> Vec<ScheduleSpec> {
        self.lock()
            .map(|s| s.pending.values().cloned().collect())
            .unwrap_or_default()
    }

    /// (CreateSchedule calls, DeleteSchedule calls) so far.
    pub fn calls(&self) -> (u64, u64) {
        self.lock()
            .map(|s| (s.creates, s.deletes))
            .unwrap_or((0, 0))
    }
}

impl Schedules for MemorySchedules {
    async fn create(&self, spec: &ScheduleSpec) -> Result<(), PortError> {
        self.1.count("scheduler", "CreateSchedule");
        let mut state = self.lock()?;
        state.creates += 1;
        state
            .pending
            .entry(spec.name.clone())
            .or_insert_with(|| spec.clone());
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), PortError> {
        self.1.count("scheduler", "DeleteSchedule");
        let mut state = self.lock()?;
        state.deletes += 1;
        state.pending.remove(name);
        Ok(())
    }
}
