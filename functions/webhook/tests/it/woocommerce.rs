//! The webhook handler for WooCommerce: the fixture orders (`core/tests/fixtures/woocommerce/`,
//! the bytes WooCommerce delivers) through `handle`, signed as WooCommerce signs them; the
//! ping through API Gateway as `handle_http` receives it. A refusal stores nothing.
//!
//! WooCommerce signs no timestamp, so there is no stale-signature vector: a genuine delivery
//! replayed later verifies, and changes nothing because its `date_modified_gmt` is not newer.

use crate::{WebhookPorts, webhook_ports};
use cartback_core::model::cart::{CartRecord, CartStatus, Platform};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::webhook::Headers;
use cartback_core::platforms::woocommerce;
use cartback_core::ports::CartStore;
use cartback_local::{LocalShops, MemoryStore, VirtualClock};
use cartback_webhook::{WebhookReply, WebhookRequest, handle, handle_http};
use jiff::Timestamp;
use lambda_http::Body;
use serde_json::{Value, json};

const SHOP: &str = "lniana-pracownia";
const SECRET: &str = "Zq8#Lw2!vR5^pX9*mT4(kD7)hB1{nF6}cJ3[sG0]";
const ORDER: &str = "4127";
const PENDING: &str =
    include_str!("../../../core/tests/fixtures/woocommerce/order_created_pending.json");
const FAILED: &str =
    include_str!("../../../core/tests/fixtures/woocommerce/order_updated_failed.json");
const PROCESSING: &str =
    include_str!("../../../core/tests/fixtures/woocommerce/order_updated_processing.json");
const CANCELLED: &str =
    include_str!("../../../core/tests/fixtures/woocommerce/order_updated_cancelled.json");
const DELETED: &str = include_str!("../../../core/tests/fixtures/woocommerce/order_deleted.json");
const PING_EVENT: &str = include_str!("../fixtures/woocommerce_ping.json");

fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn shop_id() -> ShopId {
    ShopId::parse(SHOP).expect("shop")
}

fn sign(body: &str) -> String {
    woocommerce::sign(&Secret::new(SECRET), body.as_bytes())
}

struct Harness {
    store: MemoryStore,
    deps: WebhookPorts<MemoryStore>,
}

impl Harness {
    fn new() -> Self {
        let store = MemoryStore::default();
        let shops = LocalShops::defaults().with_secret(shop_id(), Secret::new(SECRET));
        Self {
            deps: webhook_ports(
                store.clone(),
                shops.clone(),
                VirtualClock::new(ts("2026-11-02T08:02:00Z")),
                cartback_core::ports::NoStoreApi,
            ),
            store,
        }
    }

    /// Posts `body` as WooCommerce does: topic, delivery id and `signature` (`None`: left out).
    async fn post_as(
        &self,
        topic: &str,
        body: &str,
        delivery: &str,
        signature: Option<String>,
    ) -> WebhookReply {
        let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
        let mut headers = Headers::new()
            .with("content-type", "application/json")
            .with("user-agent", "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)")
            .with("X-WC-Webhook-Source", "https://lniana-pracownia.example/")
            .with(woocommerce::TOPIC_HEADER, topic)
            .with(woocommerce::RESOURCE_HEADER, resource)
            .with(woocommerce::EVENT_HEADER, event)
            .with("X-WC-Webhook-ID", "4")
            .with(woocommerce::DELIVERY_HEADER, delivery);
        if let Some(signature) = signature {
            headers.insert(woocommerce::SIGNATURE_HEADER, signature);
        }
        let request = WebhookRequest {
            shop: SHOP.to_owned(),
            platform: "woocommerce".to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        };
        handle(&request, &self.deps).await
    }

    /// Posts `body` signed with the shop's secret.
    async fn post(&self, topic: &str, body: &str, delivery: &str) -> WebhookReply {
        self.post_as(topic, body, delivery, Some(sign(body))).await
    }

    async fn cart_of(&self, order: &str) -> Option<CartRecord> {
        self.store
            .cart(&shop_id(), &CartId::parse(order).expect("cart"))
            .await
            .expect("reads")
            .map(|v| v.value)
    }

    async fn cart(&self) -> Option<CartRecord> {
        self.cart_of(ORDER).await
    }

    /// Items written since the last call (every put shows up on the store's stream).
    fn writes(&self) -> usize {
        self.store.take_stream().len()
    }
}

