//! From a cart record to the one schedule it should have, and the operations that make the
//! scheduler agree with the table.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::cart::CartRecord;
use crate::model::ids::{CartId, ShopId, log_hash};

/// What the scheduler hands the sender: ids only, never a person's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WakeUp {
    pub shop: ShopId,
    pub cart: CartId,
    pub step: u32,
    pub generation: u32,
}

/// A one-shot schedule: deterministic name, UTC time, wake-up input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub name: String,
    pub at: Timestamp,
    pub wake_up: WakeUp,
}

/// `cb-<16 hex of shop+cart>-s<step>-g<generation>`: ≤ 64 chars of `[0-9A-Za-z-_.]`.
pub fn schedule_name(shop: &ShopId, cart: &CartId, step: u32, generation: u32) -> String {
    format!(
        "cb-{}-s{step}-g{generation}",
        log_hash(&[shop.as_str(), cart.as_str()])
    )
}

/// The schedule a cart record should have right now, if any.
pub fn desired_schedule(record: &CartRecord) -> Option<ScheduleSpec> {
    if !record.is_open() {
        return None;
    }
    let at = record.next_due_at?;
    Some(ScheduleSpec {
        name: schedule_name(
            &record.shop,
            &record.cart,
            record.next_step,
            record.generation,
        ),
        at,
        wake_up: WakeUp {
            shop: record.shop.clone(),
            cart: record.cart.clone(),
            step: record.next_step,
            generation: record.generation,
        },
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleOp {
    Create(ScheduleSpec),
    Delete { name: String },
}

/// The operations that move the scheduler from the old record's schedule to the new one's.
/// Creates come before deletes so a failure half-way leaves a wake-up, never none.
///
/// When the sender writes after its wake-up it marks the generation whose schedule fired
/// (`fired`); a fired one-shot schedule deleted itself (ActionAfterCompletion DELETE), so it
/// needs no DeleteSchedule call.
pub fn reconcile(old: Option<&CartRecord>, new: Option<&CartRecord>) -> Vec<ScheduleOp> {
    let fired = matches!((old, new), (Some(o), Some(n)) if n.fired == Some(o.generation));
    let before = old.and_then(desired_schedule).filter(|_| !fired);
    let after = new.and_then(desired_schedule);
    if before == after {
        return Vec::new();
    }
    let mut ops = Vec::new();
    if let Some(spec) = after {
        ops.push(ScheduleOp::Create(spec));
    }
    if let Some(spec) = before {
        // Same name with other contents cannot happen (the generation changes with the
        // time); never delete what was just (re)created.
        if !ops
            .iter()
            .any(|op| matches!(op, ScheduleOp::Create(c) if c.name == spec.name))
        {
            ops.push(ScheduleOp::Delete { name: spec.name });
        }
    }
    ops
}
