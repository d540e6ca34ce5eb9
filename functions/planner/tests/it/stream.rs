//! The planner on DynamoDB stream events shaped like AWS's (Records with INSERT / MODIFY /
//! REMOVE, Keys, NewImage, OldImage, SequenceNumber, NEW_AND_OLD_IMAGES). The images are
//! produced by writing through `MemoryStore`, which encodes items as the table holds them
//! (`cart_item::encode`: the record compressed into one Binary attribute);
//! `fixtures/stream_cart_insert.json` is one hand-written cart INSERT as AWS would send it for
//! an item written before that, with the record as plain attributes (still read).

use std::sync::Mutex;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use cartback_app::{Absent, Bundle};
use cartback_core::model::cart::{CartActivity, CartEvent, CartRecord, Platform, SentStep};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::schedule::{ScheduleSpec, WakeUp, schedule_name};
use cartback_core::model::sequence::{Channel, Sequence};
use cartback_core::platforms::webhook::Headers;
use cartback_core::ports::{CartStore, PortError, Put, Schedules};
use cartback_core::rules::lifecycle::{Applied, apply_activity, apply_conversion, contact_ordered};
use cartback_local::{MemorySchedules, MemoryStore, VirtualClock};
use cartback_planner::{changes, handle};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const SHOP: &str = "demo-shop.myshopify.com";
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const CHECKOUT: &[u8] =
    include_bytes!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const ORDER: &[u8] = include_bytes!("../../../core/tests/fixtures/shopify/orders_create.json");
const HAND_WRITTEN_INSERT: &str = include_str!("../fixtures/stream_cart_insert.json");

fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn shop() -> ShopId {
    ShopId::parse(SHOP).expect("valid shop id")
}

fn cart_id(token: &str) -> CartId {
    CartId::parse(token).expect("valid cart id")
}

