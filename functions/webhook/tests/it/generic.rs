//! The webhook handler for the generic signed JSON API: the documented example through
//! `handle`, with each signature vector; a refusal stores nothing.

use crate::{WebhookPorts, webhook_ports};
use cartback_core::model::cart::CartStatus;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::generic;
use cartback_core::platforms::webhook::Headers;
use cartback_core::ports::CartStore;
use cartback_local::{LocalShops, MemoryStore, VirtualClock};
use cartback_webhook::{WebhookReply, WebhookRequest, handle};
use jiff::{SignedDuration, Timestamp};

const SHOP: &str = "kuura-knitwear";
const SECRET: &str = "whsec_kuura";
const UPDATED: &str = include_str!("../../../../examples/generic/cart-updated.json");
const CONVERTED: &str = include_str!("../../../../examples/generic/cart-converted.json");

fn now() -> Timestamp {
    "2026-11-02T08:00:20Z".parse().expect("time")
}

struct Harness {
    store: MemoryStore,
    deps: WebhookPorts<MemoryStore>,
}

impl Harness {
    fn new() -> Self {
        let store = MemoryStore::default();
        let shops = LocalShops::defaults()
            .with_secret(ShopId::parse(SHOP).expect("shop"), Secret::new(SECRET));
        Self {
            deps: webhook_ports(
                store.clone(),
                shops.clone(),
                VirtualClock::new(now()),
                cartback_core::ports::NoStoreApi,
            ),
            store,
        }
    }

    async fn post(&self, body: &str, signature: Option<String>) -> WebhookReply {
        let mut headers = Headers::new().with("content-type", "application/json");
        if let Some(signature) = signature {
            headers.insert(generic::SIGNATURE_HEADER, signature);
        }
        let request = WebhookRequest {
            shop: SHOP.to_owned(),
            platform: "generic".to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        };
        handle(&request, &self.deps).await
    }

    async fn status(&self) -> Option<CartStatus> {
        self.store
            .cart(
                &ShopId::parse(SHOP).expect("shop"),
                &CartId::parse("cart-7f3a9c").expect("cart"),
            )
            .await
            .expect("reads")
            .map(|c| c.value.status)
    }
}

fn sign(body: &str, at: Timestamp) -> String {
    generic::sign(&Secret::new(SECRET), body.as_bytes(), at)
}

#[tokio::test]
async fn a_signed_cart_is_stored_then_converted_and_a_redelivery_is_a_duplicate() {
    let harness = Harness::new();
    let stored = harness.post(UPDATED, Some(sign(UPDATED, now()))).await;
    assert_eq!(stored.status(), 200, "{}", stored.body());
    assert!(stored.body().contains("stored"), "{}", stored.body());
    assert_eq!(harness.status().await, Some(CartStatus::Open));

    let again = harness.post(UPDATED, Some(sign(UPDATED, now()))).await;
    assert!(again.body().contains("duplicate"), "{}", again.body());

    let converted = harness.post(CONVERTED, Some(sign(CONVERTED, now()))).await;
    assert_eq!(converted.status(), 200, "{}", converted.body());
    assert_eq!(harness.status().await, Some(CartStatus::Converted));

    // The new cart is counted once, by shop and platform; the duplicate is not.
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
        tracked[0].contains(r#""Platform":"generic""#),
        "{}",
        tracked[0]
    );
    assert!(
        tracked[0].contains(r#""Shop":"kuura-knitwear""#),
        "{}",
        tracked[0]
    );
}

#[tokio::test]
async fn tampered_wrong_secret_stale_and_missing_signatures_are_401_and_store_nothing() {
    let harness = Harness::new();
    let tampered = UPDATED.replace("29.90", "0.01");
    let wrong = generic::sign(&Secret::new("not kuura's"), UPDATED.as_bytes(), now());
    let stale = sign(UPDATED, now() - SignedDuration::from_secs(301));
    let future = sign(UPDATED, now() + SignedDuration::from_secs(301));
    for (what, body, signature) in [
        (
            "tampered body",
            tampered.as_str(),
            Some(sign(UPDATED, now())),
        ),
        ("wrong secret", UPDATED, Some(wrong)),
        ("stale timestamp", UPDATED, Some(stale)),
        ("timestamp from the future", UPDATED, Some(future)),
        ("missing header", UPDATED, None),
    ] {
        let reply = harness.post(body, signature).await;
        assert_eq!(reply.status(), 401, "{what}: {}", reply.body());
    }
    assert!(harness.store.take_stream().is_empty(), "nothing stored");
    assert_eq!(harness.status().await, None);
}

#[tokio::test]
async fn a_body_off_the_schema_is_a_400_naming_the_field() {
    let harness = Harness::new();
    let body = UPDATED.replacen("\"total\": \"59.80\"", "\"total\": 59.8", 1);
    let reply = harness.post(&body, Some(sign(&body, now()))).await;
    assert_eq!(reply.status(), 400, "{}", reply.body());
    assert!(
        reply.body().contains("total") || reply.body().contains("string"),
        "{}",
        reply.body()
    );
    assert!(harness.store.take_stream().is_empty());
}

#[tokio::test]
async fn refusals_are_counted_by_shop_and_status_and_junk_shops_share_one_series() {
    let harness = Harness::new();
    let wrong = generic::sign(&Secret::new("not kuura's"), UPDATED.as_bytes(), now());
    assert_eq!(harness.post(UPDATED, Some(wrong)).await.status(), 401);
    assert_eq!(
        harness
            .post("{not json", Some(sign("{not json", now())))
            .await
            .status(),
        400
    );
    // A shop id that is none, and platforms we do not serve, under random shop ids.
    for (junk, platform) in [
        ("no such shop", "generic"),
        ("junk-1.example", "bogus"),
        ("junk-2.example", "bogus"),
    ] {
        let request = WebhookRequest {
            shop: junk.to_owned(),
            platform: platform.to_owned(),
            headers: Headers::new(),
            body: b"{}".to_vec(),
        };
        assert_eq!(handle(&request, &harness.deps).await.status(), 404);
    }

    let refused: Vec<(String, String)> = harness
        .deps
        .metrics
        .emitted()
        .iter()
        .filter(|m| m.value_of("WebhooksRefused").is_some())
        .map(|m| {
            let line: serde_json::Value = serde_json::from_str(&m.to_line()).expect("JSON");
            (
                line["Shop"].as_str().unwrap_or_default().to_owned(),
                line["Status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        (SHOP, "401"),
        (SHOP, "400"),
        ("unknown", "404"),
        ("unknown", "404"),
        ("unknown", "404"),
    ]
    .iter()
    .map(|(s, c)| ((*s).to_owned(), (*c).to_owned()))
    .collect();
    assert_eq!(refused, expected);
}
