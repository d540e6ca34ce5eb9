//! Shopify's mandatory compliance webhooks (`customers/redact`, `shop/redact`,
//! `customers/data_request`) through the HTTP handler, on the fixtures in
//! `functions/core/tests/fixtures/shopify/` (shaped like Shopify's documented payloads) and
//! in-memory ports. Each is HMAC-verified like every other Shopify webhook.

use crate::{WebhookPorts, webhook_ports};
use cartback_core::model::cart::SuppressionReason;
use cartback_core::model::contact::{Email, Phone};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::ports::{CartStore, PersonalData};
use cartback_local::{LocalShops, MemoryStore, OutageStore, VirtualClock};
use cartback_webhook::handle_http;
use jiff::Timestamp;
use lambda_http::Body;
use serde_json::{Value, json};

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
/// The checkout token of `checkouts_create.json` (Ada, `ada@example.com`).
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

const CHECKOUTS_CREATE: &str = include_str!("../fixtures/checkouts_create.json");
const CUSTOMERS_REDACT: &str =
    include_str!("../../../core/tests/fixtures/shopify/customers_redact.json");
const SHOP_REDACT: &str = include_str!("../../../core/tests/fixtures/shopify/shop_redact.json");
const DATA_REQUEST: &str =
    include_str!("../../../core/tests/fixtures/shopify/customers_data_request.json");
const PHONE_ONLY: &str =
    include_str!("../../../core/tests/fixtures/shopify/checkouts_create_phone_only.json");

fn shop_id() -> ShopId {
    ShopId::parse(SHOP).expect("valid shop id")
}

fn sign(body: &str) -> String {
    cartback_core::platforms::shopify::sign(&Secret::new(SECRET), body.as_bytes())
}

/// The checkouts/create API Gateway event with another body, topic and delivery id,
/// signed with `signature` (the body's own HMAC unless given).
fn shopify_event(topic: &str, body: &str, delivery: &str, signature: Option<&str>) -> Value {
    let mut event: Value = serde_json::from_str(CHECKOUTS_CREATE).expect("fixture is JSON");
    event["body"] = json!(body);
    event["isBase64Encoded"] = json!(false);
    event["headers"]["content-length"] = json!(body.len().to_string());
    event["headers"]["x-shopify-topic"] = json!(topic);
    event["headers"]["x-shopify-webhook-id"] = json!(delivery);
    event["headers"]["x-shopify-hmac-sha256"] =
        json!(signature.map_or_else(|| sign(body), str::to_owned));
    event
}

fn checkout_event() -> Value {
    serde_json::from_str(CHECKOUTS_CREATE).expect("fixture is JSON")
}

/// The checkout body with an `updated_at` a minute later (a re-delivered or edited cart).
fn later_checkout(delivery: &str) -> Value {
    let original = checkout_event();
    let mut body: Value =
        serde_json::from_str(original["body"].as_str().expect("text body")).expect("JSON");
    body["updated_at"] = json!("2026-11-02T10:05:00+02:00");
    shopify_event("checkouts/update", &body.to_string(), delivery, None)
}

fn deps_on<S: CartStore + PersonalData>(store: S) -> WebhookPorts<S> {
    let shops = LocalShops::defaults().with_secret(shop_id(), Secret::new(SECRET));
    webhook_ports(
        store,
        shops.clone(),
        VirtualClock::new("2026-11-02T08:30:00Z".parse::<Timestamp>().expect("valid")),
        cartback_core::ports::NoStoreApi,
    )
}

async fn post<S: CartStore + PersonalData>(deps: &WebhookPorts<S>, event: &Value) -> (u16, Value) {
    let request = lambda_http::request::from_str(&event.to_string())
        .expect("an API Gateway HTTP API (payload 2.0) event");
    let response = handle_http(request, deps).await.expect("a response");
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("the reply is JSON"),
        other => panic!("expected a text body, got {other:?}"),
    };
    (response.status().as_u16(), body)
}

