//! Stranded carts: an open cart whose due time passed more than [`GRACE`] ago with nothing
//! left to wake it (its wake-up ended in a dead-letter queue, or its schedule was never
//! created). The sweeper finds them and re-arms them ([`heal`]): the generation moves on, so
//! the planner creates a fresh schedule due now, and a late wake-up of the old generation is
//! stale and does nothing.

use jiff::{SignedDuration, Timestamp};

use crate::model::cart::CartRecord;
use crate::rules::lifecycle::{CLAIM_EXPIRY, rearm};

/// How long past its due time a cart may wait before it counts as stranded: a wake-up is
/// normally handled within minutes (Scheduler, the send queue, Lambda's retries).
pub const GRACE: SignedDuration = SignedDuration::from_hours(1);

/// Whether `cart` is stranded at `now`: open, due more than [`GRACE`] ago, and not held by a
/// live claim (a claim younger than [`CLAIM_EXPIRY`] may still be sending; an older one was
/// left by a sender that died, and the re-armed wake-up settles it as `crash_after_claim`).
pub fn stranded(cart: &CartRecord, now: Timestamp) -> bool {
    if !cart.is_open() {
        return false;
    }
    let Some(due) = cart.next_due_at else {
        return false;
    };
    if now.duration_since(due) <= GRACE {
        return false;
    }
    match cart.claimed_step {
        None => true,
        // A claim written before claims carried their time is as old as can be.
        Some(_) => cart
            .claimed_at
            .is_none_or(|at| now.duration_since(at) >= CLAIM_EXPIRY),
    }
}

/// The stranded `cart` re-armed for `now`: a new generation (so a new schedule, due at
/// once), the same step, and any orphaned claim kept for the wake-up to settle.
pub fn heal(cart: &CartRecord, now: Timestamp) -> CartRecord {
    rearm(cart, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cart::{CartStatus, Platform};
    use crate::model::ids::{CartId, ShopId};
    use crate::model::schedule::desired_schedule;
    use crate::model::sequence::Channel;
    use crate::model::table;
    use crate::rules::decide::StopReason;
    use crate::rules::lifecycle::{HeldClaim, check_wakeup, claim, held_claim, stop};

    fn at(s: &str) -> Timestamp {
        s.parse().expect("valid timestamp")
    }

    fn now() -> Timestamp {
        at("2026-11-02T12:00:00Z")
    }

    fn due(ago: SignedDuration) -> CartRecord {
        CartRecord {
            sequence: "default".into(),
            next_due_at: Some(now() - ago),
            generation: 3,
            expires_at: 1,
            ..CartRecord::new(
                ShopId::parse("kuura").expect("id"),
                CartId::parse("c-1").expect("id"),
                Platform::Shopify,
                at("2026-11-02T06:00:00Z"),
            )
        }
    }

    #[test]
    fn an_open_cart_due_over_an_hour_ago_is_stranded() {
        assert!(stranded(&due(SignedDuration::from_hours(2)), now()));
        assert!(stranded(&due(GRACE + SignedDuration::from_secs(1)), now()));
    }

    #[test]
    fn a_cart_within_the_grace_period_or_not_yet_due_is_not() {
        assert!(!stranded(&due(GRACE), now()));
        assert!(!stranded(&due(SignedDuration::from_mins(10)), now()));
        assert!(!stranded(&due(SignedDuration::from_hours(-3)), now()));
    }

    #[test]
    fn a_closed_or_unscheduled_cart_is_not() {
        let mut converted = due(SignedDuration::from_hours(2));
        converted.status = CartStatus::Converted;
        assert!(!stranded(&converted, now()));
        let stopped = stop(
            &due(SignedDuration::from_hours(2)),
            StopReason::SequenceComplete,
        );
        assert!(!stranded(&stopped, now()));
    }

    #[test]
    fn a_live_claim_holds_but_an_expired_one_does_not() {
        let cart = due(SignedDuration::from_hours(2));
        let live = claim(
            &cart,
            0,
            Channel::Email,
            now() - SignedDuration::from_secs(10),
        );
        assert!(!stranded(&live, now()));
        let orphaned = claim(&cart, 0, Channel::Email, now() - CLAIM_EXPIRY);
        assert!(stranded(&orphaned, now()));
        let mut untimed = live.clone();
        untimed.claimed_at = None;
        assert!(stranded(&untimed, now()));
    }

    #[test]
    fn heal_bumps_the_generation_and_is_due_now() {
        let cart = due(SignedDuration::from_hours(2));
        let healed = heal(&cart, now());
        assert_eq!(healed.generation, cart.generation + 1);
        assert_eq!(healed.next_due_at, Some(now()));
        assert_eq!(healed.next_step, cart.next_step);
        assert!(!stranded(&healed, now()));
        // The old generation's wake-up is stale; the new one applies.
        assert!(check_wakeup(&healed, 0, cart.generation).is_err());
        assert_eq!(check_wakeup(&healed, 0, healed.generation), Ok(()));
        let schedule = desired_schedule(&healed).expect("an open cart with a due time");
        assert_eq!(schedule.at, now());
        assert_eq!(schedule.wake_up.generation, healed.generation);
    }

    #[test]
    fn a_healed_orphaned_claim_is_settled_by_the_new_wake_up() {
        let cart = due(SignedDuration::from_hours(2));
        let orphaned = claim(
            &cart,
            0,
            Channel::Sms,
            now() - SignedDuration::from_hours(2),
        );
        assert!(stranded(&orphaned, now()));
        let healed = heal(&orphaned, now());
        assert_eq!(
            healed.claimed_step,
            Some(0),
            "the claim is kept for the wake-up"
        );
        // The planner's schedule for the healed cart wakes the claimed step, and the sender
        // sees an orphaned claim: recorded as crash_after_claim, never sent again.
        let wake = desired_schedule(&healed).expect("scheduled").wake_up;
        assert_eq!(
            held_claim(&healed, wake.step, wake.generation, now()),
            Some(HeldClaim::Orphaned {
                step: 0,
                channel: Channel::Sms
            })
        );
    }

    #[test]
    fn due_index_keys_are_sparse_and_parse_back() {
        let cart = due(SignedDuration::from_hours(2));
        let (pk, sk) = table::due_keys(&cart).expect("open and due");
        let shard = table::due_shard(&cart.shop, &cart.cart);
        assert!(shard < table::DUE_SHARDS);
        assert_eq!(pk, format!("DUE#2026-11-02#{shard}"));
        assert_eq!(sk, "1793613600000#kuura#c-1");
        assert_eq!(
            table::parse_due_sk(&sk),
            Some((cart.shop.clone(), cart.cart.clone()))
        );
        assert!(sk < table::due_sk_bound(now()));
        assert!(sk > table::due_sk_bound(now() - SignedDuration::from_hours(3)));
        let mut closed = cart.clone();
        closed.status = CartStatus::Converted;
        assert_eq!(table::due_keys(&closed), None);
        closed = cart;
        closed.next_due_at = None;
        assert_eq!(table::due_keys(&closed), None);
        assert_eq!(
            table::due_sk_bound(at("1970-01-01T00:00:00.001Z")),
            "0000000000001"
        );
    }
}
