//! `cartback explain --table` on a cart in each state — open, converted, suppressed, erased
//! — made by the real functions on emulated AWS (moto, through `cartback-devstack`), read
//! back by the real binary with the usual AWS environment.

use cartback_core::messages::unsubscribe::{UnsubscribeClaim, expiry_for, issue};
use cartback_core::model::ids::ShopId;
use cartback_core::model::sequence::Channel;
use cartback_core::model::shop::Secret;
use cartback_core::model::time::Clock;
use cartback_devstack::apigw::HttpCall;
use cartback_devstack::{Moto, Stack};

use crate::common::emulator::{Emulator, cartback_on};
use cartback_local::VirtualClock;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const SHOP: &str = "explain-shop";
const SECRET: &str = "explain-test-secret";
const TABLE: &str = "cartback-explain";
const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const ORDER: &str = include_str!("../../../core/tests/fixtures/shopify/orders_create.json");

const OPEN: &str = "0pe0000000000000000000000000000a";
/// Bought after its first reminder (in the treatment arm).
const CONVERTED: &str = "c0e0000000000000000000000000000c";
/// In the shop's 10 % holdout (SHA-256 of shop and cart puts it at 0.065): no reminder,
/// and its purchase still counts.
const HELD_OUT: &str = "c0e0000000000000000000000000000b";
const SUPPRESSED: &str = "5e0000000000000000000000000000cc";
const ERASED: &str = "e0a5ed0000000000000000000000000d";

fn t0() -> Timestamp {
    "2026-11-02T08:00:00Z".parse().expect("time")
}

fn after(d: SignedDuration) -> Timestamp {
    t0().checked_add(d).expect("in range")
}

struct World {
    moto: Moto,
    stack: Stack<VirtualClock>,
    clock: VirtualClock,
}

async fn world() -> World {
    let emulator = Emulator::start(TABLE, "explain-unsubscribe").await;
    emulator.connect_shop(SHOP, SECRET).await;
    let Emulator {
        moto, sdk, names, ..
    } = emulator;
    let clock = VirtualClock::new(after(SignedDuration::from_mins(1)));
    let stack = Stack::new(sdk, names, clock.clone()).await.expect("stack");
    World { moto, stack, clock }
}

async fn webhook(world: &World, topic: &str, body: &Value) {
    let body = body.to_string();
    let hmac = cartback_core::platforms::shopify::sign(&Secret::new(SECRET), body.as_bytes());
    let path = format!("/webhooks/{SHOP}/shopify");
    let reply = world
        .stack
        .call_webhook(&HttpCall {
            method: "POST",
            route: "/webhooks/{shop}/{platform}",
            path: &path,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-shopify-topic".into(), topic.into()),
                ("x-shopify-hmac-sha256".into(), hmac),
            ],
            path_parameters: vec![("shop", SHOP.into()), ("platform", "shopify".into())],
            body: body.as_bytes(),
            domain: "localhost",
            source_ip: "127.0.0.1",
            ..HttpCall::default()
        })
        .await
        .expect("the webhook function answers");
    assert_eq!(reply.status, 200, "{}", reply.text());
}

fn checkout(token: &str, email: &str) -> Value {
    let mut body: Value = serde_json::from_str(CHECKOUT).expect("fixture");
    body["token"] = json!(token);
    body["email"] = json!(email);
    body["customer"]["email"] = json!(email);
    body["updated_at"] = json!("2026-11-02T08:00:00Z");
    body
}

fn order(token: &str, email: &str, at: &str) -> Value {
    let mut body: Value = serde_json::from_str(ORDER).expect("fixture");
    body["checkout_token"] = json!(token);
    body["email"] = json!(email);
    body["contact_email"] = json!(email);
    body["customer"]["email"] = json!(email);
    body["created_at"] = json!(at);
    body["processed_at"] = json!(at);
    body
}

/// Lets the clock reach `at`, firing what falls due, as AWS would.
async fn run_until(world: &World, at: Timestamp) {
    world.stack.drain_stream().await.expect("stream");
    world.clock.advance_to(at);
    for (_, wake) in world.stack.take_due_schedules().await.expect("schedules") {
        world.stack.wake(&wake).await.expect("sender");
    }
    world.stack.drain_stream().await.expect("stream");
}