/// Runs every erasure the webhook queued to the end, as the erasure worker would; what each
/// finished job did.
async fn run_erasures<S: CartStore + PersonalData>(
    deps: &WebhookPorts<S>,
) -> Vec<cartback_app::erasure::Finished> {
    let mut done = Vec::new();
    while let Some(job) = deps.erasures.take() {
        done.push(
            cartback_app::erasure::work_to_end(deps, job)
                .await
                .expect("the erasure finishes"),
        );
    }
    done
}

/// A store holding Ada's checkout (email) and a phone-only checkout of someone else.
async fn with_two_carts() -> (MemoryStore, WebhookPorts<MemoryStore>) {
    let store = MemoryStore::default();
    let deps = deps_on(store.clone());
    let (status, body) = post(&deps, &checkout_event()).await;
    assert_eq!(status, 200, "{body}");
    let other = shopify_event("checkouts/create", PHONE_ONLY, "other-1", None);
    let (status, body) = post(&deps, &other).await;
    assert_eq!(status, 200, "{body}");
    store.take_stream();
    (store, deps)
}

fn ada() -> Email {
    Email::parse("ada@example.com").expect("valid")
}

fn ada_cart() -> CartId {
    CartId::parse(TOKEN).expect("valid")
}

#[tokio::test]
async fn customers_redact_deletes_the_persons_cart_and_leaves_a_tombstone_on_every_channel() {
    let (store, deps) = with_two_carts().await;
    let before = store.carts();
    assert_eq!(before.len(), 2);
    let other = before
        .iter()
        .find(|c| c.cart != ada_cart())
        .expect("the other cart")
        .clone();

    let event = shopify_event("customers/redact", CUSTOMERS_REDACT, "redact-1", None);
    let (status, body) = post(&deps, &event).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "result": "erasure_queued", "kind": "person" })
    );
    assert_eq!(store.carts().len(), 2, "answered before anything is erased");
    let done = run_erasures(&deps).await;
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].carts, done[0].tombstones), (2, 2));
    // The fixture names Ada's email and the phone of the other checkout: both carts are
    // this customer's, as Shopify says.
    assert!(store.carts().is_empty());
    let removed: Vec<String> = store
        .take_stream()
        .iter()
        .filter(|r| r["eventName"] == "REMOVE")
        .map(|r| {
            r["dynamodb"]["Keys"]["sk"]["S"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(
        removed.len(),
        2,
        "the planner sees each cart removed: {removed:?}"
    );
    for key in [ada().key(), other.contact.clone().expect("keyed")] {
        let contact = store
            .contact(&shop_id(), &key)
            .await
            .expect("reads")
            .expect("a tombstone")
            .value;
        assert!(contact.is_erased());
        assert_eq!(
            contact.email_suppressed.map(|s| s.reason),
            Some(SuppressionReason::Erased)
        );
        assert_eq!(
            contact.sms_suppressed.map(|s| s.reason),
            Some(SuppressionReason::Erased)
        );
        assert_eq!(contact.expires_at, 0, "a tombstone never expires");
        assert!(contact.latest_cart.is_none() && contact.recent_sends.is_empty());
    }

    // Shopify delivers again (a retry): the erasure is idempotent.
    let again = shopify_event("customers/redact", CUSTOMERS_REDACT, "redact-2", None);
    let (status, body) = post(&deps, &again).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "result": "erasure_queued", "kind": "person" })
    );
    assert_eq!(run_erasures(&deps).await[0].carts, 0);

    // A later checkout of the erased person stores nothing and arms nothing.
    let (status, body) = post(&deps, &later_checkout("late-1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "result": "erased" }));
    assert!(store.carts().is_empty());
    assert!(
        store
            .take_stream()
            .iter()
            .all(|r| r["eventName"] != "INSERT")
    );
}

#[tokio::test]
async fn customers_redact_by_email_only_leaves_everyone_else_alone() {
    let (store, deps) = with_two_carts().await;
    let mut body: Value = serde_json::from_str(CUSTOMERS_REDACT).expect("JSON");
    body["customer"]["phone"] = Value::Null;
    let body = body.to_string();
    let event = shopify_event("customers/redact", &body, "redact-email", None);

    let (status, reply) = post(&deps, &event).await;

    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        json!({ "result": "erasure_queued", "kind": "person" })
    );
    assert_eq!(run_erasures(&deps).await[0].carts, 1);
    let left = store.carts();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].cart, ada_cart());
    let phone = Phone::parse("+358401234567", None).expect("valid").key();
    assert!(
        store
            .contact(&shop_id(), &phone)
            .await
            .expect("reads")
            .is_none_or(|c| !c.value.is_erased()),
        "the other person is not suppressed"
    );
}

