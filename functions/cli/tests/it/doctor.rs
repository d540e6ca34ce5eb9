//! `cartback doctor` as an operator runs it, against emulated AWS (moto): a stack set up as
//! docs/deploy.md says has nothing to fix (what moto cannot answer — SES's account and event
//! destinations, SNS's SMS sandbox — and its never-verified identities are warnings); a
//! broken one (no unsubscribe secret,
//! an unverified sending domain, a shop without its webhook secret sending from another
//! domain) gets one line per problem with what to fix, and exit code 1. The platforms'
//! webhooks are read from mock Admin APIs: a Shopify store connected with `cartback shop
//! connect shopify` is ok; a topic missing there, or a BigCommerce hook BigCommerce turned
//! off, is a fix.

use std::process::Output;

use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::ShopSettings;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::emulator::{Emulator, cartback_on};

const TABLE: &str = "cartback-doctor";
const SECRET: &str = "a-webhook-secret-for-the-doctor-test";
/// A SecureString of 64 bytes, as `openssl rand -base64 48` makes.
const UNSUBSCRIBE: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";

fn doctor(emulator: &Emulator, extra: &[&str]) -> Output {
    cartback_on(&emulator.moto.endpoint)
        .args(["doctor", "--table", TABLE, "--json"])
        .args(extra)
        .output()
        .expect("cartback runs")
}

const WEBHOOK_BASE: &str = "https://hooks.kuura-knitwear.example/webhooks/";
const CALLBACK: &str = "https://hooks.kuura-knitwear.example/webhooks/kuura-knitwear/shopify";
const STORE: &str = "kuura-knitwear.myshopify.com";
const ADMIN_TOKEN: &str = "shpat_doctor0123456789";

/// A mock Shopify Admin API whose store has these topics subscribed to our callback.
async fn shopify_store_with(topics: &[&str]) -> MockServer {
    let server = MockServer::start().await;
    let nodes: Vec<Value> = topics
        .iter()
        .enumerate()
        .map(|(i, topic)| {
            json!({ "id": format!("gid://shopify/WebhookSubscription/{i}"), "topic": topic, "uri": CALLBACK })
        })
        .collect();
    Mock::given(method("POST"))
        .and(path("/admin/api/2026-10/graphql.json"))
        .and(header("X-Shopify-Access-Token", ADMIN_TOKEN))
        .and(body_string_contains("webhookSubscriptions("))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "webhookSubscriptions": {
                "nodes": nodes,
                "pageInfo": { "hasNextPage": false, "endCursor": null }
            } }
        })))
        .mount(&server)
        .await;
    server
}

/// `cartback shop connect shopify` against the mock: subscribes what is missing and stores
/// the token in the stack's SSM.
fn connect(emulator: &Emulator, admin: &MockServer) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, ADMIN_TOKEN).expect("token file");
    cartback_on(&emulator.moto.endpoint)
        .args([
            "shop",
            "connect",
            "shopify",
            "--shop",
            "kuura-knitwear",
            "--store",
            STORE,
        ])
        .args(["--webhook-base", WEBHOOK_BASE, "--table", TABLE])
        .arg("--token-file")
        .arg(&token_file)
        .args(["--admin-origin", &admin.uri(), "--retry-ms", "1"])
        .output()
        .expect("cartback runs")
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

/// Each check's name and level (and the whole line, for messages).
fn lines_of(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn level_of<'a>(checks: &'a [Value], name: &str) -> &'a str {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .and_then(|c| c["level"].as_str())
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

async fn verified_domain(emulator: &Emulator, domain: &str) {
    aws_sdk_sesv2::Client::new(&emulator.sdk)
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await
        .expect("the identity is created");
}

#[tokio::test]
async fn a_stack_set_up_as_the_guide_says_has_nothing_to_fix() {
    let emulator = Emulator::start(TABLE, UNSUBSCRIBE).await;
    verified_domain(&emulator, "kuura-knitwear.example").await;
    let shop = ShopId::parse("kuura-knitwear").expect("shop id");
    let mut settings = ShopSettings::defaults_for(&shop);
    settings.from_address =
        cartback_core::model::contact::Email::parse("hello@kuura-knitwear.example").expect("email");
    settings.shopify_store =
        Some(cartback_core::model::ids::ShopifyStore::parse(STORE).expect("store"));
    cartback_devstack::connect_shop(&emulator.sdk, &emulator.names, &shop, &settings, SECRET)
        .await
        .expect("shop");
    let all = [
        "CHECKOUTS_CREATE",
        "CHECKOUTS_UPDATE",
        "ORDERS_CREATE",
        "ORDERS_PAID",
    ];
    let admin = shopify_store_with(&all).await;
    let connected = connect(&emulator, &admin);
    assert!(
        connected.status.success(),
        "{}",
        String::from_utf8_lossy(&connected.stderr)
    );
    let said = String::from_utf8_lossy(&connected.stdout);
    assert!(
        said.contains("/cartback/shops/kuura-knitwear/shopify-token"),
        "{said}"
    );
    assert!(
        !said.contains(ADMIN_TOKEN),
        "the token is never printed: {said}"
    );

    let output = doctor(
        &emulator,
        &[
            "--webhook-base",
            WEBHOOK_BASE,
            "--shopify-admin-origin",
            &admin.uri(),
        ],
    );

    let checks = lines_of(&output);
    println!("{}", String::from_utf8_lossy(&output.stdout));
    for name in [
        "table",
        "unsubscribe secret",
        "shop kuura-knitwear",
        "shop kuura-knitwear webhooks",
    ] {
        assert_eq!(level_of(&checks, name), "ok", "{checks:?}");
    }
    assert!(
        check(&checks, "shop kuura-knitwear webhooks")["detail"]
            .as_str()
            .is_some_and(|d| d.contains(CALLBACK)),
        "{checks:?}"
    );
    // moto keeps identities but never verifies one: a warning there, a fix on AWS.
    assert_eq!(level_of(&checks, "ses identity"), "warn", "{checks:?}");
    assert!(
        checks.iter().all(|c| c["level"] != "fix"),
        "nothing to fix: {checks:?}"
    );
    assert_eq!(output.status.code(), Some(0), "{checks:?}");
}

