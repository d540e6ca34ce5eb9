//! The write the use cases share: one cart, conditional on the version they read.

use cartback_core::model::cart::CartRecord;
use cartback_core::ports::{CartStore, PortError, Put, WriteOutcome};

use crate::Ports;

/// Writes the cart if nobody else did since it was read at version `expected`; `false` on a
/// conflict (another writer moved it: read again, or leave it to that writer).
pub(crate) async fn write_cart<P: Ports>(
    ports: &P,
    record: CartRecord,
    expected: u64,
) -> Result<bool, PortError> {
    let outcome = ports
        .store()
        .write(vec![Put::Cart {
            record: Box::new(record),
            expected: Some(expected),
        }])
        .await?;
    Ok(outcome == WriteOutcome::Written)
}
