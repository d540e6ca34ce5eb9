//! Planning schedules from a change of a cart: the scheduler holds exactly the one schedule
//! the new item asks for (`next_due_at` of an open cart), and nothing for a bought or
//! finished cart. A due time already past fires at once.

use cartback_core::model::cart::CartRecord;
use cartback_core::model::ids::log_hash;
use cartback_core::model::schedule::{ScheduleOp, reconcile};
use cartback_core::model::time::Clock;
use cartback_core::ports::{PortError, Schedules};

use crate::Ports;

/// One change of a cart item: the images before and after.
#[derive(Debug, Clone)]
pub struct CartChange {
    /// The stream record's sequence number (reported back on failure).
    pub id: String,
    pub old: Option<CartRecord>,
    pub new: Option<CartRecord>,
}

impl CartChange {
    /// The cart's hashed id for logs (as the other functions log it), if an image says.
    pub fn cart_hash(&self) -> String {
        self.new
            .as_ref()
            .or(self.old.as_ref())
            .map(|c| log_hash(&[c.shop.as_str(), c.cart.as_str()]))
            .unwrap_or_default()
    }
}

/// Applies one change to the scheduler. Idempotent: replaying it is harmless.
pub async fn apply<P: Ports>(change: &CartChange, ports: &P) -> Result<Vec<ScheduleOp>, PortError> {
    let ops = reconcile(change.old.as_ref(), change.new.as_ref());
    let now = ports.clock().now();
    for op in &ops {
        match op {
            ScheduleOp::Create(spec) => {
                // A due time already past fires at once rather than being refused.
                let mut spec = spec.clone();
                spec.at = spec.at.max(now);
                ports.schedules().create(&spec).await?;
                tracing::info!(cart = %change.cart_hash(), schedule = %spec.name, step = spec.wake_up.step + 1, at = %spec.at, "schedule created");
            }
            ScheduleOp::Delete { name } => {
                ports.schedules().delete(name).await?;
                tracing::info!(cart = %change.cart_hash(), schedule = %name, "schedule deleted");
            }
        }
    }
    Ok(ops)
}
