//! End to end on emulated AWS (moto) for a WooCommerce shop: the ping WooCommerce sends when
//! the webhook is saved gets 200 and stores nothing; a badly signed order stores nothing; the
//! signed `pending` order (the fixture's exact bytes) becomes a cart in DynamoDB and a
//! schedule; the `failed` update moves its last activity, so the first wake-up re-arms;
//! firing again sends the reminder through SES in Polish with the order's payment link; the
//! `processing` update removes the next step's schedule and nothing more is sent. No person
//! from the orders appears in logs, schedules or metrics.

use cartback_core::model::cart::CartStatus;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::woocommerce;
use cartback_core::ports::CartStore;
use cartback_e2e::TestEnv;
use cartback_sender::Outcome;
use jiff::Timestamp;

const SHOP: &str = "lniana-pracownia";
const SECRET: &str = "Zq8#Lw2!vR5^pX9*mT4(kD7)hB1{nF6}cJ3[sG0]";
const PENDING: &str =
    include_str!("../../functions/core/tests/fixtures/woocommerce/order_created_pending.json");
const FAILED: &str =
    include_str!("../../functions/core/tests/fixtures/woocommerce/order_updated_failed.json");
const PROCESSING: &str =
    include_str!("../../functions/core/tests/fixtures/woocommerce/order_updated_processing.json");
const PAYMENT_URL: &str = "https://lniana-pracownia.example/zamowienie/order-pay/4127/?pay_for_order=true&key=wc_order_kT3pQ8xN2mVzR";

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

/// Posts `body` as WooCommerce delivers it, signed with `secret`.
async fn post(
    env: &TestEnv,
    topic: &str,
    body: &str,
    delivery: &str,
    secret: &str,
) -> (u16, String) {
    let signature = woocommerce::sign(&Secret::new(secret), body.as_bytes());
    let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
    let headers = [
        (woocommerce::TOPIC_HEADER, topic),
        (woocommerce::RESOURCE_HEADER, resource),
        (woocommerce::EVENT_HEADER, event),
        (woocommerce::SIGNATURE_HEADER, signature.as_str()),
        ("X-WC-Webhook-ID", "4"),
        (woocommerce::DELIVERY_HEADER, delivery),
        ("X-WC-Webhook-Source", "https://lniana-pracownia.example/"),
    ];
    env.post_webhook("woocommerce", &headers, body)
        .await
        .expect("the webhook function answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woocommerce_order_gets_its_reminder_through_ses_and_paying_stops_the_rest() {
    let env = TestEnv::start(at("2026-11-02T08:00:04Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let shop = ShopId::parse(SHOP).expect("shop");
    let cart = CartId::parse("4127").expect("cart");
    let stored = || async {
        env.store()
            .cart(&shop, &cart)
            .await
            .expect("reads")
            .map(|v| v.value)
    };

    // Saving the webhook in WooCommerce: an unsigned form-encoded ping that must get 200.
    let (status, body) = env
        .post_webhook(
            "woocommerce",
            &[("content-type", "application/x-www-form-urlencoded")],
            "webhook_id=4",
        )
        .await
        .expect("the webhook function answers");
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&env, "order.created", PENDING, "d-forged", "not the secret").await;
    assert_eq!(status, 401, "{body}");
    env.drain_stream().await.expect("stream");
    assert!(env.schedules().await.expect("schedules").is_empty());
    assert!(stored().await.is_none(), "nothing stored");

    let (status, body) = post(
        &env,
        "order.created",
        PENDING,
        "3f2a8c1e9b7d4a6f0e5c2b8d1a7f4e9c",
        SECRET,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");
    let schedules = env.schedules().await.expect("schedules");
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    assert_eq!(schedules[0].at, at("2026-11-02T09:00:03Z"));

    // PayPal declines the payment: the order is `failed`, a newer activity.
    env.clock.advance_to(at("2026-11-02T08:01:41Z"));
    let (status, body) = post(
        &env,
        "order.updated",
        FAILED,
        "b71e04c9a2d85f3e6c1b9a0d4e7f2c58",
        SECRET,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");

    // The first wake-up sees the later activity and re-arms an hour after it.
    env.clock.advance_to(at("2026-11-02T09:00:03Z"));
    let outcomes = env.fire_due_schedules().await.expect("fires");
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Rearmed { until }] if *until == at("2026-11-02T09:01:40Z")),
        "{outcomes:?}"
    );
    env.drain_stream().await.expect("stream");
    env.clock.advance_to(at("2026-11-02T09:01:40Z"));
    let outcomes = env.fire_due_schedules().await.expect("fires");
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Sent { step: 0, .. }]),
        "{outcomes:?}"
    );
    let emails = env.sent_emails().await.expect("moto data");
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].destinations, ["zofia.przykladowa@example.com"]);
    let (subject, text, html) = emails[0].decoded().expect("a MIME message");
    assert_eq!(
        subject, "Zofia, coś Ci umknęło?",
        "in the order's language (pl)"
    );
    assert!(
        text.contains(PAYMENT_URL),
        "the payment link is in the text part"
    );
    assert!(
        html.contains(&PAYMENT_URL.replace('&', "&amp;")),
        "and in the HTML part"
    );
    for part in [&text, &html] {
        assert!(part.contains("Lniany ręcznik kąpielowy"), "the towel");
        assert!(part.contains("Lniana pościel"), "the bedding set");
    }
    env.drain_stream().await.expect("stream");
    assert_eq!(
        env.schedules().await.expect("schedules").len(),
        1,
        "step 2 is armed"
    );

    // Paid through the link: `processing`.
    env.clock.advance_to(at("2026-11-02T10:12:31Z"));
    let (status, body) = post(
        &env,
        "order.updated",
        PROCESSING,
        "e4c7a1f02b9d386e5a0c7f1b4d8e2a96",
        SECRET,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");
    assert!(
        env.schedules().await.expect("schedules").is_empty(),
        "step 2's schedule is gone"
    );
    let cart_now = stored().await.expect("stored");
    assert_eq!(cart_now.status, CartStatus::Converted);
    assert_eq!(cart_now.converted_at, Some(at("2026-11-02T10:12:29Z")));

    env.clock.advance_to(at("2026-12-02T10:00:00Z"));
    assert!(env.fire_due_schedules().await.expect("fires").is_empty());
    assert_eq!(env.sent_emails().await.expect("moto data").len(), 1);
    env.assert_no_personal_data(&[PENDING, FAILED, PROCESSING])
        .await
        .expect("no personal data in logs, schedules or metrics");
}
