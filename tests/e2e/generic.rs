//! End to end on emulated AWS (moto) for a custom store on the generic signed JSON API:
//! the documented `cart.updated` example, signed with `Cartback-Signature`, becomes a cart in
//! DynamoDB and a schedule; firing it sends the reminder through SES; `cart.converted`
//! removes the next step's schedule and nothing more is sent. A stale signature stores
//! nothing. No person from the examples appears in logs, schedules or metrics.

use cartback_core::model::cart::CartStatus;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::model::time::Clock;
use cartback_core::ports::CartStore;
use cartback_e2e::TestEnv;
use cartback_sender::Outcome;
use jiff::{SignedDuration, Timestamp};

const SHOP: &str = "kuura-knitwear";
const SECRET: &str = "whsec_kuura_e2e";
const UPDATED: &str = include_str!("../../examples/generic/cart-updated.json");
const CONVERTED: &str = include_str!("../../examples/generic/cart-converted.json");

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

fn signature(body: &str, signed_at: Timestamp) -> String {
    cartback_core::platforms::generic::sign(&Secret::new(SECRET), body.as_bytes(), signed_at)
}

async fn post(env: &TestEnv, body: &str, signed_at: Timestamp) -> (u16, String) {
    let signature = signature(body, signed_at);
    env.post_webhook(
        "generic",
        &[(
            cartback_core::platforms::generic::SIGNATURE_HEADER,
            signature.as_str(),
        )],
        body,
    )
    .await
    .expect("the webhook function answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_cart_gets_its_reminder_through_ses_and_the_conversion_stops_the_rest() {
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let shop = ShopId::parse(SHOP).expect("shop");
    let cart = CartId::parse("cart-7f3a9c").expect("cart");

    // A request signed six minutes ago is refused and stores nothing.
    let (status, body) = post(
        &env,
        UPDATED,
        env.clock.now() - SignedDuration::from_secs(360),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        env.store()
            .cart(&shop, &cart)
            .await
            .expect("reads")
            .is_none()
    );

    let (status, body) = post(&env, UPDATED, env.clock.now()).await;
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");
    let schedules = env.schedules().await.expect("schedules");
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    assert_eq!(schedules[0].at, at("2026-11-02T09:00:00Z"));

    env.clock.advance_to(at("2026-11-02T09:00:00Z"));
    let outcomes = env.fire_due_schedules().await.expect("fires");
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Sent { step: 0, .. }]),
        "{outcomes:?}"
    );
    let emails = env.sent_emails().await.expect("moto data");
    assert_eq!(emails.len(), 1);
    let (subject, text, html) = emails[0].decoded().expect("a MIME message");
    assert_eq!(
        subject, "Ada, unohtuiko jotain?",
        "in the cart's locale (fi-FI)"
    );
    for part in [&text, &html] {
        assert!(
            part.contains("https://shop.example/cart/recover?token=7f3a9c"),
            "the store's recovery link is in the email"
        );
        assert!(part.contains("Merino beanie"), "the item is in the email");
    }
    env.drain_stream().await.expect("stream");
    assert_eq!(
        env.schedules().await.expect("schedules").len(),
        1,
        "step 2 is armed"
    );

    env.clock.advance_to(at("2026-11-02T10:15:10Z"));
    let (status, body) = post(&env, CONVERTED, env.clock.now()).await;
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");
    assert!(
        env.schedules().await.expect("schedules").is_empty(),
        "step 2's schedule is gone"
    );
    let stored = env
        .store()
        .cart(&shop, &cart)
        .await
        .expect("reads")
        .expect("stored");
    assert_eq!(stored.value.status, CartStatus::Converted);

    env.clock.advance_to(at("2026-12-02T10:00:00Z"));
    assert!(env.fire_due_schedules().await.expect("fires").is_empty());
    assert_eq!(env.sent_emails().await.expect("moto data").len(), 1);
    env.assert_no_personal_data(&[UPDATED, CONVERTED])
        .await
        .expect("no personal data in logs, schedules or metrics");
}
