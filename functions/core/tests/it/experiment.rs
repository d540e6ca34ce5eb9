//! The holdout, A/B variants and attribution in the pure core: a held-out cart is decided
//! at its first step and gets nothing, ever; a treated one is enrolled and sent; each cart
//! gets its variant's delay; orders are credited by the rules of `attribution`.

use crate::common::*;
use cartback_core::insight::attribution::conversion_metrics;
use cartback_core::insight::explain::{CartState, ExplainInput, StepStatus, explain};
use cartback_core::model::cart::{CartActivity, CartRecord, Person, Platform};
use cartback_core::model::experiment::{Arm, HoldoutShare, arm_for};
use cartback_core::model::sequence::Sequence;
use cartback_core::model::shop::Rules;
use cartback_core::rules::attribution::{ATTRIBUTION_WINDOW, recovered};
use cartback_core::rules::decide::{Decision, Situation, StopReason, cart_step, decide, due_at};
use cartback_core::rules::lifecycle::{
    Applied, apply_activity, apply_conversion, enrol, record_sent, stop,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// SHA-256 of ("holdout", shop, cart) puts this cart at 0.013: in a 10 % holdout.
const HELD: &str = "held0000000000000000000000000024";

fn cart_of(id: &str, sequence: &Sequence) -> CartRecord {
    let activity = CartActivity {
        cart: cart_id(id),
        snapshot: snapshot(Some("ada@example.com"), None),
        updated_at: t0(),
    };
    changed(apply_activity(
        None,
        &shop(),
        Platform::Shopify,
        &activity,
        sequence,
        t0(),
    ))
}

fn decide_with(
    cart: &CartRecord,
    sequence: &Sequence,
    holdout: HoldoutShare,
    now: Timestamp,
) -> Decision {
    decide(&Situation {
        cart,
        person: &Person::default(),
        sequence,
        rules: &Rules::default(),
        zone: &TimeZone::UTC,
        holdout,
        now,
    })
}

#[test]
fn the_fixture_carts_fall_where_the_tests_say() {
    assert_eq!(
        arm_for(&shop(), &cart_id(HELD), HoldoutShare::DEFAULT),
        Arm::Holdout
    );
    assert_eq!(
        arm_for(&shop(), &cart_id(CART), HoldoutShare::DEFAULT),
        Arm::Treatment
    );
}

#[test]
fn a_held_out_cart_is_decided_at_its_first_step_and_never_sent_anything() {
    let sequence = Sequence::default_sequence();
    let cart = cart_of(HELD, &sequence);
    // Before the first step is due nothing is decided yet.
    assert_eq!(
        decide_with(&cart, &sequence, HoldoutShare::DEFAULT, at(mins(30))),
        Decision::Wait {
            until: at(hours(1))
        }
    );
    assert_eq!(cart.arm, None);
    let decision = decide_with(&cart, &sequence, HoldoutShare::DEFAULT, at(hours(1)));
    assert_eq!(decision, Decision::HoldOut { step: 0 });
    let held = stop(&enrol(&cart, &decision), StopReason::Holdout);
    assert_eq!(held.arm, Some(Arm::Holdout));
    assert_eq!(held.next_due_at, None, "nothing more is scheduled");
    assert!(held.sent.is_empty());
    // A newer snapshot does not restart it.
    let later = CartActivity {
        cart: cart_id(HELD),
        snapshot: snapshot(Some("ada@example.com"), Some("+358401234567")),
        updated_at: at(hours(2)),
    };
    let updated = changed(apply_activity(
        Some(&held),
        &shop(),
        Platform::Shopify,
        &later,
        &sequence,
        at(hours(2)),
    ));
    assert_eq!(updated.next_due_at, None);
    assert_eq!(updated.stop_reason, Some(StopReason::Holdout));
    // Even were it woken again, the held-out arm is kept.
    let mut woken = updated.clone();
    woken.next_due_at = Some(at(hours(3)));
    assert_eq!(
        decide_with(&woken, &sequence, HoldoutShare::OFF, at(hours(3))),
        Decision::HoldOut { step: 0 }
    );
    // Its purchase is recorded, not credited, and it stays in the holdout.
    let bought = changed(apply_conversion(
        Some(&updated),
        &shop(),
        Platform::Shopify,
        &cartback_core::model::cart::Conversion {
            cart: Some(cart_id(HELD)),
            ..conversion(at(hours(5)))
        },
        &cart_id(HELD),
        &Person {
            recent_sends: vec![at(hours(4))],
            ..Person::default()
        },
        at(hours(5)),
    ));
    assert_eq!(bought.arm, Some(Arm::Holdout));
    assert!(!bought.recovered, "a held-out cart is never recovered");
    assert_eq!(bought.order_total, Some(eur("79.70")));
    assert_eq!(bought.converted_at, Some(at(hours(5))));
}

#[test]
fn the_holdout_comes_after_every_reason_to_stop_so_both_arms_hold_reachable_carts() {
    let sequence = Sequence::default_sequence();
    let mut cart = cart_of(HELD, &sequence);
    if let Some(snapshot) = cart.snapshot.as_mut() {
        snapshot.consent.email_marketing = false;
    }
    let decision = decide_with(&cart, &sequence, HoldoutShare::DEFAULT, at(hours(1)));
    assert_eq!(
        decision,
        Decision::Stop {
            reason: StopReason::NoConsent
        }
    );
    assert_eq!(enrol(&cart, &decision).arm, None, "in neither arm");
}

#[test]
fn a_treated_cart_is_enrolled_by_its_first_step_and_a_shop_without_holdout_treats_all() {
    let sequence = Sequence::default_sequence();
    let treated = cart_of(CART, &sequence);
    let decision = decide_with(&treated, &sequence, HoldoutShare::DEFAULT, at(hours(1)));
    assert!(
        matches!(decision, Decision::Send { step: 0, .. }),
        "{decision:?}"
    );
    assert_eq!(enrol(&treated, &decision).arm, Some(Arm::Treatment));
    // A wait does not enrol.
    let waiting = decide_with(&treated, &sequence, HoldoutShare::DEFAULT, at(mins(5)));
    assert_eq!(enrol(&treated, &waiting).arm, None);
    // With the holdout off the held cart is sent too.
    let held = cart_of(HELD, &sequence);
    let decision = decide_with(&held, &sequence, HoldoutShare::OFF, at(hours(1)));
    assert!(
        matches!(decision, Decision::Send { step: 0, .. }),
        "{decision:?}"
    );
    assert_eq!(enrol(&held, &decision).arm, Some(Arm::Treatment));
    // A cart past its first step keeps its (absent) arm: it joined before the experiment.
    let mut late = treated.clone();
    late.next_step = 1;
    assert_eq!(enrol(&late, &decision).arm, None);
}

#[test]
fn explain_says_a_cart_is_held_out_before_and_after_its_first_step() {
    let sequence = Sequence::default_sequence();
    let cart = cart_of(HELD, &sequence);
    let (nobody, rules, utc) = (Person::default(), Rules::default(), TimeZone::UTC);
    let input = |cart| ExplainInput {
        cart,
        person: &nobody,
        sequence: Some(&sequence),
        rules: &rules,
        zone: &utc,
        holdout: HoldoutShare::DEFAULT,
        now: at(mins(10)),
    };
    let before = explain(&input(&cart));
    let next = before.next.as_ref().expect("a next decision");
    assert_eq!((next.decision, next.step), ("hold out", 1));
    assert!(next.reason.contains("holdout (10 %"), "{}", next.reason);
    let held = stop(
        &enrol(&cart, &Decision::HoldOut { step: 0 }),
        StopReason::Holdout,
    );
    let after = explain(&input(&held));
    assert_eq!(after.state, CartState::Stopped);
    assert_eq!(after.arm, Some("holdout"));
    assert_eq!(after.stop_reason, Some("holdout"));
    assert!(
        after
            .summary
            .starts_with("held out: the cart is in the shop's holdout group (10 %)"),
        "{}",
        after.summary
    );
    assert!(after.steps.iter().all(|s| s.status == StepStatus::NotSent));
}

/// Step 3 sends at 2 days (`a`), or at 3 days without the offer (`later`).
const SPLIT: &str = r#"name = "split"
[[step]]
template = "reminder"
delay = "1h"
[[step]]
template = "reassure"
delay = "24h"
[[step]]
template = "offer"
delay = "2 days"
offer = { description = "10 % off", code = "COMEBACK10", valid_for = "24h" }
[[step.variant]]
name = "later"
delay = "3 days"
without_offer = true
"#;

#[test]
fn each_cart_gets_its_variants_delay_and_keeps_the_variant_it_was_sent() {
    let sequence = Sequence::parse("split.toml", SPLIT).expect("valid");
    let step3 = &sequence.steps[2];
    let (mut control, mut later) = (None, None);
    for i in 0..64 {
        let id = format!("split{i:027x}");
        match step3.assigned_variant(&shop(), &cart_id(&id), "split", 2) {
            Some("a") => control = control.or(Some(id)),
            Some("later") => later = later.or(Some(id)),
            other => panic!("{other:?}"),
        }
    }
    let after_step_two = |id: &str| {
        let cart = cart_of(id, &sequence);
        let cart = record_sent(&cart, sent_step(0, "reminder", at(hours(1))), &sequence);
        record_sent(&cart, sent_step(1, "reassure", at(hours(25))), &sequence)
    };
    let control = after_step_two(&control.expect("some cart gets `a`"));
    let later = after_step_two(&later.expect("some cart gets `later`"));
    assert_eq!(due_at(&control, &sequence, 2), Some(at(hours(25 + 48))));
    assert_eq!(control.next_due_at, Some(at(hours(25 + 48))));
    assert_eq!(due_at(&later, &sequence, 2), Some(at(hours(25 + 72))));
    assert_eq!(
        later.next_due_at,
        Some(at(hours(25 + 72))),
        "armed for its own delay"
    );
    let (_, version) = cart_step(&later, &sequence, 2).expect("a step");
    assert_eq!((version.name, version.offer), (Some("later"), None));
    let (_, version) = cart_step(&control, &sequence, 2).expect("a step");
    assert_eq!(version.name, Some("a"));
    assert!(version.offer.is_some());
    // Once sent, the variant recorded with the step is the one the cart is told it got,
    // whatever the assignment says now.
    let mut sent = sent_step(2, "offer", at(hours(25 + 48)));
    sent.variant = Some("later".to_owned());
    let recorded = record_sent(&control, sent, &sequence);
    assert_eq!(
        cart_step(&recorded, &sequence, 2).map(|(_, v)| v.name),
        Some(Some("later"))
    );
}

#[test]
fn an_order_is_recovered_when_the_cart_or_the_person_was_messaged_in_the_last_7_days() {
    let sequence = Sequence::default_sequence();
    let never_sent = cart_of(CART, &sequence);
    let sent = record_sent(
        &never_sent,
        sent_step(0, "reminder", at(hours(1))),
        &sequence,
    );
    let nobody = Person::default();
    let ordered = at(hours(30));
    assert!(
        recovered(Some(&sent), &nobody, ordered),
        "this cart was sent a message"
    );
    assert!(!recovered(Some(&never_sent), &nobody, ordered));
    assert!(
        !recovered(None, &nobody, ordered),
        "an order of a checkout never seen"
    );
    // The person was sent a message (for another cart) within the 7 days before.
    let messaged = |at: Timestamp| Person {
        recent_sends: vec![at],
        ..Person::default()
    };
    let just_inside = ordered
        .checked_sub(ATTRIBUTION_WINDOW)
        .expect("time")
        .checked_add(mins(1))
        .expect("time");
    let just_outside = ordered.checked_sub(ATTRIBUTION_WINDOW).expect("time");
    assert!(recovered(
        Some(&never_sent),
        &messaged(just_inside),
        ordered
    ));
    assert!(recovered(None, &messaged(just_inside), ordered));
    assert!(!recovered(
        Some(&never_sent),
        &messaged(just_outside),
        ordered
    ));
    assert!(
        !recovered(Some(&never_sent), &messaged(at(hours(31))), ordered),
        "a message after the order did not bring it"
    );
    // A skipped step is not a message.
    let mut skipped = sent_step(0, "reminder", at(hours(1)));
    skipped.skipped = Some(cartback_core::model::reason::SkipReason::NoEmailConsent);
    let only_skipped = record_sent(&never_sent, skipped, &sequence);
    assert!(!recovered(Some(&only_skipped), &nobody, ordered));
}

#[test]
fn a_conversion_emits_recovered_revenue_by_currency_and_conversions_by_arm() {
    let sequence = Sequence::default_sequence();
    let mut cart = cart_of(CART, &sequence);
    cart.arm = Some(Arm::Treatment);
    let sent = record_sent(&cart, sent_step(0, "reminder", at(hours(1))), &sequence);
    let bought = convert(Some(&sent), &conversion(at(hours(3))), at(hours(3)));
    assert!(bought.recovered);
    let metrics = conversion_metrics(&bought, at(hours(3)));
    assert_eq!(metrics.len(), 2);
    let recovered = metrics[0].to_json();
    assert_eq!(recovered["Shop"], SHOP);
    assert_eq!(recovered["Currency"], "EUR");
    assert_eq!(recovered["RecoveredOrders"], 1.0);
    assert_eq!(recovered["RecoveredRevenue"], 79.7);
    assert_eq!(
        recovered["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Shop", "Currency"]])
    );
    let by_arm = metrics[1].to_json();
    assert_eq!(by_arm["Arm"], "treatment");
    assert_eq!(by_arm["Conversions"], 1.0);
    assert!(
        !metrics.iter().any(|m| m.to_line().contains('@')),
        "no person"
    );
    // Not recovered, not enrolled: nothing to count.
    let unenrolled = convert(
        Some(&cart_of(CART, &sequence)),
        &conversion(at(mins(20))),
        at(mins(20)),
    );
    assert!(conversion_metrics(&unenrolled, at(mins(20))).is_empty());
    // Held out: a conversion of the holdout arm, no recovered order.
    let mut held = cart_of(HELD, &sequence);
    held.arm = Some(Arm::Holdout);
    let Applied::Changed(held_bought) = apply_conversion(
        Some(&held),
        &shop(),
        Platform::Shopify,
        &conversion(at(hours(3))),
        &cart_id(HELD),
        &Person::default(),
        at(hours(3)),
    ) else {
        panic!("converted");
    };
    let metrics = conversion_metrics(&held_bought, at(hours(3)));
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].to_json()["Arm"], "holdout");
}