#[tokio::test]
async fn a_broken_stack_gets_a_line_per_problem_and_exit_code_1() {
    let emulator = Emulator::start(TABLE, "too-short").await;
    // The shop sends from a domain SES does not know, and its webhook secret is missing.
    let shop = ShopId::parse("kuura-knitwear").expect("shop id");
    let mut settings = ShopSettings::defaults_for(&shop);
    settings.from_address =
        cartback_core::model::contact::Email::parse("hello@elsewhere.example").expect("email");
    cartback_devstack::connect_shop(&emulator.sdk, &emulator.names, &shop, &settings, SECRET)
        .await
        .expect("shop");
    aws_sdk_ssm::Client::new(&emulator.sdk)
        .delete_parameter()
        .name(emulator.names.webhook_secret_param("kuura-knitwear"))
        .send()
        .await
        .expect("the secret is deleted");
    verified_domain(&emulator, "kuura-knitwear.example").await;

    let output = doctor(&emulator, &["--sender-identity", "kuura-knitwear.example"]);

    let checks = lines_of(&output);
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(1), "{checks:?}");
    assert_eq!(level_of(&checks, "unsubscribe secret"), "fix");
    let shop_line = checks
        .iter()
        .find(|c| c["check"] == "shop kuura-knitwear")
        .expect("the shop's line");
    assert_eq!(shop_line["level"], "fix");
    let detail = shop_line["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("no webhook secret"), "{shop_line}");
    assert!(detail.contains("not of the SES identity"), "{shop_line}");
    assert!(
        shop_line["fix"]
            .as_str()
            .is_some_and(|f| f.contains("cartback shop add --shop kuura-knitwear")),
        "{shop_line}"
    );
    // No secret value is ever printed.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("too-short"));

    // Webhooks: a Shopify store missing a topic, a BigCommerce hook turned off.
    let emulator = Emulator::start(TABLE, UNSUBSCRIBE).await;
    let mut shopify = ShopSettings::defaults_for(&shop);
    shopify.shopify_store =
        Some(cartback_core::model::ids::ShopifyStore::parse(STORE).expect("store"));
    cartback_devstack::connect_shop(&emulator.sdk, &emulator.names, &shop, &shopify, SECRET)
        .await
        .expect("shop");
    let admin =
        shopify_store_with(&["CHECKOUTS_CREATE", "CHECKOUTS_UPDATE", "ORDERS_CREATE"]).await;
    let ssm = aws_sdk_ssm::Client::new(&emulator.sdk);
    ssm.put_parameter()
        .name("/cartback/shops/kuura-knitwear/shopify-token")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(ADMIN_TOKEN)
        .send()
        .await
        .expect("token");
    let big = ShopId::parse("kuura-big").expect("shop id");
    let mut bigcommerce = ShopSettings::defaults_for(&big);
    bigcommerce.bigcommerce_store_hash =
        Some(cartback_core::model::ids::StoreHash::parse("t4v9p2w7qc").expect("hash"));
    cartback_devstack::connect_shop(&emulator.sdk, &emulator.names, &big, &bigcommerce, SECRET)
        .await
        .expect("shop");
    ssm.put_parameter()
        .name("/cartback/shops/kuura-big/bigcommerce-token")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value("bc-token")
        .send()
        .await
        .expect("token");
    let bc_api = MockServer::start().await;
    let bc_callback = format!("{WEBHOOK_BASE}kuura-big/bigcommerce");
    Mock::given(method("GET"))
        .and(path("/stores/t4v9p2w7qc/v3/hooks"))
        .and(header("X-Auth-Token", "bc-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                { "id": 1, "scope": "store/cart/abandoned", "destination": bc_callback, "is_active": true },
                { "id": 2, "scope": "store/cart/converted", "destination": bc_callback, "is_active": false }
            ]
        })))
        .mount(&bc_api)
        .await;

    let output = doctor(
        &emulator,
        &[
            "--webhook-base",
            WEBHOOK_BASE,
            "--shopify-admin-origin",
            &admin.uri(),
            "--bigcommerce-api",
            &bc_api.uri(),
        ],
    );
    let checks = lines_of(&output);
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(1), "{checks:?}");
    let shopify_hooks = check(&checks, "shop kuura-knitwear webhooks");
    assert_eq!(shopify_hooks["level"], "fix", "{shopify_hooks}");
    assert!(
        shopify_hooks["detail"]
            .as_str()
            .is_some_and(|d| d.contains("ORDERS_PAID") && !d.contains("ORDERS_CREATE")),
        "{shopify_hooks}"
    );
    let bc_hooks = check(&checks, "shop kuura-big webhooks");
    assert_eq!(bc_hooks["level"], "fix", "{bc_hooks}");
    assert!(
        bc_hooks["detail"]
            .as_str()
            .is_some_and(|d| d.contains("inactive: store/cart/converted")),
        "{bc_hooks}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("bc-token"));

    // A table that is not there.
    let missing = cartback_on(&emulator.moto.endpoint)
        .args(["doctor", "--table", "no-such-table", "--json"])
        .output()
        .expect("cartback runs");
    assert_eq!(level_of(&lines_of(&missing), "table"), "fix");
    assert_eq!(missing.status.code(), Some(1));
}
