//! Counts of the AWS operations the real adapters would make for the same work: the
//! in-memory ports mirror the adapters call for call (`cartback simulate --stats`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Calls per service and operation, e.g. `dynamodb` → `PutItem` → 7.
#[derive(Debug, Clone, Default)]
pub struct CallCounts(Arc<Mutex<BTreeMap<&'static str, BTreeMap<&'static str, u64>>>>);

impl CallCounts {
    pub fn count(&self, service: &'static str, operation: &'static str) {
        self.count_n(service, operation, 1);
    }

    /// `calls` calls of one operation (the pages of a query, the batches of a batch write).
    /// None leaves no entry, as no call would.
    pub fn count_n(&self, service: &'static str, operation: &'static str, calls: u64) {
        if calls == 0 {
            return;
        }
        if let Ok(mut counts) = self.0.lock() {
            *counts
                .entry(service)
                .or_default()
                .entry(operation)
                .or_default() += calls;
        }
    }

    pub fn get(&self, service: &str, operation: &str) -> u64 {
        self.0
            .lock()
            .ok()
            .and_then(|c| c.get(service).and_then(|ops| ops.get(operation)).copied())
            .unwrap_or(0)
    }

    /// `{"dynamodb": {"GetItem": 3, ...}, "scheduler": {...}, ...}`
    pub fn to_json(&self) -> serde_json::Value {
        let counts = self.0.lock().map(|c| c.clone()).unwrap_or_default();
        serde_json::to_value(counts).unwrap_or_default()
    }
}
