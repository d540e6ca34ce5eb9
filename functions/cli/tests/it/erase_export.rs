//! `cartback export` and `cartback erase` as an operator runs them: the real binary against a
//! table and schedule group on emulated AWS (moto, through `cartback-devstack`), with the
//! usual AWS environment. Export prints only the person's data; erase deletes their cart and
//! its schedule, prints no address, and is idempotent; a table that cannot be reached exits
//! non-zero.

use std::process::Output;

use cartback_core::model::shop::Secret;
use cartback_devstack::apigw::HttpCall;
use cartback_devstack::{Moto, Stack};

use crate::common::emulator::{Emulator, cartback_on};
use cartback_local::VirtualClock;
use serde_json::{Value, json};

const SHOP: &str = "erase-shop";
const SECRET: &str = "erase-test-secret";
const TABLE: &str = "cartback-erase";
const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const ADA: &str = "ada0000000000000000000000000000a";
const BOB: &str = "b0b0000000000000000000000000000b";

struct World {
    moto: Moto,
    stack: Stack<VirtualClock>,
}

async fn world() -> World {
    let emulator = Emulator::start(TABLE, "erase-unsubscribe").await;
    emulator.connect_shop(SHOP, SECRET).await;
    let Emulator {
        moto, sdk, names, ..
    } = emulator;
    let clock = VirtualClock::new("2026-11-02T08:01:00Z".parse().expect("time"));
    let stack = Stack::new(sdk, names, clock).await.expect("stack");
    World { moto, stack }
}

async fn checkout(world: &World, token: &str, email: &str) {
    let mut body: Value = serde_json::from_str(CHECKOUT).expect("fixture");
    body["token"] = json!(token);
    body["email"] = json!(email);
    body["customer"]["email"] = json!(email);
    body["updated_at"] = json!("2026-11-02T08:00:00Z");
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
                ("x-shopify-topic".into(), "checkouts/create".into()),
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

fn cartback(endpoint: &str, args: &[&str]) -> Output {
    cartback_on(endpoint)
        .args(args)
        .output()
        .expect("cartback runs")
}

fn json_out(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON document")
}

#[tokio::test]
async fn export_shows_only_the_person_and_erase_removes_their_cart_and_schedule() {
    let world = world().await;
    checkout(&world, ADA, "ada@example.com").await;
    checkout(&world, BOB, "bob@example.com").await;
    world.stack.drain_stream().await.expect("the planner runs");
    assert_eq!(world.stack.schedules().await.expect("schedules").len(), 2);
    let endpoint = world.moto.endpoint.clone();
    let person = [
        "--shop",
        SHOP,
        "--email",
        "ADA@example.com",
        "--table",
        TABLE,
    ];

    let export = cartback(&endpoint, &[&["export"][..], &person[..]].concat());
    let text = String::from_utf8_lossy(&export.stdout).into_owned();
    let doc = json_out(&export);
    assert_eq!(doc["carts"].as_array().map(Vec::len), Some(1), "{doc:#}");
    assert_eq!(doc["carts"][0]["cart"], ADA);
    assert_eq!(doc["carts"][0]["snapshot"]["email"], "ada@example.com");
    assert!(doc["contacts"].is_array() && doc["sends"].is_array());
    assert!(
        !text.contains("bob@example.com"),
        "nobody else's data: {text}"
    );
    assert!(!text.contains(BOB));

    let erase = cartback(&endpoint, &[&["erase"][..], &person[..]].concat());
    let stdout = String::from_utf8_lossy(&erase.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&erase.stderr).into_owned();
    let done = json_out(&erase);
    assert_eq!(done["carts"], json!([ADA]), "{done}");
    assert_eq!(done["schedules"].as_array().map(Vec::len), Some(1));
    assert!(
        !stdout.contains("ada@") && !stderr.contains("ada@"),
        "{stdout}{stderr}"
    );
    let left = world.stack.schedules().await.expect("schedules");
    assert_eq!(left.len(), 1, "only Bob's schedule remains: {left:?}");

    // Idempotent: a second run has nothing left to do.
    let again = json_out(&cartback(
        &endpoint,
        &[&["erase"][..], &person[..]].concat(),
    ));
    assert_eq!(again["carts"], json!([]));

    // The export now shows the tombstone only.
    let doc = json_out(&cartback(
        &endpoint,
        &[&["export"][..], &person[..]].concat(),
    ));
    assert_eq!(doc["carts"], json!([]));
    assert_eq!(doc["contacts"][0]["email_suppressed"]["reason"], "erased");
    assert_eq!(doc["contacts"][0]["sms_suppressed"]["reason"], "erased");
    assert!(doc["contacts"][0].get("expires_at").is_none(), "{doc:#}");
}

#[test]
fn erase_against_an_unreachable_table_exits_non_zero_and_names_no_address() {
    let output = cartback(
        "http://127.0.0.1:9",
        &[
            "erase",
            "--shop",
            SHOP,
            "--phone",
            "+358401234567",
            "--table",
            TABLE,
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run the same command again"), "{stderr}");
    assert!(!stderr.contains("401234567"), "{stderr}");
}

#[test]
fn erase_needs_an_email_or_a_phone() {
    let output = cartback(
        "http://127.0.0.1:9",
        &["erase", "--shop", SHOP, "--table", TABLE],
    );
    assert!(!output.status.success());
}
