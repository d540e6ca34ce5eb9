//! The event source mapping: batches, re-drives from the failed record, and giving up as
//! each world does (AWS dead-letters and goes on, a local run stops).

use cartback_pipeline::{EventSourceMapping, Exhausted};

use crate::{Scripted, not_a_cart, sequence_number, sequence_numbers, ts, unreadable_cart};

fn world() -> Scripted {
    Scripted::new(ts("2026-11-02T09:00:00Z"))
}

#[tokio::test]
async fn every_record_is_planned_once_in_batches() {
    let world = world();
    world.write((1..=5).map(not_a_cart).collect());
    let mapping = EventSourceMapping {
        batch_size: 2,
        retry_attempts: 10,
        exhausted: Exhausted::DeadLetter,
    };
    let drain = mapping.drain(&world).await.expect("drained");
    assert_eq!(drain.records, 5);
    assert_eq!(drain.redrives, 0);
    assert!(drain.dead_lettered.is_empty());
    assert_eq!(drain.stopped_at, None);
    let again = mapping.drain(&world).await.expect("drained");
    assert_eq!(again.records, 0, "a record read is not read again");
}

#[tokio::test]
async fn aws_dead_letters_the_rest_of_a_batch_after_its_retries_and_goes_on() {
    let world = world();
    world.write(vec![
        not_a_cart(1),
        not_a_cart(2),
        unreadable_cart(3),
        not_a_cart(4),
        not_a_cart(5),
        not_a_cart(6),
    ]);
    let mapping = EventSourceMapping {
        batch_size: 3,
        retry_attempts: 2,
        exhausted: Exhausted::DeadLetter,
    };
    let drain = mapping.drain(&world).await.expect("drained");
    // 1 and 2 are checkpointed; the batch from 3 fails three times (two re-drives) and goes
    // to the dead-letter queue with the records behind 3 in it; 6 is planned after.
    assert_eq!(drain.records, 3);
    assert_eq!(drain.redrives, 2);
    assert_eq!(
        sequence_numbers(&drain.dead_lettered),
        vec![sequence_number(3), sequence_number(4), sequence_number(5)]
    );
    assert_eq!(drain.stopped_at, None);
}

#[tokio::test]
async fn a_local_run_stops_at_the_tenth_failure_in_a_row() {
    let world = world();
    world.write(vec![not_a_cart(1), unreadable_cart(2), not_a_cart(3)]);
    let mapping = EventSourceMapping {
        batch_size: usize::MAX,
        retry_attempts: 9,
        exhausted: Exhausted::Stop,
    };
    let drain = mapping.drain(&world).await.expect("drained");
    assert_eq!(drain.records, 1);
    assert_eq!(drain.redrives, 9);
    assert_eq!(drain.stopped_at, Some(sequence_number(2)));
    assert!(drain.dead_lettered.is_empty());
    let again = mapping.drain(&world).await.expect("drained");
    assert_eq!(
        again.records, 0,
        "the records after the failed one are dropped"
    );
}
