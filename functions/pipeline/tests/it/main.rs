//! The integration tests of cartback-pipeline, one module per subject, in one binary, on a
//! scripted world: stream records and schedules as each test puts them.

mod stream;
mod wake_ups;

use std::convert::Infallible;
use std::sync::Mutex;

use aws_lambda_events::dynamodb::EventRecord;
use cartback_app::{Absent, Bundle};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::schedule::{ScheduleSpec, WakeUp};
use cartback_core::ports::Schedules;
use cartback_local::{MemorySchedules, VirtualClock};
use cartback_pipeline::World;
use jiff::Timestamp;
use serde_json::{Value, json};

/// Ports with nothing wired but the clock: the planner skips what is not a cart and fails
/// on an unreadable cart; every sender invocation fails (it cannot read the cart).
type Unwired = Bundle<Absent, Absent, Absent, Absent, Absent, Absent, Absent, VirtualClock>;

/// A world whose stream holds what the test wrote and whose scheduler is in memory.
struct Scripted {
    stream: Mutex<Vec<EventRecord>>,
    schedules: MemorySchedules,
    ports: Unwired,
}

impl Scripted {
    fn new(now: Timestamp) -> Self {
        Self {
            stream: Mutex::new(Vec::new()),
            schedules: MemorySchedules::default(),
            ports: Bundle::unwired(VirtualClock::new(now)),
        }
    }

    fn write(&self, records: Vec<EventRecord>) {
        self.stream.lock().expect("stream").extend(records);
    }

    async fn schedule(&self, name: &str, at: Timestamp) {
        let spec = ScheduleSpec {
            name: name.to_owned(),
            at,
            wake_up: wake(name),
        };
        self.schedules.create(&spec).await.expect("created");
    }
}

impl World for Scripted {
    type Ports = Unwired;
    type Error = Infallible;

    fn ports(&self) -> &Unwired {
        &self.ports
    }

    async fn read_stream(&self) -> Result<Vec<EventRecord>, Infallible> {
        Ok(std::mem::take(&mut *self.stream.lock().expect("stream")))
    }

    fn next_due_at(&self) -> Option<Timestamp> {
        self.schedules.next_due_at()
    }

    async fn take_due(&self, until: Timestamp) -> Result<Option<(Timestamp, WakeUp)>, Infallible> {
        Ok(self
            .schedules
            .take_due(until)
            .map(|spec| (spec.at, spec.wake_up)))
    }
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

/// The wake-up of the cart named `cart`, step 0.
fn wake(cart: &str) -> WakeUp {
    WakeUp {
        shop: ShopId::parse("demo-shop.myshopify.com").expect("shop id"),
        cart: CartId::parse(cart).expect("cart id"),
        step: 0,
        generation: 1,
    }
}

/// A stream record with sequence number `seq` about the item `sk`.
fn record(seq: u32, sk: &str, new_image: Value) -> EventRecord {
    serde_json::from_value(json!({
        "eventID": format!("event-{seq}"),
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "test",
        "dynamodb": {
            "ApproximateCreationDateTime": 0,
            "Keys": { "pk": { "S": "SHOP#demo" }, "sk": { "S": sk } },
            "NewImage": new_image,
            "SequenceNumber": sequence_number(seq),
            "SizeBytes": 0,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }))
    .expect("a stream record")
}

fn sequence_number(seq: u32) -> String {
    format!("{seq:021}")
}

/// A change the planner has nothing to do for (not a cart): it goes through.
fn not_a_cart(seq: u32) -> EventRecord {
    let sk = "CONTACT#abc";
    record(
        seq,
        sk,
        json!({ "pk": { "S": "SHOP#demo" }, "sk": { "S": sk } }),
    )
}

/// A cart change whose image is no cart: the planner reports it failed, every time.
fn unreadable_cart(seq: u32) -> EventRecord {
    let sk = "CART#c1";
    record(
        seq,
        sk,
        json!({ "pk": { "S": "SHOP#demo" }, "sk": { "S": sk }, "shop": { "N": "1" } }),
    )
}

fn sequence_numbers(records: &[EventRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.change.sequence_number.clone().unwrap_or_default())
        .collect()
}