#[test]
fn the_report_groups_carts_by_arm_and_variant_and_leaves_out_other_shops_and_older_carts() {
    use cartback_core::insight::report::report;
    use cartback_core::model::ids::ShopId;
    let sequence = Sequence::parse("split.toml", SPLIT).expect("valid");
    let cart = |i: u32, arm: Option<Arm>, bought: bool| {
        let mut cart = cart_of(&format!("rep{i:029x}"), &sequence);
        cart.arm = arm;
        if bought {
            cart = convert(Some(&cart), &conversion(at(hours(30))), at(hours(30)));
        }
        cart
    };
    let mut carts = vec![
        cart(1, Some(Arm::Holdout), true),
        cart(2, Some(Arm::Holdout), false),
        cart(3, Some(Arm::Treatment), true),
        cart(4, Some(Arm::Treatment), false),
        cart(5, Some(Arm::Treatment), false),
        cart(6, None, true),
    ];
    // The treated cart that bought was sent a message: recovered.
    carts[2].recovered = true;
    let mut elsewhere = cart(7, Some(Arm::Treatment), true);
    elsewhere.shop = ShopId::parse("other-shop").expect("valid");
    carts.push(elsewhere);
    let mut old = cart(8, Some(Arm::Holdout), false);
    old.last_activity_at = at(hours(-48));
    carts.push(old);

    let r = report(
        &shop(),
        HoldoutShare::DEFAULT,
        &carts,
        |name| (name == "split").then(|| sequence.clone()),
        Some(at(hours(-1))),
    );

    assert_eq!((r.holdout.carts, r.holdout.conversions), (2, 1));
    assert_eq!((r.treatment.carts, r.treatment.conversions), (3, 1));
    assert_eq!(r.treatment.recovered_orders, 1);
    assert_eq!(r.holdout.recovered_orders, 0);
    assert_eq!(
        (r.not_in_experiment.carts, r.not_in_experiment.conversions),
        (1, 1)
    );
    assert_eq!(
        r.treatment
            .revenue
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>(),
        ["€79.70"]
    );
    // Step 3 is split: every treated cart is in one of its variants, as assigned.
    assert_eq!(r.variants.iter().map(|v| v.group.carts).sum::<u64>(), 3);
    for v in &r.variants {
        assert_eq!((v.sequence.as_str(), v.step), ("split", 3));
        assert!(["a", "later"].contains(&v.variant.as_str()), "{v:?}");
    }
    // 1/3 − 1/2: a negative lift, with an interval that includes 0 (three carts and two).
    let difference = r.lift.difference.expect("both arms have carts");
    assert!((difference - (1.0 / 3.0 - 0.5)).abs() < 1e-12);
    assert!(!r.lift.ci95.expect("an interval").excludes_zero());
    // (79.70 / 3 − 79.70 / 2) × 3 = −39.85
    assert_eq!(
        r.lift.incremental_revenue[0].amount.map(|m| m.minor),
        Some(-3985)
    );
    let json = serde_json::to_value(&r).expect("serialises");
    assert_eq!(json["treatment"]["revenue"]["EUR"], "79.70");
    assert_eq!(json["holdout_share"], 0.1);
}