/// 2026-11-02T08:00:00Z, the fixture checkout's updated_at.
fn t0() -> Timestamp {
    ts("2026-11-02T08:00:00Z")
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn later(t: Timestamp, by: SignedDuration) -> Timestamp {
    t.checked_add(by).expect("in range")
}

/// The Shopify fixture checkout, as cart `token`, last updated at `updated_at`.
fn activity(token: &str, updated_at: Timestamp) -> CartActivity {
    let headers = Headers::new().with("X-Shopify-Topic", "checkouts/create");
    let parsed =
        cartback_core::platforms::shopify::parse(&headers, CHECKOUT).expect("the fixture parses");
    let Some(CartEvent::Activity(mut activity)) = parsed.event else {
        panic!("checkouts/create is cart activity");
    };
    activity.cart = cart_id(token);
    activity.updated_at = updated_at;
    activity
}

fn changed(applied: Applied) -> CartRecord {
    match applied {
        Applied::Changed(record) => *record,
        other => panic!("expected a change, got {other:?}"),
    }
}

/// Writes a record through the store (as the webhook and sender do).
async fn put(store: &MemoryStore, record: CartRecord) {
    let expected = store
        .cart(&record.shop, &record.cart)
        .await
        .expect("reads")
        .map(|v| v.version);
    store
        .write(vec![Put::Cart {
            record: Box::new(record),
            expected,
        }])
        .await
        .expect("writes");
}

/// A new open cart, written through the store; returns the stored record.
async fn new_cart(store: &MemoryStore, token: &str, updated_at: Timestamp) -> CartRecord {
    let record = changed(apply_activity(
        None,
        &shop(),
        Platform::Shopify,
        &activity(token, updated_at),
        &Sequence::default_sequence(),
        updated_at,
    ));
    put(store, record.clone()).await;
    record
}

async fn stored(store: &MemoryStore, token: &str) -> CartRecord {
    store
        .cart(&shop(), &cart_id(token))
        .await
        .expect("reads")
        .expect("stored")
        .value
}

fn event(records: Vec<Value>) -> Event {
    serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event")
}

fn sequence_number(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .expect("a sequence number")
        .to_owned()
}

fn failures(response: &DynamoDbEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect()
}

/// The planner's ports: the schedules and a clock.
type PlannerPorts<S> =
    Bundle<Absent, Absent, Absent, S, Absent, Absent, Absent, VirtualClock, Absent>;

fn deps<S: Schedules>(schedules: S, now: Timestamp) -> PlannerPorts<S> {
    Bundle::unwired(VirtualClock::new(now)).with_schedules(schedules)
}

fn only_pending(schedules: &MemorySchedules) -> ScheduleSpec {
    let pending = schedules.pending();
    assert_eq!(pending.len(), 1, "{pending:?}");
    pending.into_iter().next().expect("one schedule")
}

#[tokio::test]
async fn the_hand_written_cart_insert_decodes_and_creates_its_schedule() {
    let event: Event =
        serde_json::from_str(HAND_WRITTEN_INSERT).expect("decodes as a stream event");
    assert_eq!(event.records.len(), 1);
    assert_eq!(event.records[0].event_name, "INSERT");

    let decoded = changes(&event);
    assert_eq!(decoded.len(), 1);
    let change = decoded
        .into_iter()
        .next()
        .expect("one change")
        .expect("a readable cart image");
    assert_eq!(change.id, "4421584500000000017450439091");
    assert!(change.old.is_none());
    let cart = change.new.expect("a new image");
    assert_eq!(cart.cart.as_str(), TOKEN);
    assert_eq!(cart.next_due_at, Some(ts("2026-11-02T09:00:00Z")));
    assert_eq!(cart.last_activity_at, t0());
    assert_eq!(
        cart.snapshot
            .as_ref()
            .and_then(|s| s.email.as_ref())
            .map(|e| e.as_str()),
        Some("ada@example.com")
    );

    let schedules = MemorySchedules::default();
    let response = handle(&event, &deps(schedules.clone(), t0())).await;
    assert!(failures(&response).is_empty());
    let spec = only_pending(&schedules);
    assert_eq!(spec.name, schedule_name(&shop(), &cart_id(TOKEN), 0, 1));
    assert_eq!(spec.at, ts("2026-11-02T09:00:00Z"));
}

#[tokio::test]
async fn the_generated_images_decode_like_the_hand_written_one() {
    let store = MemoryStore::default();
    new_cart(&store, TOKEN, t0()).await;
    let generated = event(store.take_stream());
    let hand_written: Event = serde_json::from_str(HAND_WRITTEN_INSERT).expect("decodes");

    let ours = changes(&generated)
        .into_iter()
        .next()
        .expect("one change")
        .expect("readable");
    let theirs = changes(&hand_written)
        .into_iter()
        .next()
        .expect("one change")
        .expect("readable");

    let (ours, theirs) = (ours.new.expect("new"), theirs.new.expect("new"));
    assert_eq!(ours.next_due_at, theirs.next_due_at);
    assert_eq!(ours.generation, theirs.generation);
    assert_eq!(ours.contact, theirs.contact);
    assert_eq!(ours.expires_at, theirs.expires_at);
}

/// The first write of a cart stored before its record was compressed: the old image holds
/// the record as plain attributes (the hand-written insert's), the new one compressed. Both
/// decode to the same plan, so the schedule is left alone.
#[tokio::test]
async fn a_modify_from_a_plain_item_to_a_compressed_one_decodes_both_images() {
    let store = MemoryStore::default();
    new_cart(&store, TOKEN, t0()).await;
    let mut records = store.take_stream();
    let hand_written: Value = serde_json::from_str(HAND_WRITTEN_INSERT).expect("JSON");
    let plain = hand_written["Records"][0]["dynamodb"]["NewImage"].clone();
    assert!(plain.get("record").is_none() && plain.get("snapshot").is_some());
    let compressed = &records[0]["dynamodb"]["NewImage"];
    assert!(compressed["record"]["B"].is_string() && compressed.get("snapshot").is_none());
    records[0]["eventName"] = json!("MODIFY");
    records[0]["dynamodb"]["OldImage"] = plain;
    let batch = event(records);

    let change = changes(&batch)
        .into_iter()
        .next()
        .expect("one change")
        .expect("both images readable");
    let (old, new) = (change.old.expect("old"), change.new.expect("new"));
    assert_eq!(
        (old.next_due_at, old.generation, &old.contact),
        (new.next_due_at, new.generation, &new.contact)
    );
    let schedules = MemorySchedules::default();
    let response = handle(&batch, &deps(schedules.clone(), t0())).await;
    assert!(failures(&response).is_empty());
    assert_eq!(schedules.calls(), (0, 0));
}

#[tokio::test]
async fn an_insert_of_an_open_cart_creates_exactly_one_schedule_carrying_ids_only() {
    let store = MemoryStore::default();
    let cart = new_cart(&store, TOKEN, t0()).await;
    let records = store.take_stream();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["eventName"], "INSERT");
    let schedules = MemorySchedules::default();

    let response = handle(&event(records), &deps(schedules.clone(), t0())).await;

    assert!(failures(&response).is_empty());
    assert_eq!(schedules.calls(), (1, 0));
    let spec = only_pending(&schedules);
    assert_eq!(spec.name, schedule_name(&shop(), &cart.cart, 0, 1));
    assert!(spec.name.len() <= 64, "{}", spec.name);
    assert!(
        spec.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "{}",
        spec.name
    );
    assert_eq!(spec.at, later(t0(), hours(1)));
    assert_eq!(
        spec.wake_up,
        WakeUp {
            shop: shop(),
            cart: cart_id(TOKEN),
            step: 0,
            generation: 1,
        }
    );
    let input = serde_json::to_value(&spec.wake_up).expect("serialises");
    let mut keys: Vec<&str> = input
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["cart", "generation", "shop", "step"]);
    assert!(
        !input.to_string().contains('@'),
        "no email address in the schedule input: {input}"
    );
}

