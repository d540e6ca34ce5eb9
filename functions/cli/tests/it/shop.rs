//! `cartback shop`: the registry round trip on moto (a shop added by the command receives
//! webhooks; removed, it gets 404), and `shop connect shopify` against a mock Admin API.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::Secret;
use cartback_core::ports::ShopDirectory;
use cartback_devstack::apigw::HttpCall;
use cartback_devstack::{Moto, Names, Stack};

use crate::common::emulator::{Emulator, cartback_on};
use cartback_local::VirtualClock;
use jiff::Timestamp;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TABLE: &str = "cartback-shop-test";
const SHOP: &str = "kuura-knitwear";
const SECRET: &str = "shpss_test-signing-key-7f3a91";
const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const SHOP_REDACT: &str = include_str!("../../../core/tests/fixtures/shopify/shop_redact.json");

struct World {
    moto: Moto,
    names: Names,
    sdk: aws_config::SdkConfig,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let Emulator { moto, sdk, names } = Emulator::start(TABLE, "shop-test-unsub").await;
    World {
        moto,
        names,
        sdk,
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

impl World {
    fn cartback(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run(args, stdin, Some(TABLE))
    }

    /// `cartback` with no CARTBACK_TABLE in its environment.
    fn cartback_without_table(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run(args, stdin, None)
    }

    fn run(&self, args: &[&str], stdin: Option<&str>, table: Option<&str>) -> Output {
        let mut command = cartback_on(&self.moto.endpoint);
        if let Some(table) = table {
            command.env("CARTBACK_TABLE", table);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cartback runs");
        if let Some(input) = stdin
            && let Some(mut pipe) = child.stdin.take()
        {
            pipe.write_all(input.as_bytes()).expect("stdin");
        }
        child.wait_with_output().expect("cartback ends")
    }

    /// A SecureString's value in the world's SSM (`None` when there is none).
    async fn parameter(&self, name: &str) -> Option<String> {
        aws_sdk_ssm::Client::new(&self.sdk)
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .ok()?
            .parameter?
            .value
    }

    fn settings_file(&self, name: &str) -> String {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "[shops.{SHOP}]\nname = \"{name}\"\nfrom_address = \"hello@kuura-knitwear.example\"\n\
                 default_locale = \"fi\"\n\n[shops.{SHOP}.rules]\ntime_zone = \"Europe/Helsinki\"\n"
            ),
        )
        .expect("settings file");
        path.display().to_string()
    }

    /// A signed checkout through a freshly started webhook function (no warm caches).
    async fn post_checkout(&self) -> u16 {
        self.post("checkouts/create", CHECKOUT).await.0
    }

    /// A signed Shopify webhook of `topic`: status and body.
    async fn post(&self, topic: &str, body: &str) -> (u16, String) {
        let stack = Stack::new(
            self.sdk.clone(),
            self.names.clone(),
            // A minute after the fixture's checkout: the same answer whatever today is.
            VirtualClock::new(
                "2026-11-02T08:01:00Z"
                    .parse::<Timestamp>()
                    .expect("a timestamp"),
            ),
        )
        .await
        .expect("stack");
        let hmac = cartback_core::platforms::shopify::sign(&Secret::new(SECRET), body.as_bytes());
        let route_path = format!("/webhooks/{SHOP}/shopify");
        let reply = stack
            .call_webhook(&HttpCall {
                method: "POST",
                route: "/webhooks/{shop}/{platform}",
                path: &route_path,
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
            .map(|reply| {
                (
                    reply.status,
                    String::from_utf8_lossy(&reply.body).into_owned(),
                )
            })
            .expect("the webhook function answers");
        // The erasure worker takes what a privacy webhook queued.
        stack
            .drain_erasures()
            .await
            .expect("the erasure worker runs");
        reply
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn a_shop_added_by_the_command_receives_webhooks_and_a_removed_one_gets_404() {
    let world = world().await;
    let settings = world.settings_file("Kuura Knitwear");

    assert_eq!(
        world.post_checkout().await,
        404,
        "unknown before it is added"
    );

    let added = world.cartback(
        &[
            "shop",
            "add",
            "--shop",
            SHOP,
            "--settings",
            &settings,
            "--secret-stdin",
        ],
        Some(&format!("{SECRET}\n")),
    );
    assert!(added.status.success(), "{}", text(&added));
    assert!(
        text(&added).contains("added shop `kuura-knitwear`"),
        "{}",
        text(&added)
    );
    assert!(
        !text(&added).contains(SECRET),
        "the secret is never printed"
    );

    // What the functions read: a SecureString with the secret, and the settings.
    let parameter = aws_sdk_ssm::Client::new(&world.sdk)
        .get_parameter()
        .name("/cartback/shops/kuura-knitwear/webhook-secret")
        .with_decryption(true)
        .send()
        .await
        .expect("the parameter")
        .parameter
        .expect("a parameter");
    assert_eq!(parameter.value.as_deref(), Some(SECRET));
    assert_eq!(
        parameter.r#type,
        Some(aws_sdk_ssm::types::ParameterType::SecureString)
    );
    let shop = cartback_aws::DynamoShopDirectory::new(&world.sdk, TABLE)
        .shop(&ShopId::parse(SHOP).expect("id"))
        .await
        .expect("read")
        .expect("the shop is there");
    assert_eq!(shop.settings.name, "Kuura Knitwear");
    assert_eq!(shop.settings.default_locale.as_deref(), Some("fi"));

    assert_eq!(
        world.post_checkout().await,
        200,
        "a signed webhook is accepted"
    );

    // Adding again is refused; --replace changes the settings and bumps the version.
    let again = world.cartback(
        &[
            "shop",
            "add",
            "--shop",
            SHOP,
            "--settings",
            &settings,
            "--secret-stdin",
        ],
        Some(SECRET),
    );
    assert!(!again.status.success());
    assert!(text(&again).contains("pass --replace"), "{}", text(&again));
    let renamed = world.settings_file("Kuura Knitwear Oy");
    let replaced = world.cartback(
        &[
            "shop",
            "add",
            "--shop",
            SHOP,
            "--settings",
            &renamed,
            "--secret-stdin",
            "--replace",
        ],
        Some(SECRET),
    );
    assert!(replaced.status.success(), "{}", text(&replaced));

    // A second shop with a secret and no settings yet.
    cartback_devstack::put_secret(&world.sdk, "/cartback/shops/half-done/webhook-secret", "x")
        .await
        .expect("secret");

    let shown = world.cartback(&["shop", "show", "--shop", SHOP, "--json"], None);
    assert!(shown.status.success(), "{}", text(&shown));
    let shown_text = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(!shown_text.contains(SECRET), "the secret is never printed");
    let shown: Value = serde_json::from_str(&shown_text).expect("JSON");
    assert_eq!(shown["live"], json!(true));
    assert_eq!(shown["settings_version"], json!(2));
    assert_eq!(shown["settings"]["name"], json!("Kuura Knitwear Oy"));
    assert_eq!(shown["secret"]["version"], json!(2), "written twice");
    assert_eq!(
        shown["secret"]["parameter"],
        json!("/cartback/shops/kuura-knitwear/webhook-secret")
    );

    let listed = world.cartback(&["shop", "list", "--json"], None);
    assert!(listed.status.success(), "{}", text(&listed));
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let shops = listed["shops"].as_array().expect("shops");
    assert_eq!(shops.len(), 2, "{listed}");
    assert_eq!(shops[0]["shop"], json!("half-done"));
    assert_eq!(shops[0]["live"], json!(false));
    assert_eq!(shops[1]["shop"], json!(SHOP));
    assert_eq!(shops[1]["live"], json!(true));
    let table = world.cartback(&["shop", "list"], None);
    let table = text(&table);
    assert!(table.contains("no settings (webhooks get 404)"), "{table}");
    assert!(table.contains("Kuura Knitwear Oy"), "{table}");

    // Removed, the shop keeps what Shopify's shop/redact (48 hours after an uninstall) needs.
    let removed = world.cartback(&["shop", "remove", "--shop", SHOP], None);
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(
        text(&removed).contains("privacy webhooks") && text(&removed).contains("--purge"),
        "{}",
        text(&removed)
    );
    let (status, body) = world.post("checkouts/create", CHECKOUT).await;
    assert_eq!((status, body.contains("ignored")), (200, true), "{body}");
    let redact = SHOP_REDACT.replace("demo-shop.myshopify.com", SHOP);
    let shown = world.cartback(&["shop", "show", "--shop", SHOP, "--json"], None);
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(shown["live"], json!(false));
    assert!(shown["removed"]["keep_until"].is_string(), "{shown}");
    let (status, body) = world.post("shop/redact", &redact).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("erasure_queued"),
        "the redact still erases: {body}"
    );

    // The redact it waited for has come: the shop's tombstone goes, its webhooks get 404.
    assert_eq!(world.post_checkout().await, 404, "forgotten");
    let (status, _) = world.post("shop/redact", &redact).await;
    assert_eq!(status, 404, "a second redact finds no shop");

    // The webhook secret stays until purged; a platform token goes with it.
    let ssm = aws_sdk_ssm::Client::new(&world.sdk);
    let token = format!("/cartback/shops/{SHOP}/shopify-token");
    ssm.put_parameter()
        .name(&token)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value("shpat_purged")
        .send()
        .await
        .expect("a stored token");
    let purged = world.cartback(&["shop", "remove", "--shop", SHOP, "--purge"], None);
    assert!(purged.status.success(), "{}", text(&purged));
    assert!(
        text(&purged).contains("settings were not there, webhook secret deleted"),
        "{}",
        text(&purged)
    );
    assert!(
        world.parameter(&token).await.is_none(),
        "the token is deleted"
    );
    let gone = world.cartback(&["shop", "show", "--shop", SHOP], None);
    assert!(!gone.status.success());
    assert!(
        text(&gone).contains("no shop `kuura-knitwear`"),
        "{}",
        text(&gone)
    );
}

#[tokio::test]
async fn bad_settings_are_refused_before_anything_is_written() {
    let world = world().await;
    let path = world.dir.path().join("broken.toml");
    std::fs::write(
        &path,
        format!("[shops.{SHOP}]\nname = \"Kuura\"\nfrom_address = \"not an address\"\n"),
    )
    .expect("file");
    let path = path.display().to_string();
    let refused = world.cartback(
        &[
            "shop",
            "add",
            "--shop",
            SHOP,
            "--settings",
            &path,
            "--secret-stdin",
        ],
        Some(SECRET),
    );
    assert!(!refused.status.success());
    let message = text(&refused);
    // The line of the shop's table (serde's flattened settings lose the field's own span).
    assert!(
        message.contains("broken.toml:1: not a valid email address"),
        "names file, line and what is wrong: {message}"
    );

    let no_secret = world.cartback(
        &[
            "shop",
            "add",
            "--shop",
            SHOP,
            "--settings",
            &world.settings_file("Kuura"),
        ],
        None,
    );
    assert!(!no_secret.status.success());
    assert!(
        text(&no_secret).contains("--secret-file FILE or --secret-stdin"),
        "{}",
        text(&no_secret)
    );
    let missing = aws_sdk_ssm::Client::new(&world.sdk)
        .get_parameter()
        .name("/cartback/shops/kuura-knitwear/webhook-secret")
        .send()
        .await;
    assert!(missing.is_err(), "nothing was written");
}

/// A CloudFormation stack on moto whose outputs name this test's table and a secrets prefix
/// of its own (the template's outputs, with one queue so the stack has a resource).
async fn deployed_stack(world: &World, name: &str, prefix: &str) {
    let template = json!({
        "Resources": { "Queue": { "Type": "AWS::SQS::Queue" } },
        "Outputs": {
            "TableName": { "Value": TABLE },
            "SecretsPrefix": { "Value": prefix },
            "ScheduleGroupName": { "Value": name },
        }
    });
    aws_sdk_cloudformation::Client::new(&world.sdk)
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .send()
        .await
        .expect("moto creates the stack");
}

#[tokio::test]
async fn stack_takes_the_table_and_the_secrets_prefix_from_the_stack_outputs() {
    let world = world().await;
    deployed_stack(&world, "cartback-prod", "/prod/shops/").await;
    let settings = world.settings_file("Kuura Knitwear");
    // No CARTBACK_TABLE: only the stack names the table.
    let added = world.cartback_without_table(
        &[
            "shop",
            "add",
            "--stack",
            "cartback-prod",
            "--shop",
            SHOP,
            "--settings",
            &settings,
            "--secret-stdin",
        ],
        Some(SECRET),
    );
    assert!(added.status.success(), "{}", text(&added));
    assert_eq!(
        world
            .parameter(&format!("/prod/shops/{SHOP}/webhook-secret"))
            .await
            .as_deref(),
        Some(SECRET),
        "the secret is under the stack's prefix"
    );
    let shown = world.cartback_without_table(
        &[
            "shop",
            "show",
            "--shop",
            SHOP,
            "--json",
            "--stack",
            "cartback-prod",
        ],
        None,
    );
    assert!(shown.status.success(), "{}", text(&shown));
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(shown["settings"]["name"], "Kuura Knitwear", "{shown}");

    let missing = world.cartback_without_table(&["shop", "list", "--stack", "cartback-nope"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("--stack cartback-nope"),
        "{}",
        text(&missing)
    );
    let misplaced = world.cartback_without_table(&["demo", "--stack", "cartback-prod"], None);
    assert_eq!(misplaced.status.code(), Some(2));
    assert!(
        text(&misplaced).contains("--stack is for the commands that read a deployed stack"),
        "{}",
        text(&misplaced)
    );
}

const TOKEN: &str = "shpat_0123456789abcdef";
const CALLBACK: &str =
    "https://abc123.execute-api.eu-north-1.amazonaws.com/webhooks/kuura-knitwear/shopify";

/// `shop connect shopify` against the mock Admin API, storing the token in the world's SSM.
fn connect(world: &World, server: &MockServer, token_file: &Path) -> Output {
    let uri = server.uri();
    let token_file = token_file.display().to_string();
    world.cartback(
        &[
            "shop",
            "connect",
            "shopify",
            "--shop",
            SHOP,
            "--store",
            "kuura-knitwear.myshopify.com",
            "--webhook-base",
            "https://abc123.execute-api.eu-north-1.amazonaws.com/webhooks/",
            "--retry-ms",
            "5",
            "--admin-origin",
            &uri,
            "--token-file",
            &token_file,
        ],
        None,
    )
}

fn created(topic: &str, id: u32) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "data": {"webhookSubscriptionCreate": {
            "webhookSubscription": {
                "id": format!("gid://shopify/WebhookSubscription/{id}"),
                "topic": topic,
                "uri": CALLBACK,
            },
            "userErrors": [],
        }},
        "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10}},
    }))
}

#[tokio::test]
async fn connect_shopify_subscribes_the_missing_topics_and_keeps_the_ones_there() {
    let world = world().await;
    let server = MockServer::start().await;
    let endpoint = "/admin/api/2026-10/graphql.json";
    // The store already sends orders/paid to us, and checkouts/create somewhere else.
    Mock::given(method("POST"))
        .and(path(endpoint))
        .and(header("x-shopify-access-token", TOKEN))
        .and(body_string_contains("webhookSubscriptions(first: 100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"webhookSubscriptions": {
                "nodes": [
                    {"id": "gid://shopify/WebhookSubscription/7", "topic": "ORDERS_PAID", "uri": CALLBACK},
                    {"id": "gid://shopify/WebhookSubscription/8", "topic": "CHECKOUTS_CREATE", "uri": "https://old.example/hook"},
                ],
                "pageInfo": {"hasNextPage": false, "endCursor": null},
            }},
        })))
        .expect(1)
        .mount(&server)
        .await;
    // Throttled once, then accepted.
    Mock::given(method("POST"))
        .and(path(endpoint))
        .and(body_string_contains("\"CHECKOUTS_CREATE\""))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    for (topic, id) in [
        ("CHECKOUTS_CREATE", 11),
        ("CHECKOUTS_UPDATE", 12),
        ("ORDERS_CREATE", 13),
    ] {
        Mock::given(method("POST"))
            .and(path(endpoint))
            .and(header("x-shopify-access-token", TOKEN))
            .and(body_string_contains(format!("\"{topic}\"")))
            .and(body_string_contains(CALLBACK))
            .respond_with(created(topic, id))
            .with_priority(2)
            .expect(1)
            .mount(&server)
            .await;
    }
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token");

    let output = connect(&world, &server, &token_file);

    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("checkouts/create: subscribed (gid://shopify/WebhookSubscription/11)"),
        "{out}"
    );
    assert!(out.contains("checkouts/update: subscribed"), "{out}");
    assert!(out.contains("orders/create: subscribed"), "{out}");
    assert!(
        out.contains("orders/paid: already subscribed (gid://shopify/WebhookSubscription/7)"),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "the token is never printed");
    assert!(out.contains("Abandoned checkout automation"), "{out}");
    // The token is kept for `cartback doctor`, and the settings are told to name the store.
    assert_eq!(
        world
            .parameter(&format!("/cartback/shops/{SHOP}/shopify-token"))
            .await
            .as_deref(),
        Some(TOKEN),
        "the token is stored"
    );
    assert!(
        out.contains("shopify_store = \"kuura-knitwear.myshopify.com\""),
        "{out}"
    );
    server.verify().await;
    // Every create asked for JSON to our URL with the uri field.
    let requests = server.received_requests().await.expect("recorded");
    let creates: Vec<Value> = requests
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter(|b| {
            b["query"]
                .as_str()
                .is_some_and(|q| q.contains("webhookSubscriptionCreate"))
        })
        .collect();
    assert_eq!(creates.len(), 4, "3 topics, one of them retried");
    for body in creates {
        assert_eq!(
            body["variables"]["webhookSubscription"]["uri"],
            json!(CALLBACK)
        );
        assert_eq!(
            body["variables"]["webhookSubscription"]["format"],
            json!("JSON")
        );
    }
}

#[tokio::test]
async fn connect_shopify_reports_a_refused_token_and_shopify_s_user_errors() {
    let world = world().await;
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token");

    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"errors": "[API] Invalid API key or access token"})),
        )
        .mount(&refusing)
        .await;
    let output = connect(&world, &refusing, &token_file);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("refused the access token (401"),
        "{}",
        text(&output)
    );

    let invalid = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("webhookSubscriptions(first: 100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"webhookSubscriptions": {"nodes": [], "pageInfo": {"hasNextPage": false, "endCursor": null}}},
        })))
        .mount(&invalid)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("webhookSubscriptionCreate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"webhookSubscriptionCreate": {
                "webhookSubscription": null,
                "userErrors": [{"field": ["webhookSubscription", "uri"], "message": "Address for this topic has already been taken"}],
            }},
        })))
        .mount(&invalid)
        .await;
    let output = connect(&world, &invalid, &token_file);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("subscribing CHECKOUTS_CREATE: Shopify says: Address for this topic has already been taken"),
        "{}",
        text(&output)
    );

    let failing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(4)
        .mount(&failing)
        .await;
    let output = connect(&world, &failing, &token_file);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("gave up after 4 attempts"),
        "{}",
        text(&output)
    );
    failing.verify().await;
}
