//! `explain` on a cart in each state: open (with the next step, its time and why), converted,
//! suppressed, stopped, erased; what was sent, skipped and engaged with; no personal data.

use crate::common::*;
use cartback_core::insight::explain::{
    CartState, ExplainInput, Explanation, StepStatus, duration, explain, explain_missing,
};
use cartback_core::model::cart::{CartRecord, Person, Suppression, SuppressionReason};
use cartback_core::model::experiment::HoldoutShare;
use cartback_core::model::sequence::Sequence;
use cartback_core::model::shop::{QuietHours, Rules};
use cartback_core::rules::decide::StopReason;
use cartback_core::rules::lifecycle::{record_sent, stop};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

fn new_visitor() -> Sequence {
    Sequence::builtin("new-visitor").expect("shipped")
}

fn explained(cart: &CartRecord, person: &Person, rules: &Rules, now: Timestamp) -> Explanation {
    let sequence = Sequence::builtin(&cart.sequence);
    explain(&ExplainInput {
        cart,
        person,
        sequence: sequence.as_ref(),
        rules,
        zone: &TimeZone::UTC,
        now,
        holdout: HoldoutShare::DEFAULT,
    })
}

/// Ada's new-visitor cart (last activity t0) with step 1 sent at t0 + 1 h.
fn after_step_one() -> CartRecord {
    let mut cart = new_cart();
    cart.sequence = "new-visitor".into();
    record_sent(
        &cart,
        sent_step(0, "reminder", at(hours(1))),
        &new_visitor(),
    )
}

#[test]
fn an_open_cart_names_its_next_step_its_time_and_why() {
    let mut cart = new_cart();
    cart.sequence = "new-visitor".into();
    let now = at(mins(10));
    let e = explained(&cart, &Person::default(), &Rules::default(), now);
    assert_eq!(e.state, CartState::Open);
    let next = e.next.as_ref().expect("a next step");
    assert_eq!(
        (next.decision, next.step, next.channel),
        ("send", 1, Some("email"))
    );
    assert_eq!(next.at, at(hours(1)));
    assert!(
        next.reason.starts_with("1h after the last activity"),
        "{}",
        next.reason
    );
    assert_eq!(e.steps.len(), 3);
    assert_eq!(e.steps[0].status, StepStatus::Next);
    assert_eq!(e.steps[1].status, StepStatus::Pending);
    assert_eq!(e.wake_up_at, Some(at(hours(1))));
    assert!(
        e.summary
            .starts_with("open (0 messages sent); next: send step 1 by email"),
        "{}",
        e.summary
    );
}

#[test]
fn after_an_unopened_email_the_next_step_waits_for_the_none_branch() {
    let cart = after_step_one();
    let e = explained(&cart, &Person::default(), &Rules::default(), at(hours(2)));
    assert_eq!(e.steps[0].status, StepStatus::Sent);
    assert_eq!(e.steps[0].channel, Some("email"));
    assert_eq!(e.steps[0].at, Some(at(hours(1))));
    assert_eq!(e.steps[0].message_id, "ses-0");
    let next = e.next.as_ref().expect("a next step");
    // With nothing opened the step is due 10 h after step 1, and armed for then.
    assert_eq!(e.wake_up_at, Some(at(hours(11))));
    assert_eq!((next.decision, next.step), ("send", 2));
    assert_eq!(next.at, at(hours(11)));
    assert!(
        next.reason.starts_with("10h after step 1 (nothing opened)"),
        "{}",
        next.reason
    );
    assert_eq!(e.engagement, Some("none"));
}

#[test]
fn an_opened_email_moves_the_next_step_to_the_opened_branch() {
    let mut cart = after_step_one();
    cart.sent[0].opened_at = Some(at(hours(2)));
    let e = explained(&cart, &Person::default(), &Rules::default(), at(hours(3)));
    assert_eq!(e.steps[0].opened_at, Some(at(hours(2))));
    let next = e.next.as_ref().expect("a next step");
    assert_eq!(next.at, at(hours(7)));
    assert!(next.reason.contains("(opened)"), "{}", next.reason);
    assert_eq!(e.engagement, Some("opened"));
}

#[test]
fn a_night_time_step_says_it_is_deferred_and_until_when() {
    let mut cart = new_cart();
    cart.sequence = "new-visitor".into();
    let rules = Rules {
        email_quiet_hours: Some(QuietHours::NIGHT),
        ..Rules::default()
    };
    // t0 is 08:00 UTC: step 1 falls due at 09:00, just as the quiet hours end; an activity
    // at 21:00 puts it at 22:00, inside them.
    cart.last_activity_at = at(hours(13));
    cart.next_due_at = Some(at(hours(14)));
    let e = explained(&cart, &Person::default(), &rules, at(hours(14)));
    let next = e.next.as_ref().expect("a next step");
    assert_eq!(next.decision, "defer");
    assert_eq!(
        next.at,
        "2026-11-03T09:00:00Z".parse::<Timestamp>().expect("time")
    );
    assert!(next.reason.starts_with("quiet_hours"), "{}", next.reason);
}

