//! The webhook handler behind API Gateway: HTTP API (payload format 2.0) events as AWS
//! delivers them, parsed by `lambda_http` and answered by `handle_http` on in-memory ports.
//!
//! The fixtures in `tests/fixtures/` are whole API Gateway events whose bodies are the exact
//! bytes of the Shopify fixtures in `functions/core/tests/fixtures/shopify/`, signed with the
//! fixture secret `cartback-fixture-secret` (the HMACs listed in that folder's README).

use crate::{WebhookPorts, webhook_ports};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cartback_core::model::cart::{CartRecord, CartStatus, ContactRecord, Versioned};
use cartback_core::model::ids::{CartId, ContactKey, DeliveryId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::webhook::MAX_BODY_BYTES;
use cartback_core::ports::{CartStore, PersonalData, PortError, Put, WriteOutcome};
use cartback_core::rules::decide::StopReason;
use cartback_local::{LocalShops, MemoryStore, VirtualClock};
use cartback_webhook::handle_http;
use jiff::Timestamp;
use lambda_http::Body;
use serde_json::{Value, json};

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
/// The checkout token of `checkouts_create.json` / `checkouts_update.json`.
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

const CHECKOUTS_CREATE: &str = include_str!("../fixtures/checkouts_create.json");
const CHECKOUTS_CREATE_BASE64: &str = include_str!("../fixtures/checkouts_create_base64.json");
const CHECKOUTS_UPDATE: &str = include_str!("../fixtures/checkouts_update.json");
const ORDERS_CREATE: &str = include_str!("../fixtures/orders_create.json");

fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn shop_id() -> ShopId {
    ShopId::parse(SHOP).expect("valid shop id")
}

fn cart_id() -> CartId {
    CartId::parse(TOKEN).expect("valid cart id")
}

fn event(source: &str) -> Value {
    serde_json::from_str(source).expect("fixture is JSON")
}

fn header(event: &Value, name: &str) -> String {
    event["headers"][name]
        .as_str()
        .expect("fixture has the header")
        .to_owned()
}

/// Replaces the request body (as plain text) and its content-length.
fn with_body(mut event: Value, body: &str) -> Value {
    event["body"] = json!(body);
    event["isBase64Encoded"] = json!(false);
    event["headers"]["content-length"] = json!(body.len().to_string());
    event
}

fn with_signature(mut event: Value, signature: Option<&str>) -> Value {
    let headers = event["headers"]
        .as_object_mut()
        .expect("fixture has headers");
    match signature {
        Some(value) => {
            headers.insert("x-shopify-hmac-sha256".into(), json!(value));
        }
        None => {
            headers.remove("x-shopify-hmac-sha256");
        }
    }
    event
}

fn sign(body: &str) -> String {
    cartback_core::platforms::shopify::sign(&Secret::new(SECRET), body.as_bytes())
}

fn deps_on<S: CartStore + PersonalData>(store: S) -> WebhookPorts<S> {
    let shops = LocalShops::defaults().with_secret(shop_id(), Secret::new(SECRET));
    webhook_ports(
        store,
        shops.clone(),
        VirtualClock::new(ts("2026-11-02T08:30:00Z")),
        cartback_core::ports::NoStoreApi,
    )
}

struct Harness {
    store: MemoryStore,
    deps: WebhookPorts<MemoryStore>,
}

impl Harness {
    fn new() -> Self {
        let store = MemoryStore::default();
        Self {
            deps: deps_on(store.clone()),
            store,
        }
    }

    async fn post(&self, event: &Value) -> (u16, Value) {
        post(&self.deps, event).await
    }

    async fn cart(&self) -> Option<Versioned<CartRecord>> {
        self.cart_of(&cart_id()).await
    }

    async fn cart_of(&self, cart: &CartId) -> Option<Versioned<CartRecord>> {
        self.store
            .cart(&shop_id(), cart)
            .await
            .expect("the memory store reads")
    }

    async fn contact_of(&self, key: &ContactKey) -> Option<ContactRecord> {
        self.store
            .contact(&shop_id(), key)
            .await
            .expect("the memory store reads")
            .map(|v| v.value)
    }
}

/// (eventName, the kind of item: the sort key up to and including `#`) of stream records.
fn stream_items(records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| {
            let sk = r["dynamodb"]["Keys"]["sk"]["S"]
                .as_str()
                .unwrap_or_default();
            let kind = sk.split_inclusive('#').next().unwrap_or_default();
            (
                r["eventName"].as_str().unwrap_or_default().to_owned(),
                kind.to_owned(),
            )
        })
        .collect()
}

