//! The webhook handler for BigCommerce: the fixture webhooks (`core/tests/fixtures/bigcommerce/`)
//! through `handle` with the shop's secret in the custom header, the cart and the order
//! served by the in-memory store API. The store API's failures make the webhook answer 5xx
//! (BigCommerce delivers it again); a cart the API no longer has is a 200 with nothing stored.

use crate::{WebhookPorts, webhook_ports};
use cartback_core::model::cart::{CartRecord, CartStatus, Platform};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::bigcommerce::{Fetch, SECRET_HEADER};
use cartback_core::platforms::webhook::Headers;
use cartback_core::ports::{CartStore, PortError};
use cartback_local::{LocalShops, MemoryStore, MemoryStoreApi, VirtualClock};
use cartback_webhook::{WebhookReply, WebhookRequest, handle};
use jiff::Timestamp;
use serde_json::Value;

const SHOP: &str = "kuura-knitwear";
const SECRET: &str = "bc-hook-Vq3#r8Lm!x2";
const CART: &str = "09346904-4175-44fd-be53-f7e598531b6c";
const ABANDONED: &str =
    include_str!("../../../core/tests/fixtures/bigcommerce/store_cart_abandoned.json");
const CONVERTED: &str =
    include_str!("../../../core/tests/fixtures/bigcommerce/store_cart_converted.json");
const CREATED: &str =
    include_str!("../../../core/tests/fixtures/bigcommerce/store_cart_created.json");
const CART_JSON: &str = include_str!("../../../core/tests/fixtures/bigcommerce/cart.json");
const ORDER_JSON: &str = include_str!("../../../core/tests/fixtures/bigcommerce/order.json");

fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn shop_id() -> ShopId {
    ShopId::parse(SHOP).expect("shop")
}

fn cart_id() -> CartId {
    CartId::parse(CART).expect("cart")
}

fn cart_fetch() -> Fetch {
    Fetch::Cart(cart_id())
}

fn order_fetch() -> Fetch {
    Fetch::Order {
        cart: cart_id(),
        order: 252,
    }
}

struct Harness {
    store: MemoryStore,
    api: MemoryStoreApi,
    deps: WebhookPorts<MemoryStore, MemoryStoreApi>,
}

impl Harness {
    fn new() -> Self {
        let store = MemoryStore::default();
        let api = MemoryStoreApi::new();
        let shops = LocalShops::defaults().with_secret(shop_id(), Secret::new(SECRET));
        Self {
            deps: webhook_ports(
                store.clone(),
                shops.clone(),
                VirtualClock::new(ts("2026-11-02T09:31:10Z")),
                api.clone(),
            ),
            store,
            api,
        }
    }

    async fn post_as(&self, body: &str, secret: Option<&str>) -> WebhookReply {
        let mut headers = Headers::new()
            .with("content-type", "application/json")
            .with("user-agent", "BigCommerce-Webhooks");
        if let Some(secret) = secret {
            headers.insert(SECRET_HEADER, secret);
        }
        let request = WebhookRequest {
            shop: SHOP.to_owned(),
            platform: "bigcommerce".to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        };
        handle(&request, &self.deps).await
    }

    async fn post(&self, body: &str) -> WebhookReply {
        self.post_as(body, Some(SECRET)).await
    }

    async fn cart(&self) -> Option<CartRecord> {
        self.store
            .cart(&shop_id(), &cart_id())
            .await
            .expect("reads")
            .map(|v| v.value)
    }

    fn writes(&self) -> usize {
        self.store.take_stream().len()
    }
}

fn result(reply: &WebhookReply) -> Value {
    serde_json::from_str(&reply.body()).expect("the reply is JSON")
}

#[tokio::test]
async fn an_abandoned_cart_is_read_from_the_store_api_and_stored_open() {
    let harness = Harness::new();
    harness.api.serve(&shop_id(), &cart_fetch(), CART_JSON);
    let reply = harness.post(ABANDONED).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(result(&reply)["result"], "stored");
    let record = harness.cart().await.expect("stored");
    assert_eq!(record.platform, Platform::BigCommerce);
    assert_eq!(record.status, CartStatus::Open);
    let snapshot = record.snapshot.as_ref().expect("snapshot");
    assert_eq!(snapshot.items.len(), 2);
    assert!(snapshot.recovery_url.is_some());
    assert_eq!(harness.api.calls(), vec![(shop_id(), cart_fetch().path())]);
}

