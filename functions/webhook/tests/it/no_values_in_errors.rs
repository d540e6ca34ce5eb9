//! The guard on "personal data reaches logs through error messages": every refusal path of
//! the webhook (Shopify, WooCommerce, BigCommerce and its store API answers, the generic
//! API), fed signed bodies that carry known personal values in the wrong types, in broken
//! JSON or in an oversize body. When the webhook is refused, none of those values may appear
//! in the HTTP reply, in any log line (all levels, spans included, in the functions' JSON
//! format) or in any metric. (A planted value that happens to be a valid cart id or topic is
//! accepted and echoed as that id: not a refusal, not checked here.)
//!
//! A parse error names the field and the kind of problem, never the value
//! (`core::platforms::json`).

use std::sync::{Arc, Mutex};

use crate::{WebhookPorts, webhook_ports};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::bigcommerce::{Fetch, SECRET_HEADER};
use cartback_core::platforms::webhook::{Headers, MAX_BODY_BYTES};
use cartback_local::{LocalShops, MemoryStore, MemoryStoreApi, VirtualClock};
use cartback_webhook::{WebhookReply, WebhookRequest, handle};
use serde_json::{Value, json};

/// The personal values planted in hostile bodies; none may come out.
const EMAIL: &str = "zebulon.leak@example.org";
const PHONE: u64 = 4_155_550_123;
const PHONE_TEXT: &str = "4155550123";
const NAME: &str = "Zebulon Quixfeather";
const SURNAME: &str = "Quixfeather";

const SHOPIFY_SHOP: &str = "demo-shop.myshopify.com";
const SHOPIFY_SECRET: &str = "cartback-fixture-secret";
const CHECKOUT_EVENT: &str = include_str!("../fixtures/checkouts_create.json");
const ORDER_EVENT: &str = include_str!("../fixtures/orders_create.json");
const GENERIC_UPDATED: &str = include_str!("../../../../examples/generic/cart-updated.json");
const GENERIC_CONVERTED: &str = include_str!("../../../../examples/generic/cart-converted.json");
const WOO_PENDING: &str =
    include_str!("../../../core/tests/fixtures/woocommerce/order_created_pending.json");

const BC_SHOP: &str = "kuura-knitwear";
const BC_SECRET: &str = "bc-hook-Vq3#r8Lm!x2";
const BC_CART: &str = "09346904-4175-44fd-be53-f7e598531b6c";
const BC_ABANDONED: &str =
    include_str!("../../../core/tests/fixtures/bigcommerce/store_cart_abandoned.json");
const BC_CONVERTED: &str =
    include_str!("../../../core/tests/fixtures/bigcommerce/store_cart_converted.json");
const BC_CART_JSON: &str = include_str!("../../../core/tests/fixtures/bigcommerce/cart.json");
const BC_ORDER_JSON: &str = include_str!("../../../core/tests/fixtures/bigcommerce/order.json");

/// What goes where a value is expected: the personal values in the wrong types.
fn hostile_values() -> Vec<Value> {
    vec![
        json!(PHONE),
        json!(PHONE_TEXT),
        json!(EMAIL),
        json!(NAME),
        json!({ "name": NAME, "email": EMAIL }),
        json!([EMAIL, PHONE]),
        json!(-(PHONE as i64)),
        json!(PHONE as f64 + 0.5),
        json!(true),
    ]
}

/// Everything the handler wrote while the guard ran: log lines and metrics.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

struct CapturedWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Logs at every level, in the functions' JSON format with their spans, into `self`
    /// while the guard lives (on this thread).
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let buffer = self.0.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || CapturedWriter(buffer.clone()))
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

/// Where each planted value could show up, as text.
struct Checked {
    refusals: usize,
    leaks: Vec<String>,
}

impl Checked {
    fn new() -> Self {
        Self {
            refusals: 0,
            leaks: Vec::new(),
        }
    }

