//! When a send the mail or SMS service refused goes out again. Nothing was sent, and the
//! recipient did nothing wrong, so the step is deferred, never stopped:
//!
//! - **account side** (an identity not verified, sending paused, a spend limit reached):
//!   the operator must fix something. The delay is as long as the step has already waited
//!   since it was due, at least 15 minutes and at most 6 hours — 15, 15, 30 min, 1, 2, 4,
//!   6, 6 h … — until the account is fixed or the cart's retention ends.
//! - **throttled** (over the account's send rate, or the service briefly unavailable):
//!   a few seconds, spread at random over a window twice as long as the step has waited
//!   (2 s to 5 min), so a burst drains at the rate the account allows instead of
//!   retrying in lockstep.
//!
//! The spread comes from a hash of the cart, the step and the time, so a run is repeatable.

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::model::reason::DeferReason;

/// The first delay after an account-side refusal.
pub const ACCOUNT_FIRST: SignedDuration = SignedDuration::from_mins(15);
/// The longest delay after an account-side refusal.
pub const ACCOUNT_LONGEST: SignedDuration = SignedDuration::from_hours(6);
/// The shortest window a throttled send is spread over.
pub const THROTTLED_SHORTEST: SignedDuration = SignedDuration::from_secs(2);
/// The longest window a throttled send is spread over.
pub const THROTTLED_LONGEST: SignedDuration = SignedDuration::from_mins(5);

/// When the step refused for `reason` (`Account` or `Throttled`) is tried again. `due` is
/// when the step was first due; `salt` names the attempt (e.g. the cart and step ids).
pub fn retry_at(reason: DeferReason, due: Timestamp, now: Timestamp, salt: &str) -> Timestamp {
    let waited = now.duration_since(due).max(SignedDuration::ZERO);
    let delay = match reason {
        DeferReason::Throttled => {
            let window = waited
                .saturating_mul(2)
                .clamp(THROTTLED_SHORTEST, THROTTLED_LONGEST);
            SignedDuration::from_secs(1) + spread(window, salt, now)
        }
        _ => {
            let delay = waited.clamp(ACCOUNT_FIRST, ACCOUNT_LONGEST);
            // Up to an eighth more, so carts refused together are not all retried together.
            delay + spread(delay / 8, salt, now)
        }
    };
    now.checked_add(delay).unwrap_or(now)
}

/// A duration in `0..window`, to the millisecond, drawn from a hash of `salt` and `now`.
fn spread(window: SignedDuration, salt: &str, now: Timestamp) -> SignedDuration {
    let millis = u64::try_from(window.as_millis()).unwrap_or(0);
    if millis == 0 {
        return SignedDuration::ZERO;
    }
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(now.as_millisecond().to_le_bytes());
    let digest = hasher.finalize();
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest[..8]);
    let draw = u64::from_le_bytes(word) % millis;
    SignedDuration::from_millis(i64::try_from(draw).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a timestamp")
    }

    #[test]
    fn account_side_refusals_wait_as_long_as_the_step_has_waited_from_15_min_to_6_h() {
        let due = at("2026-05-01T10:00:00Z");
        let mut now = due;
        let mut delays = Vec::new();
        for _ in 0..9 {
            let next = retry_at(DeferReason::Account, due, now, "shop/cart/1");
            let base = now
                .duration_since(due)
                .clamp(ACCOUNT_FIRST, ACCOUNT_LONGEST);
            let delay = next.duration_since(now);
            assert!(
                delay >= base && delay <= base + base / 8,
                "{delay:?} after {base:?}"
            );
            delays.push(delay.as_mins());
            now = next;
        }
        // 15, 15+, about 30, 60, 120, 240, then 6 h (each plus up to an eighth).
        assert_eq!(delays[0] / 15, 1, "{delays:?}");
        assert!(
            delays[2] >= 30 && delays[3] >= 60 && delays[4] >= 120,
            "{delays:?}"
        );
        assert!(
            delays[6..].iter().all(|m| (360..=405).contains(m)),
            "{delays:?}"
        );
    }

    #[test]
    fn throttled_sends_spread_over_a_window_that_grows_with_the_wait() {
        let due = at("2026-05-01T10:00:00Z");
        let first: Vec<SignedDuration> = (0..200)
            .map(|i| {
                retry_at(DeferReason::Throttled, due, due, &format!("cart{i}")).duration_since(due)
            })
            .collect();
        assert!(
            first
                .iter()
                .all(|d| *d >= SignedDuration::from_secs(1) && *d < SignedDuration::from_secs(3))
        );
        let distinct: std::collections::BTreeSet<i64> =
            first.iter().map(|d| d.as_millis() as i64).collect();
        assert!(
            distinct.len() > 150,
            "spread, not lockstep: {}",
            distinct.len()
        );

        let later = due + SignedDuration::from_mins(10);
        let waits: Vec<SignedDuration> = (0..200)
            .map(|i| {
                retry_at(DeferReason::Throttled, due, later, &format!("cart{i}"))
                    .duration_since(later)
            })
            .collect();
        assert!(
            waits
                .iter()
                .all(|d| *d <= THROTTLED_LONGEST + SignedDuration::from_secs(1))
        );
        assert!(
            waits.iter().any(|d| *d > SignedDuration::from_mins(2)),
            "the window grew"
        );
    }

    #[test]
    fn the_same_attempt_gets_the_same_time() {
        let due = at("2026-05-01T10:00:00Z");
        let now = due + SignedDuration::from_secs(30);
        assert_eq!(
            retry_at(DeferReason::Throttled, due, now, "a"),
            retry_at(DeferReason::Throttled, due, now, "a")
        );
    }
}
