//! Hostile input against the webhook handler (issue 9): generated bodies, signed with the
//! shop's real secret so they reach the parser (Shopify, WooCommerce and the generic API),
//! and forged or replayed signatures; for WooCommerce also unsigned bodies, which only a
//! well-formed ping gets past. Whatever
//! arrives, the answer is 200 or a 4xx, never a panic or a 5xx, and a refused webhook
//! stores nothing (no cart, no contact, no delivery marker).
//!
//! CI runs each property with a modest number of cases; a longer run:
//! `PROPTEST_CASES=20000 cargo test --release -p cartback-webhook --test it hostile`.

use crate::{WebhookPorts, webhook_ports};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::webhook::{Headers, MAX_BODY_BYTES};
use cartback_core::ports::CartStore;
use cartback_local::{LocalShops, MemoryStore, VirtualClock};
use cartback_webhook::{WebhookReply, WebhookRequest, handle};
use proptest::prelude::*;
use serde_json::Value;

use crate::hostile_input::{mutated_bytes, mutated_json};

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT_EVENT: &str = include_str!("../fixtures/checkouts_create.json");
const ORDER_EVENT: &str = include_str!("../fixtures/orders_create.json");
const GENERIC_UPDATED: &str = include_str!("../../../../examples/generic/cart-updated.json");
const GENERIC_CONVERTED: &str = include_str!("../../../../examples/generic/cart-converted.json");
const WOO_PENDING: &str =
    include_str!("../../../core/tests/fixtures/woocommerce/order_created_pending.json");
const WOO_PROCESSING: &str =
    include_str!("../../../core/tests/fixtures/woocommerce/order_updated_processing.json");
const WOO_TOPICS: &[&str] = &[
    "order.created",
    "order.updated",
    "order.restored",
    "order.deleted",
    "product.updated",
];

/// The fixture API Gateway event's headers and body.
fn fixture(event: &str) -> (Vec<(String, String)>, String) {
    let event: Value = serde_json::from_str(event).expect("fixture is JSON");
    let headers = event["headers"]
        .as_object()
        .expect("fixture has headers")
        .iter()
        .filter(|(name, _)| *name != "x-shopify-hmac-sha256")
        .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    let body = event["body"].as_str().expect("fixture body").to_owned();
    (headers, body)
}

