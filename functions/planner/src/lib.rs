//! The planner function: the only writer of schedules. It reads the cart changes of a
//! DynamoDB stream batch and plans each (`cartback_app::plan`), reporting the first failure
//! back so the batch is retried from there, in order.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use cartback_app::Ports;
pub use cartback_app::plan::{CartChange, apply};
use cartback_core::model::cart::CartRecord;
use cartback_core::model::cart_item;
use cartback_core::model::table::CART_SK_PREFIX;
use cartback_core::ports::PortError;

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

/// The cart a stream image holds (`cart_item::decode`: the compressed record, or the plain
/// attributes of an item written before it); `None` for no image.
fn image(id: &str, item: &serde_dynamo::Item) -> Result<Option<CartRecord>, ChangeError> {
    if item.is_empty() {
        return Ok(None);
    }
    cart_item::decode(item)
        .map(|cart| Some(cart.value))
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

/// Handles a stream batch. Stops at the first failure and reports it (and so everything
/// after it) for retry, so a cart's changes are never applied out of order.
pub async fn handle<P: Ports>(event: &Event, ports: &P) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for change in changes(event) {
        let failed = match change {
            Ok(change) => match apply(&change, ports).await {
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