#[tokio::test]
async fn customers_redact_with_a_bad_hmac_is_401_and_nothing_changes() {
    let (store, deps) = with_two_carts().await;
    let wrong = sign("another body");
    let event = shopify_event(
        "customers/redact",
        CUSTOMERS_REDACT,
        "redact-bad",
        Some(&wrong),
    );

    let (status, body) = post(&deps, &event).await;

    assert_eq!(status, 401, "{body}");
    assert_eq!(store.carts().len(), 2);
    assert!(store.take_stream().is_empty());
    assert!(
        store
            .contact(&shop_id(), &ada().key())
            .await
            .expect("reads")
            .is_none_or(|c| !c.value.is_erased())
    );
}

#[tokio::test]
async fn customers_redact_while_the_table_is_down_is_500_so_shopify_delivers_again() {
    let memory = MemoryStore::default();
    let outage = OutageStore::new(memory.clone());
    let deps = deps_on(outage.clone());
    let (status, _) = post(&deps, &checkout_event()).await;
    assert_eq!(status, 200);
    outage.fail_retryably();

    let event = shopify_event("customers/redact", CUSTOMERS_REDACT, "redact-down", None);
    let (status, body) = post(&deps, &event).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        deps.erasures.is_empty(),
        "nothing queued: Shopify delivers again"
    );

    // The table is back for the webhook, then down again while the worker erases: the chunk
    // fails, and its message is received again (SQS) once the table is back.
    outage.recover();
    let (status, body) = post(&deps, &event).await;
    assert_eq!(status, 200, "{body}");
    let job = deps.erasures.take().expect("queued");
    outage.fail_retryably();
    let failed = cartback_app::erasure::work(&deps, job.clone(), Default::default()).await;
    assert!(
        failed.is_err_and(|e| e.retryable),
        "a failed chunk is an error, never done"
    );
    assert_eq!(
        memory.carts().len(),
        1,
        "nothing half-done is reported done"
    );

    outage.recover();
    let done = cartback_app::erasure::work_to_end(&deps, job)
        .await
        .expect("finishes");
    assert_eq!(done.carts, 1);
    assert!(memory.carts().is_empty());
}

#[tokio::test]
async fn shop_redact_deletes_every_cart_and_contact_of_the_shop() {
    let (store, deps) = with_two_carts().await;
    // Two carts, two people's contact items, two delivery ids.
    let held = store.shop_keys(&shop_id(), None).await.expect("reads");
    assert_eq!(held.sort_keys.len(), 6, "{:?}", held.sort_keys);

    let event = shopify_event("shop/redact", SHOP_REDACT, "shop-redact-1", None);
    let (status, body) = post(&deps, &event).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "result": "erasure_queued", "kind": "shop" }));
    let done = run_erasures(&deps).await;
    assert_eq!(done[0].items, 7, "and the shop/redact delivery id itself");
    let left = store.shop_keys(&shop_id(), None).await.expect("reads");
    assert!(left.sort_keys.is_empty(), "{:?}", left.sort_keys);
    assert!(
        !done[0].shop_forgotten,
        "a shop still served keeps its settings"
    );
    assert!(store.carts().is_empty());
    assert!(
        store
            .contact(&shop_id(), &ada().key())
            .await
            .expect("reads")
            .is_none(),
        "no tombstones: nothing of the shop's customers is kept"
    );
}

#[tokio::test]
async fn shop_redact_with_a_bad_hmac_is_401_and_nothing_changes() {
    let (store, deps) = with_two_carts().await;
    let event = shopify_event("shop/redact", SHOP_REDACT, "shop-bad", Some("bm90IGEgbWFj"));

    let (status, _) = post(&deps, &event).await;

    assert_eq!(status, 401);
    assert_eq!(store.carts().len(), 2);
    assert!(
        store
            .contact(&shop_id(), &ada().key())
            .await
            .expect("reads")
            .is_some()
    );
}

