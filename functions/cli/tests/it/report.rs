//! `cartback report` as a user runs it: the simulated shop of `examples/holdout-shop.jsonl`
//! (a held-out cart converts at 8 %, a treated one at 14 %) shows a lift whose interval
//! excludes 0, with about a tenth of the carts held out; a few hand-made carts show the
//! table and what it says when a group is empty.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

fn cartback(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("cartback runs")
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("a number: {value}"))
}

#[test]
fn the_simulated_holdout_shop_shows_a_lift_whose_interval_excludes_zero() {
    let output = cartback(&[
        "report",
        "--events",
        "examples/holdout-shop.jsonl",
        "--shops",
        "examples/holdout-shop.toml",
        "--json",
    ]);

    let report: Value = serde_json::from_str(&stdout_of(&output)).expect("one JSON object");
    assert_eq!(report["shop"], "holdout-demo");
    let holdout = &report["holdout"];
    let treatment = &report["treatment"];
    let (held, treated) = (number(&holdout["carts"]), number(&treatment["carts"]));
    assert_eq!(
        held + treated,
        3000.0,
        "every generated cart reached its first step"
    );
    let share = held / (held + treated);
    // Binomial(3000, 0.1): sd 0.0055.
    assert!((share - 0.10).abs() < 0.02, "holdout share {share}");
    assert_eq!(report["not_in_experiment"]["carts"], 0);
    // The generator's rates: 8 % without messages, 14 % with them.
    let (h_rate, t_rate) = (
        number(&holdout["conversion_rate"]),
        number(&treatment["conversion_rate"]),
    );
    assert!((h_rate - 0.08).abs() < 0.035, "holdout rate {h_rate}");
    assert!((t_rate - 0.14).abs() < 0.02, "treatment rate {t_rate}");
    let lift = &report["lift"];
    let low = number(&lift["ci95"]["low"]);
    let high = number(&lift["ci95"]["high"]);
    let difference = number(&lift["difference"]);
    assert!(low > 0.0, "the interval excludes 0: {lift}");
    assert!(low < difference && difference < high, "{lift}");
    assert!((difference - (t_rate - h_rate)).abs() < 1e-12);
    assert!(number(&lift["relative"]) > 0.0);
    // Held-out carts count their conversions but are never recovered; every treated
    // conversion came after a reminder.
    assert_eq!(holdout["recovered_orders"], 0);
    assert!(number(&holdout["conversions"]) > 0.0);
    assert_eq!(treatment["recovered_orders"], treatment["conversions"]);
    // The subject test on step 1 splits the treated carts (about evenly).
    let variants = report["variants"].as_array().expect("variants");
    assert_eq!(
        variants
            .iter()
            .map(|v| (v["step"].clone(), v["variant"].clone()))
            .collect::<Vec<_>>(),
        [(json!(1), json!("a")), (json!(1), json!("question"))]
    );
    let split: f64 = variants.iter().map(|v| number(&v["carts"])).sum();
    assert_eq!(split, treated);
    assert!((number(&variants[0]["carts"]) / treated - 0.5).abs() < 0.05);
    // Revenue: exact decimals per currency, and an incremental estimate in euros.
    assert!(treatment["revenue"]["EUR"].is_string());
    let incremental = &lift["incremental_revenue"][0];
    assert_eq!(incremental["currency"], "EUR");
    let amount: f64 = incremental["amount"]
        .as_str()
        .expect("a decimal string")
        .parse()
        .expect("a number");
    assert!(amount > 0.0, "{incremental}");
}

const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const ORDER: &str = include_str!("../../../core/tests/fixtures/shopify/orders_create.json");
const SHOP: &str = "demo-shop.myshopify.com";
/// In demo-shop's 10 % holdout (SHA-256 of ("holdout", shop, cart) puts it at 0.013).
const HELD_OUT: &str = "held0000000000000000000000000024";
/// Ada's checkout token: treated.
const ADA: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const BEN: &str = "b2e7d4c1000000000000000000000000";

fn checkout(token: &str, email: &str) -> Value {
    let mut body: Value = serde_json::from_str(CHECKOUT).expect("fixture");
    body["token"] = json!(token);
    body["email"] = json!(email);
    body["customer"]["email"] = json!(email);
    body["updated_at"] = json!("2026-11-02T08:00:00Z");
    json!({ "at": "2026-11-02T08:00:00Z", "shop": SHOP, "platform": "shopify", "topic": "checkouts/create", "payload": body })
}