    /// Records the reply, the log and the metrics of one request named `case`.
    fn check<S, A>(
        &mut self,
        case: &str,
        reply: &WebhookReply,
        logs: &Captured,
        deps: &WebhookPorts<S, A>,
    ) {
        if reply.status() == 200 {
            // Accepted: a planted value that is a valid id or topic is the cart's id or the
            // topic, echoed by design; this guard is about refusals.
            return;
        }
        self.refusals += 1;
        let metrics: String = deps
            .metrics
            .emitted()
            .iter()
            .map(|m| m.to_line())
            .collect::<Vec<_>>()
            .join("\n");
        for (place, text) in [
            ("reply", reply.body()),
            ("logs", logs.text()),
            ("metrics", metrics),
        ] {
            for value in [EMAIL, PHONE_TEXT, SURNAME, "zebulon", "415555"] {
                if text.to_lowercase().contains(&value.to_lowercase()) {
                    let line = text
                        .lines()
                        .find(|l| l.to_lowercase().contains(&value.to_lowercase()))
                        .unwrap_or_default();
                    self.leaks.push(format!(
                        "{case} (status {}): `{value}` in the {place}: {line}",
                        reply.status()
                    ));
                }
            }
        }
    }

    fn assert_clean(self, at_least_refusals: usize) {
        assert!(
            self.leaks.is_empty(),
            "{} leak(s) of personal data:\n{}",
            self.leaks.len(),
            self.leaks.join("\n")
        );
        assert!(
            self.refusals >= at_least_refusals,
            "only {} refusals: the hostile bodies did not reach the parsers",
            self.refusals
        );
    }
}

/// `body` with the value at `pointer` replaced by `value` (the last key added when absent).
fn with_value(body: &Value, pointer: &str, value: &Value) -> Value {
    let mut body = body.clone();
    if let Some(slot) = body.pointer_mut(pointer) {
        *slot = value.clone();
        return body;
    }
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    match body.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(key.to_owned(), value.clone());
        }
        _ => panic!("no object at {parent} for {pointer}"),
    }
    body
}