#[tokio::test]
async fn customers_data_request_is_answered_200_and_changes_nothing() {
    let (store, deps) = with_two_carts().await;

    let event = shopify_event("customers/data_request", DATA_REQUEST, "data-1", None);
    let (status, body) = post(&deps, &event).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "data_requested");
    assert_eq!(body["carts"], 2);
    assert_eq!(store.carts().len(), 2);
    assert!(
        store.take_stream().is_empty(),
        "a data request writes nothing"
    );
}

#[tokio::test]
async fn customers_data_request_with_a_bad_hmac_is_401() {
    let (_store, deps) = with_two_carts().await;
    let event = shopify_event("customers/data_request", DATA_REQUEST, "data-bad", Some(""));

    let (status, _) = post(&deps, &event).await;

    assert_eq!(status, 401);
}

#[tokio::test]
async fn customers_redact_naming_no_usable_email_or_phone_is_200_and_erases_nobody() {
    let (store, deps) = with_two_carts().await;
    let mut body: Value = serde_json::from_str(CUSTOMERS_REDACT).expect("JSON");
    body["customer"]["email"] = Value::Null;
    body["customer"]["phone"] = json!("555-625-1199");
    let body = body.to_string();
    let event = shopify_event("customers/redact", &body, "redact-nobody", None);

    let (status, reply) = post(&deps, &event).await;

    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        json!({ "result": "erasure_queued", "kind": "person" })
    );
    assert_eq!(run_erasures(&deps).await[0].carts, 0);
    assert_eq!(store.carts().len(), 2);
}

/// A shop `cartback shop remove` left: its tombstone runs from 08:30 for 30 days; the
/// webhook function's clock reads `now`.
fn removed_shop_deps(store: MemoryStore, now: &str) -> WebhookPorts<MemoryStore> {
    let at: Timestamp = "2026-11-02T08:30:00Z".parse().expect("valid");
    let removal = cartback_core::model::shop::Removal {
        at,
        keep_until: at + jiff::SignedDuration::from_hours(24 * 30),
    };
    let shops = LocalShops::defaults()
        .with_secret(shop_id(), Secret::new(SECRET))
        .with_removal(shop_id(), removal);
    webhook_ports(
        store,
        shops,
        VirtualClock::new(now.parse::<Timestamp>().expect("valid")),
        cartback_core::ports::NoStoreApi,
    )
}

#[tokio::test]
async fn a_removed_shop_ignores_carts_but_its_shop_redact_still_erases_until_the_tombstone_runs_out()
 {
    let (store, _) = with_two_carts().await;
    let removed = removed_shop_deps(store.clone(), "2026-11-04T08:30:00Z");

    let (status, body) = post(&removed, &checkout_event()).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    assert!(
        store.take_stream().is_empty(),
        "nothing written for a removed shop"
    );

    // Shopify's shop/redact, 48 hours after the uninstall.
    let event = shopify_event("shop/redact", SHOP_REDACT, "shop-redact-late", None);
    let (status, body) = post(&removed, &event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "erasure_queued");
    let done = run_erasures(&removed).await;
    assert_eq!(done.len(), 1);
    assert!(
        done[0].shop_forgotten,
        "the removed shop's tombstone goes with the redact"
    );
    assert!(store.carts().is_empty());

    // Once the tombstone has run out, the shop is unknown.
    let later = removed_shop_deps(store.clone(), "2026-12-02T08:30:00Z");
    let again = shopify_event("shop/redact", SHOP_REDACT, "shop-redact-too-late", None);
    let (status, _) = post(&later, &again).await;
    assert_eq!(status, 404);
}

