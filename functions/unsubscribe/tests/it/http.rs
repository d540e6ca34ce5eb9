//! The unsubscribe handler behind API Gateway: HTTP API (payload format 2.0) events as AWS
//! delivers them (`tests/fixtures/`, the token written in at run time), parsed by
//! `lambda_http` and answered by `handle_http` on the in-memory ports, after the local stack
//! sent the fixture cart's first email with its signed link.

use cartback_app::{Bundle, Metrics, Ports};
use cartback_core::messages::unsubscribe::{UnsubscribeClaim, issue, verify};
use cartback_core::model::cart::{ContactRecord, Suppression, SuppressionReason};
use cartback_core::model::contact::Email;
use cartback_core::model::ids::{CartId, ContactKey, ShopId};
use cartback_core::model::sequence::Channel;
use cartback_core::model::shop::Secret;
use cartback_core::model::time::Clock;
use cartback_core::platforms::webhook::Headers;
use cartback_core::ports::{CartStore, PersonalData};
use cartback_local::{
    LOCAL_PUBLIC_URL, LOCAL_UNSUBSCRIBE_SECRET, LocalShops, MemoryPorts, MemoryRuntime,
    OutageStore, ReportKind,
};
use cartback_unsubscribe::{UnsubscribeDeps, handle, handle_http};
use jiff::Timestamp;
use lambda_http::Body;
use lambda_http::http::Method;
use serde_json::{Value, json};

const SHOP: &str = "demo-shop.myshopify.com";
const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const GET: &str = include_str!("../fixtures/unsubscribe_get.json");
const POST: &str = include_str!("../fixtures/unsubscribe_post_one_click.json");

/// When step 1 (the reminder email) was sent.
const SENT: &str = "2026-11-02T09:00:00Z";

fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn shop() -> ShopId {
    ShopId::parse(SHOP).expect("shop id")
}

fn email_key() -> ContactKey {
    Email::parse("ada@example.com").expect("email").key()
}

fn secret() -> Secret {
    Secret::new(LOCAL_UNSUBSCRIBE_SECRET)
}

/// Delivers the fixture checkout, edited by `edit`, at the stack's current time.
async fn deliver(stack: &MemoryRuntime, edit: impl FnOnce(&mut Value)) {
    let mut body: Value = serde_json::from_str(CHECKOUT).expect("fixture JSON");
    edit(&mut body);
    let request = cartback_webhook::WebhookRequest {
        shop: SHOP.to_owned(),
        platform: "shopify".to_owned(),
        headers: Headers::new().with(
            cartback_core::platforms::shopify::TOPIC_HEADER,
            "checkouts/create",
        ),
        body: body.to_string().into_bytes(),
    };
    let (reply, _) = stack.deliver(&request).await.expect("delivered");
    assert!(reply.0.is_ok(), "{:?}", reply.0);
}

/// The fixture checkout (08:00 UTC) delivered, and its first email sent at 09:00.
async fn stack_after_first_email() -> MemoryRuntime {
    let stack = MemoryRuntime::new(ts("2026-11-02T08:00:30Z"), LocalShops::defaults());
    deliver(&stack, |_| {}).await;
    let reports = stack.run_until(ts(SENT)).await.expect("ran");
    assert!(
        matches!(reports.as_slice(), [r] if r.kind == ReportKind::Sent && r.step == 1),
        "{reports:?}"
    );
    stack
}

fn deps(stack: &MemoryRuntime) -> UnsubscribeDeps<MemoryPorts> {
    UnsubscribeDeps {
        ports: Bundle {
            metrics: Metrics::memory(),
            ..stack.ports()
        },
        secret: secret(),
    }
}

/// A header of the raw MIME message (unfolded lines are enough for ours).
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// The token of the `List-Unsubscribe` link in the first email sent.
fn token_in_first_email(stack: &MemoryRuntime) -> String {
    let outbox = stack.mailer.outbox();
    let raw = String::from_utf8(outbox.first().expect("an email").raw.clone()).expect("UTF-8");
    let link = header(&raw, "List-Unsubscribe").expect("List-Unsubscribe");
    let prefix = format!("<{LOCAL_PUBLIC_URL}/unsubscribe?t=");
    link.strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or_else(|| panic!("an unsubscribe link: {link}"))
        .to_owned()
}

