//! `cartback simulate --stats`: the AWS calls the real functions would make. Lazy re-arm
//! keeps Scheduler calls independent of how often a cart changes before it is abandoned.

use std::process::Command;

use serde_json::{Value, json};

const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const SHOP: &str = "demo-shop.myshopify.com";

/// A checkout created at 08:00 UTC and updated `updates - 1` more times, evenly, until 08:50
/// (the last activity), then left.
fn events(updates: u32) -> String {
    let mut lines = Vec::new();
    for i in 0..updates {
        let mut payload: Value = serde_json::from_str(CHECKOUT).expect("fixture");
        let second = if updates > 1 {
            i * 3000 / (updates - 1)
        } else {
            0
        };
        let at = format!("2026-11-02T08:{:02}:{:02}Z", second / 60, second % 60);
        payload["updated_at"] = json!(at);
        payload["line_items"][0]["quantity"] = json!(1 + i % 3);
        let topic = if i == 0 {
            "checkouts/create"
        } else {
            "checkouts/update"
        };
        lines.push(
            json!({ "at": at, "shop": SHOP, "platform": "shopify", "topic": topic, "payload": payload })
                .to_string(),
        );
    }
    lines.join("\n")
}

/// Runs simulate with --stats; returns (decisions on stdout, call counts from stderr).
fn simulate(updates: u32) -> (Vec<Value>, Value) {
    run(&events(updates))
}

/// One checkout of `items` line items (the benchmarks' fixture checkout), left to run its
/// steps.
fn with_items(items: usize) -> String {
    let mut payload = cartback_bench::fixtures::checkout_value(items);
    payload["updated_at"] = json!("2026-11-02T08:00:00Z");
    json!({ "at": "2026-11-02T08:00:00Z", "shop": SHOP, "platform": "shopify",
            "topic": "checkouts/create", "payload": payload })
    .to_string()
}

/// One checkout of `items` line items, each with an image URL of its own (two hashes in it,
/// as a CDN names images): a cart item that stays large when its record is compressed.
fn with_images(items: usize) -> String {
    let mut payload = cartback_bench::fixtures::checkout_value(items);
    payload["updated_at"] = json!("2026-11-02T08:00:00Z");
    if let Some(lines) = payload["line_items"].as_array_mut() {
        for (i, line) in lines.iter_mut().enumerate() {
            let hash = |salt: u64| (i as u64 + salt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            line["image_url"] = json!(format!(
                "https://cdn.example-shop.com/files/{:016x}/{i}_{:016x}.jpg",
                hash(1),
                hash(7)
            ));
        }
    }
    json!({ "at": "2026-11-02T08:00:00Z", "shop": SHOP, "platform": "shopify",
            "topic": "checkouts/create", "payload": payload })
    .to_string()
}

/// simulate --stats over `events`.
fn run(events: &str) -> (Vec<Value>, Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, events).expect("write events");
    let output = Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(["simulate", "--stats", "--events"])
        .arg(&file)
        .output()
        .expect("run cartback");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decisions = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stats = stderr
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).expect("stats are one JSON line"))
        .expect("a stats line");
    (decisions, stats)
}

fn calls(stats: &Value, service: &str, operation: &str) -> u64 {
    stats[service][operation].as_u64().unwrap_or(0)
}

#[test]
fn stats_name_services_and_aws_operations() {
    let (decisions, stats) = simulate(1);
    let sent = decisions.iter().filter(|d| d["kind"] == "sent").count();
    assert_eq!(
        sent, 3,
        "the fixture cart gets all three new-visitor emails"
    );
    assert_eq!(calls(&stats, "sesv2", "SendEmail"), 3);
    // Step 1 at +1 h; steps 2 and 3 are scheduled at the branch of what is known when the
    // step before is recorded (nothing opened: 10 h, 2 days): one schedule per step.
    assert_eq!(calls(&stats, "scheduler", "CreateSchedule"), 3);
    assert_eq!(
        calls(&stats, "scheduler", "DeleteSchedule"),
        0,
        "fired schedules delete themselves"
    );
    assert!(calls(&stats, "dynamodb", "GetItem") > 0);
    assert!(calls(&stats, "dynamodb", "PutItem") > 0);
}

