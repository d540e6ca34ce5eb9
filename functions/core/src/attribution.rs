//! Which orders cartback takes credit for, and the metrics of each conversion. Pure: the
//! webhook reads the cart and the person, asks here, writes and prints what comes back.
//!
//! An order *recovers* its cart when the cart was sent at least one message, or when the
//! same person (any of their contact keys) was sent a message within the 7 days before the
//! order — they may have come back through another device or cart. A held-out cart is never
//! recovered: it is the baseline the lift is measured against, and its conversion counts
//! there.

use jiff::{SignedDuration, Timestamp};

use crate::cart::{CartRecord, Person};
use crate::experiment::Arm;
use crate::metrics::{Emf, NAMESPACE, Unit};

/// How long after a message an order of the same person is credited to it.
pub const ATTRIBUTION_WINDOW: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Whether an order placed at `ordered_at` recovers `cart` (as held before the order;
/// `None` for a checkout never seen), given what is known of the `person` before it.
pub fn recovered(cart: Option<&CartRecord>, person: &Person, ordered_at: Timestamp) -> bool {
    if cart.and_then(|c| c.arm) == Some(Arm::Holdout) {
        return false;
    }
    let sent_to_cart = cart.is_some_and(|c| c.sent.iter().any(|done| done.is_sent()));
    let window_start = ordered_at
        .checked_sub(ATTRIBUTION_WINDOW)
        .unwrap_or(ordered_at);
    let sent_to_person = person
        .recent_sends
        .iter()
        .any(|sent| *sent > window_start && *sent <= ordered_at);
    sent_to_cart || sent_to_person
}

/// The order's total in major units (24.90 for 2490 cents).
fn major_units(minor: i64, exponent: u32) -> f64 {
    minor as f64 / 10f64.powi(i32::try_from(exponent).unwrap_or(0))
}

/// The CloudWatch metrics of a cart just converted: `RecoveredOrders` and `RecoveredRevenue`
/// (major units; dimensions `Shop`, `Currency`) when it was recovered, and `Conversions`
/// (dimensions `Shop`, `Arm`) when it was in the experiment. Ids only, no person.
pub fn conversion_metrics(record: &CartRecord, at: Timestamp) -> Vec<Emf> {
    let mut out = Vec::new();
    if record.recovered
        && let Some(total) = record.order_total
    {
        out.push(
            Emf::new(NAMESPACE, at)
                .dimension("Shop", record.shop.as_str())
                .dimension("Currency", total.currency.code())
                .metric("RecoveredOrders", Unit::Count, 1.0)
                .metric(
                    "RecoveredRevenue",
                    Unit::None,
                    major_units(total.minor, total.currency.exponent()),
                ),
        );
    }
    if let Some(arm) = record.arm {
        out.push(
            Emf::new(NAMESPACE, at)
                .dimension("Shop", record.shop.as_str())
                .dimension("Arm", arm.as_str())
                .metric("Conversions", Unit::Count, 1.0),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revenue_is_written_in_major_units() {
        assert_eq!(major_units(2490, 2), 24.9);
        assert_eq!(major_units(1290, 0), 1290.0);
        assert_eq!(major_units(-5, 2), -0.05);
    }
}