/// A fixture event with its Shopify body edited, signed again, under a new delivery id.
fn edited(source: &str, delivery: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let original = event(source);
    let mut body: Value =
        serde_json::from_str(original["body"].as_str().expect("a text body")).expect("JSON body");
    edit(&mut body);
    let body = body.to_string();
    let mut event = with_signature(with_body(original, &body), Some(&sign(&body)));
    event["headers"]["x-shopify-webhook-id"] = json!(delivery);
    event
}

/// Parses the event exactly as the Lambda runtime would, then calls the handler.
async fn post<S: CartStore + PersonalData>(deps: &WebhookPorts<S>, event: &Value) -> (u16, Value) {
    let request = lambda_http::request::from_str(&event.to_string())
        .expect("an API Gateway HTTP API (payload 2.0) event");
    let response = handle_http(request, deps)
        .await
        .expect("a response is built");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("the reply is JSON"),
        other => panic!("expected a text body, got {other:?}"),
    };
    (response.status().as_u16(), body)
}

#[test]
fn the_fixtures_are_shaped_like_api_gateway_http_api_events() {
    for source in [
        CHECKOUTS_CREATE,
        CHECKOUTS_CREATE_BASE64,
        CHECKOUTS_UPDATE,
        ORDERS_CREATE,
    ] {
        let event = event(source);
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], "POST /webhooks/{shop}/{platform}");
        assert_eq!(event["requestContext"]["routeKey"], event["routeKey"]);
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["requestContext"]["http"]["path"], event["rawPath"]);
        assert_eq!(event["rawPath"], format!("/webhooks/{SHOP}/shopify"));
        assert_eq!(
            event["pathParameters"],
            json!({ "shop": SHOP, "platform": "shopify" })
        );
        let headers = event["headers"].as_object().expect("headers");
        assert!(
            headers
                .keys()
                .all(|name| *name == name.to_ascii_lowercase()),
            "API Gateway lowercases header names"
        );
        assert!(event["body"].is_string());
        assert!(event["isBase64Encoded"].is_boolean());
    }
}

#[tokio::test]
async fn a_signed_checkouts_create_is_stored_with_the_first_reminder_due_an_hour_after_its_updated_at()
 {
    let harness = Harness::new();

    let (status, body) = harness.post(&event(CHECKOUTS_CREATE)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "result": "stored", "cart": TOKEN }));
    let cart = harness.cart().await.expect("the cart is stored").value;
    // updated_at is 2026-11-02T10:00:00+02:00.
    assert_eq!(cart.source_updated_at, ts("2026-11-02T08:00:00Z"));
    assert_eq!(cart.last_activity_at, ts("2026-11-02T08:00:00Z"));
    assert_eq!(cart.next_due_at, Some(ts("2026-11-02T09:00:00Z")));
    assert_eq!(cart.next_step, 0);
    assert_eq!(cart.status, CartStatus::Open);
    let snapshot = cart.snapshot.expect("a snapshot");
    assert_eq!(
        snapshot.email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
    let titles: Vec<&str> = snapshot.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, ["Merino Wool Beanie", "Organic Cotton Tote"]);
    // A new visitor (no previous orders) gets the new-visitor sequence.
    assert_eq!(cart.sequence, "new-visitor");
    // The cart item, and the person's item remembering it as their latest cart.
    let mut items = stream_items(&harness.store.take_stream());
    items.sort();
    assert_eq!(
        items,
        [
            ("INSERT".to_owned(), "CART#".to_owned()),
            ("INSERT".to_owned(), "CONTACT#".to_owned())
        ]
    );
    let contact = harness
        .contact_of(cart.contact.as_ref().expect("a contact key"))
        .await
        .expect("the person is remembered");
    assert_eq!(
        contact.latest_cart.map(|l| (l.cart, l.activity_at)),
        Some((cart_id(), ts("2026-11-02T08:00:00Z")))
    );
}

#[tokio::test]
async fn a_cart_expires_the_shop_s_retention_after_its_last_activity() {
    let mut harness = Harness::new();
    let mut settings = cartback_core::model::shop::ShopSettings::defaults_for(&shop_id());
    settings.cart_retention_days =
        cartback_core::model::shop::RetentionDays::new(7).expect("7 days");
    let shops = LocalShops::defaults()
        .with_secret(shop_id(), Secret::new(SECRET))
        .with_settings(shop_id(), settings);
    harness.deps.shops = shops.clone();
    harness.deps.secrets = shops;

    let (status, body) = harness.post(&event(CHECKOUTS_CREATE)).await;

    assert_eq!(status, 200, "{body}");
    let cart = harness.cart().await.expect("the cart is stored").value;
    assert_eq!(
        cart.expires_at,
        ts("2026-11-09T08:00:00Z").as_second(),
        "7 days after the checkout's updated_at"
    );
}

