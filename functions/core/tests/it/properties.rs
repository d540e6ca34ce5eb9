//! Properties of the lifecycle under webhooks that arrive late, twice or out of order.

use crate::common::*;
use cartback_core::model::cart::{CartRecord, CartStatus, Platform};
use cartback_core::model::sequence::Sequence;
use cartback_core::rules::lifecycle::{Applied, apply_activity, apply_conversion};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Event {
    /// A checkout webhook with this `updated_at` (minutes after t0), with or without an email.
    Activity { updated_min: i64, with_email: bool },
    /// An order webhook for the cart, completed at this minute.
    Conversion { at_min: i64 },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (0_i64..600, any::<bool>())
            .prop_map(|(updated_min, with_email)| Event::Activity { updated_min, with_email }),
        1 => (0_i64..600).prop_map(|at_min| Event::Conversion { at_min }),
    ]
}

/// Events with the occasional exact re-delivery of an earlier one.
fn events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(
        (event(), any::<prop::sample::Index>(), any::<bool>()),
        1..40,
    )
    .prop_map(|raw| {
        let mut out: Vec<Event> = Vec::with_capacity(raw.len());
        for (event, index, duplicate) in raw {
            if duplicate && !out.is_empty() {
                let earlier = out[index.index(out.len())].clone();
                out.push(earlier);
            } else {
                out.push(event);
            }
        }
        out
    })
}

fn minutes(m: i64) -> Timestamp {
    at(SignedDuration::from_mins(m))
}

proptest! {
    #![proptest_config(cartback_testkit::proptest_config(512))]

    #[test]
    fn out_of_order_and_duplicate_webhooks_never_move_a_cart_backwards(
        events in events(),
        receipt_lag in prop::collection::vec(0_i64..120, 40),
    ) {
        let sequence = Sequence::default_sequence();
        let mut record: Option<CartRecord> = None;
        let mut now = t0();
        for (i, event) in events.iter().enumerate() {
            let before = record.clone();
            let applied = match *event {
                Event::Activity { updated_min, with_email } => {
                    let updated_at = minutes(updated_min);
                    // Received some time after the event (or, for a skewed clock, before it).
                    now = now.max(updated_at.checked_add(SignedDuration::from_mins(receipt_lag[i] - 10)).expect("range"));
                    let email = with_email.then_some("ada@example.com");
                    let activity = activity_with(snapshot(email, None), updated_at);
                    let applied = apply_activity(before.as_ref(), &shop(), Platform::Shopify, &activity, &sequence, now);
                    if let Applied::Changed(new) = &applied {
                        prop_assert_eq!(new.source_updated_at, updated_at);
                        prop_assert!(new.last_activity_at <= now);
                    }
                    if let Some(before) = &before {
                        if before.status == CartStatus::Converted {
                            prop_assert_eq!(&applied, &Applied::AlreadyConverted);
                        } else if updated_at <= before.source_updated_at {
                            prop_assert_eq!(&applied, &Applied::Stale);
                        }
                    }
                    applied
                }
                Event::Conversion { at_min } => {
                    now = now.max(minutes(at_min));
                    let applied = apply_conversion(
                        before.as_ref(),
                        &shop(),
                        Platform::Shopify,
                        &conversion(minutes(at_min)),
                        &cart_id(CART),
                        &cartback_core::model::cart::Person::default(),
                        now,
                    );
                    if before.as_ref().is_some_and(|b| b.status == CartStatus::Converted) {
                        prop_assert_eq!(&applied, &Applied::AlreadyConverted);
                    }
                    applied
                }
            };
            if let Applied::Changed(new) = applied {
                record = Some(*new);
            }
            let (Some(before), Some(after)) = (before.as_ref(), record.as_ref()) else {
                continue;
            };
            prop_assert!(
                after.source_updated_at >= before.source_updated_at,
                "source_updated_at went back: {} -> {} on {:?}",
                before.source_updated_at, after.source_updated_at, event
            );
            prop_assert!(
                after.last_activity_at >= before.last_activity_at,
                "last_activity_at went back on {:?}", event
            );
            prop_assert!(
                after.generation >= before.generation,
                "generation went back: {} -> {} on {:?}",
                before.generation, after.generation, event
            );
            if before.status == CartStatus::Converted {
                prop_assert_eq!(after, before, "a converted record changed on {:?}", event);
            }
            if after.status == CartStatus::Converted {
                prop_assert_eq!(after.next_due_at, None);
                prop_assert!(after.converted_at.is_some());
            }
        }
    }

    #[test]
    fn the_order_of_two_checkout_updates_does_not_change_the_outcome(
        first in 0_i64..600,
        second in 0_i64..600,
    ) {
        prop_assume!(first != second);
        let sequence = Sequence::default_sequence();
        let now = minutes(700);
        let run = |order: [i64; 2]| {
            let mut record: Option<CartRecord> = None;
            for m in order {
                let activity = activity(minutes(m));
                if let Applied::Changed(new) =
                    apply_activity(record.as_ref(), &shop(), Platform::Shopify, &activity, &sequence, now)
                {
                    record = Some(*new);
                }
            }
            record.expect("a record")
        };
        let a = run([first, second]);
        let b = run([second, first]);
        prop_assert_eq!(a.source_updated_at, minutes(first.max(second)));
        prop_assert_eq!(a.source_updated_at, b.source_updated_at);
        prop_assert_eq!(a.last_activity_at, b.last_activity_at);
        prop_assert_eq!(a.snapshot, b.snapshot);
    }
}
