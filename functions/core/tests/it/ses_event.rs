//! SES configuration-set events, in the shapes AWS documents ("Examples of event data that
//! Amazon SES publishes to Amazon SNS") with the tags cartback's sender adds: what each one
//! means for a cart, and which are refused or ignored.

use cartback_core::model::contact::Email;
use cartback_core::model::ids::{CartId, ShopId, tag_value};
use cartback_core::platforms::ses_event::{
    FeedbackKind, Ignored, SesEventError, SesFeedback, SesOutcome, feedback, interpret,
};
use jiff::Timestamp;

const BOUNCE_PERMANENT: &str = include_str!("../fixtures/ses/bounce_permanent.json");
const BOUNCE_TRANSIENT: &str = include_str!("../fixtures/ses/bounce_transient.json");
const BOUNCE_UNDETERMINED: &str = include_str!("../fixtures/ses/bounce_undetermined.json");
const BOUNCE_FOREIGN: &str = include_str!("../fixtures/ses/bounce_foreign.json");
const COMPLAINT: &str = include_str!("../fixtures/ses/complaint.json");
const DELIVERY: &str = include_str!("../fixtures/ses/delivery.json");
const SEND: &str = include_str!("../fixtures/ses/send.json");
const REJECT: &str = include_str!("../fixtures/ses/reject.json");
const RENDERING_FAILURE: &str = include_str!("../fixtures/ses/rendering_failure.json");
const OPEN: &str = include_str!("../fixtures/ses/open.json");
const OPEN_LATER: &str = include_str!("../fixtures/ses/open_later.json");
const OPEN_APPLE_PROXY: &str = include_str!("../fixtures/ses/open_apple_proxy.json");
const CLICK: &str = include_str!("../fixtures/ses/click.json");
const CLICK_STEP2: &str = include_str!("../fixtures/ses/click_step2.json");

const SHOP: &str = "demo-shop.myshopify.com";
const CART: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

fn ours(step: Option<u32>, kind: FeedbackKind, when: &str) -> SesFeedback {
    SesFeedback {
        shop: ShopId::parse(SHOP).expect("shop id"),
        cart: CartId::parse(CART).expect("cart id"),
        step,
        kind,
        at: at(when),
        // Every fixture's mail went to SES's documented example address.
        recipient: Some(
            Email::parse("recipient@example.com")
                .expect("example address")
                .key(),
        ),
    }
}

fn ignored(message: &str) -> (String, Ignored) {
    match interpret(message) {
        Ok(SesOutcome::Ignored { event_type, reason }) => (event_type, reason),
        other => panic!("expected an ignored event, got {other:?}"),
    }
}

#[test]
fn fixtures_carry_the_senders_tags() {
    // The refs are what `tag_value` makes of the ids (so the fixtures match the sender).
    assert!(BOUNCE_PERMANENT.contains(&tag_value(SHOP)));
    assert!(BOUNCE_PERMANENT.contains(&tag_value(CART)));
}

#[test]
fn a_permanent_bounce_is_a_hard_bounce_at_the_bounce_time() {
    assert_eq!(
        interpret(BOUNCE_PERMANENT),
        Ok(SesOutcome::Feedback(ours(
            Some(0),
            FeedbackKind::Bounce,
            "2017-08-05T00:41:02.669Z"
        )))
    );
}

#[test]
fn transient_and_undetermined_bounces_change_nothing() {
    assert_eq!(
        ignored(BOUNCE_TRANSIENT),
        ("Bounce".to_owned(), Ignored::SoftBounce)
    );
    assert_eq!(
        ignored(BOUNCE_UNDETERMINED),
        ("Bounce".to_owned(), Ignored::SoftBounce)
    );
}

#[test]
fn a_complaint_is_recorded_at_the_complaint_time() {
    assert_eq!(
        feedback(COMPLAINT),
        Some(ours(
            Some(0),
            FeedbackKind::Complaint,
            "2017-08-05T00:41:02.669Z"
        ))
    );
}