#[tokio::test]
async fn a_redelivery_is_a_duplicate_without_another_api_call() {
    let harness = Harness::new();
    harness.api.serve(&shop_id(), &cart_fetch(), CART_JSON);
    assert_eq!(harness.post(ABANDONED).await.status(), 200);
    let again = harness.post(ABANDONED).await;
    assert_eq!(result(&again)["result"], "duplicate");
    assert_eq!(harness.api.calls().len(), 1);
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_a_401_and_nothing_is_read_or_stored() {
    let harness = Harness::new();
    harness.api.serve(&shop_id(), &cart_fetch(), CART_JSON);
    for secret in [None, Some("wrong"), Some("")] {
        let reply = harness.post_as(ABANDONED, secret).await;
        assert_eq!(reply.status(), 401, "{secret:?}");
        assert!(!reply.body().contains(SECRET));
    }
    assert_eq!(harness.writes(), 0);
    assert!(harness.api.calls().is_empty());
    assert!(harness.cart().await.is_none());
}

#[tokio::test]
async fn a_malformed_body_with_the_secret_is_a_400() {
    let harness = Harness::new();
    let reply = harness
        .post(r#"{"scope":"store/cart/abandoned","data":{}}"#)
        .await;
    assert_eq!(reply.status(), 400);
    assert_eq!(harness.writes(), 0);
}

#[tokio::test]
async fn a_store_api_failure_is_a_5xx_so_bigcommerce_delivers_again() {
    let harness = Harness::new();
    harness.api.fail(
        &shop_id(),
        &cart_fetch(),
        PortError::retryable("bigcommerce", "the store API answered 503"),
    );
    let reply = harness.post(ABANDONED).await;
    assert_eq!(reply.status(), 500);
    assert_eq!(
        harness.writes(),
        0,
        "nothing stored, not even the delivery id"
    );
    // The redelivery, once the API answers, stores the cart.
    harness.api.serve(&shop_id(), &cart_fetch(), CART_JSON);
    let reply = harness.post(ABANDONED).await;
    assert_eq!(result(&reply)["result"], "stored");
}

#[tokio::test]
async fn a_cart_the_store_no_longer_has_is_a_200_and_nothing_stored() {
    let harness = Harness::new();
    let reply = harness.post(ABANDONED).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(result(&reply)["result"], "not_found");
    assert_eq!(harness.writes(), 0);
}

#[tokio::test]
async fn an_unreadable_api_answer_is_a_502() {
    let harness = Harness::new();
    harness
        .api
        .serve(&shop_id(), &cart_fetch(), r#"{"data":{"id":"another"}}"#);
    let reply = harness.post(ABANDONED).await;
    assert_eq!(reply.status(), 502);
    assert_eq!(harness.writes(), 0);
}

#[tokio::test]
async fn a_converted_cart_is_bought_and_stops_its_reminders() {
    let harness = Harness::new();
    harness.api.serve(&shop_id(), &cart_fetch(), CART_JSON);
    harness.api.serve(&shop_id(), &order_fetch(), ORDER_JSON);
    assert_eq!(harness.post(ABANDONED).await.status(), 200);
    let reply = harness.post(CONVERTED).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(result(&reply)["result"], "converted");
    let record = harness.cart().await.expect("stored");
    assert_eq!(record.status, CartStatus::Converted);
}

#[tokio::test]
async fn an_order_the_store_api_will_not_give_is_still_a_purchase_of_unknown_revenue() {
    for (what, answer) in [
        ("404", None),
        (
            "refused for good",
            Some(PortError::permanent(
                "bigcommerce",
                "the store API answered 403",
            )),
        ),
    ] {
        let harness = Harness::new();
        harness.api.serve(&shop_id(), &cart_fetch(), CART_JSON);
        assert_eq!(harness.post(ABANDONED).await.status(), 200);
        if let Some(error) = answer {
            harness.api.fail(&shop_id(), &order_fetch(), error);
        }
        let reply = harness.post(CONVERTED).await;
        assert_eq!(reply.status(), 200, "{what}: {}", reply.body());
        assert_eq!(result(&reply)["result"], "converted", "{what}");
        let record = harness.cart().await.expect("stored");
        assert_eq!(
            record.status,
            CartStatus::Converted,
            "{what}: no later reminder"
        );
        assert_eq!(record.order_id.as_deref(), Some("252"), "{what}");
        assert_eq!(record.order_total, None, "{what}: revenue unknown");
    }

    // A passing failure is answered 5xx: BigCommerce delivers it again, and nothing is lost.
    let harness = Harness::new();
    harness.api.serve(&shop_id(), &cart_fetch(), CART_JSON);
    assert_eq!(harness.post(ABANDONED).await.status(), 200);
    harness.api.fail(
        &shop_id(),
        &order_fetch(),
        PortError::retryable("bigcommerce", "the store API answered 503"),
    );
    assert_eq!(harness.post(CONVERTED).await.status(), 500);
    assert_eq!(
        harness.cart().await.expect("stored").status,
        CartStatus::Open
    );
}

#[tokio::test]
async fn other_scopes_are_accepted_without_an_api_call() {
    let harness = Harness::new();
    let reply = harness.post(CREATED).await;
    assert_eq!(result(&reply)["result"], "ignored");
    assert!(harness.api.calls().is_empty());
}

#[tokio::test]
async fn a_shop_without_a_store_hash_answers_5xx() {
    let store = MemoryStore::default();
    let mut settings = cartback_core::model::shop::ShopSettings::defaults_for(&shop_id());
    settings.bigcommerce_store_hash = None;
    let shops = LocalShops::defaults()
        .with_settings(shop_id(), settings)
        .with_secret(shop_id(), Secret::new(SECRET));
    let deps = webhook_ports(
        store.clone(),
        shops.clone(),
        VirtualClock::new(ts("2026-11-02T09:31:10Z")),
        MemoryStoreApi::new(),
    );
    let request = WebhookRequest {
        shop: SHOP.to_owned(),
        platform: "bigcommerce".to_owned(),
        headers: Headers::new().with(SECRET_HEADER, SECRET),
        body: ABANDONED.as_bytes().to_vec(),
    };
    assert_eq!(handle(&request, &deps).await.status(), 500);
    assert!(store.take_stream().is_empty());
}
