//! Offers with single-use codes as a user meets them in the CLI: pools declared in a
//! `--shops` file for `simulate`, the demo's pool shop, and `codes import`'s checks that
//! need no AWS (a bad file, no table).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;

const SHOP: &str = "demo-shop.myshopify.com";
const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");

const SHOPS: &str = r#"
[shops."demo-shop.myshopify.com"]
name = "Demo Shop"
from_address = "shop@demo-shop.example.com"
offer_pool_low_water = 1
sequence_toml = """
name = "pool-offer"
[[step]]
template = "offer"
delay = "1h"
offer = { description = "10 % off your cart", pool = "winter10", valid_for = "24h" }
"""

[shops."demo-shop.myshopify.com".offer_pools]
winter10 = ["WINTER-A1", "WINTER-B2"]
"#;

fn cartback(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(args)
        .current_dir(cwd)
        .env_remove("CARTBACK_TABLE")
        .output()
        .expect("cartback runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("the temp dir is writable");
    path
}

/// A checkout by a person of their own (`name`), last active at `at`.
fn checkout(name: &str, token: &str, at: &str) -> Value {
    let mut checkout: Value = serde_json::from_str(CHECKOUT).expect("fixture JSON");
    let email = format!("{}@example.com", name.to_lowercase());
    checkout["token"] = json!(token);
    checkout["email"] = json!(email);
    checkout["customer"]["email"] = json!(email);
    checkout["customer"]["first_name"] = json!(name);
    checkout["updated_at"] = json!(at);
    checkout["created_at"] = json!(at);
    json!({
        "at": at, "shop": SHOP, "platform": "shopify", "topic": "checkouts/create",
        "payload": checkout,
    })
}

fn simulate_with_shops(dir: &TempDir, shops: &str, lines: &[Value]) -> Output {
    let events = write(
        dir,
        "events.jsonl",
        &lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let shops = write(dir, "shops.toml", shops);
    let args = [
        "simulate",
        "--events",
        events.to_str().expect("UTF-8 path"),
        "--shops",
        shops.to_str().expect("UTF-8 path"),
    ];
    cartback(&args, dir.path())
}

#[test]
fn simulate_gives_each_cart_its_own_code_from_the_pool_and_sends_without_one_when_it_is_empty() {
    let dir = TempDir::new().expect("a temp dir");
    let lines = [
        checkout("Ada", "cart-ada", "2026-11-02T08:00:00Z"),
        checkout("Ben", "cart-ben", "2026-11-02T08:10:00Z"),
        checkout("Cid", "cart-cid", "2026-11-02T08:20:00Z"),
    ];

    let output = simulate_with_shops(&dir, SHOPS, &lines);

    assert!(output.status.success(), "{}", text(&output.stderr));
    let sent: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|d| d["kind"] == "sent")
        .collect();
    let codes: Vec<(&str, Option<&str>)> = sent
        .iter()
        .map(|d| {
            (
                d["cart"].as_str().expect("a cart"),
                d["offer_code"].as_str(),
            )
        })
        .collect();
    assert_eq!(codes.len(), 3, "{sent:#?}");
    let (ada, ben) = (codes[0].1, codes[1].1);
    assert!(ada.is_some() && ben.is_some() && ada != ben, "{codes:?}");
    for code in [ada, ben].into_iter().flatten() {
        assert!(["WINTER-A1", "WINTER-B2"].contains(&code), "{code}");
    }
    assert_eq!(
        codes[2],
        ("cart-cid", None),
        "the pool is empty: sent without the offer"
    );
    assert!(
        !sent[2]["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("10 %"),
        "{}",
        sent[2]
    );
}

#[test]
fn a_bad_code_in_a_shops_pool_names_the_file_shop_pool_and_code() {
    let dir = TempDir::new().expect("a temp dir");
    let shops = SHOPS.replace("\"WINTER-B2\"", "\"WINTER B2\"");

    let output = simulate_with_shops(
        &dir,
        &shops,
        &[checkout("Ada", "cart-ada", "2026-11-02T08:00:00Z")],
    );

    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("shops.toml"), "{stderr}");
    assert!(stderr.contains("demo-shop.myshopify.com"), "{stderr}");
    assert!(
        stderr.contains("offer_pools.winter10: code 2 `WINTER B2`"),
        "{stderr}"
    );
    assert!(stderr.contains("whitespace"), "{stderr}");
}

#[test]
fn the_demo_shows_a_code_drawn_from_the_pool() {
    let dir = TempDir::new().expect("a temp dir");

    let output = cartback(&["demo"], dir.path());

    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("[winter-sale]") && l.contains("code WINTER10-")),
        "{stdout}"
    );
}

#[test]
fn codes_import_refuses_a_file_with_bad_lines_naming_each_before_touching_aws() {
    let dir = TempDir::new().expect("a temp dir");
    let long = "X".repeat(65);
    let file = write(
        &dir,
        "codes.txt",
        &format!("# winter\nGOOD-1\nBAD 2\n\n{long}\nGOOD-2\n"),
    );

    // No table, no AWS: the file is checked first.
    let output = cartback(
        &[
            "codes",
            "import",
            "--shop",
            SHOP,
            "--pool",
            "winter10",
            file.to_str().expect("UTF-8 path"),
        ],
        dir.path(),
    );

    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("codes.txt:3: the code contains whitespace"),
        "{stderr}"
    );
    assert!(
        stderr.contains("codes.txt:5: the code has 65 characters"),
        "{stderr}"
    );
    assert!(stderr.contains("Nothing was imported"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn codes_import_without_a_table_says_how_to_name_one() {
    let dir = TempDir::new().expect("a temp dir");
    let file = write(&dir, "codes.txt", "GOOD-1\n");

    let output = cartback(
        &[
            "codes",
            "import",
            "--shop",
            SHOP,
            "--pool",
            "winter10",
            file.to_str().expect("UTF-8 path"),
        ],
        dir.path(),
    );

    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--table") && stderr.contains("CARTBACK_TABLE"),
        "{stderr}"
    );
}

#[test]
fn codes_import_refuses_a_pool_name_a_sequence_could_not_use() {
    let dir = TempDir::new().expect("a temp dir");
    let file = write(&dir, "codes.txt", "GOOD-1\n");

    let output = cartback(
        &[
            "codes",
            "import",
            "--shop",
            SHOP,
            "--pool",
            "winter 10",
            "--table",
            "t",
            file.to_str().expect("UTF-8 path"),
        ],
        dir.path(),
    );

    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--pool `winter 10`"),
        "{}",
        text(&output.stderr)
    );
}