/// The fixture event with `token` as its `t` query parameter.
fn request(fixture: &str, token: &str) -> Value {
    let mut event: Value = serde_json::from_str(fixture).expect("fixture JSON");
    event["rawQueryString"] = json!(format!("t={token}"));
    event["queryStringParameters"]["t"] = json!(token);
    event
}

/// Parses the event exactly as the Lambda runtime would, then calls the handler.
async fn call<P: Ports>(deps: &UnsubscribeDeps<P>, event: &Value) -> (u16, String) {
    let request = lambda_http::request::from_str(&event.to_string())
        .expect("an API Gateway HTTP API (payload 2.0) event");
    let response = handle_http(request, deps).await.expect("a response");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        response
            .headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    let body = match response.body() {
        Body::Text(text) => text.clone(),
        other => panic!("expected a text body, got {other:?}"),
    };
    (response.status().as_u16(), body)
}

async fn person(stack: &MemoryRuntime) -> Option<ContactRecord> {
    stack
        .store
        .contact(&shop(), &email_key())
        .await
        .expect("store")
        .map(|c| c.value)
}

/// The person's email suppression, if any.
async fn email_suppression(stack: &MemoryRuntime) -> Option<Suppression> {
    person(stack).await.and_then(|p| p.email_suppressed)
}

fn assert_no_personal_data(html: &str) {
    for personal in ["ada", "Ada", "example.com", "Example Street", "Helsinki"] {
        assert!(!html.contains(personal), "{personal} in {html}");
    }
}

#[test]
fn the_fixtures_are_shaped_like_api_gateway_http_api_events() {
    for (source, method) in [(GET, "GET"), (POST, "POST")] {
        let event: Value = serde_json::from_str(source).expect("JSON");
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], format!("{method} /unsubscribe"));
        assert_eq!(event["requestContext"]["routeKey"], event["routeKey"]);
        assert_eq!(event["requestContext"]["http"]["method"], method);
        assert_eq!(event["rawPath"], "/unsubscribe");
    }
}