#[test]
fn a_converted_cart_says_when_it_was_bought_and_that_nothing_follows() {
    let cart = convert(
        Some(&after_step_one()),
        &conversion(at(hours(3))),
        at(hours(3)),
    );
    let e = explained(&cart, &Person::default(), &Rules::default(), at(hours(4)));
    assert_eq!(e.state, CartState::Converted);
    assert_eq!(e.converted_at, Some(at(hours(3))));
    assert_eq!(e.order_id.as_deref(), Some("6012345678901"));
    assert_eq!(e.order_total.as_deref(), Some("€79.70"));
    assert_eq!(e.stop_reason, Some("purchased"));
    assert!(e.next.is_none());
    assert_eq!(e.steps[0].status, StepStatus::Sent);
    assert_eq!(e.steps[1].status, StepStatus::NotSent);
    assert!(e.recovered, "a message was sent before the order");
    assert_eq!(
        e.summary,
        "bought at 2026-11-02 11:00 UTC (1 message sent; recovered by cartback): no more messages"
    );
}

#[test]
fn an_unsubscribed_person_makes_the_cart_suppressed_before_the_sender_wakes() {
    let cart = after_step_one();
    let person = Person {
        email_suppressed: Some(Suppression {
            reason: SuppressionReason::Unsubscribed,
            at: at(hours(2)),
        }),
        ..Person::default()
    };
    let e = explained(&cart, &person, &Rules::default(), at(hours(3)));
    assert_eq!(e.state, CartState::Suppressed);
    assert_eq!(e.stop_reason, Some("unsubscribed"));
    assert!(e.next.is_none());
    assert_eq!(e.suppressed.len(), 1);
    assert_eq!(
        (e.suppressed[0].channel, e.suppressed[0].reason),
        ("email", "unsubscribed")
    );
    assert!(
        e.summary
            .starts_with("unsubscribed: the person unsubscribed"),
        "{}",
        e.summary
    );
}

#[test]
fn a_stop_the_sender_recorded_is_explained_as_recorded() {
    let cart = stop(&after_step_one(), StopReason::Superseded);
    let e = explained(&cart, &Person::default(), &Rules::default(), at(hours(8)));
    assert_eq!(e.state, CartState::Stopped);
    assert_eq!(e.stop_reason, Some("superseded"));
    let bounced = stop(&after_step_one(), StopReason::Bounced);
    let e = explained(
        &bounced,
        &Person::default(),
        &Rules::default(),
        at(hours(8)),
    );
    assert_eq!(e.state, CartState::Suppressed);
}

#[test]
fn a_cart_without_a_record_is_erased() {
    let e = explain_missing(SHOP, CART, t0());
    assert_eq!(e.state, CartState::Erased);
    assert!(e.steps.is_empty() && e.next.is_none());
    assert!(
        e.summary.starts_with("no record of this cart"),
        "{}",
        e.summary
    );
}

#[test]
fn the_explanation_names_no_person() {
    let e = explained(
        &after_step_one(),
        &Person::default(),
        &Rules::default(),
        at(hours(2)),
    );
    let json = serde_json::to_string(&e).expect("serialises");
    assert!(!json.contains("ada@example.com"), "{json}");
    assert!(!json.contains("Ada"), "{json}");
    assert!(
        json.contains(r#""reach":{"email":true,"email_consent":true,"phone":false"#),
        "{json}"
    );
}

#[test]
fn durations_read_as_people_write_them() {
    assert_eq!(duration(SignedDuration::from_hours(10)), "10h");
    assert_eq!(duration(SignedDuration::from_hours(24)), "1 day");
    assert_eq!(duration(SignedDuration::from_hours(54)), "2 days 6h");
    assert_eq!(duration(SignedDuration::from_mins(90)), "1h 30m");
    assert_eq!(duration(SignedDuration::ZERO), "0m");
}

#[test]
fn a_send_without_an_answer_is_shown_as_sent_unconfirmed() {
    let mut cart = new_cart();
    cart.sequence = "new-visitor".into();
    let mut lost = sent_step(0, "reminder", at(hours(1)));
    lost.message_id = String::new();
    lost.unconfirmed = true;
    let cart = record_sent(&cart, lost, &new_visitor());

    let e = explained(&cart, &Person::default(), &Rules::default(), at(hours(2)));

    assert_eq!(e.steps[0].status, StepStatus::Sent);
    assert_eq!(e.steps[0].confirmed, Some(false));
    assert_eq!(e.steps[1].status, StepStatus::Next, "the sequence goes on");
    let confirmed = explained(
        &after_step_one(),
        &Person::default(),
        &Rules::default(),
        at(hours(2)),
    );
    assert_eq!(confirmed.steps[0].confirmed, None);
}
