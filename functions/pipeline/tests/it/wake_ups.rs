//! Wake-ups to the sender: due schedules and queued deliveries in time order, or all that is
//! due in one turn; Lambda's retries of a failed invocation.

use cartback_core::model::time::Clock;
use cartback_pipeline::{EventSourceMapping, Exhausted, Origin, Runner, World};
use jiff::{SignedDuration, Timestamp};

use crate::{Scripted, ts, wake};

fn runner() -> Runner {
    Runner::new(EventSourceMapping {
        batch_size: usize::MAX,
        retry_attempts: 9,
        exhausted: Exhausted::Stop,
    })
}

#[tokio::test]
async fn wake_ups_come_in_time_order_a_schedule_first_among_equals() {
    let world = Scripted::new(ts("2026-11-02T09:00:00Z"));
    let runner = runner();
    world
        .schedule("scheduled", ts("2026-11-02T10:00:00Z"))
        .await;
    runner.redeliver(&wake("late"), ts("2026-11-02T10:00:00Z"), Origin::Late);
    runner.redeliver(
        &wake("earlier"),
        ts("2026-11-02T09:59:00Z"),
        Origin::Duplicate,
    );
    runner.redeliver(&wake("beyond"), ts("2026-11-02T12:00:00Z"), Origin::Late);
    let until = ts("2026-11-02T11:00:00Z");
    let mut order = Vec::new();
    while let Some(due) = runner.next_wake(&world, until).await.expect("next") {
        order.push((due.wake.cart.as_str().to_owned(), due.origin, due.at));
    }
    assert_eq!(
        order,
        vec![
            (
                "earlier".to_owned(),
                Origin::Duplicate,
                ts("2026-11-02T09:59:00Z")
            ),
            (
                "scheduled".to_owned(),
                Origin::Scheduled,
                ts("2026-11-02T10:00:00Z")
            ),
            ("late".to_owned(), Origin::Late, ts("2026-11-02T10:00:00Z")),
        ]
    );
}

#[tokio::test]
async fn a_failed_wake_up_comes_back_from_the_send_queue_every_180_s_until_10_receives() {
    let start = ts("2026-11-02T10:00:00Z");
    let world = Scripted::new(start);
    let runner = runner();
    world.schedule("c1", start).await;
    let until = ts("2026-11-03T00:00:00Z");
    let mut retries = Vec::new();
    while let Some(due) = runner.next_wake(&world, until).await.expect("next") {
        world.ports.clock.advance_to(due.at);
        let attempt = due.attempt;
        let invocation = runner.invoke(&world, due).await;
        assert!(
            invocation.result.is_err(),
            "nothing is wired: the sender fails"
        );
        assert_eq!(invocation.at, world.ports.clock.now());
        retries.push((attempt, invocation.retry_at));
    }
    let expected: Vec<(usize, Option<Timestamp>)> = (0..10)
        .map(|attempt| {
            let next = (attempt < 9).then(|| {
                start
                    .checked_add(SignedDuration::from_secs(180 * (attempt as i64 + 1)))
                    .expect("in range")
            });
            (attempt, next)
        })
        .collect();
    assert_eq!(retries, expected);
}

#[tokio::test]
async fn a_turn_takes_the_due_schedules_then_the_due_deliveries() {
    let world = Scripted::new(ts("2026-11-02T10:30:00Z"));
    let runner = runner();
    world.schedule("s2", ts("2026-11-02T10:00:00Z")).await;
    world.schedule("s1", ts("2026-11-02T09:00:00Z")).await;
    world.schedule("s3", ts("2026-11-02T11:00:00Z")).await;
    runner.redeliver(&wake("r2"), ts("2026-11-02T10:30:00Z"), Origin::Late);
    runner.redeliver(&wake("r1"), ts("2026-11-02T08:00:00Z"), Origin::Late);
    runner.redeliver(&wake("r3"), ts("2026-11-02T10:31:00Z"), Origin::Late);
    let due = runner.take_all_due(&world).await.expect("due");
    let carts: Vec<&str> = due.iter().map(|d| d.wake.cart.as_str()).collect();
    assert_eq!(carts, vec!["s1", "s2", "r2", "r1"]);
    assert_eq!(World::next_due_at(&world), Some(ts("2026-11-02T11:00:00Z")));
}