/// Broken JSON right after a planted email, and an oversize body full of emails.
fn broken_bodies(body: &Value, email_pointer: &str) -> Vec<(String, Vec<u8>)> {
    let planted = with_value(body, email_pointer, &json!(EMAIL)).to_string();
    let cut = planted.find(EMAIL).expect("planted") + EMAIL.len();
    let mut out = vec![
        (
            "truncated after the email".to_owned(),
            planted.as_bytes()[..cut].to_vec(),
        ),
        (
            "truncated after the phone".to_owned(),
            format!("{{\"phone\":{PHONE}").into_bytes(),
        ),
        (
            "garbage after the email".to_owned(),
            format!("{}\"{EMAIL}\"", &planted[..cut]).into_bytes(),
        ),
        (
            "an unknown escape in the name".to_owned(),
            format!("{{\"name\":\"{NAME}\\q\"}}").into_bytes(),
        ),
    ];
    let mut oversize = planted.clone().into_bytes();
    while oversize.len() <= MAX_BODY_BYTES {
        oversize.extend_from_slice(format!(" \"{EMAIL}\" {PHONE} ").as_bytes());
    }
    out.push(("oversize body".to_owned(), oversize));
    out
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn fixture_body(event: &str) -> (Headers, Value) {
    let event: Value = serde_json::from_str(event).expect("fixture is JSON");
    let mut headers = Headers::new();
    for (name, value) in event["headers"].as_object().expect("headers") {
        if name != "x-shopify-hmac-sha256" {
            headers.insert(name, value.as_str().unwrap_or_default());
        }
    }
    let body = serde_json::from_str(event["body"].as_str().expect("body")).expect("JSON body");
    (headers, body)
}

fn shopify_ports() -> WebhookPorts<MemoryStore> {
    let shop = ShopId::parse(SHOPIFY_SHOP).expect("shop");
    let shops = LocalShops::defaults().with_secret(shop, Secret::new(SHOPIFY_SECRET));
    webhook_ports(
        MemoryStore::default(),
        shops,
        VirtualClock::new("2026-11-02T08:30:00Z".parse().expect("time")),
        cartback_core::ports::NoStoreApi,
    )
}

/// Posts `body` (signed with the shop's secret) to `platform` with `headers`; the reply and
/// what was logged and counted are checked for the planted values.
fn post_signed(checked: &mut Checked, case: &str, platform: &str, headers: &Headers, body: &[u8]) {
    let deps = shopify_ports();
    let logs = Captured::default();
    let _guard = logs.install();
    let secret = Secret::new(SHOPIFY_SECRET);
    let mut headers = headers.clone();
    match platform {
        "shopify" => headers.insert(
            "x-shopify-hmac-sha256",
            cartback_core::platforms::shopify::sign(&secret, body),
        ),
        "woocommerce" => headers.insert(
            cartback_core::platforms::woocommerce::SIGNATURE_HEADER,
            cartback_core::platforms::woocommerce::sign(&secret, body),
        ),
        "generic" => headers.insert(
            cartback_core::platforms::generic::SIGNATURE_HEADER,
            cartback_core::platforms::generic::sign(
                &secret,
                body,
                "2026-11-02T08:30:00Z".parse().expect("time"),
            ),
        ),
        other => panic!("no signing for {other}"),
    }
    let request = WebhookRequest {
        shop: SHOPIFY_SHOP.to_owned(),
        platform: platform.to_owned(),
        headers,
        body: body.to_vec(),
    };
    let reply = block_on(handle(&request, &deps));
    checked.check(&format!("{platform}: {case}"), &reply, &logs, &deps);
}

/// Every hostile value at every pointer, and the broken bodies, posted signed.
fn run_platform(
    checked: &mut Checked,
    platform: &str,
    headers: &Headers,
    body: &Value,
    pointers: &[&str],
    email_pointer: &str,
) {
    for pointer in pointers {
        for value in hostile_values() {
            let hostile = with_value(body, pointer, &value).to_string();
            post_signed(
                checked,
                &format!("{pointer} = {value}"),
                platform,
                headers,
                hostile.as_bytes(),
            );
        }
    }
    for (case, bytes) in broken_bodies(body, email_pointer) {
        post_signed(checked, &case, platform, headers, &bytes);
    }
}

#[test]
fn shopify_refusals_quote_no_personal_value() {
    let mut checked = Checked::new();
    let (headers, checkout) = fixture_body(CHECKOUT_EVENT);
    run_platform(
        &mut checked,
        "shopify",
        &headers,
        &checkout,
        &[
            "/email",
            "/phone",
            "/sms_marketing_phone",
            "/token",
            "/customer",
            "/customer/first_name",
            "/customer/email",
            "/customer/phone",
            "/customer/orders_count",
            "/buyer_accepts_marketing",
            "/total_price",
            "/currency",
            "/updated_at",
            "/completed_at",
            "/line_items",
            "/line_items/0/title",
            "/line_items/0/quantity",
            "/line_items/0/price",
            "/billing_address/country_code",
        ],
        "/email",
    );
    let (headers, order) = fixture_body(ORDER_EVENT);
    run_platform(
        &mut checked,
        "shopify",
        &headers,
        &order,
        &[
            "/email",
            "/phone",
            "/checkout_token",
            "/total_price",
            "/currency",
            "/created_at",
            "/customer",
            "/customer/email",
            "/billing_address/phone",
        ],
        "/email",
    );
    checked.assert_clean(100);
}

#[test]
fn woocommerce_refusals_quote_no_personal_value() {
    let mut checked = Checked::new();
    let headers = Headers::new()
        .with("content-type", "application/json")
        .with(
            cartback_core::platforms::woocommerce::TOPIC_HEADER,
            "order.created",
        )
        .with(
            cartback_core::platforms::woocommerce::DELIVERY_HEADER,
            "3f2a8c1e9b7d4a6f0e5c2b8d1a7f4e9c",
        );
    let order: Value = serde_json::from_str(WOO_PENDING).expect("fixture");
    run_platform(
        &mut checked,
        "woocommerce",
        &headers,
        &order,
        &[
            "/id",
            "/status",
            "/currency",
            "/total",
            "/date_created_gmt",
            "/date_modified_gmt",
            "/billing",
            "/billing/email",
            "/billing/phone",
            "/billing/first_name",
            "/line_items",
            "/line_items/0/quantity",
            "/line_items/0/total",
            "/line_items/0/name",
        ],
        "/billing/email",
    );
    checked.assert_clean(50);
}

#[test]
fn generic_refusals_quote_no_personal_value() {
    let mut checked = Checked::new();
    let headers = Headers::new();
    let updated: Value = serde_json::from_str(GENERIC_UPDATED).expect("fixture");
    run_platform(
        &mut checked,
        "generic",
        &headers,
        &updated,
        &[
            "/id",
            "/type",
            "/cart",
            "/cart/id",
            "/cart/updated_at",
            "/cart/currency",
            "/cart/total",
            "/cart/time_zone",
            "/cart/contact",
            "/cart/contact/email",
            "/cart/contact/phone",
            "/cart/contact/first_name",
            "/cart/contact/orders_count",
            "/cart/consent/email_marketing",
            "/cart/items/0/title",
            "/cart/items/0/quantity",
            "/cart/items/0/unit_price",
        ],
        "/cart/contact/email",
    );
    let converted: Value = serde_json::from_str(GENERIC_CONVERTED).expect("fixture");
    run_platform(
        &mut checked,
        "generic",
        &headers,
        &converted,
        &[
            "/cart/order/id",
            "/cart/order/total",
            "/cart/order/currency",
        ],
        "/cart/id",
    );
    checked.assert_clean(100);
}

fn bc_shop() -> ShopId {
    ShopId::parse(BC_SHOP).expect("shop")
}

fn bc_cart_fetch() -> Fetch {
    Fetch::Cart(CartId::parse(BC_CART).expect("cart"))
}

fn bc_order_fetch() -> Fetch {
    Fetch::Order {
        cart: CartId::parse(BC_CART).expect("cart"),
        order: 252,
    }
}

/// Posts a BigCommerce webhook `body` with the shop's secret, the store API answering
/// `cart` and `order`.
fn post_bigcommerce(checked: &mut Checked, case: &str, body: &[u8], cart: &[u8], order: &[u8]) {
    let api = MemoryStoreApi::new();
    api.serve(&bc_shop(), &bc_cart_fetch(), cart);
    api.serve(&bc_shop(), &bc_order_fetch(), order);
    let shops = LocalShops::defaults().with_secret(bc_shop(), Secret::new(BC_SECRET));
    let deps = webhook_ports(
        MemoryStore::default(),
        shops,
        VirtualClock::new("2026-11-02T09:31:10Z".parse().expect("time")),
        api,
    );
    let logs = Captured::default();
    let _guard = logs.install();
    let request = WebhookRequest {
        shop: BC_SHOP.to_owned(),
        platform: "bigcommerce".to_owned(),
        headers: Headers::new()
            .with("content-type", "application/json")
            .with(SECRET_HEADER, BC_SECRET),
        body: body.to_vec(),
    };
    let reply = block_on(handle(&request, &deps));
    checked.check(&format!("bigcommerce: {case}"), &reply, &logs, &deps);
}

#[test]
fn bigcommerce_refusals_and_store_api_answers_quote_no_personal_value() {
    let mut checked = Checked::new();
    let abandoned: Value = serde_json::from_str(BC_ABANDONED).expect("fixture");
    let cart: Value = serde_json::from_str(BC_CART_JSON).expect("fixture");
    let order: Value = serde_json::from_str(BC_ORDER_JSON).expect("fixture");
    let (cart_text, order_text) = (cart.to_string(), order.to_string());
    // The webhook itself.
    for pointer in [
        "/scope",
        "/data",
        "/data/id",
        "/data/type",
        "/hash",
        "/producer",
    ] {
        for value in hostile_values() {
            let hostile = with_value(&abandoned, pointer, &value).to_string();
            post_bigcommerce(
                &mut checked,
                &format!("webhook {pointer} = {value}"),
                hostile.as_bytes(),
                cart_text.as_bytes(),
                order_text.as_bytes(),
            );
        }
    }
    for (case, bytes) in broken_bodies(&abandoned, "/producer") {
        post_bigcommerce(
            &mut checked,
            &format!("webhook {case}"),
            &bytes,
            cart_text.as_bytes(),
            order_text.as_bytes(),
        );
    }
    // The store API's cart answer to a genuine abandoned-cart webhook.
    for pointer in [
        "/data",
        "/data/id",
        "/data/email",
        "/data/currency",
        "/data/currency/code",
        "/data/cart_amount",
        "/data/updated_time",
        "/data/created_time",
        "/data/line_items/physical_items/0/sale_price",
        "/data/line_items/physical_items/0/list_price",
    ] {
        for value in hostile_values() {
            let hostile = with_value(&cart, pointer, &value).to_string();
            post_bigcommerce(
                &mut checked,
                &format!("cart answer {pointer} = {value}"),
                BC_ABANDONED.as_bytes(),
                hostile.as_bytes(),
                order_text.as_bytes(),
            );
        }
    }
    for (case, bytes) in broken_bodies(&cart, "/data/email") {
        post_bigcommerce(
            &mut checked,
            &format!("cart answer {case}"),
            BC_ABANDONED.as_bytes(),
            &bytes,
            order_text.as_bytes(),
        );
    }
    // The store API's order answer to a genuine converted-cart webhook.
    for pointer in [
        "/id",
        "/cart_id",
        "/date_created",
        "/total_inc_tax",
        "/currency_code",
        "/billing_address",
        "/billing_address/email",
        "/billing_address/phone",
    ] {
        for value in hostile_values() {
            let hostile = with_value(&order, pointer, &value).to_string();
            post_bigcommerce(
                &mut checked,
                &format!("order answer {pointer} = {value}"),
                BC_CONVERTED.as_bytes(),
                cart_text.as_bytes(),
                hostile.as_bytes(),
            );
        }
    }
    for (case, bytes) in broken_bodies(&order, "/billing_address/email") {
        post_bigcommerce(
            &mut checked,
            &format!("order answer {case}"),
            BC_CONVERTED.as_bytes(),
            cart_text.as_bytes(),
            &bytes,
        );
    }
    checked.assert_clean(50);
}

/// The case the issue names: a signed checkout whose `email` is a number.
#[test]
fn a_phone_number_in_the_email_field_is_refused_without_quoting_it() {
    let mut checked = Checked::new();
    let (headers, checkout) = fixture_body(CHECKOUT_EVENT);
    let body = with_value(&checkout, "/email", &json!(PHONE)).to_string();
    let deps = shopify_ports();
    let logs = Captured::default();
    let reply = {
        let _guard = logs.install();
        let mut headers = headers.clone();
        headers.insert(
            "x-shopify-hmac-sha256",
            cartback_core::platforms::shopify::sign(&Secret::new(SHOPIFY_SECRET), body.as_bytes()),
        );
        let request = WebhookRequest {
            shop: SHOPIFY_SHOP.to_owned(),
            platform: "shopify".to_owned(),
            headers,
            body: body.into_bytes(),
        };
        block_on(handle(&request, &deps))
    };
    assert_eq!(reply.status(), 400, "{}", reply.body());
    // The reason still says where and what.
    assert!(
        reply.body().contains("email") && reply.body().contains("invalid type"),
        "{}",
        reply.body()
    );
    assert!(logs.text().contains("webhook refused"), "{}", logs.text());
    checked.check("checkout email = 4155550123", &reply, &logs, &deps);
    checked.assert_clean(1);
}
