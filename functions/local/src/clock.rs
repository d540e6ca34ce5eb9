//! A clock that only moves when told to.

use std::sync::{Arc, Mutex};

use cartback_core::model::time::Clock;
use jiff::Timestamp;

#[derive(Debug, Clone)]
pub struct VirtualClock(Arc<Mutex<Timestamp>>);

impl VirtualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    /// Moves to `to`; time never goes backwards.
    pub fn advance_to(&self, to: Timestamp) {
        if let Ok(mut now) = self.0.lock()
            && to > *now
        {
            *now = to;
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        self.0
            .lock()
            .map_or_else(|poisoned| *poisoned.into_inner(), |now| *now)
    }
}