fn shop_id() -> cartback_core::model::ids::ShopId {
    cartback_core::model::ids::ShopId::parse(SHOP).expect("valid shop id")
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
                VirtualClock::new("2026-11-02T08:30:00Z".parse().expect("time")),
                cartback_core::ports::NoStoreApi,
            ),
            store,
        }
    }

    /// Posts `body` with the fixture's headers and `signature` (`None`: header left out).
    fn post(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        signature: Option<String>,
    ) -> WebhookReply {
        let mut all = Headers::new();
        for (name, value) in headers {
            all.insert(name, value.clone());
        }
        if let Some(signature) = signature {
            all.insert("x-shopify-hmac-sha256", signature);
        }
        let request = WebhookRequest {
            shop: SHOP.to_owned(),
            platform: "shopify".to_owned(),
            headers: all,
            body: body.to_vec(),
        };
        block_on(handle(&request, &self.deps))
    }

    /// Posts `body` to the generic API, signed at the harness's time with the shop's secret.
    fn post_generic(&self, body: &[u8]) -> WebhookReply {
        let signature = cartback_core::platforms::generic::sign(
            &Secret::new(SECRET),
            body,
            "2026-11-02T08:30:00Z".parse().expect("time"),
        );
        let request = WebhookRequest {
            shop: SHOP.to_owned(),
            platform: "generic".to_owned(),
            headers: Headers::new().with(
                cartback_core::platforms::generic::SIGNATURE_HEADER,
                signature,
            ),
            body: body.to_vec(),
        };
        block_on(handle(&request, &self.deps))
    }

    /// Posts `body` to the WooCommerce route under `topic`, with `signature` (`None`: left out).
    fn post_woocommerce(
        &self,
        topic: &str,
        body: &[u8],
        signature: Option<String>,
    ) -> WebhookReply {
        let mut headers = Headers::new()
            .with("content-type", "application/json")
            .with(cartback_core::platforms::woocommerce::TOPIC_HEADER, topic)
            .with(
                cartback_core::platforms::woocommerce::DELIVERY_HEADER,
                "3f2a8c1e9b7d4a6f0e5c2b8d1a7f4e9c",
            );
        if let Some(signature) = signature {
            headers.insert(
                cartback_core::platforms::woocommerce::SIGNATURE_HEADER,
                signature,
            );
        }
        let request = WebhookRequest {
            shop: SHOP.to_owned(),
            platform: "woocommerce".to_owned(),
            headers,
            body: body.to_vec(),
        };
        block_on(handle(&request, &self.deps))
    }

    /// Items written so far (every put shows up on the store's stream).
    fn writes(&self) -> usize {
        self.store.take_stream().len()
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn sign(body: &[u8]) -> String {
    cartback_core::platforms::shopify::sign(&Secret::new(SECRET), body)
}

fn sign_woocommerce(body: &[u8]) -> String {
    cartback_core::platforms::woocommerce::sign(&Secret::new(SECRET), body)
}

/// The answer is 200 (accepted, duplicate, ignored) or a client error; a refusal stores nothing.
fn assert_safe(reply: &WebhookReply, writes: usize) -> Result<(), TestCaseError> {
    let status = reply.status();
    prop_assert!(
        status == 200 || (400..500).contains(&status),
        "status {status}: {}",
        reply.body()
    );
    if status != 200 {
        prop_assert_eq!(writes, 0, "a refused webhook ({}) stored items", status);
    }
    Ok(())
}

proptest! {
    #![proptest_config(cartback_testkit::proptest_config(128))]

    #[test]
    fn signed_checkouts_with_hostile_values_get_200_or_a_4xx(body in mutated_json(&fixture(CHECKOUT_EVENT).1)) {
        let (headers, _) = fixture(CHECKOUT_EVENT);
        let harness = Harness::new();
        let reply = harness.post(&headers, body.as_bytes(), Some(sign(body.as_bytes())));
        assert_safe(&reply, harness.writes())?;
    }

    #[test]
    fn signed_orders_with_hostile_values_get_200_or_a_4xx(body in mutated_json(&fixture(ORDER_EVENT).1)) {
        let (headers, _) = fixture(ORDER_EVENT);
        let harness = Harness::new();
        let reply = harness.post(&headers, body.as_bytes(), Some(sign(body.as_bytes())));
        assert_safe(&reply, harness.writes())?;
    }

    #[test]
    fn signed_generic_events_with_hostile_values_get_200_or_a_4xx(
        body in prop_oneof![mutated_json(GENERIC_UPDATED), mutated_json(GENERIC_CONVERTED)],
    ) {
        let harness = Harness::new();
        let reply = harness.post_generic(body.as_bytes());
        assert_safe(&reply, harness.writes())?;
    }

    #[test]
    fn signed_garbled_generic_bytes_get_200_or_a_4xx(body in mutated_bytes(GENERIC_UPDATED)) {
        let harness = Harness::new();
        let reply = harness.post_generic(&body);
        assert_safe(&reply, harness.writes())?;
    }

    #[test]
    fn signed_garbled_bytes_get_200_or_a_4xx(body in mutated_bytes(&fixture(CHECKOUT_EVENT).1)) {
        let (headers, _) = fixture(CHECKOUT_EVENT);
        let harness = Harness::new();
        let reply = harness.post(&headers, &body, Some(sign(&body)));
        assert_safe(&reply, harness.writes())?;
    }

    #[test]
    fn arbitrary_signed_bytes_get_200_or_a_4xx(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let (headers, _) = fixture(CHECKOUT_EVENT);
        let harness = Harness::new();
        let reply = harness.post(&headers, &body, Some(sign(&body)));
        assert_safe(&reply, harness.writes())?;
    }

    #[test]
    fn signed_woocommerce_orders_with_hostile_values_get_200_or_a_4xx(
        body in prop_oneof![mutated_json(WOO_PENDING), mutated_json(WOO_PROCESSING)],
        topic in prop::sample::select(WOO_TOPICS),
    ) {
        let harness = Harness::new();
        let reply = harness.post_woocommerce(topic, body.as_bytes(), Some(sign_woocommerce(body.as_bytes())));
        assert_safe(&reply, harness.writes())?;
    }

    #[test]
    fn signed_garbled_woocommerce_bytes_get_200_or_a_4xx(
        body in mutated_bytes(WOO_PENDING),
        topic in prop::sample::select(WOO_TOPICS),
    ) {
        let harness = Harness::new();
        let reply = harness.post_woocommerce(topic, &body, Some(sign_woocommerce(&body)));
        assert_safe(&reply, harness.writes())?;
    }

    #[test]
    fn unsigned_woocommerce_bodies_are_a_ping_or_a_401_and_store_nothing(
        body in prop_oneof![
            "webhook_id=[0-9]{0,22}",
            "webhook_id=[0-9a-z&=%]{0,30}",
            prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ],
    ) {
        let harness = Harness::new();
        let request = WebhookRequest {
            shop: SHOP.to_owned(),
            platform: "woocommerce".to_owned(),
            headers: Headers::new().with("content-type", "application/x-www-form-urlencoded"),
            body: body.as_bytes().to_vec(),
        };
        let reply = block_on(handle(&request, &harness.deps));
        prop_assert!(reply.status() == 200 || reply.status() == 401, "{}: {}", reply.status(), reply.body());
        prop_assert_eq!(harness.writes(), 0, "a ping or a refusal stores nothing");
    }

    #[test]
    fn forged_woocommerce_signatures_are_401_and_store_nothing(
        signature in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9+/]{43}=",
            Just(String::new()),
        ],
        tamper in 0usize..4025,
        topic in prop::sample::select(WOO_TOPICS),
    ) {
        let harness = Harness::new();
        let body = WOO_PENDING.as_bytes();
        prop_assert_eq!(harness.post_woocommerce(topic, body, Some(signature)).status(), 401);
        // The genuine signature over a body changed by one byte.
        let mut tampered = body.to_vec();
        let at = tamper.min(tampered.len() - 1);
        tampered[at] = tampered[at].wrapping_add(1);
        let replayed = harness.post_woocommerce(topic, &tampered, Some(sign_woocommerce(body)));
        prop_assert_eq!(replayed.status(), 401);
        prop_assert_eq!(harness.writes(), 0);
    }

    #[test]
    fn forged_signatures_are_401_and_store_nothing(
        signature in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9+/]{43}=",
            Just(String::new()),
        ],
        tamper in 0usize..6929,
    ) {
        let (headers, body) = fixture(CHECKOUT_EVENT);
        let harness = Harness::new();
        let forged = harness.post(&headers, body.as_bytes(), Some(signature));
        prop_assert_eq!(forged.status(), 401);
        // The genuine signature over a body changed by one byte.
        let mut tampered = body.clone().into_bytes();
        let at = tamper.min(tampered.len() - 1);
        tampered[at] = tampered[at].wrapping_add(1);
        let replayed = harness.post(&headers, &tampered, Some(sign(body.as_bytes())));
        prop_assert_eq!(replayed.status(), 401);
        prop_assert_eq!(harness.writes(), 0);
    }
}

