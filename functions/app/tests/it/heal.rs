//! The sweep on in-memory ports: a cart nothing will wake is re-armed and planned again; a
//! cart within the grace period, a closed cart and a cart with a live claim are left alone;
//! a re-armed cart whose claim was orphaned is settled by its new wake-up.

use cartback_app::heal::{SweepReport, sweep};
use cartback_app::plan::{CartChange, apply};
use cartback_app::send::{Outcome, wake_up};
use cartback_app::{Bundle, Metrics, Ports};
use cartback_core::model::cart::{CartRecord, CartStatus, Platform};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::reason::SkipReason;
use cartback_core::model::schedule::ScheduleOp;
use cartback_core::model::sequence::Channel;
use cartback_core::model::shop::{Shop, ShopSettings};
use cartback_core::ports::{CartStore, Put, WriteOutcome};
use cartback_core::rules::lifecycle::claim;
use cartback_local::{LocalShops, MemorySchedules, MemoryStore, VirtualClock};
use jiff::{SignedDuration, Timestamp};

const SHOP: &str = "demo-shop.myshopify.com";

fn now() -> Timestamp {
    "2026-11-02T12:00:00Z".parse().expect("valid timestamp")
}

fn shop() -> ShopId {
    ShopId::parse(SHOP).expect("valid shop id")
}

fn sequence_name() -> String {
    Shop::new(shop(), ShopSettings::defaults_for(&shop()))
        .expect("the default shop")
        .new_visitor
        .name
}

/// An open cart at step 0, due `ago` before now, with nothing sent yet.
fn due_cart(id: &str, ago: SignedDuration) -> CartRecord {
    CartRecord {
        sequence: sequence_name(),
        next_due_at: Some(now() - ago),
        generation: 2,
        expires_at: (now() + SignedDuration::from_hours(24 * 30)).as_second(),
        ..CartRecord::new(
            shop(),
            CartId::parse(id).expect("valid cart id"),
            Platform::Shopify,
            now() - SignedDuration::from_hours(4),
        )
    }
}

type TestPorts = Bundle<
    MemoryStore,
    cartback_app::Absent,
    cartback_app::Absent,
    MemorySchedules,
    LocalShops,
    cartback_app::Absent,
    cartback_app::Absent,
    VirtualClock,
>;

fn ports() -> TestPorts {
    Bundle::unwired(VirtualClock::new(now()))
        .with_store(MemoryStore::default())
        .with_schedules(MemorySchedules::default())
        .with_shops(LocalShops::defaults())
        .with_metrics(Metrics::memory())
}

async fn put(ports: &TestPorts, record: CartRecord) {
    let outcome = ports
        .store()
        .write(vec![Put::Cart {
            record: Box::new(record),
            expected: None,
        }])
        .await
        .expect("writes");
    assert_eq!(outcome, WriteOutcome::Written);
}

async fn read(ports: &TestPorts, id: &str) -> CartRecord {
    ports
        .store()
        .cart(&shop(), &CartId::parse(id).expect("valid cart id"))
        .await
        .expect("reads")
        .expect("the cart is there")
        .value
}

fn rearmed_metric(ports: &TestPorts) -> Vec<f64> {
    ports
        .metrics()
        .emitted()
        .iter()
        .filter_map(|emf| emf.value_of("StrandedCartsRearmed"))
        .collect()
}