#[tokio::test]
async fn a_bad_signature_is_refused_with_401_and_nothing_is_stored() {
    let harness = Harness::new();
    // A real signature, of another body.
    let other = header(&event(CHECKOUTS_UPDATE), "x-shopify-hmac-sha256");
    let wrong = with_signature(event(CHECKOUTS_CREATE), Some(&other));

    let (status, body) = harness.post(&wrong).await;

    assert_eq!(status, 401, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(harness.cart().await.is_none());
    assert!(harness.store.take_stream().is_empty());
}

#[tokio::test]
async fn a_body_changed_after_signing_is_refused_with_401() {
    let harness = Harness::new();
    let original = event(CHECKOUTS_CREATE);
    let tampered_body = original["body"]
        .as_str()
        .expect("a text body")
        .replace("\"24.90\"", "\"0.01\"");
    assert_ne!(tampered_body, original["body"].as_str().unwrap_or_default());
    let tampered = with_body(original, &tampered_body);

    let (status, _) = harness.post(&tampered).await;

    assert_eq!(status, 401);
    assert!(harness.cart().await.is_none());
    assert!(harness.store.take_stream().is_empty());
}

#[tokio::test]
async fn a_missing_signature_is_refused_with_401_and_nothing_is_stored() {
    let harness = Harness::new();
    let unsigned = with_signature(event(CHECKOUTS_CREATE), None);

    let (status, body) = harness.post(&unsigned).await;

    assert_eq!(status, 401, "{body}");
    assert!(harness.cart().await.is_none());
    assert!(harness.store.take_stream().is_empty());
}

#[tokio::test]
async fn a_signature_that_is_not_base64_is_refused_with_401() {
    let harness = Harness::new();
    let garbled = with_signature(event(CHECKOUTS_CREATE), Some("not base64 at all!"));

    let (status, _) = harness.post(&garbled).await;

    assert_eq!(status, 401);
    assert!(harness.cart().await.is_none());
}

#[tokio::test]
async fn malformed_json_with_a_valid_signature_is_refused_with_400_and_nothing_is_stored() {
    let harness = Harness::new();
    let body = r#"{"token": "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87", "updated_at": "#;
    let malformed = with_signature(with_body(event(CHECKOUTS_CREATE), body), Some(&sign(body)));

    let (status, reply) = harness.post(&malformed).await;

    assert_eq!(status, 400, "{reply}");
    assert!(reply["error"].is_string(), "{reply}");
    assert!(harness.cart().await.is_none());
    assert!(harness.store.take_stream().is_empty());
}

#[tokio::test]
async fn a_signed_checkout_without_a_token_is_refused_with_400() {
    let harness = Harness::new();
    let mut checkout: Value = serde_json::from_str(
        event(CHECKOUTS_CREATE)["body"]
            .as_str()
            .expect("a text body"),
    )
    .expect("the checkout is JSON");
    checkout.as_object_mut().expect("an object").remove("token");
    let body = checkout.to_string();
    let request = with_signature(
        with_body(event(CHECKOUTS_CREATE), &body),
        Some(&sign(&body)),
    );

    let (status, _) = harness.post(&request).await;

    assert_eq!(status, 400);
    assert!(harness.store.carts().is_empty());
}

#[tokio::test]
async fn an_unknown_platform_is_answered_with_404() {
    let harness = Harness::new();
    let mut request = event(CHECKOUTS_CREATE);
    let path = format!("/webhooks/{SHOP}/magento");
    request["pathParameters"]["platform"] = json!("magento");
    request["rawPath"] = json!(path);
    request["requestContext"]["http"]["path"] = json!(path);

    let (status, body) = harness.post(&request).await;

    assert_eq!(status, 404, "{body}");
    assert!(harness.store.carts().is_empty());
    assert!(harness.store.take_stream().is_empty());
}

#[tokio::test]
async fn a_shop_id_that_cannot_be_a_shop_is_answered_with_404() {
    let harness = Harness::new();
    let mut request = event(CHECKOUTS_CREATE);
    request["pathParameters"]["shop"] = json!("demo shop*");

    let (status, _) = harness.post(&request).await;

    assert_eq!(status, 404);
    assert!(harness.store.carts().is_empty());
}

#[tokio::test]
async fn a_body_over_512_kib_is_refused_with_413_and_nothing_is_stored() {
    let harness = Harness::new();
    let padding = "x".repeat(MAX_BODY_BYTES);
    let body = format!(r#"{{"token":"{TOKEN}","pad":"{padding}"}}"#);
    assert!(body.len() > 512 * 1024);
    let request = with_signature(
        with_body(event(CHECKOUTS_CREATE), &body),
        Some(&sign(&body)),
    );

    let (status, reply) = harness.post(&request).await;

    assert_eq!(status, 413, "{reply}");
    assert!(harness.store.carts().is_empty());
    assert!(harness.store.take_stream().is_empty());
}

#[tokio::test]
async fn a_body_of_exactly_512_kib_is_not_refused_as_too_large() {
    let harness = Harness::new();
    let skeleton = r#"{"pad":""}"#;
    let padding = "x".repeat(MAX_BODY_BYTES - skeleton.len());
    let body = format!(r#"{{"pad":"{padding}"}}"#);
    assert_eq!(body.len(), 512 * 1024);
    let request = with_signature(
        with_body(event(CHECKOUTS_CREATE), &body),
        Some(&sign(&body)),
    );

    let (status, _) = harness.post(&request).await;

    // Signed and small enough, but not a checkout.
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_base64_encoded_body_is_decoded_before_the_signature_check() {
    let plain = Harness::new();
    let encoded = Harness::new();
    let base64_event = event(CHECKOUTS_CREATE_BASE64);
    assert_eq!(base64_event["isBase64Encoded"], true);
    let decoded = BASE64
        .decode(base64_event["body"].as_str().expect("a text body"))
        .expect("valid base64");
    assert_eq!(
        decoded,
        event(CHECKOUTS_CREATE)["body"]
            .as_str()
            .expect("a text body")
            .as_bytes()
    );

    let (status, body) = encoded.post(&base64_event).await;
    plain.post(&event(CHECKOUTS_CREATE)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "result": "stored", "cart": TOKEN }));
    let from_base64 = encoded.cart().await.expect("stored");
    assert_eq!(Some(from_base64), plain.cart().await);
}

#[tokio::test]
async fn a_repeated_webhook_id_is_a_duplicate_and_writes_nothing_more() {
    let harness = Harness::new();
    let (first, _) = harness.post(&event(CHECKOUTS_CREATE)).await;
    assert_eq!(first, 200);
    let after_first = harness.cart().await.expect("stored");
    // The cart and the person's latest-cart marker.
    assert_eq!(harness.store.take_stream().len(), 2);

    let (status, body) = harness.post(&event(CHECKOUTS_CREATE)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "result": "duplicate" }));
    assert!(harness.store.take_stream().is_empty());
    assert_eq!(harness.cart().await, Some(after_first));
}

