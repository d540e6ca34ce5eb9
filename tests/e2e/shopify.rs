//! End to end on emulated AWS (moto): a signed Shopify checkout (a new visitor who agreed to
//! marketing email) becomes a cart in DynamoDB, the planner (fed from the table's stream)
//! makes one Scheduler schedule at +1 h, firing it makes the sender email the reminder with
//! the cart's items and link through SES; the order removes the pending schedule of step 2
//! and nothing more is sent. A bad signature stores nothing.

use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::shop::Secret;
use cartback_core::ports::CartStore;
use cartback_e2e::{SCHEDULER_ROLE_ARN, SENDER_ARN, TestEnv};
use cartback_sender::Outcome;
use jiff::{SignedDuration, Timestamp};

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
const ORDER: &str = include_str!("../../functions/core/tests/fixtures/shopify/orders_create.json");
const RECOVERY_PATH: &str = "/90123456789/checkouts/4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87/recover?key=5e0b1d7c2a9f48e3b6c1d0a9f8e7d6c5";
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

fn signed(topic: &'static str, body: &str, id: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Shopify-Topic", topic.to_owned()),
        (
            "X-Shopify-Hmac-Sha256",
            cartback_core::platforms::shopify::sign(&Secret::new(SECRET), body.as_bytes()),
        ),
        ("X-Shopify-Webhook-Id", id.to_owned()),
        ("X-Shopify-Shop-Domain", SHOP.to_owned()),
    ]
}

