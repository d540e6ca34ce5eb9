//! `decide` and the lifecycle functions walked together, as the webhook and sender use them:
//! pure functions of records and timestamps we choose.

use crate::common::*;
use cartback_core::model::cart::{CartRecord, CartStatus, ContactRecord, SentStep};
use cartback_core::model::sequence::{Channel, Sequence};
use cartback_core::rules::decide::{Decision, StopReason, due_at};
use cartback_core::rules::lifecycle::{
    Applied, Stale, apply_activity, apply_conversion, check_wakeup, claim, contact_ordered, rearm,
    record_sent, release, stop,
};
use jiff::{SignedDuration, Timestamp};

fn default_sequence() -> Sequence {
    Sequence::default_sequence()
}

/// What the sender does when it wins the claim for `step` at `now`.
fn send(cart: &CartRecord, step: u32, now: Timestamp, sequence: &Sequence) -> CartRecord {
    check_wakeup(cart, step, cart.generation).expect("the wake-up is current");
    let claimed = claim(cart, step, Channel::Email, now);
    let template = sequence.steps[usize::try_from(step).expect("small")]
        .template
        .clone();
    record_sent(
        &claimed,
        SentStep {
            step,
            channel: Channel::Email,
            template,
            message_id: format!("ses-{step}"),
            sent_at: now,
            skipped: None,
            unconfirmed: false,
            opened_at: None,
            clicked_at: None,
            variant: None,
        },
        sequence,
    )
}

fn contact_who_ordered_at(cart: &CartRecord, ordered: Timestamp) -> ContactRecord {
    contact_ordered(
        None,
        &shop(),
        cart.contact.as_ref().expect("the cart has a contact"),
        ordered,
    )
    .expect("a first order is recorded")
}

// ---------------------------------------------------------------------------------------------
// Arming and the default sequence

#[test]
fn new_cart_is_armed_one_hour_after_its_last_activity_with_generation_one() {
    let cart = new_cart();
    assert_eq!(cart.status, CartStatus::Open);
    assert_eq!(cart.cart.as_str(), CART);
    assert_eq!(cart.shop.as_str(), SHOP);
    assert_eq!(cart.last_activity_at, t0());
    assert_eq!(cart.source_updated_at, t0());
    assert_eq!(cart.next_step, 0);
    assert_eq!(cart.next_due_at, Some(at(hours(1))));
    assert_eq!(cart.generation, 1);
    assert_eq!(cart.sequence, "default");
    assert_eq!(cart.claimed_step, None);
    assert_eq!(cart.stop_reason, None);
    assert_eq!(cart.contact, Some(email("ada@example.com").key()));
    // Kept 30 days after its last activity by default.
    assert_eq!(cart.expires_at, (t0() + hours(24 * 30)).as_second());
}

#[test]
fn activity_received_before_its_updated_at_counts_from_receipt() {
    // A shop clock running ahead must not push the first reminder later than "now + 1 h".
    let cart = apply(None, &activity(at(mins(30))), t0());
    assert_eq!(cart.last_activity_at, t0());
    assert_eq!(cart.source_updated_at, at(mins(30)));
    assert_eq!(cart.next_due_at, Some(at(hours(1))));
}

#[test]
fn default_sequence_sends_at_1_24_and_72_hours_then_completes() {
    let sequence = default_sequence();
    let mut cart = new_cart();
    let mut sent_at = Vec::new();
    let mut generations = vec![cart.generation];
    while let Some(due) = cart.next_due_at {
        let step = cart.next_step;
        let just_before = due
            .checked_sub(SignedDuration::from_secs(1))
            .expect("range");
        assert_eq!(
            decide_for(&cart, &[], &sequence, just_before),
            Decision::Wait { until: due },
            "step {step} a second early"
        );
        assert_eq!(
            decide_for(&cart, &[], &sequence, due),
            Decision::Send {
                step,
                channel: Channel::Email
            }
        );
        cart = send(&cart, step, due, &sequence);
        assert_eq!(cart.next_step, step + 1);
        assert_eq!(cart.claimed_step, None);
        sent_at.push(due);
        generations.push(cart.generation);
        assert!(sent_at.len() <= 3, "more than three sends");
    }
    let offsets: Vec<i64> = sent_at
        .iter()
        .map(|t| t.duration_since(t0()).as_hours())
        .collect();
    assert_eq!(offsets, vec![1, 24, 72]);
    assert_eq!(
        cart.sent
            .iter()
            .map(|s| s.template.as_str())
            .collect::<Vec<_>>(),
        vec!["reminder", "reassure", "offer"]
    );
    assert!(
        generations.windows(2).all(|w| w[0] < w[1]),
        "{generations:?}"
    );
    assert_eq!(cart.stop_reason, Some(StopReason::SequenceComplete));
    assert_eq!(
        decide_for(&cart, &[], &sequence, at(hours(24 * 30))),
        Decision::Stop {
            reason: StopReason::SequenceComplete
        }
    );
}