#[tokio::test]
async fn replaying_an_insert_leaves_one_schedule() {
    let store = MemoryStore::default();
    new_cart(&store, TOKEN, t0()).await;
    let batch = event(store.take_stream());
    let schedules = MemorySchedules::default();
    let deps = deps(schedules.clone(), t0());

    handle(&batch, &deps).await;
    let response = handle(&batch, &deps).await;

    assert!(failures(&response).is_empty());
    assert_eq!(schedules.pending().len(), 1);
}

/// A `DELIVERY#` item as the DynamoDB adapter writes it (the memory store keeps deliveries
/// off the stream).
fn delivery_insert(sequence: &str) -> Value {
    let sk = "DELIVERY#0b6f4c1e-2d3a-4e5f-8a9b-0c1d2e3f4a51";
    json!({
        "eventID": "e4da3b7fbbce2345d7772b0674a318d5",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-north-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1793606401,
            "Keys": { "pk": { "S": format!("SHOP#{SHOP}") }, "sk": { "S": sk } },
            "NewImage": {
                "pk": { "S": format!("SHOP#{SHOP}") },
                "sk": { "S": sk },
                "kind": { "S": "delivery" },
                "expires_at": { "N": "1794211200" },
                "version": { "N": "1" }
            },
            "SequenceNumber": sequence,
            "SizeBytes": 142,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": "arn:aws:dynamodb:eu-north-1:123456789012:table/cartback/stream/2026-10-01T00:00:00.000"
    })
}

#[tokio::test]
async fn contact_and_delivery_items_are_skipped() {
    let store = MemoryStore::default();
    let cart = new_cart(&store, TOKEN, t0()).await;
    store.take_stream();
    let key = cart.contact.clone().expect("the cart has a contact");
    let contact = contact_ordered(None, &shop(), &key, later(t0(), hours(2))).expect("a change");
    store
        .write(vec![Put::Contact {
            record: contact,
            expected: None,
        }])
        .await
        .expect("writes");
    let mut records = store.take_stream();
    assert_eq!(records.len(), 1);
    assert!(
        records[0]["dynamodb"]["Keys"]["sk"]["S"]
            .as_str()
            .is_some_and(|sk| sk.starts_with("CONTACT#"))
    );
    records.push(delivery_insert("4421584500000000017450439200"));
    let batch = event(records);
    let schedules = MemorySchedules::default();

    let response = handle(&batch, &deps(schedules.clone(), t0())).await;

    assert!(changes(&batch).is_empty());
    assert!(failures(&response).is_empty());
    assert_eq!(schedules.calls(), (0, 0));
}