#[test]
fn a_missing_signature_or_an_unknown_secret_is_401_and_stores_nothing() {
    let (headers, body) = fixture(CHECKOUT_EVENT);
    let harness = Harness::new();
    assert_eq!(harness.post(&headers, body.as_bytes(), None).status(), 401);
    let other = cartback_core::platforms::shopify::sign(
        &Secret::new("another-shop's-secret"),
        body.as_bytes(),
    );
    assert_eq!(
        harness
            .post(&headers, body.as_bytes(), Some(other))
            .status(),
        401
    );
    assert_eq!(harness.writes(), 0);
}

#[test]
fn deep_nesting_is_a_400_not_a_stack_overflow() {
    let (headers, _) = fixture(CHECKOUT_EVENT);
    let harness = Harness::new();
    for depth in [200, 100_000] {
        let body = format!(
            r#"{{"token":"abc","line_items":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let reply = harness.post(&headers, body.as_bytes(), Some(sign(body.as_bytes())));
        assert_eq!(reply.status(), 400, "depth {depth}: {}", reply.body());
    }
    assert_eq!(harness.writes(), 0);
}

#[test]
fn a_huge_number_literal_is_a_400() {
    let (headers, body) = fixture(CHECKOUT_EVENT);
    let harness = Harness::new();
    let huge = format!("1{}", "0".repeat(5_000));
    let body = body.replacen(
        r#""total_price":"#,
        &format!(r#""total_price":{huge},"x":"#),
        1,
    );
    let reply = harness.post(&headers, body.as_bytes(), Some(sign(body.as_bytes())));
    assert!(
        (400..500).contains(&reply.status()),
        "{}: {}",
        reply.status(),
        reply.body()
    );
    assert_eq!(harness.writes(), 0);
}

#[test]
fn an_oversize_body_is_413_before_anything_is_parsed() {
    let (headers, _) = fixture(CHECKOUT_EVENT);
    let harness = Harness::new();
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let reply = harness.post(&headers, &body, Some(sign(&body)));
    assert_eq!(reply.status(), 413);
    assert_eq!(harness.writes(), 0);
}

#[test]
fn a_replayed_delivery_is_a_duplicate_and_changes_nothing() {
    let (headers, body) = fixture(CHECKOUT_EVENT);
    let harness = Harness::new();
    let signature = sign(body.as_bytes());
    let first = harness.post(&headers, body.as_bytes(), Some(signature.clone()));
    assert_eq!(first.status(), 200, "{}", first.body());
    assert!(harness.writes() > 0, "the first delivery stores the cart");
    let carts = block_on(harness.store.cart(
        &shop_id(),
        &cartback_core::model::ids::CartId::parse("4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87").expect("id"),
    ))
    .expect("reads")
    .expect("stored");
    let again = harness.post(&headers, body.as_bytes(), Some(signature));
    assert_eq!(again.status(), 200);
    assert!(again.body().contains("duplicate"), "{}", again.body());
    assert_eq!(harness.writes(), 0, "a replay writes nothing");
    let after = block_on(harness.store.cart(&shop_id(), &carts.value.cart))
        .expect("reads")
        .expect("stored");
    assert_eq!(after.version, carts.version);
}