#[tokio::test]
async fn a_cart_whose_schedule_was_lost_is_rearmed_and_planned_due_now() {
    let ports = ports();
    let lost = due_cart("lost", SignedDuration::from_hours(2));
    put(&ports, lost.clone()).await;
    assert!(
        ports.schedules().pending().is_empty(),
        "no schedule: it was lost"
    );

    let report = sweep(&ports, 1000).await.expect("sweeps");
    assert_eq!(
        report,
        SweepReport {
            examined: 1,
            rearmed: 1
        }
    );
    let healed = read(&ports, "lost").await;
    assert_eq!(healed.generation, lost.generation + 1);
    assert_eq!(healed.next_due_at, Some(now()));
    assert_eq!(healed.next_step, 0);
    assert_eq!(rearmed_metric(&ports), vec![1.0]);
    let emf = ports.metrics().emitted().pop().expect("one metric");
    let json = emf.to_json();
    let declared = &json["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(declared["Namespace"], "cartback");
    assert_eq!(
        declared["Dimensions"],
        serde_json::json!([[]]),
        "no dimensions"
    );

    // The planner, from the table's change, creates the new generation's schedule, due now.
    let change = CartChange {
        id: "1".into(),
        old: Some(lost),
        new: Some(healed.clone()),
    };
    let ops = apply(&change, &ports).await.expect("plans");
    assert!(matches!(ops.as_slice(), [ScheduleOp::Create(_)]), "{ops:?}");
    let pending = ports.schedules().pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].at, now());
    assert_eq!(pending[0].wake_up.generation, healed.generation);
    assert_eq!(pending[0].wake_up.step, 0);

    // A second sweep finds nothing more to do.
    let again = sweep(&ports, 1000).await.expect("sweeps");
    assert_eq!(again.rearmed, 0);
    assert_eq!(
        rearmed_metric(&ports),
        vec![1.0],
        "no metric for an empty sweep"
    );
}

#[tokio::test]
async fn carts_within_grace_closed_or_claimed_are_left_alone() {
    let ports = ports();
    let recent = due_cart("recent", SignedDuration::from_mins(10));
    let mut converted = due_cart("converted", SignedDuration::from_hours(2));
    converted.status = CartStatus::Converted;
    let mut stopped = due_cart("stopped", SignedDuration::from_hours(2));
    stopped.next_due_at = None;
    stopped.stop_reason = Some(cartback_core::rules::decide::StopReason::SequenceComplete);
    let claimed = claim(
        &due_cart("claimed", SignedDuration::from_hours(2)),
        0,
        Channel::Email,
        now() - SignedDuration::from_secs(20),
    );
    for cart in [&recent, &converted, &stopped, &claimed] {
        put(&ports, cart.clone()).await;
    }

    let report = sweep(&ports, 1000).await.expect("sweeps");
    assert_eq!(report.rearmed, 0, "{report:?}");
    for cart in [&recent, &converted, &stopped, &claimed] {
        assert_eq!(&read(&ports, cart.cart.as_str()).await, cart);
    }
    assert!(rearmed_metric(&ports).is_empty());
}

#[tokio::test]
async fn the_limit_bounds_one_sweep() {
    let ports = ports();
    for i in 0..5 {
        put(
            &ports,
            due_cart(&format!("c{i}"), SignedDuration::from_hours(2 + i)),
        )
        .await;
    }
    let first = sweep(&ports, 3).await.expect("sweeps");
    assert_eq!(
        first,
        SweepReport {
            examined: 3,
            rearmed: 3
        }
    );
    let second = sweep(&ports, 3).await.expect("sweeps");
    assert_eq!(
        second,
        SweepReport {
            examined: 2,
            rearmed: 2
        }
    );
    assert_eq!(rearmed_metric(&ports), vec![3.0, 2.0]);
}

#[tokio::test]
async fn a_rearmed_orphaned_claim_is_settled_as_crash_after_claim() {
    let ports = ports();
    // The sender claimed step 0 two hours ago and died; its retries went to the DLQ.
    let orphaned = claim(
        &due_cart("orphaned", SignedDuration::from_hours(2)),
        0,
        Channel::Email,
        now() - SignedDuration::from_hours(2),
    );
    put(&ports, orphaned.clone()).await;

    let report = sweep(&ports, 1000).await.expect("sweeps");
    assert_eq!(report.rearmed, 1);
    let healed = read(&ports, "orphaned").await;
    let change = CartChange {
        id: "1".into(),
        old: Some(orphaned),
        new: Some(healed),
    };
    apply(&change, &ports).await.expect("plans");
    let schedule = ports
        .schedules()
        .take_due(now())
        .expect("a schedule due now");

    let outcome = wake_up(&schedule.wake_up, &ports).await.expect("wakes");
    assert!(
        matches!(
            outcome,
            Outcome::Skipped {
                step: 0,
                reason: SkipReason::CrashAfterClaim,
                ..
            }
        ),
        "{outcome:?}"
    );
    let settled = read(&ports, "orphaned").await;
    assert_eq!(settled.claimed_step, None);
    assert_eq!(settled.next_step, 1);
}
