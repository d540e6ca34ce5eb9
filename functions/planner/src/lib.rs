//! The planner function: the only writer of schedules. For every change of a cart item on
//! the table's stream it makes the scheduler hold exactly the one schedule the new item
//! asks for (`next_due_at` of an open cart), and nothing for a bought or finished cart.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use cartback_core::cart::CartRecord;
use cartback_core::ids::log_hash;
use cartback_core::ports::{PortError, Schedules};
use cartback_core::schedule::{ScheduleOp, reconcile};
use cartback_core::table::CART_SK_PREFIX;
use cartback_core::time::Clock;

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

pub struct PlannerDeps<S, C> {
    pub schedules: S,
    pub clock: C,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("record {id}: image is not a cart item: {message}")]
    Image { id: String, message: String },
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Only cart items (`sk` = `CART#...`) concern the planner.
fn is_cart_item(record: &EventRecord) -> bool {
    let keys = &record.change.keys;
    match keys.get("sk") {
        Some(serde_dynamo::AttributeValue::S(sk)) => sk.starts_with(CART_SK_PREFIX),
        _ => false,
    }
}

fn image(id: &str, item: &serde_dynamo::Item) -> Result<Option<CartRecord>, ChangeError> {
    if item.is_empty() {
        return Ok(None);
    }
    serde_dynamo::from_item(item.clone())
        .map(Some)
        .map_err(|e| ChangeError::Image {
            id: id.to_owned(),
            message: e.to_string(),
        })
}

/// The cart changes of a stream batch, in order; other items are skipped.
pub fn changes(event: &Event) -> Vec<Result<CartChange, (String, ChangeError)>> {
    event
        .records
        .iter()
        .filter(|record| is_cart_item(record))
        .map(|record| {
            let id = record
                .change
                .sequence_number
                .clone()
                .unwrap_or_else(|| record.event_id.clone());
            let old = image(&id, &record.change.old_image).map_err(|e| (id.clone(), e))?;
            let new = image(&id, &record.change.new_image).map_err(|e| (id.clone(), e))?;
            Ok(CartChange { id, old, new })
        })
        .collect()
}

/// Applies one change to the scheduler. Idempotent: replaying it is harmless.
pub async fn apply<S: Schedules, C: Clock>(
    change: &CartChange,
    deps: &PlannerDeps<S, C>,
) -> Result<Vec<ScheduleOp>, PortError> {
    let ops = reconcile(change.old.as_ref(), change.new.as_ref());
    let now = deps.clock.now();
    for op in &ops {
        match op {
            ScheduleOp::Create(spec) => {
                // A due time already past fires at once rather than being refused.
                let mut spec = spec.clone();
                spec.at = spec.at.max(now);
                deps.schedules.create(&spec).await?;
                tracing::info!(cart = %change.cart_hash(), schedule = %spec.name, step = spec.wake_up.step, at = %spec.at, "schedule created");
            }
            ScheduleOp::Delete { name } => {
                deps.schedules.delete(name).await?;
                tracing::info!(cart = %change.cart_hash(), schedule = %name, "schedule deleted");
            }
        }
    }
    Ok(ops)
}

/// Handles a stream batch. Stops at the first failure and reports it (and so everything
/// after it) for retry, so a cart's changes are never applied out of order.
pub async fn handle<S: Schedules, C: Clock>(
    event: &Event,
    deps: &PlannerDeps<S, C>,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for change in changes(event) {
        let failed = match change {
            Ok(change) => match apply(&change, deps).await {
                Ok(_) => None,
                Err(error) => {
                    tracing::error!(record = %change.id, cart = %change.cart_hash(), service = error.service, error = %error.message, "schedule update failed; record will be retried");
                    Some(change.id)
                }
            },
            Err((id, error)) => {
                tracing::error!(record = %id, error = %error, "unreadable cart image; record will be retried then dead-lettered");
                Some(id)
            }
        };
        if let Some(id) = failed {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(id);
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}
