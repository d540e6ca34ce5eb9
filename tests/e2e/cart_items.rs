//! Cart items on emulated AWS (moto): the webhook stores the record compressed into one
//! Binary attribute beside the plain keys, kind, version, TTL and index keys
//! (`cartback_core::model::cart_item`). A cart item written before that, with the record as
//! plain attributes, is still read by everything that reads carts: the adapter (the sender's
//! reads, explain, export, the report's query), the planner's stream images and the stack's
//! scan; its next write stores it compressed. A corrupt record is a permanent error that
//! names the cart by its hash only.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use cartback_core::insight::explain::CartState;
use cartback_core::model::cart_item;
use cartback_core::model::ids::{CartId, ShopId, log_hash};
use cartback_core::model::shop::Secret;
use cartback_core::model::table;
use cartback_core::ports::{CartStore, PersonalData};
use cartback_e2e::TestEnv;
use cartback_sender::Outcome;
use jiff::Timestamp;

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

type Item = HashMap<String, AttributeValue>;

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

async fn post_checkout(env: &TestEnv) {
    let hmac = cartback_core::platforms::shopify::sign(&Secret::new(SECRET), CHECKOUT.as_bytes());
    let headers = [
        ("X-Shopify-Topic", "checkouts/create"),
        ("X-Shopify-Hmac-Sha256", hmac.as_str()),
        ("X-Shopify-Webhook-Id", "wh-cart-items"),
        ("X-Shopify-Shop-Domain", SHOP),
    ];
    let (status, body) = env
        .post_webhook("shopify", &headers, CHECKOUT)
        .await
        .expect("the webhook answers");
    assert_eq!(status, 200, "{body}");
}

/// The stack on moto with the fixture checkout posted and planned (its first wake-up
/// scheduled): the environment, the shop and the cart.
async fn checkout_planned() -> (TestEnv, ShopId, CartId) {
    // The fixture's checkout was last updated 2026-11-02 08:00 UTC.
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    post_checkout(&env).await;
    env.drain_stream().await.expect("the planner runs");
    (
        env,
        ShopId::parse(SHOP).expect("valid"),
        CartId::parse(TOKEN).expect("valid"),
    )
}

/// The cart's item as the table holds it (a consistent `GetItem`).
async fn raw_item(env: &TestEnv, shop: &ShopId, cart: &CartId) -> Item {
    aws_sdk_dynamodb::Client::new(&env.sdk)
        .get_item()
        .table_name(cartback_e2e::TABLE)
        .key("pk", AttributeValue::S(table::shop_pk(shop)))
        .key("sk", AttributeValue::S(table::cart_sk(cart)))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem on moto")
        .item
        .expect("the cart item")
}

async fn put_raw(env: &TestEnv, item: Item) {
    aws_sdk_dynamodb::Client::new(&env.sdk)
        .put_item()
        .table_name(cartback_e2e::TABLE)
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem on moto");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_item_written_with_plain_attributes_still_reads_everywhere() {
    let (env, shop, cart) = checkout_planned().await;
    let store = env.store();
    assert_eq!(env.schedules().await.expect("schedules").len(), 1);

    // As the webhook wrote it: the plain attributes and the compressed record, nothing else.
    let item = raw_item(&env, &shop, &cart).await;
    let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "due_pk",
            "due_sk",
            "expires_at",
            "kind",
            "person_pk",
            "pk",
            "record",
            "sk",
            "version"
        ]
    );
    assert!(matches!(item.get("expires_at"), Some(AttributeValue::N(_))));
    let stored = store
        .cart(&shop, &cart)
        .await
        .expect("reads")
        .expect("the cart");

    // The same cart as the adapter wrote it before: the record's fields as plain attributes
    // beside the same keys, kind, version, TTL and index keys.
    let mut plain: Item = serde_dynamo::to_item(&stored.value).expect("plain attributes");
    for (name, value) in &item {
        if name != cart_item::RECORD {
            plain.insert(name.clone(), value.clone());
        }
    }
    assert!(plain.contains_key("snapshot") && !plain.contains_key(cart_item::RECORD));
    put_raw(&env, plain).await;

    // The adapter reads it as it was: the cart, the batch read, the report's query,
    // explain and export.
    assert_eq!(
        store.cart(&shop, &cart).await.expect("reads"),
        Some(stored.clone())
    );
    let (batch, _) = store
        .cart_and_contacts(&shop, &cart, &[])
        .await
        .expect("batch read");
    assert_eq!(batch, Some(stored.clone()));
    assert_eq!(
        store.carts_of(&shop).await.expect("query"),
        vec![stored.value.clone()]
    );
    assert_eq!(
        store
            .carts_by_id(&shop, std::slice::from_ref(&cart))
            .await
            .expect("batch"),
        vec![stored.value.clone()]
    );
    let explained = env.stack.explain(&shop, &cart).await.expect("explain");
    assert_eq!(explained.state, CartState::Open, "{explained:?}");
    let contact = stored.value.contact.clone().expect("a contact key");
    let export =
        cartback_app::privacy::export_person(&store, &shop, std::slice::from_ref(&contact))
            .await
            .expect("export");
    assert_eq!(export.carts, vec![stored.value.clone()]);
    // The stack's scan, and the planner on the stream (a MODIFY from the compressed item
    // to the plain one): both images read, the schedule stays.
    let carts = env.stack.carts().await.expect("scan");
    assert_eq!(carts, vec![stored.clone()]);
    assert_eq!(env.drain_stream().await.expect("the planner reads both"), 1);
    assert_eq!(env.schedules().await.expect("schedules").len(), 1);

    // The first step goes out from the plain item; the claim and the record store it
    // compressed (and the planner reads that MODIFY, from the plain image).
    env.clock.advance_to(at("2026-11-02T09:00:00Z"));
    let outcomes = env.fire_due_schedules().await.expect("fires");
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Sent { step: 0, .. }]),
        "{outcomes:?}"
    );
    env.drain_stream().await.expect("the planner runs");
    let item = raw_item(&env, &shop, &cart).await;
    assert!(matches!(
        item.get(cart_item::RECORD),
        Some(AttributeValue::B(_))
    ));
    assert!(!item.contains_key("snapshot") && !item.contains_key("sent"));
    let sent = store
        .cart(&shop, &cart)
        .await
        .expect("reads")
        .expect("the cart");
    assert_eq!(sent.value.sent.len(), 1);
    assert_eq!(sent.value.snapshot, stored.value.snapshot);
    assert_eq!(sent.version, stored.version + 2, "claimed, then recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_record_is_a_permanent_error_naming_the_cart_by_its_hash() {
    let (env, shop, cart) = checkout_planned().await;
    let store = env.store();

    let mut item = raw_item(&env, &shop, &cart).await;
    // The format byte, then bytes that are not DEFLATE.
    item.insert(
        cart_item::RECORD.into(),
        AttributeValue::B(vec![cart_item::FORMAT_DEFLATE_JSON, 0xff, 0xfe].into()),
    );
    put_raw(&env, item).await;

    let error = store.cart(&shop, &cart).await.expect_err("unreadable");
    assert!(!error.retryable, "{error:?}");
    let hash = log_hash(&[SHOP, TOKEN]);
    assert!(error.message.contains(&hash), "{}", error.message);
    assert!(
        !error.message.contains(TOKEN) && !error.message.contains("ada@"),
        "{}",
        error.message
    );
}
