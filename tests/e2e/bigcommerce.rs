//! End to end on emulated AWS (moto) for a BigCommerce shop, its store API served by a local
//! HTTP server (`wiremock`) that checks the shop's token: an abandoned-cart webhook without
//! the shop's secret header stores nothing and reads nothing; with it, the webhook (ids only)
//! makes the real HTTPS adapter read the cart, which becomes a cart in DynamoDB and a
//! schedule; firing it sends the reminder through SES with the cart's items and recovery
//! link; `store/cart/converted` reads the order, the next step's schedule goes and nothing
//! more is sent. No person from the API's answers appears in logs, schedules or metrics.

use cartback_core::model::cart::CartStatus;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::{EmailConsent, ShopSettings};
use cartback_core::model::time::Clock;
use cartback_core::platforms::bigcommerce::{SECRET_HEADER, StoreHash};
use cartback_core::ports::CartStore;
use cartback_e2e::TestEnv;
use cartback_sender::Outcome;
use jiff::Timestamp;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SHOP: &str = "kuura-knitwear";
const SECRET: &str = "bc-hook-Vq3#r8Lm!x2";
const TOKEN: &str = "bc-e2e-token-5d4c3b2a";
const STORE_HASH: &str = "k7q2m9x4aa";
const CART: &str = "09346904-4175-44fd-be53-f7e598531b6c";
const ABANDONED: &str =
    include_str!("../../functions/core/tests/fixtures/bigcommerce/store_cart_abandoned.json");
const CONVERTED: &str =
    include_str!("../../functions/core/tests/fixtures/bigcommerce/store_cart_converted.json");
const CART_JSON: &str = include_str!("../../functions/core/tests/fixtures/bigcommerce/cart.json");
const ORDER_JSON: &str = include_str!("../../functions/core/tests/fixtures/bigcommerce/order.json");
const CART_URL: &str = "https://kuura-knitwear.example/cart.php?action=load&id=09346904-4175-44fd-be53-f7e598531b6c&token=aa958e2b7922035bf3339215d0b3cdb43400a1d0";

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

async fn store_api() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/stores/{STORE_HASH}/v3/carts/{CART}")))
        .and(query_param("include", "redirect_urls"))
        .and(header("X-Auth-Token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_string(CART_JSON))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/stores/{STORE_HASH}/v2/orders/252")))
        .and(header("X-Auth-Token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_string(ORDER_JSON))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bigcommerce_cart_gets_its_reminder_through_ses_and_converting_stops_the_rest() {
    let api = store_api().await;
    let shop = ShopId::parse(SHOP).expect("shop");
    let mut names = cartback_e2e::names();
    names.bigcommerce_api_url = api.uri();
    let mut settings = ShopSettings::defaults_for(&shop);
    settings.bigcommerce_store_hash = Some(StoreHash::parse(STORE_HASH).expect("hash"));
    // A BigCommerce cart carries no consent: this shop reminds without it (docs/deploy.md).
    settings.rules.email_consent = EmailConsent::NotRequired;
    settings.default_locale = Some("en".to_owned());
    let env = TestEnv::start_custom(
        at("2026-11-02T09:31:10Z"),
        SHOP,
        SECRET,
        settings,
        names.clone(),
        false,
    )
    .await
    .expect("test env");
    cartback_devstack::put_secret(&env.sdk, &names.bigcommerce_token_param(SHOP), TOKEN)
        .await
        .expect("token in SSM");
    let cart = CartId::parse(CART).expect("cart");
    let stored = || async {
        env.store()
            .cart(&shop, &cart)
            .await
            .expect("reads")
            .map(|v| v.value)
    };

    // Without the secret header (or with another value): 401, nothing read, nothing stored.
    for headers in [vec![], vec![(SECRET_HEADER, "not the secret")]] {
        let (status, body) = env
            .post_webhook("bigcommerce", &headers, ABANDONED)
            .await
            .expect("the webhook function answers");
        assert_eq!(status, 401, "{body}");
    }
    assert!(
        api.received_requests().await.unwrap_or_default().is_empty(),
        "the store API was not called"
    );
    env.drain_stream().await.expect("stream");
    assert!(env.schedules().await.expect("schedules").is_empty());
    assert!(stored().await.is_none(), "nothing stored");

    let (status, body) = env
        .post_webhook("bigcommerce", &[(SECRET_HEADER, SECRET)], ABANDONED)
        .await
        .expect("the webhook function answers");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"stored\""), "{body}");
    let record = stored().await.expect("stored");
    assert_eq!(record.status, CartStatus::Open);
    env.drain_stream().await.expect("stream");
    let schedules = env.schedules().await.expect("schedules");
    assert_eq!(schedules.len(), 1, "{schedules:?}");

    // Fire the first step.
    env.clock.advance_to(schedules[0].at.max(env.clock.now()));
    let outcomes = env.fire_due_schedules().await.expect("fires");
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Sent { step: 0, .. }]),
        "{outcomes:?}"
    );
    let emails = env.sent_emails().await.expect("moto data");
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].destinations, ["aino.esimerkki@example.com"]);
    let (_subject, text, html) = emails[0].decoded().expect("a MIME message");
    assert!(text.contains(CART_URL), "the cart link is in the text part");
    assert!(
        html.contains(&CART_URL.replace('&', "&amp;")),
        "and in the HTML"
    );
    for part in [&text, &html] {
        assert!(part.contains("Merino Beanie"));
        assert!(part.contains("Wool Mittens"));
    }
    env.drain_stream().await.expect("stream");
    assert_eq!(
        env.schedules().await.expect("schedules").len(),
        1,
        "step 2 is armed"
    );

    // Bought: store/cart/converted names the order, which is read from the API.
    env.clock.advance_to(at("2026-11-02T13:20:06Z"));
    let (status, body) = env
        .post_webhook("bigcommerce", &[(SECRET_HEADER, SECRET)], CONVERTED)
        .await
        .expect("the webhook function answers");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"converted\""), "{body}");
    env.drain_stream().await.expect("stream");
    assert!(
        env.schedules().await.expect("schedules").is_empty(),
        "step 2's schedule is gone"
    );
    let cart_now = stored().await.expect("stored");
    assert_eq!(cart_now.status, CartStatus::Converted);
    assert_eq!(cart_now.converted_at, Some(at("2026-11-02T13:20:00Z")));

    env.clock.advance_to(at("2026-12-02T10:00:00Z"));
    assert!(env.fire_due_schedules().await.expect("fires").is_empty());
    assert_eq!(env.sent_emails().await.expect("moto data").len(), 1);
    env.assert_no_personal_data(&[CART_JSON, ORDER_JSON])
        .await
        .expect("no personal data in logs, schedules or metrics");
}