#[test]
fn send_delivery_reject_and_rendering_failures_are_not_tracked() {
    for (message, event_type) in [
        (SEND, "Send"),
        (DELIVERY, "Delivery"),
        (REJECT, "Reject"),
        (RENDERING_FAILURE, "Rendering Failure"),
    ] {
        assert_eq!(
            ignored(message),
            (event_type.to_owned(), Ignored::NotTracked)
        );
        assert_eq!(feedback(message), None);
    }
}

#[test]
fn the_documented_open_came_30_seconds_after_the_send_so_a_proxy_made_it() {
    // mail.timestamp 21:59:49.927, open.timestamp 22:00:19.652: inside the 60 s window.
    assert_eq!(
        ignored(OPEN),
        ("Open".to_owned(), Ignored::ProxyOpenAtDelivery)
    );
}

#[test]
fn an_open_well_after_the_send_is_engagement() {
    assert_eq!(
        feedback(OPEN_LATER),
        Some(ours(
            Some(0),
            FeedbackKind::Open,
            "2017-08-09T23:47:12.301Z"
        ))
    );
}

#[test]
fn apple_mail_privacy_protection_opens_are_ignored_whenever_they_come() {
    assert_eq!(
        ignored(OPEN_APPLE_PROXY),
        ("Open".to_owned(), Ignored::AppleProxyOpen)
    );
}

#[test]
fn clicks_always_count_even_right_after_the_send() {
    // The documented click came 80 s after the send; a click is never a proxy's.
    assert_eq!(
        feedback(CLICK),
        Some(ours(
            Some(0),
            FeedbackKind::Click,
            "2017-08-09T23:51:25.570Z"
        ))
    );
    let early = CLICK.replace("2017-08-09T23:51:25.570Z", "2017-08-09T23:50:09.000Z");
    assert_eq!(feedback(&early).map(|f| f.kind), Some(FeedbackKind::Click));
}

#[test]
fn the_step_tag_is_one_based() {
    assert_eq!(feedback(CLICK_STEP2).and_then(|f| f.step), Some(1));
    let untagged = CLICK.replace("\"step\"", "\"not-step\"");
    assert_eq!(feedback(&untagged).map(|f| f.step), Some(None));
    let zero = CLICK.replace("\"step\": [\n        \"1\"", "\"step\": [\n        \"0\"");
    assert_ne!(zero, CLICK, "the fixture layout changed");
    assert_eq!(interpret(&zero), Err(SesEventError::BadTag("step")));
}

#[test]
fn mail_cartback_did_not_send_is_foreign() {
    assert_eq!(
        interpret(BOUNCE_FOREIGN),
        Err(SesEventError::Foreign("shop_ref"))
    );
    // Identity feedback notifications use `notificationType` and carry no tags.
    let identity = BOUNCE_PERMANENT.replace("\"eventType\"", "\"notificationType\"");
    assert_eq!(interpret(&identity), Err(SesEventError::NotSesEvent));
}

#[test]
fn malformed_refs_and_timestamps_are_refused() {
    let bad_ref = BOUNCE_PERMANENT.replace(&tag_value(CART), "!!!");
    assert_eq!(interpret(&bad_ref), Err(SesEventError::BadTag("cart_ref")));
    // A ref that decodes to something no cart id can be.
    let bad_id = BOUNCE_PERMANENT.replace(&tag_value(CART), &tag_value("a cart/with spaces"));
    assert_eq!(interpret(&bad_id), Err(SesEventError::BadTag("cart_ref")));
    let bad_time = BOUNCE_PERMANENT.replace("2017-08-05T00:41:02.669Z", "yesterday");
    assert_eq!(
        interpret(&bad_time),
        Err(SesEventError::BadTimestamp("bounce.timestamp"))
    );
    let no_block = OPEN_LATER.replace("\"open\":", "\"opened\":");
    assert_eq!(interpret(&no_block), Err(SesEventError::Missing("open")));
}

#[test]
fn errors_never_quote_the_message() {
    for message in [
        "not json at all: ada@example.com",
        "{\"eventType\": 7, \"mail\": \"ada@example.com\"}",
        "{\"eventType\": \"Bounce\", \"mail\": {\"tags\": {\"shop_ref\": [\"ada@example.com\"]}}}",
        "",
    ] {
        let error = interpret(message).expect_err("refused");
        assert!(
            !error.to_string().contains("ada"),
            "{error} quotes the message"
        );
    }
}