/// The table, where Ada's erasure completes between the webhook's reads and its write of a
/// new cart (the first write that stores a cart no one stored before).
#[derive(Clone)]
struct ErasedMidway {
    inner: MemoryStore,
    raced: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CartStore for ErasedMidway {
    async fn cart(
        &self,
        shop: &ShopId,
        cart: &CartId,
    ) -> Result<
        Option<cartback_core::model::cart::Versioned<cartback_core::model::cart::CartRecord>>,
        cartback_core::ports::PortError,
    > {
        self.inner.cart(shop, cart).await
    }

    async fn contact(
        &self,
        shop: &ShopId,
        key: &cartback_core::model::ids::ContactKey,
    ) -> Result<
        Option<cartback_core::model::cart::Versioned<cartback_core::model::cart::ContactRecord>>,
        cartback_core::ports::PortError,
    > {
        self.inner.contact(shop, key).await
    }

    async fn delivery_seen(
        &self,
        shop: &ShopId,
        id: &cartback_core::model::ids::DeliveryId,
    ) -> Result<bool, cartback_core::ports::PortError> {
        self.inner.delivery_seen(shop, id).await
    }

    async fn write(
        &self,
        puts: Vec<cartback_core::ports::Put>,
    ) -> Result<cartback_core::ports::WriteOutcome, cartback_core::ports::PortError> {
        use cartback_core::ports::Put;
        let new_cart = puts
            .iter()
            .any(|p| matches!(p, Put::Cart { expected: None, record } if record.cart.as_str() == "older-cart"));
        if new_cart && !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let key = ada().key();
            let existing = self.inner.contact(&shop_id(), &key).await?;
            let at: Timestamp = "2026-11-02T08:30:00Z".parse().expect("valid");
            if let Some(record) = cartback_core::rules::erase::tombstone(
                existing.as_ref().map(|v| &v.value),
                &shop_id(),
                &key,
                at,
            ) {
                self.inner
                    .write(vec![Put::Contact {
                        record,
                        expected: existing.map(|v| v.version),
                    }])
                    .await?;
            }
        }
        self.inner.write(puts).await
    }
}

impl PersonalData for ErasedMidway {
    async fn carts_with_key(
        &self,
        shop: &ShopId,
        key: &cartback_core::model::ids::ContactKey,
    ) -> Result<Vec<CartId>, cartback_core::ports::PortError> {
        self.inner.carts_with_key(shop, key).await
    }

    async fn carts_by_id(
        &self,
        shop: &ShopId,
        carts: &[CartId],
    ) -> Result<Vec<cartback_core::model::cart::CartRecord>, cartback_core::ports::PortError> {
        self.inner.carts_by_id(shop, carts).await
    }

    async fn shop_keys(
        &self,
        shop: &ShopId,
        after: Option<&str>,
    ) -> Result<cartback_core::ports::KeyPage, cartback_core::ports::PortError> {
        self.inner.shop_keys(shop, after).await
    }

    async fn delete_items(
        &self,
        shop: &ShopId,
        sort_keys: &[String],
    ) -> Result<(), cartback_core::ports::PortError> {
        self.inner.delete_items(shop, sort_keys).await
    }
}

#[tokio::test]
async fn a_new_cart_racing_the_persons_erasure_is_not_stored() {
    let memory = MemoryStore::default();
    let store = ErasedMidway {
        inner: memory.clone(),
        raced: std::sync::Arc::default(),
    };
    let deps = deps_on(store);
    // Ada's newest cart is known; an older one of hers arrives late (so her record, which
    // names the newest, is not rewritten by it).
    let (status, body) = post(&deps, &later_checkout("newest")).await;
    assert_eq!(status, 200, "{body}");
    let original = checkout_event();
    let mut older: Value =
        serde_json::from_str(original["body"].as_str().expect("text body")).expect("JSON");
    older["token"] = json!("older-cart");
    older["updated_at"] = json!("2026-11-02T09:00:00+02:00");
    let event = shopify_event("checkouts/create", &older.to_string(), "older", None);

    // Her erasure completes between the webhook's reads and its write.
    let (status, body) = post(&deps, &event).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"], "erased",
        "the retry found the tombstone: {body}"
    );
    assert!(
        memory
            .carts()
            .iter()
            .all(|c| c.cart.as_str() != "older-cart"),
        "nothing of hers stored after the erasure"
    );
}
