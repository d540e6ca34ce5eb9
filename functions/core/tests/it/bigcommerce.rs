//! The BigCommerce adapter on the fixtures (`fixtures/bigcommerce/`): the shared-secret
//! header (valid, wrong, missing, and a tampered or malformed body), what each scope asks to
//! read from the store's API, and what the API's answers become. BigCommerce sends no
//! signature and no signed timestamp, so there is no stale-signature vector: a replay is a
//! duplicate by its delivery id (`hash` + body digest) and, after that expires, `updated_time`
//! must move forward.

use cartback_core::model::cart::{CartEvent, Platform};
use cartback_core::model::ids::CartId;
use cartback_core::model::shop::{Secret, SignatureCheck};
use cartback_core::platforms::bigcommerce::{Fetch, SECRET_HEADER};
use cartback_core::platforms::webhook::{Headers, ParsedWebhook, WebhookError, parse_webhook};
use jiff::Timestamp;
use serde_json::{Value, json};

const ABANDONED: &str = include_str!("../fixtures/bigcommerce/store_cart_abandoned.json");
const CONVERTED: &str = include_str!("../fixtures/bigcommerce/store_cart_converted.json");
const CREATED: &str = include_str!("../fixtures/bigcommerce/store_cart_created.json");
const CART: &str = include_str!("../fixtures/bigcommerce/cart.json");
const ORDER: &str = include_str!("../fixtures/bigcommerce/order.json");

const SECRET: &str = "bc-hook-Vq3#r8Lm!x2";
const CART_ID: &str = "09346904-4175-44fd-be53-f7e598531b6c";

fn now() -> Timestamp {
    "2026-11-02T10:30:00Z".parse().expect("time")
}

fn cart_id() -> CartId {
    CartId::parse(CART_ID).expect("id")
}

fn parse(body: &str, secret: Option<&str>) -> Result<ParsedWebhook, WebhookError> {
    let mut headers = Headers::new().with("content-type", "application/json");
    if let Some(secret) = secret {
        headers.insert(SECRET_HEADER, secret);
    }
    parse_webhook(
        Platform::BigCommerce,
        &headers,
        body.as_bytes(),
        &SignatureCheck::Required(Secret::new(SECRET)),
        now(),
    )
}

fn with(body: &str, pointer: &str, value: Value) -> String {
    let mut json: Value = serde_json::from_str(body).expect("fixture is JSON");
    *json.pointer_mut(pointer).expect("pointer") = value;
    json.to_string()
}

#[test]
fn an_abandoned_cart_with_the_right_secret_asks_for_the_cart() {
    let parsed = parse(ABANDONED, Some(SECRET)).expect("accepted");
    assert_eq!(parsed.platform, Platform::BigCommerce);
    assert_eq!(parsed.topic, "store/cart/abandoned");
    assert_eq!(parsed.event, None, "the event comes from the API");
    assert_eq!(parsed.fetch, Some(Fetch::Cart(cart_id())));
    let delivery = parsed.delivery.expect("a delivery id");
    assert!(
        delivery
            .as_str()
            .starts_with("bc:352e4afc6dd3fc85ea26bfdf3f91852604d57528:")
    );
}

#[test]
fn a_converted_cart_asks_for_its_order() {
    let parsed = parse(CONVERTED, Some(SECRET)).expect("accepted");
    assert_eq!(
        parsed.fetch,
        Some(Fetch::Order {
            cart: cart_id(),
            order: 252
        })
    );
}

#[test]
fn other_scopes_are_accepted_and_ignored() {
    let parsed = parse(CREATED, Some(SECRET)).expect("accepted");
    assert_eq!(parsed.topic, "store/cart/created");
    assert_eq!((parsed.event, parsed.fetch), (None, None));
}

#[test]
fn a_wrong_or_missing_secret_is_refused() {
    for secret in [None, Some(""), Some("bc-hook-Vq3#r8Lm!x"), Some("wrong")] {
        assert_eq!(
            parse(ABANDONED, secret),
            Err(WebhookError::Unauthorized),
            "{secret:?}"
        );
    }
}

#[test]
fn the_secret_is_checked_before_the_body_is_read() {
    // A tampered or garbled body without the secret is a 401, not a 400: nothing about the
    // body is revealed to a caller who does not hold the secret.
    assert_eq!(parse("{not json", None), Err(WebhookError::Unauthorized));
    let tampered = with(ABANDONED, "/data/id", json!("another-cart"));
    assert_eq!(
        parse(&tampered, Some("guess")),
        Err(WebhookError::Unauthorized)
    );
}

#[test]
fn a_malformed_body_with_the_right_secret_is_a_400() {
    let malformed = [
        "{not json".to_owned(),
        "[]".to_owned(),
        with(ABANDONED, "/scope", json!("")),
        with(ABANDONED, "/data/id", json!("")),
        with(ABANDONED, "/data/id", json!("has spaces")),
        with(ABANDONED, "/data", json!(null)),
        with(CONVERTED, "/data/orderId", json!("252")),
        with(CONVERTED, "/data/orderId", json!(0)),
    ];
    for body in malformed {
        assert!(
            matches!(parse(&body, Some(SECRET)), Err(WebhookError::Malformed(_))),
            "{body}"
        );
    }
}

