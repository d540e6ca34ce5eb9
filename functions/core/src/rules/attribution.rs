//! Which orders cartback takes credit for. An order *recovers* its cart when the cart was
//! sent at least one message, or when the same person (any of their contact keys) was sent
//! a message within the 7 days before the order — they may have come back through another
//! device or cart. A held-out cart is never recovered: it is the baseline the lift is
//! measured against, and its conversion counts there.

use jiff::{SignedDuration, Timestamp};

use crate::model::cart::{CartRecord, Person};
use crate::model::experiment::Arm;

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