#[test]
fn a_hundred_updates_cost_no_more_scheduler_calls_than_two() {
    // Both carts were last active at 08:50: the first wake-up (09:00) finds the cart moved
    // and re-arms once, however many updates came in between.
    let (_, one) = simulate(2);
    let (decisions, hundred) = simulate(100);
    assert_eq!(decisions.iter().filter(|d| d["kind"] == "sent").count(), 3);
    for operation in ["CreateSchedule", "DeleteSchedule"] {
        assert_eq!(
            calls(&hundred, "scheduler", operation),
            calls(&one, "scheduler", operation),
            "{operation}: two updates {one}, a hundred {hundred}"
        );
    }
}

#[test]
fn the_whole_three_step_lifecycle_takes_a_small_constant_number_of_writes() {
    let (_, stats) = simulate(1);
    let writes =
        calls(&stats, "dynamodb", "PutItem") + calls(&stats, "dynamodb", "TransactWriteItems");
    // Per step: claim, record, count on the person; plus the first write.
    assert!(writes <= 10, "{writes} writes: {stats}");
}

/// Every AWS call the stats count.
fn total_calls(stats: &Value) -> u64 {
    stats
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(service, _)| *service != "dynamodb_units")
        .flat_map(|(_, operations)| operations.as_object().into_iter().flatten())
        .filter_map(|(_, count)| count.as_u64())
        .sum()
}

#[test]
fn a_three_step_cart_takes_at_most_a_quarter_more_calls_than_the_least_possible() {
    let (decisions, stats) = simulate(1);
    assert_eq!(decisions.iter().filter(|d| d["kind"] == "sent").count(), 3);
    // The least a claim-before-send design needs: one write for the webhook, and per step
    // one schedule, one read, one claim, one send and one record.
    let least = 1 + 3 * 5;
    let total = total_calls(&stats);
    assert!(4 * total <= 5 * least, "{total} calls: {stats}");
    // The webhook reads the cart and the person in one call.
    assert_eq!(calls(&stats, "dynamodb", "BatchGetItem"), 1, "{stats}");
}

/// The figures docs/performance.md gives for the three-step cart created once: every write
/// of its item (record compressed, under 1 KB) bills one unit, so 17 WRU: the webhook's
/// transaction 6 (cart and person twice each, two index entries), 3 claims, 3 records and
/// the `due` entry moving 5. Every read is one consistent unit: 8 RRU.
#[test]
fn the_three_step_cart_created_once_bills_17_write_and_8_read_units() {
    let (_, stats) = simulate(1);
    let units = &stats["dynamodb_units"];
    assert_eq!(units["write"].as_u64(), Some(17), "{stats}");
    assert_eq!(units["read"].as_f64(), Some(8.0), "{stats}");
}

#[test]
fn stats_bill_dynamodb_units_by_item_size_transaction_and_index() {
    let (_, small) = run(&with_items(2));
    let units = &small["dynamodb_units"];
    let (read, write) = (
        units["read"].as_f64().expect("read units"),
        units["write"].as_u64().expect("write units"),
    );
    // Every item read is read consistently and is under 4 KB: one unit each. A webhook's
    // BatchGetItem reads two (the cart and the person's email item).
    assert_eq!(
        read,
        (calls(&small, "dynamodb", "GetItem") + 2 * calls(&small, "dynamodb", "BatchGetItem"))
            as f64,
        "{small}"
    );
    // A write is at least one unit, a transaction two per item, and index entries come on
    // top: more units than calls.
    let puts = calls(&small, "dynamodb", "PutItem");
    let transactions = calls(&small, "dynamodb", "TransactWriteItems");
    assert!(write > puts + 2 * transactions, "{small}");

    // The cart item's record is compressed: forty line items of five products (the
    // benchmarks' cart) still fit in one unit.
    let (_, forty) = run(&with_items(40));
    assert_eq!(forty["dynamodb_units"], small["dynamodb_units"], "{forty}");

    // 200 line items, each with an image URL of its own, make the cart item over 4 KB even
    // compressed: every write of it costs more.
    let (decisions, big) = run(&with_images(200));
    assert_eq!(decisions.iter().filter(|d| d["kind"] == "sent").count(), 3);
    assert_eq!(
        calls(&big, "dynamodb", "PutItem"),
        puts,
        "the same calls: {big}"
    );
    let big_write = big["dynamodb_units"]["write"]
        .as_u64()
        .expect("write units");
    // Most writes are of the cart (several KB now): on average over a unit more per put.
    assert!(big_write > write + puts, "{small} vs {big}");
    let big_read = big["dynamodb_units"]["read"].as_f64().expect("read units");
    assert!(
        big_read > read,
        "a cart over 4 KB costs more to read: {big}"
    );
}