#[tokio::test]
async fn a_repeated_webhook_id_is_a_duplicate_even_with_a_newer_body() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    harness.store.take_stream();
    let before = harness.cart().await.expect("stored");
    // The update's body and signature, under the first delivery's id.
    let mut replay = event(CHECKOUTS_UPDATE);
    replay["headers"]["x-shopify-webhook-id"] =
        json!(header(&event(CHECKOUTS_CREATE), "x-shopify-webhook-id"));

    let (status, body) = harness.post(&replay).await;

    assert_eq!(status, 200);
    assert_eq!(body["result"], "duplicate");
    assert_eq!(harness.cart().await, Some(before));
}

#[tokio::test]
async fn an_older_checkouts_update_after_a_newer_one_is_stale_and_changes_nothing() {
    let harness = Harness::new();
    let (status, _) = harness.post(&event(CHECKOUTS_UPDATE)).await;
    assert_eq!(status, 200);
    let newer = harness.cart().await.expect("stored");
    harness.store.take_stream();

    // checkouts/create carries updated_at 10:00+02:00, the update 10:20+02:00.
    let (status, body) = harness.post(&event(CHECKOUTS_CREATE)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "result": "stale", "cart": TOKEN }));
    assert_eq!(harness.cart().await, Some(newer.clone()));
    assert_eq!(newer.value.source_updated_at, ts("2026-11-02T08:20:00Z"));
    let quantities: Vec<u32> = newer
        .value
        .snapshot
        .expect("a snapshot")
        .items
        .iter()
        .map(|i| i.quantity)
        .collect();
    assert_eq!(quantities, [2, 2], "the update's quantities are kept");
}

#[tokio::test]
async fn a_newer_checkouts_update_replaces_the_snapshot_but_keeps_the_schedule() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    let before = harness.cart().await.expect("stored").value;

    let (status, body) = harness.post(&event(CHECKOUTS_UPDATE)).await;

    assert_eq!(status, 200);
    assert_eq!(body["result"], "stored");
    let after = harness.cart().await.expect("stored").value;
    assert_eq!(after.source_updated_at, ts("2026-11-02T08:20:00Z"));
    assert_eq!(after.last_activity_at, ts("2026-11-02T08:20:00Z"));
    assert_ne!(after.snapshot, before.snapshot);
    // Lazy re-arm: the sender moves the wake-up when it fires.
    assert_eq!(after.next_due_at, before.next_due_at);
    assert_eq!(after.generation, before.generation);
}

