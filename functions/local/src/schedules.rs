//! The scheduler in memory: one-shot schedules by name, fired by the runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use cartback_core::model::schedule::ScheduleSpec;
use cartback_core::ports::{PortError, Schedules};
use jiff::Timestamp;

use crate::calls::CallCounts;

#[derive(Debug, Default)]
struct State {
    pending: BTreeMap<String, ScheduleSpec>,
    /// The same schedules by (time, name): the next one to fire is the first.
    due: BTreeSet<(Timestamp, String)>,
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
        let (at, _) = state.due.first()?;
        if *at > until {
            return None;
        }
        let (_, name) = state.due.pop_first()?;
        state.pending.remove(&name)
    }

    /// When the earliest pending schedule fires.
    pub fn next_due_at(&self) -> Option<Timestamp> {
        self.lock().ok()?.due.first().map(|(at, _)| *at)
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
        if !state.pending.contains_key(&spec.name) {
            state.due.insert((spec.at, spec.name.clone()));
            state.pending.insert(spec.name.clone(), spec.clone());
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), PortError> {
        self.1.count("scheduler", "DeleteSchedule");
        let mut state = self.lock()?;
        state.deletes += 1;
        if let Some(spec) = state.pending.remove(name) {
            state.due.remove(&(spec.at, spec.name));
        }
        Ok(())
    }
}
