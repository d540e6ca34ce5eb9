//! Counts of the AWS operations the real adapters would make for the same work: the
//! in-memory ports mirror the adapters call for call (`cartback simulate --stats`), and
//! the DynamoDB capacity units those calls would be billed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Calls per service and operation, e.g. `dynamodb` → `PutItem` → 7, and DynamoDB's
/// capacity units.
#[derive(Debug, Clone, Default)]
pub struct CallCounts {
    calls: Arc<Mutex<BTreeMap<&'static str, BTreeMap<&'static str, u64>>>>,
    units: Arc<Mutex<Units>>,
}

/// DynamoDB capacity units as on-demand billing counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Units {
    /// Read request units in halves: an eventually consistent read of up to 4 KB is one half.
    pub read_halves: u64,
    /// Write request units (table and index writes).
    pub write: u64,
}

/// DynamoDB bills a write per started KB of the item (at least one).
pub fn write_units(bytes: usize) -> u64 {
    bytes.div_ceil(1024).max(1) as u64
}

/// DynamoDB bills a read per started 4 KB (at least one), in halves: two for a
/// strongly consistent read, one for an eventually consistent one.
pub fn read_halves(bytes: usize, consistent: bool) -> u64 {
    let units = bytes.div_ceil(4096).max(1) as u64;
    if consistent { units * 2 } else { units }
}

impl CallCounts {
    /// Read units (in halves, see [`read_halves`]) the calls just counted consumed.
    pub fn read(&self, halves: u64) {
        if let Ok(mut units) = self.units.lock() {
            units.read_halves += halves;
        }
    }

    /// Write units the calls just counted consumed.
    pub fn write(&self, units: u64) {
        if let Ok(mut total) = self.units.lock() {
            total.write += units;
        }
    }

    /// The units counted so far.
    pub fn units(&self) -> Units {
        self.units.lock().map(|u| *u).unwrap_or_default()
    }

    pub fn count(&self, service: &'static str, operation: &'static str) {
        self.count_n(service, operation, 1);
    }

    /// `calls` calls of one operation (the pages of a query, the batches of a batch write).
    /// None leaves no entry, as no call would.
    pub fn count_n(&self, service: &'static str, operation: &'static str, calls: u64) {
        if calls == 0 {
            return;
        }
        if let Ok(mut counts) = self.calls.lock() {
            *counts
                .entry(service)
                .or_default()
                .entry(operation)
                .or_default() += calls;
        }
    }

    pub fn get(&self, service: &str, operation: &str) -> u64 {
        self.calls
            .lock()
            .ok()
            .and_then(|c| c.get(service).and_then(|ops| ops.get(operation)).copied())
            .unwrap_or(0)
    }

    /// `{"dynamodb": {"GetItem": 3, ...}, "scheduler": {...}, ...,
    /// "dynamodb_units": {"read": 12.5, "write": 31}}` (the units when DynamoDB was called).
    pub fn to_json(&self) -> serde_json::Value {
        let counts = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        let called_dynamodb = counts.contains_key("dynamodb");
        let mut json = serde_json::to_value(counts).unwrap_or_default();
        if called_dynamodb && let Some(object) = json.as_object_mut() {
            let units = self.units();
            let read = if units.read_halves.is_multiple_of(2) {
                serde_json::Value::from(units.read_halves / 2)
            } else {
                serde_json::Value::from(units.read_halves as f64 / 2.0)
            };
            object.insert(
                "dynamodb_units".to_owned(),
                serde_json::json!({ "read": read, "write": units.write }),
            );
        }
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_up_per_started_kilobyte_and_four_kilobytes() {
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(read_halves(100, true), 2);
        assert_eq!(read_halves(4097, true), 4);
        assert_eq!(read_halves(4097, false), 2);
    }

    #[test]
    fn the_units_sit_beside_the_calls_with_half_read_units_kept() {
        let counts = CallCounts::default();
        counts.count("dynamodb", "Query");
        counts.read(read_halves(10, false));
        counts.count("dynamodb", "PutItem");
        counts.write(write_units(1500));
        let json = counts.to_json();
        assert_eq!(json["dynamodb"]["Query"], 1);
        assert_eq!(json["dynamodb_units"]["read"], 0.5);
        assert_eq!(json["dynamodb_units"]["write"], 2);

        let no_dynamodb = CallCounts::default();
        no_dynamodb.count("sesv2", "SendEmail");
        assert!(no_dynamodb.to_json().get("dynamodb_units").is_none());
    }
}
