//! Schedule names and the planner's reconcile: which Scheduler calls a record change needs.

use std::collections::HashSet;

use crate::common::*;
use cartback_core::model::cart::{CartRecord, SentStep};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::schedule::{
    ScheduleOp, ScheduleSpec, WakeUp, desired_schedule, reconcile, schedule_name,
};
use cartback_core::model::sequence::{Channel, Sequence};
use cartback_core::rules::decide::StopReason;
use cartback_core::rules::lifecycle::{claim, rearm, record_sent, stop};

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn sent_first_step(cart: &CartRecord) -> CartRecord {
    record_sent(
        &claim(cart, 0, Channel::Email, t0()),
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
        &Sequence::default_sequence(),
    )
}

#[test]
fn schedule_names_are_short_and_use_only_allowed_characters() {
    let longest_shop = ShopId::parse("s".repeat(64)).expect("64-char shop id");
    let longest_cart = CartId::parse(":".repeat(128)).expect("128-char cart id");
    for (shop, cart) in [
        (shop(), cart_id(CART)),
        (longest_shop.clone(), longest_cart.clone()),
        (shop(), cart_id("c1-68be3bdc331cfec1e79d05d8c4caa7d7")),
        (shop(), cart_id("a.b_c:d")),
    ] {
        for (step, generation) in [(0, 0), (0, 1), (4, 17), (u32::MAX, u32::MAX)] {
            let name = schedule_name(&shop, &cart, step, generation);
            assert!(is_valid_name(&name), "{name:?} ({} chars)", name.len());
        }
    }
}

#[test]
fn schedule_names_are_deterministic() {
    let a = schedule_name(&shop(), &cart_id(CART), 1, 2);
    let b = schedule_name(&shop(), &cart_id(CART), 1, 2);
    assert_eq!(a, b);
}

#[test]
fn schedule_names_never_contain_the_cart_or_shop_id() {
    let name = schedule_name(&shop(), &cart_id(CART), 0, 1);
    assert!(!name.contains(CART), "{name}");
    assert!(!name.contains("demo-shop"), "{name}");
}

#[test]
fn schedule_names_differ_per_step_generation_cart_and_shop() {
    let other_shop = ShopId::parse("demo-shop-jp.myshopify.com").expect("valid");
    let carts = [cart_id(CART), cart_id("9f8e7d6c5b4a39281706f5e4d3c2b1a0")];
    let mut names = HashSet::new();
    let mut count = 0;
    for shop in [shop(), other_shop] {
        for cart in &carts {
            for step in 0..3 {
                for generation in 0..12 {
                    names.insert(schedule_name(&shop, cart, step, generation));
                    count += 1;
                }
            }
        }
    }
    assert_eq!(names.len(), count);
}

#[test]
fn schedule_names_do_not_collide_when_shop_and_cart_split_differently() {
    // "ab" + "c" and "a" + "bc" are different carts of different shops.
    let one = schedule_name(&ShopId::parse("ab").expect("valid"), &cart_id("c"), 0, 1);
    let two = schedule_name(&ShopId::parse("a").expect("valid"), &cart_id("bc"), 0, 1);
    assert_ne!(one, two);
}

#[test]
fn a_new_armed_cart_gets_one_create_at_its_due_time() {
    let cart = new_cart();
    let ops = reconcile(None, Some(&cart));
    assert_eq!(
        ops,
        vec![ScheduleOp::Create(ScheduleSpec {
            name: schedule_name(&shop(), &cart_id(CART), 0, 1),
            at: at(hours(1)),
            wake_up: WakeUp {
                shop: shop(),
                cart: cart_id(CART),
                step: 0,
                generation: 1,
            },
        })]
    );
}

#[test]
fn an_unchanged_schedule_needs_no_calls() {
    let cart = new_cart();
    assert_eq!(reconcile(Some(&cart), Some(&cart)), vec![]);
    // A cart update re-arms lazily: the schedule stays as it is.
    let updated = apply(Some(&cart), &activity(at(mins(20))), at(mins(20)));
    assert_ne!(updated, cart);
    assert_eq!(reconcile(Some(&cart), Some(&updated)), vec![]);
    assert_eq!(reconcile(None, None), vec![]);
}

#[test]
fn a_converted_cart_gets_its_schedule_deleted() {
    let cart = new_cart();
    let bought = convert(Some(&cart), &conversion(at(mins(30))), at(mins(30)));
    assert_eq!(
        reconcile(Some(&cart), Some(&bought)),
        vec![ScheduleOp::Delete {
            name: schedule_name(&shop(), &cart_id(CART), 0, 1),
        }]
    );
    assert_eq!(desired_schedule(&bought), None);
}

#[test]
fn a_conversion_of_an_unknown_cart_schedules_nothing() {
    let bought = convert(None, &conversion(at(mins(30))), at(mins(30)));
    assert_eq!(reconcile(None, Some(&bought)), vec![]);
}

// Only the sender bumps the generation of a cart that has a schedule, and it runs only when
// that schedule fired; a fired one-shot schedule deletes itself (ActionAfterCompletion
// DELETE). So reconcile creates the next schedule and sends no DeleteSchedule for it.