#[tokio::test]
async fn orders_create_after_the_checkout_converts_the_cart_and_removes_its_next_due_at() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    harness.post(&event(CHECKOUTS_UPDATE)).await;

    let (status, body) = harness.post(&event(ORDERS_CREATE)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "result": "converted", "cart": TOKEN, "stopped_step": 0 })
    );
    let cart = harness.cart().await.expect("stored").value;
    assert_eq!(cart.status, CartStatus::Converted);
    assert_eq!(cart.next_due_at, None);
    assert_eq!(cart.stop_reason, Some(StopReason::Purchased));
    // processed_at 2026-11-02T10:24:31+02:00
    assert_eq!(cart.converted_at, Some(ts("2026-11-02T08:24:31Z")));
    let contact = harness
        .store
        .contact(&shop_id(), cart.contact.as_ref().expect("a contact key"))
        .await
        .expect("reads")
        .expect("the buyer is remembered");
    assert_eq!(
        contact.value.last_order_at,
        Some(ts("2026-11-02T08:24:31Z"))
    );
}

#[tokio::test]
async fn an_order_for_a_checkout_never_seen_is_stored_as_converted() {
    let harness = Harness::new();

    let (status, body) = harness.post(&event(ORDERS_CREATE)).await;

    assert_eq!(status, 200);
    assert_eq!(body["result"], "converted");
    let cart = harness.cart().await.expect("a converted placeholder").value;
    assert_eq!(cart.status, CartStatus::Converted);
    assert_eq!(cart.next_due_at, None);
}

#[tokio::test]
async fn checkouts_update_after_the_order_is_already_converted_and_the_cart_stays_converted() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    harness.post(&event(ORDERS_CREATE)).await;
    let converted = harness.cart().await.expect("stored");
    harness.store.take_stream();

    let (status, body) = harness.post(&event(CHECKOUTS_UPDATE)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "result": "already_converted", "cart": TOKEN })
    );
    let after = harness.cart().await.expect("stored");
    assert_eq!(after.value.status, CartStatus::Converted);
    assert_eq!(after.value.next_due_at, None);
    assert_eq!(after.value.snapshot, converted.value.snapshot);
}

/// A table that cannot be written (throttled, or down): reads may work, writes fail.
#[derive(Clone, Copy)]
struct FailingStore {
    reads_fail: bool,
}

impl FailingStore {
    fn read<T>(&self, empty: T) -> Result<T, PortError> {
        if self.reads_fail {
            Err(PortError::retryable("dynamodb", "service unavailable"))
        } else {
            Ok(empty)
        }
    }
}

impl CartStore for FailingStore {
    async fn cart(
        &self,
        _shop: &ShopId,
        _cart: &CartId,
    ) -> Result<Option<Versioned<CartRecord>>, PortError> {
        self.read(None)
    }

    async fn contact(
        &self,
        _shop: &ShopId,
        _key: &ContactKey,
    ) -> Result<Option<Versioned<ContactRecord>>, PortError> {
        self.read(None)
    }

    async fn delivery_seen(&self, _shop: &ShopId, _id: &DeliveryId) -> Result<bool, PortError> {
        self.read(false)
    }

    async fn write(&self, _puts: Vec<Put>) -> Result<WriteOutcome, PortError> {
        Err(PortError::retryable(
            "dynamodb",
            "ProvisionedThroughputExceededException",
        ))
    }
}

impl PersonalData for FailingStore {
    async fn carts_with_key(
        &self,
        _shop: &ShopId,
        _key: &cartback_core::model::ids::ContactKey,
    ) -> Result<Vec<CartId>, PortError> {
        self.read(Vec::new())
    }

    async fn carts_by_id(
        &self,
        _shop: &ShopId,
        _carts: &[CartId],
    ) -> Result<Vec<CartRecord>, PortError> {
        self.read(Vec::new())
    }

    async fn shop_keys(
        &self,
        _shop: &ShopId,
        _after: Option<&str>,
    ) -> Result<cartback_core::ports::KeyPage, PortError> {
        self.read(cartback_core::ports::KeyPage::default())
    }

    async fn delete_items(&self, _shop: &ShopId, _sort_keys: &[String]) -> Result<(), PortError> {
        Err(PortError::retryable("dynamodb", "service unavailable"))
    }
}

