//! The frequency cap across a person's carts on the emulator: a cart records its own
//! messages; when a newer checkout of the person takes over, the webhook carries the older
//! cart's messages onto the person's item, in a transaction that checks the older cart is
//! still as read (`Put::CartUnchanged`, a `ConditionCheck`).

use cartback_aws::DynamoCartStore;
use cartback_core::model::cart::SentStep;
use cartback_core::model::contact::Email;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::sequence::Channel;
use cartback_core::model::shop::Secret;
use cartback_core::ports::{CartStore, Put, WriteOutcome};
use cartback_e2e::TestEnv;
use jiff::Timestamp;
use serde_json::Value;

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
const FIRST_CART: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const SECOND_CART: &str = "9a8b7c6d5e4f30211203f4e5d6c7b8a9";

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

async fn post(env: &TestEnv, body: &str, id: &str) -> (u16, String) {
    let hmac = cartback_core::platforms::shopify::sign(&Secret::new(SECRET), body.as_bytes());
    let headers = [
        ("X-Shopify-Topic", "checkouts/create"),
        ("X-Shopify-Hmac-Sha256", hmac.as_str()),
        ("X-Shopify-Webhook-Id", id),
        ("X-Shopify-Shop-Domain", SHOP),
    ];
    env.post_webhook("shopify", &headers, body)
        .await
        .expect("the webhook answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_cart_carries_the_older_carts_messages_onto_the_person() {
    let env = TestEnv::start(at("2026-11-02T09:30:00Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let store = DynamoCartStore::new(&env.sdk, &env.stack.names.table);
    let shop = ShopId::parse(SHOP).expect("valid");
    let first_id = CartId::parse(FIRST_CART).expect("valid");
    let (status, reply) = post(&env, CHECKOUT, "wh-first").await;
    assert_eq!(status, 200, "{reply}");
    // The sender recorded step 1 on the first cart (and nowhere else).
    let held = store
        .cart(&shop, &first_id)
        .await
        .expect("reads")
        .expect("stored");
    let mut sent = held.value.clone();
    sent.sent.push(SentStep {
        step: 0,
        channel: Channel::Email,
        template: "reminder".into(),
        message_id: "ses-1".into(),
        sent_at: at("2026-11-02T09:00:00Z"),
        skipped: None,
        unconfirmed: false,
        opened_at: None,
        clicked_at: None,
        variant: None,
    });
    let written = store
        .write(vec![Put::Cart {
            record: Box::new(sent),
            expected: Some(held.version),
        }])
        .await
        .expect("writes");
    assert_eq!(written, WriteOutcome::Written);
    let after_send = held.version + 1;

    // A check against the version before the send is refused, as a transaction.
    let stale = store
        .write(vec![
            Put::CartUnchanged {
                shop: shop.clone(),
                cart: first_id.clone(),
                expected: held.version,
            },
            Put::Delivery {
                shop: shop.clone(),
                id: cartback_core::model::ids::DeliveryId::parse("probe").expect("valid"),
                expires_at: 2_000_000_000,
            },
        ])
        .await
        .expect("answers");
    assert_eq!(stale, WriteOutcome::Conflict);

    // A second checkout of the same shopper, twenty minutes after the first.
    let mut second: Value = serde_json::from_str(CHECKOUT).expect("JSON fixture");
    second["token"] = SECOND_CART.into();
    second["updated_at"] = "2026-11-02T10:20:00+02:00".into();
    let (status, reply) = post(&env, &second.to_string(), "wh-second").await;
    assert_eq!(status, 200, "{reply}");

    let key = Email::parse("ada@example.com").expect("valid").key();
    let contact = store
        .contact(&shop, &key)
        .await
        .expect("reads")
        .expect("stored")
        .value;
    assert_eq!(
        contact.latest_cart.map(|l| l.cart),
        Some(CartId::parse(SECOND_CART).expect("valid"))
    );
    assert_eq!(
        contact.recent_sends,
        vec![at("2026-11-02T09:00:00Z").as_millisecond()]
    );
    // The check wrote nothing to the first cart.
    let first = store
        .cart(&shop, &first_id)
        .await
        .expect("reads")
        .expect("stored");
    assert_eq!(first.version, after_send);
}
