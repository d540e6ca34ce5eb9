//! The generic signed JSON API on its documented examples (`examples/generic/`, checked
//! against `docs/schemas/cart-event.schema.json` by `scripts/check-schemas`).

use cartback_core::model::cart::{CartEvent, Platform};
use cartback_core::model::shop::{Secret, SignatureCheck};
use cartback_core::platforms::generic;
use cartback_core::platforms::webhook::{Headers, WebhookError, parse_webhook};
use jiff::{SignedDuration, Timestamp};

const UPDATED: &str = include_str!("../../../../examples/generic/cart-updated.json");
const CONVERTED: &str = include_str!("../../../../examples/generic/cart-converted.json");

fn now() -> Timestamp {
    "2026-11-02T08:00:30Z".parse().expect("time")
}

fn secret() -> Secret {
    Secret::new("whsec_generic_example")
}

fn signed(body: &str, at: Timestamp) -> Headers {
    Headers::new().with(
        generic::SIGNATURE_HEADER,
        generic::sign(&secret(), body.as_bytes(), at),
    )
}

fn parse(
    body: &str,
    headers: &Headers,
    at: Timestamp,
) -> Result<cartback_core::platforms::webhook::ParsedWebhook, WebhookError> {
    parse_webhook(
        Platform::Generic,
        headers,
        body.as_bytes(),
        &SignatureCheck::Required(secret()),
        at,
    )
}

#[test]
fn the_updated_example_is_a_cart_with_its_contact_consent_zone_and_items() {
    let parsed = parse(UPDATED, &signed(UPDATED, now()), now()).expect("accepted");
    assert_eq!(parsed.platform, Platform::Generic);
    assert_eq!(parsed.topic, "cart.updated");
    assert_eq!(
        parsed.delivery.expect("the event id").as_str(),
        "evt_01JD2K8Q4Z7M3X9V5B6N1C2D3E"
    );
    let Some(CartEvent::Activity(activity)) = parsed.event else {
        panic!("expected cart activity");
    };
    assert_eq!(activity.cart.as_str(), "cart-7f3a9c");
    let snapshot = activity.snapshot;
    assert_eq!(snapshot.email.expect("email").as_str(), "ada@example.com");
    assert_eq!(snapshot.phone.expect("phone").as_str(), "+358401234567");
    assert_eq!(snapshot.first_name.as_deref(), Some("Ada"));
    assert!(snapshot.consent.email_marketing && !snapshot.consent.sms_marketing);
    assert_eq!(snapshot.locale.as_deref(), Some("fi-FI"));
    assert_eq!(snapshot.time_zone.as_deref(), Some("Europe/Helsinki"));
    assert_eq!(snapshot.country.as_deref(), Some("FI"));
    assert_eq!(snapshot.items.len(), 1);
    assert_eq!(snapshot.items[0].quantity, 2);
    assert_eq!(snapshot.items[0].variant.as_deref(), Some("Moss green"));
    assert_eq!(snapshot.total.to_string(), "€59.80");
    assert_eq!(
        snapshot.recovery_url.expect("link").as_str(),
        "https://shop.example/cart/recover?token=7f3a9c"
    );
}

#[test]
fn the_converted_example_is_a_conversion_with_the_order_total() {
    let parsed = parse(CONVERTED, &signed(CONVERTED, now()), now()).expect("accepted");
    let Some(CartEvent::Conversion(conversion)) = parsed.event else {
        panic!("expected a conversion");
    };
    assert_eq!(conversion.cart.expect("cart").as_str(), "cart-7f3a9c");
    assert_eq!(conversion.order_id.as_deref(), Some("1001"));
    assert_eq!(conversion.total.expect("a total").to_string(), "€59.80");
}

#[test]
fn signature_vectors_valid_tampered_wrong_secret_stale_missing() {
    let good = signed(UPDATED, now());
    assert!(parse(UPDATED, &good, now()).is_ok(), "valid");
    let tampered = UPDATED.replace("59.80", "5.98");
    assert_eq!(
        parse(&tampered, &good, now()).err(),
        Some(WebhookError::Unauthorized),
        "tampered body"
    );
    let wrong = Headers::new().with(
        generic::SIGNATURE_HEADER,
        generic::sign(&Secret::new("not the shop's"), UPDATED.as_bytes(), now()),
    );
    assert_eq!(
        parse(UPDATED, &wrong, now()).err(),
        Some(WebhookError::Unauthorized),
        "wrong secret"
    );
    let stale = signed(UPDATED, now() - SignedDuration::from_secs(5 * 60 + 1));
    assert_eq!(
        parse(UPDATED, &stale, now()).err(),
        Some(WebhookError::Unauthorized),
        "older than 5 minutes"
    );
    assert_eq!(
        parse(UPDATED, &Headers::new(), now()).err(),
        Some(WebhookError::Unauthorized),
        "missing header"
    );
}

#[test]
fn unknown_fields_types_and_a_conversion_without_an_order_are_400s() {
    let check = |body: &str| match parse(body, &signed(body, now()), now()) {
        Err(WebhookError::Malformed(message)) => message,
        other => panic!("expected a 400 for {body}: {other:?}"),
    };
    let unknown = UPDATED.replacen("\"locale\"", "\"language\"", 1);
    assert!(check(&unknown).contains("language"), "names the field");
    let wrong_type = UPDATED.replacen("\"cart.updated\"", "\"cart.deleted\"", 1);
    // Names the field, never the value (platforms::json).
    let message = check(&wrong_type);
    assert!(
        message.contains("type") && !message.contains("cart.deleted"),
        "{message}"
    );
    let no_order = CONVERTED.replace(
        r#",
    "order": { "id": "1001", "total": "59.80", "currency": "EUR", "at": "2026-11-02T10:15:00Z" }"#,
        "",
    );
    assert!(check(&no_order).contains("cart.order"), "{no_order}");
}