#[test]
fn a_tampered_body_is_another_delivery() {
    // BigCommerce signs nothing; what the secret proves is the sender. A changed body is a
    // different delivery (its own dedupe key), never a duplicate of the genuine one.
    let genuine = parse(ABANDONED, Some(SECRET)).expect("accepted");
    let tampered = with(ABANDONED, "/created_at", json!(1793703601));
    let changed = parse(&tampered, Some(SECRET)).expect("accepted");
    assert_ne!(genuine.delivery, changed.delivery);
}

fn cart_activity(body: &str) -> cartback_core::model::cart::CartActivity {
    match Fetch::Cart(cart_id()).event(body.as_bytes()) {
        Ok(CartEvent::Activity(activity)) => activity,
        other => panic!("expected cart activity, got {other:?}"),
    }
}

#[test]
fn the_api_cart_becomes_a_cart_snapshot() {
    let activity = cart_activity(CART);
    assert_eq!(activity.cart, cart_id());
    assert_eq!(
        activity.updated_at,
        "2026-11-02T08:31:05Z".parse::<Timestamp>().expect("time")
    );
    let snapshot = activity.snapshot;
    assert_eq!(
        snapshot.email.as_ref().map(|e| e.as_str()),
        Some("aino.esimerkki@example.com")
    );
    assert_eq!(snapshot.total.minor, 13980);
    assert_eq!(snapshot.total.currency.code(), "EUR");
    assert_eq!(snapshot.locale.as_deref(), Some("fi"));
    assert_eq!(snapshot.items.len(), 2);
    let beanie = &snapshot.items[0];
    assert_eq!(beanie.title, "Merino Beanie");
    assert_eq!(beanie.variant.as_deref(), Some("Grey"));
    assert_eq!(beanie.quantity, 2);
    assert_eq!(beanie.unit_price.minor, 3490);
    assert!(
        beanie
            .image_url
            .as_ref()
            .is_some_and(|u| u.as_str().starts_with("https://cdn11.bigcommerce.com/"))
    );
    assert_eq!(snapshot.items[1].unit_price.minor, 7000);
    assert_eq!(snapshot.items[1].variant, None);
    let link = snapshot.recovery_url.expect("recovery link");
    assert!(link.as_str().contains("action=load&id=09346904"));
    assert!(
        !snapshot.consent.email_marketing,
        "the cart holds no consent"
    );
}

#[test]
fn a_cart_without_redirect_urls_or_email_is_kept_without_them() {
    let mut cart: Value = serde_json::from_str(CART).expect("JSON");
    let data = cart
        .get_mut("data")
        .and_then(Value::as_object_mut)
        .expect("data");
    data.remove("redirect_urls");
    data.insert("email".into(), json!(""));
    let snapshot = cart_activity(&cart.to_string()).snapshot;
    assert_eq!(snapshot.recovery_url, None);
    assert_eq!(snapshot.email, None);
}

#[test]
fn an_http_recovery_link_is_not_used() {
    let body = with(
        CART,
        "/data/redirect_urls/cart_url",
        json!("http://kuura-knitwear.example/cart.php?action=load"),
    );
    let snapshot = cart_activity(&body).snapshot;
    // Falls back to the https checkout link.
    assert!(
        snapshot
            .recovery_url
            .is_some_and(|u| u.as_str().contains("loadInCheckout"))
    );
}

#[test]
fn an_answer_that_is_not_the_cart_asked_for_is_refused() {
    let fetch = Fetch::Cart(cart_id());
    for body in [
        "{}".to_owned(),
        "not json".to_owned(),
        with(CART, "/data/id", json!("another")),
        with(CART, "/data/currency/code", json!("XYZ")),
        with(CART, "/data/cart_amount", json!("lots")),
        with(CART, "/data/updated_time", json!("yesterday")),
    ] {
        assert!(fetch.event(body.as_bytes()).is_err(), "{body}");
    }
}

#[test]
fn the_order_becomes_a_conversion_of_the_cart() {
    let fetch = Fetch::Order {
        cart: cart_id(),
        order: 252,
    };
    let Ok(CartEvent::Conversion(conversion)) = fetch.event(ORDER.as_bytes()) else {
        panic!("expected a conversion");
    };
    assert_eq!(conversion.cart, Some(cart_id()));
    assert_eq!(conversion.order_id.as_deref(), Some("252"));
    assert_eq!(conversion.total.expect("a total").minor, 13980);
    assert_eq!(
        conversion.at,
        "2026-11-02T13:20:00Z".parse::<Timestamp>().expect("time")
    );
    assert_eq!(
        conversion.email.as_ref().map(|e| e.as_str()),
        Some("aino.esimerkki@example.com")
    );
    assert!(conversion.phone.is_some());
    // The order's own cart is the one bought (never another for a genuine webhook).
    let other_cart = with(ORDER, "/cart_id", json!("another-cart"));
    let Ok(CartEvent::Conversion(other)) = fetch.event(other_cart.as_bytes()) else {
        panic!("expected a conversion");
    };
    assert_eq!(
        other.cart.as_ref().map(CartId::as_str),
        Some("another-cart")
    );
    let other_order = with(ORDER, "/id", json!(253));
    assert!(fetch.event(other_order.as_bytes()).is_err());
}