#[test]
fn a_late_wake_up_does_not_push_later_steps_back() {
    let sequence = default_sequence();
    let cart = new_cart();
    // The scheduler fires ten minutes late.
    let cart = send(&cart, 0, at(hours(1) + mins(10)), &sequence);
    assert_eq!(cart.next_due_at, Some(at(hours(24))));
}

#[test]
fn previous_step_delays_count_from_when_the_previous_step_was_sent() {
    let sequence = Sequence::parse(
        "chain.toml",
        "name = \"chain\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"2h\"\nfrom = \"previous_step\"\n",
    )
    .expect("valid sequence");
    let cart = changed(apply_activity(
        None,
        &shop(),
        cartback_core::model::cart::Platform::Shopify,
        &activity(t0()),
        &sequence,
        t0(),
    ));
    assert_eq!(cart.next_due_at, Some(at(hours(1))));
    let cart = send(&cart, 0, at(hours(3)), &sequence);
    assert_eq!(cart.next_due_at, Some(at(hours(5))));
    assert_eq!(due_at(&cart, &sequence, 1), Some(at(hours(5))));
    assert_eq!(due_at(&cart, &sequence, 2), None);
}

#[test]
fn sent_steps_are_remembered_with_channel_and_time() {
    let sequence = default_sequence();
    let cart = send(&new_cart(), 0, at(hours(1)), &sequence);
    assert_eq!(
        cart.sent,
        vec![SentStep {
            step: 0,
            channel: Channel::Email,
            template: "reminder".to_owned(),
            message_id: "ses-0".to_owned(),
            sent_at: at(hours(1)),
            skipped: None,
            unconfirmed: false,
            opened_at: None,
            clicked_at: None,
            variant: None,
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// Lazy re-arm

#[test]
fn update_after_arming_keeps_the_schedule_but_the_wake_up_waits() {
    let sequence = default_sequence();
    let armed = new_cart();
    let updated = apply(Some(&armed), &activity(at(mins(20))), at(mins(20)));
    assert_eq!(updated.next_due_at, armed.next_due_at, "lazy re-arm");
    assert_eq!(updated.generation, armed.generation);
    assert_eq!(updated.last_activity_at, at(mins(20)));
    assert_eq!(updated.source_updated_at, at(mins(20)));

    // The old schedule fires at +1 h: too early for the moved cart.
    check_wakeup(&updated, 0, armed.generation).expect("the old wake-up still applies");
    let until = at(hours(1) + mins(20));
    assert_eq!(
        decide_for(&updated, &[], &sequence, at(hours(1))),
        Decision::Wait { until }
    );
    let rearmed = rearm(&updated, until);
    assert_eq!(rearmed.next_due_at, Some(until));
    assert_eq!(rearmed.generation, armed.generation + 1);
    assert_eq!(
        check_wakeup(&rearmed, 0, armed.generation),
        Err(Stale::Generation)
    );
    assert_eq!(
        decide_for(&rearmed, &[], &sequence, until),
        Decision::Send {
            step: 0,
            channel: Channel::Email
        }
    );
}

#[test]
fn an_update_replaces_the_snapshot_and_contact() {
    let armed = new_cart();
    let mut newer = activity(at(mins(5)));
    newer.snapshot.email = Some(email("grace@example.com"));
    newer.snapshot.total = eur("49.80");
    let updated = apply(Some(&armed), &newer, at(mins(5)));
    assert_eq!(
        updated.snapshot.as_ref().map(|s| s.total),
        Some(eur("49.80"))
    );
    assert_eq!(updated.contact, Some(email("grace@example.com").key()));
}

#[test]
fn stale_activity_is_ignored() {
    let cart = apply(None, &activity(at(mins(20))), at(mins(20)));
    for updated_at in [at(mins(20)), at(mins(19)), t0()] {
        assert_eq!(
            apply_activity(
                Some(&cart),
                &shop(),
                cartback_core::model::cart::Platform::Shopify,
                &activity(updated_at),
                &default_sequence(),
                at(mins(30)),
            ),
            Applied::Stale,
            "updated_at {updated_at}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Conversions

#[test]
fn bought_cart_gets_no_second_reminder() {
    let sequence = default_sequence();
    let cart = send(&new_cart(), 0, at(hours(1)), &sequence);
    assert!(cart.next_due_at.is_some());
    let bought = convert(Some(&cart), &conversion(at(hours(2))), at(hours(2)));
    assert_eq!(bought.status, CartStatus::Converted);
    assert_eq!(bought.next_due_at, None);
    assert_eq!(bought.converted_at, Some(at(hours(2))));
    assert_eq!(bought.order_id.as_deref(), Some("6012345678901"));
    assert_eq!(bought.order_total, Some(eur("79.70")));
    assert_eq!(bought.stop_reason, Some(StopReason::Purchased));
    assert_eq!(
        decide_for(&bought, &[], &sequence, at(hours(24))),
        Decision::Stop {
            reason: StopReason::Purchased
        }
    );
    assert_eq!(
        check_wakeup(&bought, 1, bought.generation),
        Err(Stale::Closed)
    );
}

#[test]
fn activity_after_conversion_is_already_converted() {
    let bought = convert(Some(&new_cart()), &conversion(at(mins(30))), at(mins(30)));
    assert_eq!(
        apply_activity(
            Some(&bought),
            &shop(),
            cartback_core::model::cart::Platform::Shopify,
            &activity(at(hours(2))),
            &default_sequence(),
            at(hours(2)),
        ),
        Applied::AlreadyConverted
    );
    assert_eq!(
        apply_conversion(
            Some(&bought),
            &shop(),
            cartback_core::model::cart::Platform::Shopify,
            &conversion(at(hours(3))),
            &cart_id(CART),
            &cartback_core::model::cart::Person::default(),
            at(hours(3)),
        ),
        Applied::AlreadyConverted
    );
}

#[test]
fn conversion_of_an_unknown_cart_creates_a_converted_record() {
    let bought = convert(None, &conversion(at(mins(30))), at(mins(30)));
    assert_eq!(bought.status, CartStatus::Converted);
    assert_eq!(bought.cart.as_str(), CART);
    assert_eq!(bought.snapshot, None);
    assert_eq!(bought.next_due_at, None);
    assert_eq!(bought.converted_at, Some(at(mins(30))));
    assert_eq!(bought.order_id.as_deref(), Some("6012345678901"));
    assert_eq!(bought.contact, Some(email("ada@example.com").key()));
    assert_eq!(
        bought.expires_at,
        (at(mins(30)) + hours(24 * 30)).as_second()
    );
    // A late checkout webhook cannot reopen it.
    assert_eq!(
        apply_activity(
            Some(&bought),
            &shop(),
            cartback_core::model::cart::Platform::Shopify,
            &activity(t0()),
            &default_sequence(),
            at(hours(1)),
        ),
        Applied::AlreadyConverted
    );
    assert_eq!(
        decide_for(&bought, &[], &default_sequence(), at(hours(1))),
        Decision::Stop {
            reason: StopReason::Purchased
        }
    );
}

#[test]
fn conversion_time_is_never_later_than_receipt() {
    let bought = convert(Some(&new_cart()), &conversion(at(hours(5))), at(hours(2)));
    assert_eq!(bought.converted_at, Some(at(hours(2))));
}

#[test]
fn a_purchase_elsewhere_after_the_last_activity_stops_the_cart() {
    let sequence = default_sequence();
    let cart = new_cart();
    let contact = contact_who_ordered_at(&cart, at(mins(30)));
    assert_eq!(
        decide_for(
            &cart,
            std::slice::from_ref(&contact),
            &sequence,
            at(hours(1))
        ),
        Decision::Stop {
            reason: StopReason::PurchasedElsewhere
        }
    );
}

#[test]
fn an_order_before_the_last_activity_does_not_stop_the_cart() {
    let sequence = default_sequence();
    let cart = new_cart();
    let contact = contact_who_ordered_at(&cart, t0() - hours(24 * 7));
    assert_eq!(
        decide_for(
            &cart,
            std::slice::from_ref(&contact),
            &sequence,
            at(hours(1))
        ),
        Decision::Send {
            step: 0,
            channel: Channel::Email
        }
    );
}

#[test]
fn a_contact_without_orders_does_not_stop_the_cart() {
    let cart = new_cart();
    // Built from its stored form, so the test does not depend on every field of the struct.
    let contact: ContactRecord = serde_json::from_value(serde_json::json!({
        "shop": SHOP,
        "key": cart.contact.as_ref().expect("contact").as_str(),
        "expires_at": 0,
    }))
    .expect("a stored contact without orders");
    assert_eq!(contact.last_order_at, None);
    assert_eq!(
        decide_for(
            &cart,
            std::slice::from_ref(&contact),
            &default_sequence(),
            at(hours(1))
        ),
        Decision::Send {
            step: 0,
            channel: Channel::Email
        }
    );
}

#[test]
fn contact_ordered_only_moves_forward() {
    let key = email("ada@example.com").key();
    let first = contact_ordered(None, &shop(), &key, at(hours(2))).expect("first order");
    assert_eq!(first.last_order_at, Some(at(hours(2))));
    assert_eq!(first.key, key);
    assert!(first.expires_at > at(hours(2)).as_second());
    assert_eq!(
        contact_ordered(Some(&first), &shop(), &key, at(hours(1))),
        None
    );
    assert_eq!(
        contact_ordered(Some(&first), &shop(), &key, at(hours(2))),
        None
    );
    let later = contact_ordered(Some(&first), &shop(), &key, at(hours(3))).expect("later order");
    assert_eq!(later.last_order_at, Some(at(hours(3))));
}

// ---------------------------------------------------------------------------------------------
// Missing contact

#[test]
fn cart_without_email_or_phone_stops_for_no_contact() {
    let cart = apply(None, &activity_with(snapshot(None, None), t0()), t0());
    assert_eq!(cart.contact, None);
    assert_eq!(
        decide_for(&cart, &[], &default_sequence(), at(hours(1))),
        Decision::Stop {
            reason: StopReason::NoContact
        }
    );
}

#[test]
fn cart_with_only_a_phone_stops_for_no_email() {
    let cart = apply(
        None,
        &activity_with(snapshot(None, Some("+358401234567")), t0()),
        t0(),
    );
    assert_eq!(cart.contact, Some(phone("+358401234567").key()));
    assert_eq!(
        decide_for(&cart, &[], &default_sequence(), at(hours(1))),
        Decision::Stop {
            reason: StopReason::NoEmail
        }
    );
}

#[test]
fn email_typed_after_a_no_contact_stop_rearms_the_cart() {
    let sequence = default_sequence();
    let cart = apply(None, &activity_with(snapshot(None, None), t0()), t0());
    let Decision::Stop { reason } = decide_for(&cart, &[], &sequence, at(hours(1))) else {
        panic!("expected a stop");
    };
    let stopped = stop(&cart, reason);
    assert_eq!(stopped.next_due_at, None);
    assert_eq!(stopped.stop_reason, Some(StopReason::NoContact));
    assert_eq!(stopped.generation, cart.generation + 1);

    let typed = apply(Some(&stopped), &activity(at(hours(2))), at(hours(2)));
    assert_eq!(typed.next_due_at, Some(at(hours(3))));
    assert_eq!(typed.generation, stopped.generation + 1);
    assert_eq!(typed.stop_reason, None);
    assert_eq!(typed.contact, Some(email("ada@example.com").key()));
    check_wakeup(&typed, 0, typed.generation).expect("new wake-up applies");
    assert_eq!(
        decide_for(&typed, &[], &sequence, at(hours(3))),
        Decision::Send {
            step: 0,
            channel: Channel::Email
        }
    );
}

#[test]
fn email_typed_after_a_no_email_stop_rearms_the_cart() {
    let cart = apply(
        None,
        &activity_with(snapshot(None, Some("+358401234567")), t0()),
        t0(),
    );
    let stopped = stop(&cart, StopReason::NoEmail);
    let mut with_email = activity(at(hours(2)));
    with_email.snapshot.phone = Some(phone("+358401234567"));
    let typed = apply(Some(&stopped), &with_email, at(hours(2)));
    assert_eq!(typed.next_due_at, Some(at(hours(3))));
    assert!(typed.generation > stopped.generation);
    assert_eq!(typed.contact, Some(email("ada@example.com").key()));
}

#[test]
fn a_completed_sequence_is_not_rearmed_by_new_activity() {
    let sequence = default_sequence();
    let mut cart = new_cart();
    while let Some(due) = cart.next_due_at {
        cart = send(&cart, cart.next_step, due, &sequence);
    }
    let later = apply(Some(&cart), &activity(at(hours(100))), at(hours(100)));
    assert_eq!(later.next_due_at, None);
    assert_eq!(later.stop_reason, Some(StopReason::SequenceComplete));
}

// ---------------------------------------------------------------------------------------------
// Wake-ups and claims

#[test]
fn check_wakeup_accepts_only_the_current_step_and_generation() {
    let cart = new_cart();
    assert_eq!(check_wakeup(&cart, 0, 1), Ok(()));
    assert_eq!(check_wakeup(&cart, 0, 2), Err(Stale::Generation));
    assert_eq!(check_wakeup(&cart, 0, 0), Err(Stale::Generation));
    assert_eq!(check_wakeup(&cart, 1, 1), Err(Stale::Step));
}

#[test]
fn check_wakeup_rejects_a_claimed_step() {
    let claimed = claim(&new_cart(), 0, Channel::Email, at(hours(1)));
    assert_eq!(claimed.claimed_step, Some(0));
    assert_eq!(check_wakeup(&claimed, 0, 1), Err(Stale::Claimed));
    let released = release(&claimed);
    assert_eq!(released.claimed_step, None);
    assert_eq!(check_wakeup(&released, 0, 1), Ok(()));
}

#[test]
fn a_claim_is_live_until_it_expires_then_orphaned() {
    use cartback_core::rules::lifecycle::{CLAIM_EXPIRY, HeldClaim, held_claim};
    let cart = new_cart();
    assert_eq!(
        held_claim(&cart, 0, 1, at(hours(1))),
        None,
        "nothing claimed"
    );
    let claimed = claim(&cart, 0, Channel::Sms, at(hours(1)));
    assert_eq!(
        held_claim(
            &claimed,
            0,
            1,
            at(hours(1)) + CLAIM_EXPIRY - jiff::SignedDuration::from_secs(1)
        ),
        Some(HeldClaim::Live)
    );
    assert_eq!(
        held_claim(&claimed, 0, 1, at(hours(1)) + CLAIM_EXPIRY),
        Some(HeldClaim::Orphaned {
            step: 0,
            channel: Channel::Sms
        })
    );
    assert_eq!(
        held_claim(&claimed, 0, 2, at(hours(2))),
        None,
        "another generation's wake-up"
    );
    assert_eq!(
        held_claim(&claimed, 1, 1, at(hours(2))),
        None,
        "another step's wake-up"
    );
    let released = release(&claimed);
    assert_eq!(
        (released.claimed_at, released.claimed_channel),
        (None, None)
    );
}

#[test]
fn check_wakeup_rejects_a_closed_cart() {
    let stopped = stop(&new_cart(), StopReason::NoContact);
    assert_eq!(
        check_wakeup(&stopped, 0, stopped.generation),
        Err(Stale::Closed)
    );
    assert_eq!(check_wakeup(&stopped, 0, 1), Err(Stale::Generation));
}

#[test]
fn a_duplicate_wake_up_after_a_send_is_stale() {
    let sequence = default_sequence();
    let cart = new_cart();
    let sent = send(&cart, 0, at(hours(1)), &sequence);
    assert_eq!(
        check_wakeup(&sent, 0, cart.generation),
        Err(Stale::Generation)
    );
    assert_eq!(check_wakeup(&sent, 0, sent.generation), Err(Stale::Step));
}

#[test]
fn a_step_sent_after_the_cart_converted_arms_nothing() {
    let sequence = default_sequence();
    let claimed = claim(&new_cart(), 0, Channel::Email, at(hours(1)));
    let bought = convert(Some(&claimed), &conversion(at(hours(1))), at(hours(1)));
    let recorded = record_sent(
        &bought,
        SentStep {
            step: 0,
            channel: Channel::Email,
            template: "reminder".to_owned(),
            message_id: "ses-0".to_owned(),
            sent_at: at(hours(1)),
            skipped: None,
            unconfirmed: false,
            opened_at: None,
            clicked_at: None,
            variant: None,
        },
        &sequence,
    );
    assert_eq!(recorded.status, CartStatus::Converted);
    assert_eq!(recorded.next_due_at, None);
    assert_eq!(recorded.claimed_step, None);
}

#[test]
fn a_cart_is_kept_its_shop_s_retention_after_its_last_activity_or_its_purchase() {
    let mut cart = CartRecord {
        converted_at: Some(at(hours(5))),
        ..new_cart()
    };
    cartback_core::rules::lifecycle::retain(&mut cart, hours(24 * 7));
    assert_eq!(cart.expires_at, (at(hours(5)) + hours(24 * 7)).as_second());

    cart.converted_at = None;
    cartback_core::rules::lifecycle::retain(&mut cart, hours(24 * 7));
    assert_eq!(cart.expires_at, (t0() + hours(24 * 7)).as_second());
}

#[test]
fn a_shop_s_cart_retention_is_1_to_365_days() {
    use cartback_core::model::shop::RetentionDays;
    assert_eq!(RetentionDays::default().days(), 30);
    assert!(RetentionDays::new(0).is_err());
    assert!(RetentionDays::new(366).is_err());
    assert_eq!(
        RetentionDays::new(7).map(|d| d.duration()),
        Ok(hours(24 * 7))
    );
}