#[tokio::test]
async fn a_store_whose_writes_fail_answers_500_so_shopify_delivers_again() {
    let deps = deps_on(FailingStore { reads_fail: false });

    let (status, body) = post(&deps, &event(CHECKOUTS_CREATE)).await;

    assert_eq!(status, 500, "{body}");
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn a_store_whose_reads_fail_answers_500_so_shopify_delivers_again() {
    let deps = deps_on(FailingStore { reads_fail: true });

    let (status, _) = post(&deps, &event(ORDERS_CREATE)).await;

    assert_eq!(status, 500);
}

#[tokio::test]
async fn a_bad_signature_is_refused_before_the_store_is_touched() {
    // Even a failing store cannot turn a forged request into a retry (500).
    let deps = deps_on(FailingStore { reads_fail: true });
    let forged = with_signature(event(CHECKOUTS_CREATE), Some(&sign("something else")));

    let (status, _) = post(&deps, &forged).await;

    assert_eq!(status, 401);
}

// ---------------------------------------------------------------------------------------------
// Segments and one sequence per person

#[tokio::test]
async fn a_returning_customer_gets_the_returning_customer_sequence() {
    let harness = Harness::new();
    let returning = edited(CHECKOUTS_CREATE, "delivery-returning", |checkout| {
        checkout["customer"]["orders_count"] = json!(1);
    });

    let (status, body) = harness.post(&returning).await;

    assert_eq!(status, 200, "{body}");
    let cart = harness.cart().await.expect("stored").value;
    assert_eq!(cart.snapshot.as_ref().map(|s| s.orders_count), Some(1));
    assert_eq!(cart.sequence, "returning-customer");
    assert_eq!(cart.next_due_at, Some(ts("2026-11-02T09:00:00Z")));
}

#[tokio::test]
async fn a_known_cart_keeps_the_sequence_it_started_with() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    // The update says the shopper has ordered before (e.g. they logged in).
    let update = edited(CHECKOUTS_UPDATE, "delivery-logged-in", |checkout| {
        checkout["customer"]["orders_count"] = json!(3);
    });

    let (status, _) = harness.post(&update).await;

    assert_eq!(status, 200);
    let cart = harness.cart().await.expect("stored").value;
    assert_eq!(cart.snapshot.as_ref().map(|s| s.orders_count), Some(3));
    assert_eq!(cart.sequence, "new-visitor");
}

#[tokio::test]
async fn the_persons_newest_cart_is_remembered_under_their_email_and_phone() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    let first = harness.cart().await.expect("stored").value;
    // Twenty minutes later, a second checkout of the same person, with a phone number.
    let second_token = "9a8b7c6d5e4f30211203f4e5d6c7b8a9";
    let second = edited(CHECKOUTS_UPDATE, "delivery-second-cart", |checkout| {
        checkout["token"] = json!(second_token);
        checkout["phone"] = json!("+358401234567");
    });

    let (status, body) = harness.post(&second).await;

    assert_eq!(status, 200, "{body}");
    let second_id = CartId::parse(second_token).expect("valid cart id");
    let second_cart = harness.cart_of(&second_id).await.expect("stored").value;
    let snapshot = second_cart.snapshot.as_ref().expect("a snapshot");
    let keys = snapshot.contact_keys();
    assert_eq!(keys.len(), 2, "email and phone");
    for key in &keys {
        let contact = harness.contact_of(key).await.expect("remembered");
        assert_eq!(
            contact.latest_cart.map(|l| (l.cart, l.activity_at)),
            Some((second_id.clone(), ts("2026-11-02T08:20:00Z"))),
        );
    }
    // The first cart is left as it is: its wake-up finds it superseded.
    assert_eq!(harness.cart().await.expect("stored").value, first);
}

/// A second checkout of the fixture's shopper, twenty minutes after the first.
fn second_checkout() -> (Value, CartId) {
    let token = "9a8b7c6d5e4f30211203f4e5d6c7b8a9";
    let second = edited(CHECKOUTS_UPDATE, "delivery-second-cart", |checkout| {
        checkout["token"] = json!(token);
    });
    (second, CartId::parse(token).expect("valid cart id"))
}

#[tokio::test]
async fn a_newer_cart_carries_the_messages_of_the_persons_previous_cart() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    // The first cart's reminder went out: it is recorded on the cart, not on the person.
    harness
        .update_cart(|cart| cart.sent.push(a_sent_reminder("2026-11-02T08:10:00Z")))
        .await;
    let key = harness
        .cart()
        .await
        .expect("stored")
        .value
        .contact
        .expect("a contact key");
    assert!(
        harness
            .contact_of(&key)
            .await
            .expect("remembered")
            .recent_sends
            .is_empty()
    );
    let (second, second_id) = second_checkout();

    let (status, body) = harness.post(&second).await;

    assert_eq!(status, 200, "{body}");
    let contact = harness.contact_of(&key).await.expect("remembered");
    assert_eq!(contact.latest_cart.map(|l| l.cart), Some(second_id));
    assert_eq!(
        contact.recent_sends,
        vec![ts("2026-11-02T08:10:00Z").as_millisecond()],
        "the frequency cap of the newer cart counts the older cart's message"
    );
}

