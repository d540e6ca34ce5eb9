//! The BigCommerce store API client against a local HTTP server (`wiremock`): the request it
//! makes (path, token header), and what it does with 200, 404, 429, 5xx, a 401 and a server
//! that does not answer in time. The token never shows in an error.

use std::time::{Duration, Instant};

use cartback_aws::{BigCommerceHttpApi, FixedToken, RetryPolicy};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::bigcommerce::{Fetch, StoreHash};
use cartback_core::ports::StoreApi;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "bc-token-9f8e7d6c5b4a";
const CART: &str = "09346904-4175-44fd-be53-f7e598531b6c";
const CART_PATH: &str = "/stores/k7q2m9x4aa/v3/carts/09346904-4175-44fd-be53-f7e598531b6c";

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        timeout: Duration::from_millis(500),
        backoff: Duration::from_millis(10),
        max_wait: Duration::from_millis(300),
    }
}

fn api(server: &MockServer) -> BigCommerceHttpApi<FixedToken> {
    BigCommerceHttpApi::with_base(&server.uri(), FixedToken(Secret::new(TOKEN)), policy())
}

fn shop() -> ShopId {
    ShopId::parse("kuura-knitwear").expect("shop")
}

fn store() -> StoreHash {
    StoreHash::parse("k7q2m9x4aa").expect("hash")
}

fn cart() -> Fetch {
    Fetch::Cart(CartId::parse(CART).expect("cart"))
}

fn cart_mock(response: ResponseTemplate) -> Mock {
    Mock::given(method("GET"))
        .and(path(CART_PATH))
        .and(query_param("include", "redirect_urls"))
        .and(header("X-Auth-Token", TOKEN))
        .and(header("Accept", "application/json"))
        .respond_with(response)
}

#[tokio::test]
async fn a_cart_is_read_with_the_shops_token() {
    let server = MockServer::start().await;
    cart_mock(ResponseTemplate::new(200).set_body_string(r#"{"data":{}}"#))
        .expect(1)
        .mount(&server)
        .await;
    let api = api(&server);
    assert!(!api.is_built(), "no HTTPS client before the first call");
    let body = api
        .bigcommerce(&shop(), &store(), &cart())
        .await
        .expect("read");
    assert_eq!(body.as_deref(), Some(&br#"{"data":{}}"#[..]));
    assert!(api.is_built());
}

#[tokio::test]
async fn an_order_is_read_from_the_v2_orders_api() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stores/k7q2m9x4aa/v2/orders/252"))
        .and(header("X-Auth-Token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"id":252}"#))
        .expect(1)
        .mount(&server)
        .await;
    let fetch = Fetch::Order {
        cart: CartId::parse(CART).expect("cart"),
        order: 252,
    };
    let body = api(&server)
        .bigcommerce(&shop(), &store(), &fetch)
        .await
        .expect("read");
    assert!(body.is_some());
}

#[tokio::test]
async fn a_429_waits_for_the_reset_and_tries_again() {
    let server = MockServer::start().await;
    cart_mock(
        ResponseTemplate::new(429)
            .insert_header("X-Rate-Limit-Time-Reset-Ms", "150")
            .insert_header("X-Rate-Limit-Requests-Left", "0"),
    )
    .up_to_n_times(1)
    .expect(1)
    .mount(&server)
    .await;
    cart_mock(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let body = api(&server)
        .bigcommerce(&shop(), &store(), &cart())
        .await
        .expect("read after the reset");
    assert_eq!(body.as_deref(), Some(&b"{}"[..]));
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "waited for the rate-limit window"
    );
}

#[tokio::test]
async fn a_5xx_that_persists_is_a_retryable_error_after_the_bounded_attempts() {
    let server = MockServer::start().await;
    cart_mock(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let error = api(&server)
        .bigcommerce(&shop(), &store(), &cart())
        .await
        .expect_err("gives up");
    assert!(error.retryable, "{error}");
    assert!(error.message.contains("503"), "{error}");
    assert!(!error.to_string().contains(TOKEN));
}

#[tokio::test]
async fn a_500_then_a_200_is_read() {
    let server = MockServer::start().await;
    cart_mock(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    cart_mock(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&server)
        .await;
    assert!(
        api(&server)
            .bigcommerce(&shop(), &store(), &cart())
            .await
            .expect("read")
            .is_some()
    );
}

#[tokio::test]
async fn a_404_is_no_cart_and_is_not_retried() {
    let server = MockServer::start().await;
    cart_mock(ResponseTemplate::new(404).set_body_string(
        r#"{"status":404,"title":"Cart not found","type":"https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"}"#,
    ))
    .expect(1)
    .mount(&server)
    .await;
    assert_eq!(
        api(&server)
            .bigcommerce(&shop(), &store(), &cart())
            .await
            .expect("answered"),
        None
    );
}

#[tokio::test]
async fn other_4xx_fail_at_once_without_retry() {
    for status in [400, 401, 403, 422] {
        let server = MockServer::start().await;
        cart_mock(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
        let error = api(&server)
            .bigcommerce(&shop(), &store(), &cart())
            .await
            .expect_err("refused");
        assert!(!error.retryable, "{status}: {error}");
        assert!(!error.to_string().contains(TOKEN));
    }
}

#[tokio::test]
async fn a_server_that_does_not_answer_in_time_is_a_retryable_timeout() {
    const SERVER_DELAY_SECS: u64 = 20;
    let server = MockServer::start().await;
    cart_mock(
        ResponseTemplate::new(200)
            .set_body_string("{}")
            .set_delay(Duration::from_secs(SERVER_DELAY_SECS)),
    )
    .expect(3)
    .mount(&server)
    .await;
    let started = Instant::now();
    let error = api(&server)
        .bigcommerce(&shop(), &store(), &cart())
        .await
        .expect_err("timed out");
    assert!(error.retryable);
    assert!(error.message.contains("timed out"), "{error}");
    // Three attempts of 0.5 s and two short waits (about 2 s), not the server's 20 s: the
    // bound leaves a loaded machine a wide margin and still fails a client that waits.
    assert!(
        started.elapsed() < Duration::from_secs(SERVER_DELAY_SECS / 2),
        "{:?}",
        started.elapsed()
    );
}

struct NoToken;

impl cartback_aws::ApiTokens for NoToken {
    async fn token(
        &self,
        _shop: &ShopId,
    ) -> Result<Option<Secret>, cartback_core::ports::PortError> {
        Ok(None)
    }
}

#[tokio::test]
async fn a_shop_without_a_token_is_a_permanent_error_and_no_request() {
    let server = MockServer::start().await;
    let api = BigCommerceHttpApi::with_base(&server.uri(), NoToken, policy());
    let error = api
        .bigcommerce(&shop(), &store(), &cart())
        .await
        .expect_err("no token");
    assert!(!error.retryable);
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}