#[test]
fn a_cart_stopped_at_wake_up_needs_no_calls() {
    let cart = new_cart();
    let stopped = stop(&cart, StopReason::NoEmail);
    assert!(stopped.generation > cart.generation);
    assert_eq!(reconcile(Some(&cart), Some(&stopped)), vec![]);
}

#[test]
fn an_erased_or_expired_cart_gets_its_schedule_deleted() {
    let cart = new_cart();
    assert_eq!(
        reconcile(Some(&cart), None),
        vec![ScheduleOp::Delete {
            name: schedule_name(&shop(), &cart_id(CART), 0, 1),
        }]
    );
}

#[test]
fn moving_to_the_next_step_creates_its_schedule_and_leaves_the_fired_one_to_delete_itself() {
    let cart = new_cart();
    let sent = sent_first_step(&cart);
    assert_eq!((sent.next_step, sent.generation), (1, 2));
    // The planner sees the claim first, then the sent step.
    let claimed = claim(&cart, 0, Channel::Email, t0());
    assert_eq!(reconcile(Some(&cart), Some(&claimed)), vec![]);
    assert_eq!(
        reconcile(Some(&claimed), Some(&sent)),
        vec![ScheduleOp::Create(ScheduleSpec {
            name: schedule_name(&shop(), &cart_id(CART), 1, 2),
            at: at(hours(24)),
            wake_up: WakeUp {
                shop: shop(),
                cart: cart_id(CART),
                step: 1,
                generation: 2,
            },
        })]
    );
    // Never a DeleteSchedule of the schedule that is being created.
    let ops = reconcile(Some(&cart), Some(&sent));
    assert!(
        !ops.iter().any(|op| matches!(op, ScheduleOp::Delete { name }
            if *name == schedule_name(&shop(), &cart_id(CART), 1, 2))),
        "{ops:?}"
    );
    assert!(
        matches!(ops.first(), Some(ScheduleOp::Create(spec)) if spec.wake_up.step == 1),
        "create first: {ops:?}"
    );
}

#[test]
fn a_rearm_creates_a_later_schedule_under_a_new_name() {
    let cart = new_cart();
    let later = rearm(&cart, at(hours(2)));
    let ops = reconcile(Some(&cart), Some(&later));
    let [ScheduleOp::Create(created)] = ops.as_slice() else {
        panic!("one create: {ops:?}");
    };
    assert_eq!(created.at, at(hours(2)));
    assert_eq!(created.wake_up.step, 0);
    assert_eq!(created.wake_up.generation, 2);
    assert_eq!(created.name, schedule_name(&shop(), &cart_id(CART), 0, 2));
    assert_ne!(created.name, schedule_name(&shop(), &cart_id(CART), 0, 1));
}

#[test]
fn the_last_step_sent_leaves_nothing_to_schedule() {
    let sequence = Sequence::default_sequence();
    let mut cart = new_cart();
    let mut creates = 0;
    while let Some(due) = cart.next_due_at {
        let step = cart.next_step;
        let sent = record_sent(
            &claim(&cart, step, Channel::Email, due),
            SentStep {
                step,
                channel: Channel::Email,
                template: sequence.steps[step as usize].template.clone(),
                message_id: format!("ses-{step}"),
                sent_at: due,
                skipped: None,
                unconfirmed: false,
                opened_at: None,
                clicked_at: None,
                variant: None,
            },
            &sequence,
        );
        let ops = reconcile(Some(&cart), Some(&sent));
        creates += ops
            .iter()
            .filter(|op| matches!(op, ScheduleOp::Create(_)))
            .count();
        cart = sent;
    }
    // One schedule per step after the first (the first is created for the new cart).
    assert_eq!(creates, 2);
    assert_eq!(desired_schedule(&cart), None);
}

#[test]
fn a_claim_does_not_touch_the_schedule() {
    let cart = new_cart();
    assert_eq!(
        reconcile(Some(&cart), Some(&claim(&cart, 0, Channel::Email, t0()))),
        vec![]
    );
}

#[test]
fn wake_up_json_carries_ids_only() {
    let cart = apply(
        None,
        &activity_with(
            snapshot(Some("ada@example.com"), Some("+358401234567")),
            t0(),
        ),
        t0(),
    );
    let spec = desired_schedule(&cart).expect("armed");
    let json = serde_json::to_string(&spec.wake_up).expect("serialises");
    for secret in [
        "ada",
        "example.com",
        "358401234567",
        "+358",
        "Ada",
        "Beanie",
        "@",
    ] {
        assert!(!json.contains(secret), "{secret:?} in {json}");
    }
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, vec!["cart", "generation", "shop", "step"]);
    assert_eq!(value["cart"], CART);
    assert_eq!(value["shop"], SHOP);
    let back: WakeUp = serde_json::from_str(&json).expect("round trip");
    assert_eq!(back, spec.wake_up);
}

#[test]
fn wake_up_json_with_extra_fields_is_refused() {
    let json = format!(
        r#"{{"shop":"{SHOP}","cart":"{CART}","step":0,"generation":1,"email":"ada@example.com"}}"#
    );
    assert!(serde_json::from_str::<WakeUp>(&json).is_err());
}