/// A memory store where the person's previous cart sends a message (the sender records it)
/// just before the webhook's write that carries that cart's messages lands.
#[derive(Clone)]
struct RacingStore {
    inner: MemoryStore,
    raced: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CartStore for RacingStore {
    async fn cart(
        &self,
        shop: &ShopId,
        cart: &CartId,
    ) -> Result<Option<Versioned<CartRecord>>, PortError> {
        self.inner.cart(shop, cart).await
    }

    async fn contact(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Option<Versioned<ContactRecord>>, PortError> {
        self.inner.contact(shop, key).await
    }

    async fn delivery_seen(&self, shop: &ShopId, id: &DeliveryId) -> Result<bool, PortError> {
        self.inner.delivery_seen(shop, id).await
    }

    async fn write(&self, puts: Vec<Put>) -> Result<WriteOutcome, PortError> {
        let checked = puts.iter().find_map(|put| match put {
            Put::CartUnchanged { shop, cart, .. } => Some((shop.clone(), cart.clone())),
            _ => None,
        });
        if let Some((shop, cart)) = checked
            && !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let held = self
                .inner
                .cart(&shop, &cart)
                .await?
                .expect("the previous cart");
            let mut record = held.value;
            record.sent.push(a_sent_reminder("2026-11-02T08:21:00Z"));
            self.inner
                .write(vec![Put::Cart {
                    record: Box::new(record),
                    expected: Some(held.version),
                }])
                .await?;
        }
        self.inner.write(puts).await
    }
}

impl PersonalData for RacingStore {
    async fn carts_with_key(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Vec<CartId>, PortError> {
        self.inner.carts_with_key(shop, key).await
    }

    async fn carts_by_id(
        &self,
        shop: &ShopId,
        carts: &[CartId],
    ) -> Result<Vec<CartRecord>, PortError> {
        self.inner.carts_by_id(shop, carts).await
    }

    async fn shop_keys(
        &self,
        shop: &ShopId,
        after: Option<&str>,
    ) -> Result<cartback_core::ports::KeyPage, PortError> {
        self.inner.shop_keys(shop, after).await
    }

    async fn delete_items(&self, shop: &ShopId, sort_keys: &[String]) -> Result<(), PortError> {
        self.inner.delete_items(shop, sort_keys).await
    }
}

#[tokio::test]
async fn a_message_the_previous_cart_sends_meanwhile_is_carried_too() {
    let store = MemoryStore::default();
    let racing = RacingStore {
        inner: store.clone(),
        raced: Default::default(),
    };
    let deps = deps_on(racing.clone());
    post(&deps, &event(CHECKOUTS_CREATE)).await;
    let (second, _) = second_checkout();

    let (status, body) = post(&deps, &second).await;

    assert_eq!(status, 200, "{body}");
    assert!(racing.raced.load(std::sync::atomic::Ordering::SeqCst));
    let first = store
        .cart(&shop_id(), &cart_id())
        .await
        .expect("reads")
        .expect("stored")
        .value;
    let key = first.contact.clone().expect("a contact key");
    let contact = store
        .contact(&shop_id(), &key)
        .await
        .expect("reads")
        .expect("remembered")
        .value;
    // The first write failed its check on the previous cart; the retry read it again.
    assert_eq!(
        contact.recent_sends,
        vec![ts("2026-11-02T08:21:00Z").as_millisecond()]
    );
}

#[tokio::test]
async fn an_order_of_a_person_whose_latest_cart_was_messaged_is_recovered() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    harness
        .update_cart(|cart| cart.sent.push(a_sent_reminder("2026-11-02T08:10:00Z")))
        .await;
    // The order comes from another checkout, never seen: its credit rests on the message
    // the person's latest cart was sent (recorded on that cart).
    let other = "0123456789abcdef0123456789abcdef";
    let order = edited(ORDERS_CREATE, "delivery-other-order", |order| {
        order["checkout_token"] = json!(other);
    });

    let (status, body) = harness.post(&order).await;

    assert_eq!(status, 200, "{body}");
    let converted = harness
        .cart_of(&CartId::parse(other).expect("valid cart id"))
        .await
        .expect("stored")
        .value;
    assert!(
        converted.recovered,
        "messaged within the 7 days before the order"
    );
}

#[tokio::test]
async fn an_older_cart_of_the_person_arriving_late_does_not_take_over() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_UPDATE)).await;
    // A different checkout of the same person, last active before the first one.
    let older = edited(CHECKOUTS_CREATE, "delivery-older-cart", |checkout| {
        checkout["token"] = json!("0123456789abcdef0123456789abcdef");
    });

    let (status, _) = harness.post(&older).await;

    assert_eq!(status, 200);
    let cart = harness.cart().await.expect("stored").value;
    let contact = harness
        .contact_of(cart.contact.as_ref().expect("a key"))
        .await
        .expect("remembered");
    assert_eq!(contact.latest_cart.map(|l| l.cart), Some(cart_id()));
}