#[tokio::test]
async fn a_modify_that_only_changes_the_snapshot_creates_and_deletes_nothing() {
    let store = MemoryStore::default();
    let cart = new_cart(&store, TOKEN, t0()).await;
    store.take_stream();
    let newer = later(t0(), SignedDuration::from_mins(20));
    let mut update = activity(TOKEN, newer);
    update.snapshot.items[0].quantity = 2;
    let updated = changed(apply_activity(
        Some(&cart),
        &shop(),
        Platform::Shopify,
        &update,
        &Sequence::default_sequence(),
        newer,
    ));
    put(&store, updated).await;
    let records = store.take_stream();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["eventName"], "MODIFY");
    assert_ne!(
        records[0]["dynamodb"]["NewImage"], records[0]["dynamodb"]["OldImage"],
        "the snapshot did change"
    );
    let schedules = MemorySchedules::default();

    let response = handle(&event(records), &deps(schedules.clone(), newer)).await;

    assert!(failures(&response).is_empty());
    assert_eq!(schedules.calls(), (0, 0));
}

#[tokio::test]
async fn a_conversion_deletes_the_schedule() {
    let store = MemoryStore::default();
    let cart = new_cart(&store, TOKEN, t0()).await;
    let schedules = MemorySchedules::default();
    let deps = deps(schedules.clone(), t0());
    handle(&event(store.take_stream()), &deps).await;
    let armed = only_pending(&schedules);
    let parsed = cartback_core::platforms::shopify::parse(
        &Headers::new().with("X-Shopify-Topic", "orders/create"),
        ORDER,
    )
    .expect("the order parses");
    let Some(CartEvent::Conversion(order)) = parsed.event else {
        panic!("orders/create is a conversion");
    };
    assert_eq!(order.cart, Some(cart_id(TOKEN)));
    let converted = changed(apply_conversion(
        Some(&cart),
        &shop(),
        Platform::Shopify,
        &order,
        &cart.cart,
        &cartback_core::model::cart::Person::default(),
        later(t0(), hours(1)),
    ));
    put(&store, converted).await;
    let records = store.take_stream();
    assert_eq!(records[0]["eventName"], "MODIFY");

    let response = handle(&event(records), &deps).await;

    assert!(failures(&response).is_empty());
    assert!(schedules.pending().is_empty());
    assert_eq!(schedules.calls(), (1, 1));
    assert!(!schedules.pending().contains(&armed));
}

#[tokio::test]
async fn a_removed_open_cart_has_its_schedule_deleted() {
    let store = MemoryStore::default();
    new_cart(&store, TOKEN, t0()).await;
    let insert = store.take_stream().into_iter().next().expect("one record");
    let schedules = MemorySchedules::default();
    let deps = deps(schedules.clone(), t0());
    handle(&event(vec![insert.clone()]), &deps).await;
    assert_eq!(schedules.pending().len(), 1);
    // What a TTL expiry looks like on the stream: only the old image.
    let mut remove = insert;
    remove["eventName"] = json!("REMOVE");
    remove["eventID"] = json!("a87ff679a2f3e71d9181a67b7542122c");
    remove["userIdentity"] = json!({ "type": "Service", "principalId": "dynamodb.amazonaws.com" });
    let change = remove["dynamodb"].as_object_mut().expect("an object");
    let image = change.remove("NewImage").expect("the insert's image");
    change.insert("OldImage".into(), image);
    change.insert("SequenceNumber".into(), json!("000000000000000000099"));

    let response = handle(&event(vec![remove]), &deps).await;

    assert!(failures(&response).is_empty());
    assert!(schedules.pending().is_empty());
    assert_eq!(schedules.calls(), (1, 1));
}

#[tokio::test]
async fn a_sent_step_arms_the_next_one_without_deleting_the_fired_schedule() {
    let store = MemoryStore::default();
    let cart = new_cart(&store, TOKEN, t0()).await;
    store.take_stream();
    let sent_at = later(t0(), hours(1));
    let sent = cartback_core::rules::lifecycle::record_sent(
        &cartback_core::rules::lifecycle::claim(&cart, 0, Channel::Email, sent_at),
        SentStep {
            step: 0,
            channel: Channel::Email,
            template: "reminder".into(),
            message_id: "local-000001".into(),
            sent_at,
            skipped: None,
            unconfirmed: false,
            opened_at: None,
            clicked_at: None,
            variant: None,
        },
        &Sequence::default_sequence(),
    );
    put(&store, sent).await;
    let schedules = MemorySchedules::default();

    let response = handle(
        &event(store.take_stream()),
        &deps(schedules.clone(), sent_at),
    )
    .await;

    assert!(failures(&response).is_empty());
    // The fired one-shot schedule deleted itself; only the next one is created.
    assert_eq!(schedules.calls(), (1, 0));
    let next = only_pending(&schedules);
    assert_eq!(next.wake_up.step, 1);
    assert_eq!(next.wake_up.generation, 2);
    assert_eq!(next.at, later(t0(), hours(24)));
}