fn as_refs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_checkout_becomes_an_email_and_the_order_cancels_the_rest() {
    // The fixture's checkout was last updated 2026-11-02T10:00:00+02:00 = 08:00 UTC.
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let shop = ShopId::parse(SHOP).unwrap();
    let cart = CartId::parse(TOKEN).unwrap();

    let headers = signed("checkouts/create", CHECKOUT, "wh-checkout-1");
    let (status, body) = env
        .post_webhook("shopify", &as_refs(&headers), CHECKOUT)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");

    // The cart is in DynamoDB, armed for the first reminder one hour after its activity.
    let stored = env
        .store()
        .cart(&shop, &cart)
        .await
        .unwrap()
        .expect("cart stored");
    assert_eq!(stored.value.next_due_at, Some(at("2026-11-02T09:00:00Z")));
    assert_eq!(stored.value.generation, 1);

    // The planner, fed from the real stream, creates exactly one schedule, as specified.
    assert!(env.drain_stream().await.unwrap() >= 1);
    let schedules = env.schedules().await.unwrap();
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    let first = &schedules[0];
    assert_eq!(first.expression, "at(2026-11-02T09:00:00)");
    assert_eq!(first.timezone.as_deref(), Some("UTC"));
    assert!(first.flexible_window_off);
    assert!(first.delete_after_completion);
    assert_eq!(first.target_arn, SENDER_ARN);
    assert_eq!(first.role_arn, SCHEDULER_ROLE_ARN);
    assert!(
        first.name.len() <= 64
            && first
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    );
    let wake: WakeUp = serde_json::from_str(&first.input).unwrap();
    assert_eq!((wake.step, wake.generation), (0, 1));
    assert!(
        !first.input.contains('@') && !first.input.contains("Ada"),
        "schedule input carries ids only: {}",
        first.input
    );

    // Nothing fires before its time.
    assert!(env.fire_due_schedules().await.unwrap().is_empty());

    // At 09:00 the schedule fires and the sender emails through SES.
    env.clock.advance_to(at("2026-11-02T09:00:00Z"));
    let outcomes = env.fire_due_schedules().await.unwrap();
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Sent { step: 0, .. }]),
        "{outcomes:?}"
    );
    let mails = env.sent_emails().await.unwrap();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.destinations, vec!["ada@example.com".to_owned()]);
    for needle in ["multipart/alternative", "Message-ID: <cartback."] {
        assert!(
            mail.raw.contains(needle),
            "missing {needle:?} in the sent message"
        );
    }
    let (subject, text, html) = mail.decoded().unwrap();
    assert_eq!(subject, "Ada, did you forget something?");
    for part in [&text, &html] {
        assert!(part.contains(RECOVERY_PATH), "recovery link missing");
        assert!(
            part.contains("Merino Wool Beanie") && part.contains("€24.90"),
            "items and prices"
        );
    }

    // The sent step is recorded. A new visitor's step 2 comes 6, 8 or 10 h after step 1
    // (opened, clicked, neither): nothing is opened yet, so it is scheduled for 10 h; an
    // open or click would move it.
    env.drain_stream().await.unwrap();
    let schedules = env.schedules().await.unwrap();
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    assert_eq!(schedules[0].expression, "at(2026-11-02T19:00:00)");
    let stored = env.store().cart(&shop, &cart).await.unwrap().unwrap();
    assert_eq!(stored.value.sent.len(), 1);
    assert_eq!(stored.value.next_step, 1);

    // A second delivery of the same wake-up (at-least-once) sends nothing.
    let duplicate = WakeUp {
        shop: shop.clone(),
        cart: cart.clone(),
        step: 0,
        generation: 1,
    };
    let replay = env.fire_wake_up(&duplicate).await.unwrap();
    assert!(matches!(replay, Outcome::Stale(_)), "{replay:?}");

    // The order arrives: the pending schedule is deleted.
    env.clock.advance_to(at("2026-11-02T10:30:00Z"));
    let headers = signed("orders/create", ORDER, "wh-order-1");
    let (status, body) = env
        .post_webhook("shopify", &as_refs(&headers), ORDER)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.unwrap();
    assert!(
        env.schedules().await.unwrap().is_empty(),
        "the pending schedule must be gone"
    );

    // A month later, nothing more was sent.
    env.clock.advance_to(at("2026-12-02T10:30:00Z"));
    assert!(env.fire_due_schedules().await.unwrap().is_empty());
    assert_eq!(env.sent_emails().await.unwrap().len(), 1);
    let stored = env.store().cart(&shop, &cart).await.unwrap().unwrap();
    assert_eq!(
        stored.value.status,
        cartback_core::model::cart::CartStatus::Converted
    );
    assert_eq!(stored.value.order_id.as_deref(), Some("6012345678901"));

    // The whole flow logged, and never a person's data.
    let logs = cartback_e2e::captured_logs();
    for expected in ["webhook accepted", "schedule created", "sent"] {
        assert!(logs.contains(expected), "no {expected:?} log line");
    }
    assert!(!logs.contains(TOKEN), "the cart id is logged hashed only");
    let looked_for = env
        .assert_no_personal_data(&[CHECKOUT, ORDER])
        .await
        .unwrap();
    assert!(looked_for >= 7, "emails, names, address: {looked_for}");
    assert!(
        logs.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every log line is JSON"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_gets_401_and_stores_nothing() {
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let mut headers = signed("checkouts/create", CHECKOUT, "wh-forged");
    headers[1].1 = cartback_core::platforms::shopify::sign(
        &Secret::new("not-the-secret"),
        CHECKOUT.as_bytes(),
    );
    let (status, _) = env
        .post_webhook("shopify", &as_refs(&headers), CHECKOUT)
        .await
        .unwrap();
    assert_eq!(status, 401);

    let without: Vec<_> = headers
        .iter()
        .filter(|(n, _)| *n != "X-Shopify-Hmac-Sha256")
        .cloned()
        .collect();
    let (status, _) = env
        .post_webhook("shopify", &as_refs(&without), CHECKOUT)
        .await
        .unwrap();
    assert_eq!(status, 401);

    let items = aws_sdk_dynamodb::Client::new(&env.sdk)
        .scan()
        .table_name(cartback_e2e::TABLE)
        .send()
        .await
        .unwrap();
    // Only the shop's CONFIG item exists: no cart, no delivery marker.
    let keys: Vec<String> = items
        .items()
        .iter()
        .filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert_eq!(keys, vec!["CONFIG".to_owned()]);
    assert_eq!(
        env.drain_stream().await.unwrap(),
        1,
        "only the CONFIG write is on the stream"
    );
    assert!(env.schedules().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_shop_gets_404_and_the_clock_is_not_needed_for_it() {
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let headers = signed("checkouts/create", CHECKOUT, "wh-x");
    let (status, _) = env
        .post_webhook_to("other-shop", "shopify", &as_refs(&headers), CHECKOUT)
        .await
        .unwrap();
    assert_eq!(status, 404);
    let later = at("2026-11-02T08:00:30Z")
        .checked_add(SignedDuration::from_hours(1))
        .unwrap();
    env.clock.advance_to(later);
    assert!(env.fire_due_schedules().await.unwrap().is_empty());
}