impl Harness {
    /// Changes the stored cart as the sender would have (its arm, its sent steps).
    async fn update_cart(&self, change: impl FnOnce(&mut CartRecord)) {
        let stored = self.cart().await.expect("stored");
        let mut record = stored.value;
        change(&mut record);
        let written = self
            .store
            .write(vec![Put::Cart {
                record: Box::new(record),
                expected: Some(stored.version),
            }])
            .await
            .expect("writes");
        assert_eq!(written, WriteOutcome::Written);
    }

    /// The conversion metrics emitted so far (new carts' `CartsTracked` left out).
    fn metrics(&self) -> Vec<Value> {
        self.deps
            .metrics
            .emitted()
            .iter()
            .filter(|emf| emf.value_of("CartsTracked").is_none())
            .map(|emf| emf.to_json())
            .collect()
    }
}

fn a_sent_reminder(at: &str) -> cartback_core::model::cart::SentStep {
    cartback_core::model::cart::SentStep {
        step: 0,
        channel: cartback_core::model::sequence::Channel::Email,
        template: "reminder".into(),
        message_id: "ses-1".into(),
        sent_at: ts(at),
        skipped: None,
        unconfirmed: false,
        opened_at: None,
        clicked_at: None,
        variant: None,
    }
}

#[tokio::test]
async fn an_order_of_a_treated_cart_that_was_sent_a_reminder_is_recovered_and_counted() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    harness
        .update_cart(|cart| {
            cart.arm = Some(cartback_core::model::experiment::Arm::Treatment);
            cart.sent.push(a_sent_reminder("2026-11-02T08:10:00Z"));
        })
        .await;

    let (status, _) = harness.post(&event(ORDERS_CREATE)).await;

    assert_eq!(status, 200);
    let cart = harness.cart().await.expect("stored").value;
    assert!(cart.recovered);
    assert_eq!(cart.converted_at, Some(ts("2026-11-02T08:24:31Z")));
    assert_eq!(
        cart.order_total.map(|m| m.to_string()).as_deref(),
        Some("€79.70")
    );
    let metrics = harness.metrics();
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    assert_eq!(metrics[0]["RecoveredOrders"], 1.0);
    assert_eq!(metrics[0]["RecoveredRevenue"], 79.7);
    assert_eq!(metrics[0]["Currency"], "EUR");
    assert_eq!(metrics[0]["Shop"], SHOP);
    assert_eq!(metrics[1]["Conversions"], 1.0);
    assert_eq!(metrics[1]["Arm"], "treatment");
    // A second delivery of the order changes nothing and counts nothing again.
    let again = edited(ORDERS_CREATE, "order-again", |_| {});
    harness.post(&again).await;
    assert_eq!(harness.metrics().len(), 2);
}

#[tokio::test]
async fn an_order_of_a_held_out_cart_counts_for_the_holdout_and_is_not_recovered() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    harness
        .update_cart(|cart| {
            cart.arm = Some(cartback_core::model::experiment::Arm::Holdout);
            cart.next_due_at = None;
            cart.stop_reason = Some(StopReason::Holdout);
        })
        .await;

    harness.post(&event(ORDERS_CREATE)).await;

    let cart = harness.cart().await.expect("stored").value;
    assert_eq!(cart.status, CartStatus::Converted);
    assert!(!cart.recovered);
    assert_eq!(
        cart.arm,
        Some(cartback_core::model::experiment::Arm::Holdout)
    );
    let metrics = harness.metrics();
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0]["Arm"], "holdout");
    assert_eq!(metrics[0].get("RecoveredOrders"), None);
}

#[tokio::test]
async fn an_order_of_a_person_messaged_for_another_cart_this_week_is_recovered() {
    let harness = Harness::new();
    harness.post(&event(CHECKOUTS_CREATE)).await;
    let cart = harness.cart().await.expect("stored").value;
    let key = cart.contact.clone().expect("a contact key");
    let stored = harness
        .store
        .contact(&shop_id(), &key)
        .await
        .expect("reads");
    let mut contact = stored
        .as_ref()
        .map(|v| v.value.clone())
        .unwrap_or_else(|| ContactRecord::new(&shop_id(), &key));
    // A reminder for another cart of hers, six days before the order.
    contact
        .recent_sends
        .push(ts("2026-10-27T09:00:00Z").as_millisecond());
    harness
        .store
        .write(vec![Put::Contact {
            record: contact,
            expected: stored.map(|v| v.version),
        }])
        .await
        .expect("writes");

    harness.post(&event(ORDERS_CREATE)).await;

    let cart = harness.cart().await.expect("stored").value;
    assert!(
        cart.recovered,
        "messaged within the 7 days before the order"
    );
    assert_eq!(cart.arm, None, "this cart never reached its first step");
    let metrics = harness.metrics();
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0]["RecoveredOrders"], 1.0);
}