/// The cart of `token` started on `sequence` instead of the default one.
async fn new_cart_on(
    store: &MemoryStore,
    token: &str,
    updated_at: Timestamp,
    sequence: &Sequence,
) -> CartRecord {
    let record = changed(apply_activity(
        None,
        &shop(),
        Platform::Shopify,
        &activity(token, updated_at),
        sequence,
        updated_at,
    ));
    put(store, record.clone()).await;
    record
}

#[tokio::test]
async fn engagement_that_brings_a_step_forward_replaces_the_pending_schedule() {
    let sequence = Sequence::builtin("new-visitor").expect("shipped");
    let store = MemoryStore::default();
    let schedules = MemorySchedules::default();
    let cart = new_cart_on(&store, TOKEN, t0(), &sequence).await;
    handle(&event(store.take_stream()), &deps(schedules.clone(), t0())).await;
    assert_eq!(only_pending(&schedules).at, later(t0(), hours(1)));

    // Step 1 fires at +1 h and is sent: nothing opened yet, so step 2 is armed for the none
    // branch (+10 h after), and nobody wakes at +6 h only to wait.
    let step_1 = later(t0(), hours(1));
    schedules.take_due(step_1).expect("step 1 fires");
    let sent = cartback_core::rules::lifecycle::record_sent(
        &cartback_core::rules::lifecycle::claim(&cart, 0, Channel::Email, step_1),
        SentStep {
            step: 0,
            channel: Channel::Email,
            template: "reminder".into(),
            message_id: "local-000001".into(),
            sent_at: step_1,
            skipped: None,
            unconfirmed: false,
            opened_at: None,
            clicked_at: None,
            variant: None,
        },
        &sequence,
    );
    put(&store, sent.clone()).await;
    handle(
        &event(store.take_stream()),
        &deps(schedules.clone(), step_1),
    )
    .await;
    assert_eq!(only_pending(&schedules).at, later(step_1, hours(10)));
    assert_eq!(schedules.calls(), (2, 0));

    // A click at +7 h: the clicked branch (+8 h) is earlier than the pending +10 h. The
    // pending schedule never fired, so it is deleted and the earlier one created.
    let click = later(step_1, hours(7));
    let clicked = cartback_core::rules::lifecycle::record_engagement(
        &sent,
        0,
        cartback_core::rules::lifecycle::Interaction::Click,
        click,
        &sequence,
        click,
    )
    .expect("a new click");
    put(&store, clicked.clone()).await;
    let response = handle(&event(store.take_stream()), &deps(schedules.clone(), click)).await;

    assert!(failures(&response).is_empty());
    assert_eq!(schedules.calls(), (3, 1));
    let next = only_pending(&schedules);
    assert_eq!(next.at, later(step_1, hours(8)));
    assert_eq!(next.wake_up.step, 1);
    assert_eq!(next.wake_up.generation, clicked.generation);
}

#[tokio::test]
async fn a_due_time_already_past_is_scheduled_for_now() {
    let store = MemoryStore::default();
    new_cart(&store, TOKEN, t0()).await;
    let schedules = MemorySchedules::default();
    let now = later(t0(), hours(3));

    handle(&event(store.take_stream()), &deps(schedules.clone(), now)).await;

    assert_eq!(only_pending(&schedules).at, now);
}

/// A scheduler that refuses its `fail_on`-th CreateSchedule call (1-based).
struct FlakySchedules {
    fail_on: usize,
    attempts: Mutex<Vec<String>>,
    created: Mutex<Vec<ScheduleSpec>>,
}