#[tokio::test]
async fn the_email_carries_a_one_click_link_and_get_shows_a_confirmation_page() {
    let stack = stack_after_first_email().await;
    let raw = String::from_utf8(stack.mailer.outbox()[0].raw.clone()).expect("UTF-8");
    assert_eq!(
        header(&raw, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let token = token_in_first_email(&stack);

    let (status, html) = call(&deps(&stack), &request(GET, &token)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("lang=\"en\""), "{html}");
    assert!(
        html.contains(&format!("<form method=\"post\" action=\"?t={token}\">")),
        "{html}"
    );
    assert_no_personal_data(&html);
    // Looking is not unsubscribing.
    assert!(email_suppression(&stack).await.is_none());
}

#[tokio::test]
async fn one_click_post_suppresses_email_for_the_person_in_every_cart() {
    let stack = stack_after_first_email().await;
    let token = token_in_first_email(&stack);
    stack.clock.advance_to(ts("2026-11-02T09:06:00Z"));

    let (status, html) = call(&deps(&stack), &request(POST, &token)).await;
    assert_eq!(status, 200, "{html}");
    assert_no_personal_data(&html);
    let suppression = email_suppression(&stack).await.expect("email suppressed");
    assert_eq!(suppression.reason, SuppressionReason::Unsubscribed);
    assert_eq!(suppression.at, ts("2026-11-02T09:06:00Z"));

    // Mail clients may POST again: still 200, nothing changes.
    stack.clock.advance_to(ts("2026-11-02T09:07:00Z"));
    let (status, _) = call(&deps(&stack), &request(POST, &token)).await;
    assert_eq!(status, 200);
    let again = email_suppression(&stack).await;
    assert_eq!(again, Some(suppression));

    // A new cart of the same person: no email for it either, nor step 2 of the first.
    deliver(&stack, |body| {
        body["token"] = json!("5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d");
    })
    .await;
    stack.drain_stream().await.expect("stream");
    let reports = stack
        .run_until(ts("2026-11-08T00:00:00Z"))
        .await
        .expect("ran");
    assert!(
        reports.iter().all(|r| r.kind != ReportKind::Sent),
        "{reports:?}"
    );
    // Both carts met the suppression (not merely nothing due).
    let carts_stopped_or_skipped = reports
        .iter()
        .filter(|r| matches!(r.kind, ReportKind::Stopped | ReportKind::Skipped))
        .map(|r| r.cart.clone())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(carts_stopped_or_skipped.len(), 2, "{reports:?}");
    assert_eq!(stack.mailer.outbox().len(), 1);
}

#[tokio::test]
async fn the_page_speaks_the_carts_language() {
    let stack = stack_after_first_email().await;
    let finnish = "5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d";
    deliver(&stack, |body| {
        body["token"] = json!(finnish);
        body["customer_locale"] = json!("fi");
    })
    .await;
    let claim = UnsubscribeClaim {
        shop: shop(),
        cart: CartId::parse(finnish).expect("cart id"),
        channel: Channel::Email,
        contact: None,
    };
    let token = issue(&secret(), &claim, ts("2027-01-01T00:00:00Z"));
    let (status, html) = call(&deps(&stack), &request(GET, &token)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("lang=\"fi\""), "{html}");
    assert!(html.contains("Peru muistutukset"), "{html}");
    let (status, html) = call(&deps(&stack), &request(POST, &token)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Muistutukset on peruttu"), "{html}");
}

#[tokio::test]
async fn a_tampered_or_missing_token_is_a_403_and_stores_nothing() {
    let stack = stack_after_first_email().await;
    let token = token_in_first_email(&stack);
    // Another cart's id under this cart's signature.
    let (_, mac) = token.split_once('.').expect("two parts");
    let other = UnsubscribeClaim {
        shop: shop(),
        cart: CartId::parse("ffffffffffffffffffffffffffffffff").expect("cart id"),
        channel: Channel::Email,
        contact: None,
    };
    let forged = issue(&Secret::new("guessed"), &other, ts("2027-01-01T00:00:00Z"));
    let (payload, _) = forged.split_once('.').expect("two parts");
    let mut flipped = token.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ASCII");
    for bad in [
        format!("{payload}.{mac}"),
        forged.clone(),
        flipped,
        "not-a-token".to_owned(),
        String::new(),
        "%%%".to_owned(),
    ] {
        for fixture in [GET, POST] {
            let (status, html) = call(&deps(&stack), &request(fixture, &bad)).await;
            assert_eq!(status, 403, "{bad}: {html}");
            assert!(html.contains("invalid or has expired"), "{html}");
        }
    }
    // No `t` at all.
    let mut event = request(POST, "x");
    event["rawQueryString"] = json!("");
    event
        .as_object_mut()
        .expect("object")
        .remove("queryStringParameters");
    assert_eq!(call(&deps(&stack), &event).await.0, 403);

    assert!(email_suppression(&stack).await.is_none());
}

#[tokio::test]
async fn an_expired_link_is_a_403_and_stores_nothing() {
    let stack = stack_after_first_email().await;
    let token = token_in_first_email(&stack);
    // 90 days after sending, to the second.
    stack.clock.advance_to(ts("2027-01-31T09:00:00Z"));
    for fixture in [GET, POST] {
        let (status, html) = call(&deps(&stack), &request(fixture, &token)).await;
        assert_eq!(status, 403, "{html}");
    }
    assert!(email_suppression(&stack).await.is_none());
}

#[tokio::test]
async fn other_methods_are_refused() {
    let stack = stack_after_first_email().await;
    let token = token_in_first_email(&stack);
    let reply = handle(&Method::DELETE, Some(&token), &deps(&stack)).await;
    assert_eq!(reply.status(), 405);
}

#[tokio::test]
async fn a_store_outage_is_a_500_so_the_client_retries_and_the_retry_works() {
    let stack = stack_after_first_email().await;
    let token = token_in_first_email(&stack);
    let store = OutageStore::new(stack.store.clone());
    store.fail_retryably();
    let deps = UnsubscribeDeps {
        ports: Bundle {
            metrics: Metrics::memory(),
            ..stack.ports()
        }
        .with_store(store.clone()),
        secret: secret(),
    };
    let (status, html) = call(&deps, &request(POST, &token)).await;
    assert_eq!(status, 500, "{html}");
    assert!(email_suppression(&stack).await.is_none());

    store.recover();
    let (status, _) = call(&deps, &request(POST, &token)).await;
    assert_eq!(status, 200);
    assert!(email_suppression(&stack).await.is_some());
}

/// The fixture cart's id (its checkout token).
const FIRST_CART: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

/// A token for the email of `cart`: with `contact`, as issued now; without, as issued before
/// tokens carried the person's key.
fn token_for(cart: &str, contact: Option<ContactKey>) -> String {
    let claim = UnsubscribeClaim {
        shop: shop(),
        cart: CartId::parse(cart).expect("cart id"),
        channel: Channel::Email,
        contact,
    };
    issue(&secret(), &claim, ts("2027-03-01T00:00:00Z"))
}

/// The fixture cart deleted as DynamoDB's TTL would (30 days after its last activity), and
/// what followed it through the stream and the schedules.
async fn expire_first_cart(stack: &MemoryRuntime) {
    // The rest of the sequence runs its course first.
    stack
        .run_until(ts("2026-12-03T09:00:00Z"))
        .await
        .expect("ran");
    stack
        .store
        .delete_cart(&shop(), &CartId::parse(FIRST_CART).expect("cart id"))
        .await
        .expect("deleted");
    stack.drain_stream().await.expect("stream");
    assert!(
        stack
            .store
            .peek_cart(&shop(), &CartId::parse(FIRST_CART).expect("cart id"))
            .is_none()
    );
}

/// A new checkout of the same person (another cart id) at the stack's current time; then a
/// week of the pipeline. The reports of that week.
async fn new_cart_of_the_same_person(stack: &MemoryRuntime) -> Vec<cartback_local::Report> {
    let now = stack.clock.now().to_string();
    deliver(stack, |body| {
        body["token"] = json!("77aa77aa77aa77aa77aa77aa77aa77aa");
        body["created_at"] = json!(now);
        body["updated_at"] = json!(now);
    })
    .await;
    stack.drain_stream().await.expect("stream");
    let until = stack
        .clock
        .now()
        .checked_add(jiff::SignedDuration::from_hours(7 * 24))
        .expect("time");
    stack.run_until(until).await.expect("ran")
}

#[tokio::test]
async fn the_link_in_the_email_carries_the_persons_key_and_channel() {
    let stack = stack_after_first_email().await;
    let token = token_in_first_email(&stack);
    let claim = verify(&secret(), &token, ts(SENT)).expect("a genuine token");
    assert_eq!(claim.contact, Some(email_key()));
    assert_eq!(claim.channel, Channel::Email);
    assert_eq!(claim.cart.as_str(), FIRST_CART);
    assert!(!token.contains("ada"), "{token}");
}

#[tokio::test]
async fn a_new_token_suppresses_the_person_while_the_cart_exists() {
    let stack = stack_after_first_email().await;
    let token = token_for(FIRST_CART, Some(email_key()));
    let (status, html) = call(&deps(&stack), &request(POST, &token)).await;
    assert_eq!(status, 200, "{html}");
    let suppression = email_suppression(&stack).await.expect("email suppressed");
    assert_eq!(suppression.reason, SuppressionReason::Unsubscribed);
    // Step 2 of this cart is not sent.
    stack.drain_stream().await.expect("stream");
    let reports = stack
        .run_until(ts("2026-11-08T00:00:00Z"))
        .await
        .expect("ran");
    assert!(
        reports.iter().all(|r| r.kind != ReportKind::Sent),
        "{reports:?}"
    );
    assert_eq!(stack.mailer.outbox().len(), 1);
}

#[tokio::test]
async fn a_new_token_unsubscribes_after_the_cart_expired_and_the_next_cart_gets_no_email() {
    let stack = stack_after_first_email().await;
    let token = token_in_first_email(&stack);
    expire_first_cart(&stack).await;
    let sent_before = stack.mailer.outbox().len();

    // The link still works (valid 90 days), though the cart is gone: the page, then the
    // one-click POST.
    let (status, html) = call(&deps(&stack), &request(GET, &token)).await;
    assert_eq!(status, 200, "{html}");
    let (status, html) = call(&deps(&stack), &request(POST, &token)).await;
    assert_eq!(status, 200, "{html}");
    assert_no_personal_data(&html);
    let suppression = email_suppression(&stack)
        .await
        .expect("email suppressed on the person, without the cart");
    assert_eq!(suppression.reason, SuppressionReason::Unsubscribed);
    assert_eq!(suppression.at, stack.clock.now());

    // The same person checks out again: no email for the new cart.
    let reports = new_cart_of_the_same_person(&stack).await;
    assert!(
        reports.iter().all(|r| r.kind != ReportKind::Sent),
        "{reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| r.cart == "77aa77aa77aa77aa77aa77aa77aa77aa"
                && r.kind == ReportKind::Stopped
                && r.reason.as_deref() == Some("unsubscribed")),
        "the new cart met the suppression: {reports:?}"
    );
    assert_eq!(stack.mailer.outbox().len(), sent_before);
}

#[tokio::test]
async fn an_old_token_still_works_while_its_cart_exists() {
    let stack = stack_after_first_email().await;
    let old = token_for(FIRST_CART, None);
    let (status, html) = call(&deps(&stack), &request(GET, &old)).await;
    assert_eq!(status, 200, "{html}");
    let (status, html) = call(&deps(&stack), &request(POST, &old)).await;
    assert_eq!(status, 200, "{html}");
    let suppression = email_suppression(&stack)
        .await
        .expect("email suppressed through the cart's address");
    assert_eq!(suppression.reason, SuppressionReason::Unsubscribed);
}

/// The limit of links sent before tokens carried the key: once their cart is gone, nothing
/// names the person (the page still answers, as before).
#[tokio::test]
async fn an_old_token_after_its_cart_expired_cannot_name_the_person() {
    let stack = stack_after_first_email().await;
    let old = token_for(FIRST_CART, None);
    expire_first_cart(&stack).await;
    let (status, _) = call(&deps(&stack), &request(POST, &old)).await;
    assert_eq!(status, 200);
    assert!(email_suppression(&stack).await.is_none());
}

#[tokio::test]
async fn a_new_token_naming_another_person_under_a_genuine_signature_is_refused() {
    let stack = stack_after_first_email().await;
    let genuine = token_in_first_email(&stack);
    let (_, mac) = genuine.split_once('.').expect("two parts");
    let someone_else = Email::parse("bob@example.com").expect("email").key();
    // The same claim but another person's key, signed with a guessed secret; its payload
    // under the genuine signature; and the genuine payload re-signed with the guess.
    let forged = issue(
        &Secret::new("guessed"),
        &UnsubscribeClaim {
            shop: shop(),
            cart: CartId::parse(FIRST_CART).expect("cart id"),
            channel: Channel::Email,
            contact: Some(someone_else.clone()),
        },
        ts("2027-01-01T00:00:00Z"),
    );
    let (forged_payload, forged_mac) = forged.split_once('.').expect("two parts");
    let (genuine_payload, _) = genuine.split_once('.').expect("two parts");
    for bad in [
        format!("{forged_payload}.{mac}"),
        forged.clone(),
        format!("{genuine_payload}.{forged_mac}"),
    ] {
        let (status, html) = call(&deps(&stack), &request(POST, &bad)).await;
        assert_eq!(status, 403, "{bad}: {html}");
    }
    let other = stack
        .store
        .contact(&shop(), &someone_else)
        .await
        .expect("store");
    assert!(other.is_none(), "{other:?}");
    assert!(email_suppression(&stack).await.is_none());
}