fn order(token: &str, email: &str) -> Value {
    let mut body: Value = serde_json::from_str(ORDER).expect("fixture");
    body["checkout_token"] = json!(token);
    body["email"] = json!(email);
    body["contact_email"] = json!(email);
    body["customer"]["email"] = json!(email);
    body["created_at"] = json!("2026-11-02T12:00:00Z");
    body["processed_at"] = json!("2026-11-02T12:00:00Z");
    json!({ "at": "2026-11-02T12:00:00Z", "shop": SHOP, "platform": "shopify", "topic": "orders/create", "payload": body })
}

fn events(dir: &TempDir) -> PathBuf {
    let lines = [
        checkout(ADA, "ada@example.com"),
        checkout(BEN, "ben@example.com"),
        checkout(HELD_OUT, "held@example.com"),
        order(ADA, "ada@example.com"),
        order(HELD_OUT, "held@example.com"),
    ];
    let path = dir.path().join("events.jsonl");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&path, text.join("\n") + "\n").expect("writable");
    path
}

#[test]
fn the_table_shows_each_arm_and_a_small_sample_says_it_shows_no_difference_yet() {
    let dir = TempDir::new().expect("a temp dir");
    let events = events(&dir);

    let text = stdout_of(&cartback(&[
        "report",
        "--events",
        events.to_str().expect("UTF-8"),
    ]));

    assert!(
        text.starts_with(
            "demo-shop.myshopify.com: what the reminders add (the shop holds out 10 % of carts)\n"
        ),
        "{text}"
    );
    let row = |label: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("a `{label}` row in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("holdout"), "holdout (no messages) 1 1 100.0 % 0 €79.70");
    assert_eq!(row("treatment"), "treatment 2 1 50.0 % 1 €79.70");
    assert!(
        text.contains("points, 95 % CI -"),
        "a wide interval below 0: {text}"
    );
    assert!(
        text.contains("includes 0: no difference shown yet"),
        "{text}"
    );
    assert!(text.contains("relative             -50 %"), "{text}");
}

#[test]
fn without_a_holdout_the_report_says_not_enough_data_instead_of_an_interval() {
    let dir = TempDir::new().expect("a temp dir");
    let events = events(&dir);
    let shops = dir.path().join("shops.toml");
    std::fs::write(
        &shops,
        format!("[shops.\"{SHOP}\"]\nname = \"Demo\"\nfrom_address = \"shop@example.com\"\nholdout = 0\n"),
    )
    .expect("writable");
    let args = [
        "report",
        "--events",
        events.to_str().expect("UTF-8"),
        "--shops",
        shops.to_str().expect("UTF-8"),
    ];

    let text = stdout_of(&cartback(&args));

    assert!(
        text.contains(
            "not enough data: no cart in the holdout (the shop's `holdout` is 0: set it to e.g. 0.1)"
        ),
        "{text}"
    );
    assert!(!text.contains("CI"), "no interval: {text}");
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let report: Value = serde_json::from_str(&stdout_of(&cartback(&json_args))).expect("JSON");
    assert_eq!(report["holdout"]["carts"], 0);
    assert_eq!(report["treatment"]["carts"], 3);
    assert_eq!(report["lift"]["ci95"], Value::Null);
    assert_eq!(report["lift"]["difference"], Value::Null);
}

#[test]
fn report_says_where_to_read_from_and_which_shop() {
    let output = Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(["report"])
        .env_remove("CARTBACK_TABLE")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pass --events FILE"), "{stderr}");

    let dir = TempDir::new().expect("a temp dir");
    let path = dir.path().join("two.jsonl");
    let mut other = checkout("0ther000000000000000000000000001", "o@example.com");
    other["shop"] = json!("other-shop");
    std::fs::write(
        &path,
        format!("{}\n{other}\n", checkout(ADA, "ada@example.com")),
    )
    .expect("writable");
    let output = cartback(&["report", "--events", path.to_str().expect("UTF-8")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("several shops"), "{stderr}");
    assert!(stderr.contains("pass --shop"), "{stderr}");
    let output = cartback(&[
        "report",
        "--events",
        path.to_str().expect("UTF-8"),
        "--shop",
        "other-shop",
        "--json",
    ]);
    let report: Value = serde_json::from_str(&stdout_of(&output)).expect("JSON");
    assert_eq!(report["shop"], "other-shop");
}
