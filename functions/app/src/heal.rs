//! The sweep: re-arming stranded carts, open carts whose due time passed more than
//! `rules::heal::GRACE` ago with nothing left to wake them (a wake-up dead-lettered, a
//! schedule create lost). Each candidate from the `due` index is read again and re-armed
//! (`rules::heal::heal`, a new generation due now) only if it is still stranded, with a write
//! conditional on the version read; the planner then creates its schedule from the stream.

use cartback_core::insight::metrics::{Emf, NAMESPACE, Unit};
use cartback_core::model::ids::log_hash;
use cartback_core::model::time::Clock;
use cartback_core::ports::{CartStore, DueIndex, PortError};
use cartback_core::rules::heal::{GRACE, heal, stranded};

use crate::Ports;
use crate::cart_write::write_cart;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Overdue carts the index listed and the sweep read.
    pub examined: usize,
    /// Carts re-armed.
    pub rearmed: usize,
}

/// Lists up to `limit` open carts due before now − `GRACE`, and re-arms those still
/// stranded when read. A cart another writer moved between the read and the write (a
/// conflict) is left to that writer. Emits `StrandedCartsRearmed` (no dimensions) when it
/// re-armed any.
pub async fn sweep<P: Ports>(ports: &P, limit: usize) -> Result<SweepReport, PortError>
where
    P::Store: DueIndex,
{
    let now = ports.clock().now();
    let before = now.checked_sub(GRACE).unwrap_or(now);
    let overdue = ports.store().overdue(before, limit).await?;
    let mut report = SweepReport::default();
    for (shop, cart) in overdue {
        report.examined += 1;
        let hash = log_hash(&[shop.as_str(), cart.as_str()]);
        let Some(read) = ports.store().cart(&shop, &cart).await? else {
            continue;
        };
        if !stranded(&read.value, now) {
            continue;
        }
        if write_cart(ports, heal(&read.value, now), read.version).await? {
            report.rearmed += 1;
            tracing::warn!(
                event = "cart_rearmed",
                cart = %hash,
                step = read.value.next_step + 1,
                due_at = read.value.next_due_at.map(tracing::field::display),
                claimed = read.value.claimed_step.is_some(),
                "a stranded cart was re-armed"
            );
        } else {
            tracing::info!(cart = %hash, "the cart moved while the sweep read it; left alone");
        }
    }
    if report.rearmed > 0 {
        ports.metrics().emit(Emf::new(NAMESPACE, now).metric(
            "StrandedCartsRearmed",
            Unit::Count,
            report.rearmed as f64,
        ));
    }
    tracing::info!(
        examined = report.examined,
        rearmed = report.rearmed,
        "sweep done"
    );
    Ok(report)
}