impl FlakySchedules {
    fn failing_on(fail_on: usize) -> Self {
        Self {
            fail_on,
            attempts: Mutex::new(Vec::new()),
            created: Mutex::new(Vec::new()),
        }
    }

    fn attempts(&self) -> Vec<String> {
        self.attempts.lock().expect("not poisoned").clone()
    }

    fn created(&self) -> Vec<ScheduleSpec> {
        self.created.lock().expect("not poisoned").clone()
    }
}

impl Schedules for FlakySchedules {
    async fn create(&self, spec: &ScheduleSpec) -> Result<(), PortError> {
        let attempt = {
            let mut attempts = self.attempts.lock().expect("not poisoned");
            attempts.push(spec.name.clone());
            attempts.len()
        };
        if attempt == self.fail_on {
            return Err(PortError::retryable("scheduler", "ThrottlingException"));
        }
        self.created
            .lock()
            .expect("not poisoned")
            .push(spec.clone());
        Ok(())
    }

    async fn delete(&self, _name: &str) -> Result<(), PortError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_scheduler_failure_at_record_2_of_3_reports_record_2_and_stops_there() {
    let store = MemoryStore::default();
    for (i, token) in ["cart-one", "cart-two", "cart-three"].iter().enumerate() {
        let minutes = i64::try_from(i).expect("small") * 5;
        new_cart(
            &store,
            token,
            later(t0(), SignedDuration::from_mins(minutes)),
        )
        .await;
    }
    let records = store.take_stream();
    assert_eq!(records.len(), 3);
    let second = sequence_number(&records[1]);
    let deps = deps(FlakySchedules::failing_on(2), t0());

    let response = handle(&event(records), &deps).await;

    assert_eq!(failures(&response), [second]);
    assert_eq!(
        deps.schedules.attempts(),
        [
            schedule_name(&shop(), &cart_id("cart-one"), 0, 1),
            schedule_name(&shop(), &cart_id("cart-two"), 0, 1),
        ],
        "record 3 is not processed"
    );
    let created: Vec<String> = deps
        .schedules
        .created()
        .iter()
        .map(|s| s.wake_up.cart.to_string())
        .collect();
    assert_eq!(created, ["cart-one"]);
}

#[tokio::test]
async fn an_unreadable_image_is_reported_as_a_failure() {
    let store = MemoryStore::default();
    new_cart(&store, "cart-one", t0()).await;
    new_cart(&store, "cart-two", t0()).await;
    let mut records = store.take_stream();
    // The compressed record of the second cart is not DEFLATE (format byte 1, then 0xff).
    records[1]["dynamodb"]["NewImage"]["record"] = json!({ "B": "Af8=" });
    let broken = sequence_number(&records[1]);
    let batch = event(records);
    let schedules = MemorySchedules::default();

    let response = handle(&batch, &deps(schedules.clone(), t0())).await;

    assert_eq!(failures(&response), std::slice::from_ref(&broken));
    let decoded = changes(&batch);
    assert!(decoded[0].is_ok());
    assert!(matches!(&decoded[1], Err((id, _)) if *id == broken));
    // The readable record before it was applied.
    assert_eq!(only_pending(&schedules).wake_up.cart, cart_id("cart-one"));
}

#[tokio::test]
async fn an_unreadable_image_stops_the_batch_so_later_changes_wait_their_turn() {
    let store = MemoryStore::default();
    new_cart(&store, "cart-one", t0()).await;
    new_cart(&store, "cart-two", t0()).await;
    let mut records = store.take_stream();
    // A record format this planner does not know (9).
    records[0]["dynamodb"]["NewImage"]["record"] = json!({ "B": "CQ==" });
    let broken = sequence_number(&records[0]);
    let schedules = MemorySchedules::default();

    let response = handle(&event(records), &deps(schedules.clone(), t0())).await;

    assert_eq!(failures(&response), [broken]);
    assert_eq!(schedules.calls(), (0, 0));
}

#[tokio::test]
async fn the_stored_cart_and_the_stream_image_agree() {
    let store = MemoryStore::default();
    new_cart(&store, TOKEN, t0()).await;
    let batch = event(store.take_stream());

    let change = changes(&batch)
        .into_iter()
        .next()
        .expect("one change")
        .expect("readable");

    assert_eq!(change.new, Some(stored(&store, TOKEN).await));
}
