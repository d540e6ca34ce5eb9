//! On moto: SES refuses a send from a sender identity that is not verified
//! (`MessageRejected`). That is the account's configuration, not the shopper's doing: the
//! step is deferred (15 minutes, then longer), the cart is not stopped, the refusal is
//! counted for the alarm, and once the operator verifies the identity the step goes out.

use cartback_core::model::ids::CartId;
use cartback_core::model::reason::DeferReason;
use cartback_core::model::shop::{Secret, ShopSettings};
use cartback_core::ports::CartStore;
use cartback_e2e::TestEnv;
use cartback_sender::Outcome;
use jiff::{SignedDuration, Timestamp};

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_sender_identity_defers_the_step_until_the_operator_verifies_it() {
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let cart = CartId::parse(TOKEN).expect("a cart id");
    // The deploy left the shop's from address unverified.
    let ses = aws_sdk_sesv2::Client::new(&env.sdk);
    let from = ShopSettings::defaults_for(&env.shop).from_address;
    ses.delete_email_identity()
        .email_identity(from.as_str())
        .send()
        .await
        .expect("identity deleted");

    let hmac = cartback_core::platforms::shopify::sign(&Secret::new(SECRET), CHECKOUT.as_bytes());
    let headers = [
        ("X-Shopify-Topic", "checkouts/create"),
        ("X-Shopify-Hmac-Sha256", hmac.as_str()),
        ("X-Shopify-Webhook-Id", "account-side-checkout"),
        ("X-Shopify-Shop-Domain", SHOP),
    ];
    let (status, body) = env
        .post_webhook("shopify", &headers, CHECKOUT)
        .await
        .expect("posted");
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");

    env.clock.advance_to(at("2026-11-02T09:00:00Z"));
    let outcomes = env.fire_due_schedules().await.expect("fired");
    let [
        Outcome::Deferred {
            step: 0,
            until,
            reason: DeferReason::Account,
        },
    ] = outcomes.as_slice()
    else {
        panic!("{outcomes:?}");
    };
    let until = *until;
    assert!(until >= at("2026-11-02T09:15:00Z"), "{until}");
    let stored = env
        .store()
        .cart(&env.shop, &cart)
        .await
        .expect("read")
        .expect("the cart")
        .value;
    assert_eq!(stored.stop_reason, None, "the shopper did nothing wrong");
    assert_eq!(stored.claimed_step, None);
    assert_eq!(stored.next_due_at, Some(until));
    assert!(env.sent_emails().await.expect("outbox").is_empty());
    let counted = env
        .metrics()
        .iter()
        .filter(|m| m.value_of("SendsDeferred").is_some())
        .filter(|m| m.to_line().contains(r#""Reason":"account""#))
        .count();
    assert_eq!(counted, 1, "counted for the account-side alarm");

    // The operator verifies the identity; the deferred step goes out at its new time.
    ses.create_email_identity()
        .email_identity(from.as_str())
        .send()
        .await
        .expect("identity verified");
    env.drain_stream().await.expect("stream");
    env.clock.advance_to(until + SignedDuration::from_secs(1));
    let outcomes = env.fire_due_schedules().await.expect("fired");
    assert!(
        matches!(
            outcomes.as_slice(),
            [Outcome::Sent {
                step: 0,
                confirmed: true,
                ..
            }]
        ),
        "{outcomes:?}"
    );
    assert_eq!(env.sent_emails().await.expect("outbox").len(), 1);
}