fn explain(world: &World, cart: &str, extra: &[&str]) -> String {
    let output = cartback_on(&world.moto.endpoint)
        .args(["explain", "--shop", SHOP, "--cart", cart, "--table", TABLE])
        .args(["--at", "2026-11-02T10:00:00Z"])
        .args(extra)
        .output()
        .expect("cartback runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn explain_tells_each_state_with_what_was_sent_and_what_comes_next() {
    let world = world().await;
    for (token, email) in [
        (OPEN, "open@example.com"),
        (CONVERTED, "bought@example.com"),
        (HELD_OUT, "held@example.com"),
        (SUPPRESSED, "gone@example.com"),
        (ERASED, "erased@example.com"),
    ] {
        webhook(&world, "checkouts/create", &checkout(token, email)).await;
    }
    // Step 1 goes out an hour after the checkouts.
    run_until(&world, after(SignedDuration::from_mins(60))).await;
    world.clock.advance_to(after(SignedDuration::from_mins(90)));
    webhook(
        &world,
        "orders/create",
        &order(CONVERTED, "bought@example.com", "2026-11-02T09:30:00Z"),
    )
    .await;
    webhook(
        &world,
        "orders/create",
        &order(HELD_OUT, "held@example.com", "2026-11-02T09:30:00Z"),
    )
    .await;
    world.clock.advance_to(after(SignedDuration::from_mins(95)));
    let token = issue(
        world.stack.unsubscribe_secret(),
        &UnsubscribeClaim {
            shop: ShopId::parse(SHOP).expect("shop"),
            cart: cartback_core::model::ids::CartId::parse(SUPPRESSED).expect("cart"),
            channel: Channel::Email,
            contact: None,
        },
        expiry_for(world.clock.now()),
    );
    let query = format!("t={token}");
    let reply = world
        .stack
        .call_unsubscribe(&HttpCall {
            method: "POST",
            route: "/unsubscribe",
            path: "/unsubscribe",
            query: &query,
            body: b"List-Unsubscribe=One-Click",
            domain: "localhost",
            source_ip: "127.0.0.1",
            ..HttpCall::default()
        })
        .await
        .expect("the unsubscribe function answers");
    assert_eq!(reply.status, 200);
    // An erasure deletes the cart item.
    aws_sdk_dynamodb::Client::new(&world.stack.sdk)
        .delete_item()
        .table_name(TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("SHOP#{SHOP}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CART#{ERASED}")),
        )
        .send()
        .await
        .expect("deleted");
    run_until(&world, after(SignedDuration::from_mins(100))).await;

    let open = explain(&world, OPEN, &[]);
    assert!(
        open.contains("state     open: open (1 message sent); next: send step 2 by email at 2026-11-02 19:00 UTC"),
        "{open}"
    );
    assert!(
        open.contains("    1 reminder  email         sent by email 2026-11-02 09:00 UTC"),
        "{open}"
    );
    assert!(
        open.contains("  next      send step 2 by email at 2026-11-02 19:00 UTC: 10h after step 1 (nothing opened)"),
        "{open}"
    );
    assert!(
        open.contains("reach     email (marketing consent), no phone"),
        "{open}"
    );
    assert!(
        !open.contains("open@example.com"),
        "explain shows no address: {open}"
    );

    let converted = explain(&world, CONVERTED, &[]);
    assert!(
        converted.contains(
            "state     converted: bought at 2026-11-02 09:30 UTC (1 message sent; recovered by cartback): no more messages"
        ),
        "{converted}"
    );
    assert!(
        converted.contains("    2 reassure  sms_or_email  not sent"),
        "{converted}"
    );
    assert!(converted.contains("next      nothing"), "{converted}");
    assert!(converted.contains("  arm       treatment\n"), "{converted}");
    assert!(
        converted.contains("(order 6012345678901, €79.70, recovered)"),
        "{converted}"
    );

    let held = explain(&world, HELD_OUT, &[]);
    assert!(
        held.contains(
            "state     converted: bought at 2026-11-02 09:30 UTC (0 messages sent; held out, so it counts toward the holdout's baseline)"
        ),
        "{held}"
    );
    assert!(
        held.contains("  arm       holdout: this cart gets no messages"),
        "{held}"
    );
    assert!(
        held.contains("(order 6012345678901, €79.70)\n"),
        "bought, not recovered: {held}"
    );
    assert!(
        held.contains("    1 reminder  email         not sent"),
        "{held}"
    );
    let held_json: Value =
        serde_json::from_str(&explain(&world, HELD_OUT, &["--json"])).expect("JSON");
    assert_eq!(held_json["arm"], "holdout");
    assert_eq!(
        held_json.get("recovered"),
        None,
        "not recovered: {held_json}"
    );

    let suppressed = explain(&world, SUPPRESSED, &[]);
    assert!(
        suppressed.contains(
            "state     suppressed: unsubscribed: the person unsubscribed (1 message sent)"
        ),
        "{suppressed}"
    );
    assert!(
        suppressed.contains("blocked   email unsubscribed at 2026-11-02 09:35 UTC"),
        "{suppressed}"
    );
    assert!(suppressed.contains("next      nothing"), "{suppressed}");

    let erased = explain(&world, ERASED, &[]);
    assert!(
        erased.contains("state     erased: no record of this cart"),
        "{erased}"
    );

    // `cartback report --table` reads the same table: the held-out cart in the holdout,
    // the three treated ones (the erased cart is gone) in the treatment.
    let output = cartback_on(&world.moto.endpoint)
        .args(["report", "--table", TABLE, "--shop", SHOP, "--json"])
        .output()
        .expect("cartback runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["holdout"]["carts"], 1, "{report}");
    assert_eq!(report["holdout"]["conversions"], 1, "{report}");
    assert_eq!(report["holdout"]["recovered_orders"], 0, "{report}");
    assert_eq!(report["treatment"]["carts"], 3, "{report}");
    assert_eq!(report["treatment"]["conversions"], 1, "{report}");
    assert_eq!(report["treatment"]["recovered_orders"], 1, "{report}");
    assert_eq!(report["treatment"]["revenue"]["EUR"], "79.70", "{report}");

    let json: Value = serde_json::from_str(&explain(&world, OPEN, &["--json"])).expect("JSON");
    assert_eq!(json["state"], "open");
    assert_eq!(json["next"]["decision"], "send");
    assert_eq!(json["next"]["step"], 2);
    assert_eq!(json["steps"][0]["status"], "sent");
}