fn result(reply: &WebhookReply) -> Value {
    serde_json::from_str(&reply.body()).expect("the reply is JSON")
}

#[tokio::test]
async fn a_signed_pending_order_is_stored_open_with_its_first_reminder_an_hour_later() {
    let harness = Harness::new();
    let reply = harness
        .post_as(
            "order.created",
            PENDING,
            "3f2a8c1e9b7d4a6f0e5c2b8d1a7f4e9c",
            // The signature in the fixtures' README, as WooCommerce computed it.
            Some("qA0X99OCsbVpoNH+ysXX3toNtaiKF0Xc+008NmAh8S8=".to_owned()),
        )
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(result(&reply), json!({"result": "stored", "cart": ORDER}));
    let cart = harness.cart().await.expect("stored");
    assert_eq!(cart.platform, Platform::WooCommerce);
    assert_eq!(cart.status, CartStatus::Open);
    assert_eq!(cart.source_updated_at, ts("2026-11-02T08:00:03Z"));
    assert_eq!(cart.next_due_at, Some(ts("2026-11-02T09:00:03Z")));
    let tracked: Vec<String> = harness
        .deps
        .metrics
        .emitted()
        .iter()
        .filter(|m| m.value_of("CartsTracked").is_some())
        .map(|m| m.to_line())
        .collect();
    assert_eq!(tracked.len(), 1, "{tracked:?}");
    assert!(
        tracked[0].contains(r#""Platform":"woocommerce""#),
        "{}",
        tracked[0]
    );
}

#[tokio::test]
async fn tampered_wrong_secret_missing_empty_and_garbled_signatures_are_401_and_store_nothing() {
    let harness = Harness::new();
    let tampered = PENDING.replace("663.99", "6.99");
    let wrong = woocommerce::sign(&Secret::new("another shop's secret"), PENDING.as_bytes());
    for (what, body, signature) in [
        ("tampered body", tampered.as_str(), Some(sign(PENDING))),
        ("wrong secret", PENDING, Some(wrong)),
        ("missing header", PENDING, None),
        ("empty header", PENDING, Some(String::new())),
        ("garbled header", PENDING, Some("%%not-base64%%".to_owned())),
    ] {
        let reply = harness
            .post_as("order.created", body, "d-1", signature)
            .await;
        assert_eq!(reply.status(), 401, "{what}: {}", reply.body());
    }
    assert_eq!(harness.writes(), 0, "nothing stored");
    assert_eq!(harness.cart().await, None);
}

/// Parses the event exactly as the Lambda runtime would, then calls the handler.
async fn post_http(harness: &Harness, event: &Value) -> (u16, Value) {
    let request = lambda_http::request::from_str(&event.to_string())
        .expect("an API Gateway HTTP API (payload 2.0) event");
    let response = handle_http(request, &harness.deps)
        .await
        .expect("a response is built");
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("the reply is JSON"),
        other => panic!("expected a text body, got {other:?}"),
    };
    (response.status().as_u16(), body)
}

#[tokio::test]
async fn the_ping_on_saving_the_webhook_gets_200_through_api_gateway_and_stores_nothing() {
    let harness = Harness::new();
    let event: Value = serde_json::from_str(PING_EVENT).expect("fixture is JSON");
    assert_eq!(
        event["isBase64Encoded"], true,
        "a form body arrives base64-encoded"
    );
    let (status, body) = post_http(&harness, &event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"result": "ignored", "topic": "ping"}));
    assert_eq!(harness.writes(), 0, "no cart, no delivery marker");
}

#[tokio::test]
async fn a_repeated_delivery_is_a_duplicate_and_writes_nothing_more() {
    let harness = Harness::new();
    let first = harness.post("order.created", PENDING, "d-pending").await;
    assert_eq!(first.status(), 200, "{}", first.body());
    assert!(harness.writes() > 0);
    let again = harness.post("order.created", PENDING, "d-pending").await;
    assert_eq!(result(&again), json!({"result": "duplicate"}));
    assert_eq!(harness.writes(), 0);
}

#[tokio::test]
async fn two_orders_sent_in_the_same_second_share_a_delivery_id_and_both_are_stored() {
    // WooCommerce's delivery id is wp_hash(webhook id . current second).
    let harness = Harness::new();
    let other = PENDING.replacen("\"id\":4127", "\"id\":4128", 1);
    let same_second = "9d0c2b7e4f1a8c3e6b5d2a9f0e7c4b1d";
    let first = harness.post("order.created", PENDING, same_second).await;
    let second = harness.post("order.created", &other, same_second).await;
    assert_eq!(result(&first), json!({"result": "stored", "cart": "4127"}));
    assert_eq!(result(&second), json!({"result": "stored", "cart": "4128"}));
    assert!(harness.cart_of("4128").await.is_some());
}

#[tokio::test]
async fn an_older_update_delivered_after_a_newer_one_is_stale_and_changes_nothing() {
    let harness = Harness::new();
    harness.post("order.updated", FAILED, "d-failed").await;
    let before = harness.cart().await.expect("stored");
    assert_eq!(before.source_updated_at, ts("2026-11-02T08:01:40Z"));
    harness.writes();
    // order.created is queued first but delivered last (WooCommerce delivers asynchronously).
    let late = harness.post("order.created", PENDING, "d-pending").await;
    assert_eq!(result(&late), json!({"result": "stale", "cart": ORDER}));
    assert_eq!(harness.cart().await, Some(before));
}

#[tokio::test]
async fn a_genuine_delivery_replayed_a_month_later_under_a_new_id_changes_nothing() {
    let harness = Harness::new();
    harness.post("order.updated", FAILED, "d-failed").await;
    let before = harness.cart().await.expect("stored");
    harness.deps.clock.advance_to(ts("2026-12-02T08:00:00Z"));
    // The delivery id is not signed, so a replay can carry any; the order's date cannot move.
    let replay = harness.post("order.updated", FAILED, "d-replayed").await;
    assert_eq!(replay.status(), 200);
    assert_eq!(result(&replay), json!({"result": "stale", "cart": ORDER}));
    assert_eq!(harness.cart().await, Some(before));
}

#[tokio::test]
async fn paying_converts_the_cart_and_a_late_update_cannot_reopen_it() {
    let harness = Harness::new();
    harness.post("order.created", PENDING, "d-pending").await;
    harness.deps.clock.advance_to(ts("2026-11-02T10:12:31Z"));
    let paid = harness.post("order.updated", PROCESSING, "d-paid").await;
    assert_eq!(
        result(&paid),
        json!({"result": "converted", "cart": ORDER, "stopped_step": 0})
    );
    let cart = harness.cart().await.expect("stored");
    assert_eq!(cart.status, CartStatus::Converted);
    assert_eq!(cart.next_due_at, None);
    assert_eq!(cart.converted_at, Some(ts("2026-11-02T10:12:29Z")));
    assert_eq!(cart.order_total.map(|m| m.minor), Some(66399));
    let late = harness.post("order.updated", FAILED, "d-failed").await;
    assert_eq!(
        result(&late),
        json!({"result": "already_converted", "cart": ORDER})
    );
    assert_eq!(
        harness.cart().await.map(|c| c.status),
        Some(CartStatus::Converted)
    );
}

#[tokio::test]
async fn a_cancelled_order_is_kept_without_its_payment_link() {
    let harness = Harness::new();
    harness.post("order.created", PENDING, "d-pending").await;
    assert!(
        harness
            .cart()
            .await
            .and_then(|c| c.snapshot)
            .and_then(|s| s.recovery_url)
            .is_some()
    );
    let cancelled = harness
        .post("order.updated", CANCELLED, "d-cancelled")
        .await;
    assert_eq!(
        result(&cancelled),
        json!({"result": "stored", "cart": ORDER})
    );
    let cart = harness.cart().await.expect("stored");
    assert_eq!(cart.status, CartStatus::Open);
    assert_eq!(
        cart.snapshot.and_then(|s| s.recovery_url),
        None,
        "the sender stops it with no_recovery_link"
    );
}

#[tokio::test]
async fn an_admin_invoice_a_trashed_order_and_other_topics_are_200_and_store_nothing() {
    let harness = Harness::new();
    let invoice = PENDING.replacen(
        "\"created_via\":\"checkout\"",
        "\"created_via\":\"admin\"",
        1,
    );
    assert_ne!(invoice, PENDING);
    for (topic, body) in [
        ("order.created", invoice.as_str()),
        ("order.deleted", DELETED),
        ("coupon.updated", r#"{"id":51,"code":"lato10"}"#),
    ] {
        let reply = harness.post(topic, body, "d-ignored").await;
        assert_eq!(result(&reply), json!({"result": "ignored", "topic": topic}));
    }
    assert_eq!(harness.writes(), 0);
    assert_eq!(harness.cart().await, None);
}
