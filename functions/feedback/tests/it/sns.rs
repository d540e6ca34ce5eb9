//! The feedback handler on SNS deliveries of SES events (the documented shapes, with the
//! sender's tags), against the in-memory ports: a cart whose first email went out at 09:00.

use aws_lambda_events::sns::SnsEvent;
use cartback_app::{Bundle, Metrics};
use cartback_core::model::cart::{CartRecord, ContactRecord, SuppressionReason};
use cartback_core::model::contact::Email;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::time::Clock;
use cartback_core::platforms::webhook::Headers;
use cartback_core::ports::{CartStore, PersonalData};
use cartback_feedback::{Handled, handle};
use cartback_local::{LocalShops, MemoryPorts, MemoryRuntime, OutageStore, ReportKind};
use jiff::Timestamp;
use serde_json::{Value, json};

const SHOP: &str = "demo-shop.myshopify.com";
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const CHECKOUT: &[u8] =
    include_bytes!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const BOUNCE: &str = include_str!("../../../core/tests/fixtures/ses/bounce_permanent.json");
const BOUNCE_TRANSIENT: &str =
    include_str!("../../../core/tests/fixtures/ses/bounce_transient.json");
const BOUNCE_FOREIGN: &str = include_str!("../../../core/tests/fixtures/ses/bounce_foreign.json");
const COMPLAINT: &str = include_str!("../../../core/tests/fixtures/ses/complaint.json");
const DELIVERY: &str = include_str!("../../../core/tests/fixtures/ses/delivery.json");
const OPEN: &str = include_str!("../../../core/tests/fixtures/ses/open.json");
const OPEN_APPLE_PROXY: &str =
    include_str!("../../../core/tests/fixtures/ses/open_apple_proxy.json");
const CLICK: &str = include_str!("../../../core/tests/fixtures/ses/click.json");

/// When step 1 (the reminder email) was sent.
const SENT: &str = "2026-11-02T09:00:00Z";

fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn shop() -> ShopId {
    ShopId::parse(SHOP).expect("shop id")
}

fn cart_id() -> CartId {
    CartId::parse(TOKEN).expect("cart id")
}

/// A fixture SES event about our email sent at `sent`, its event at `happened`.
fn ses(fixture: &str, sent: &str, happened: &str) -> String {
    let mut event: Value = serde_json::from_str(fixture).expect("fixture JSON");
    event["mail"]["timestamp"] = json!(sent);
    // The email went to the cart's address (the documented examples use another one), and
    // that is the address a bounce or complaint names.
    event["mail"]["destination"] = json!(["ada@example.com"]);
    for (block, list) in [
        ("bounce", "bouncedRecipients"),
        ("complaint", "complainedRecipients"),
    ] {
        if let Some(recipients) = event
            .get_mut(block)
            .and_then(|b| b.get_mut(list))
            .and_then(Value::as_array_mut)
        {
            for recipient in recipients {
                recipient["emailAddress"] = json!("ada@example.com");
            }
        }
    }
    let block = match event["eventType"].as_str() {
        Some("Open") => "open",
        Some("Click") => "click",
        Some("Bounce") => "bounce",
        Some("Complaint") => "complaint",
        Some("Delivery") => "delivery",
        other => panic!("no timestamp block for {other:?}"),
    };
    event[block]["timestamp"] = json!(happened);
    event.to_string()
}

/// An SNS delivery to Lambda, one record per message (the shape of AWS's sample SNS event).
fn sns(messages: &[String]) -> SnsEvent {
    let topic = "arn:aws:sns:eu-north-1:123456789012:cartback-ses-events";
    let records: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            json!({
                "EventVersion": "1.0",
                "EventSubscriptionArn": format!("{topic}:21be56ed-a058-49f5-8c98-aedd2564c486"),
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": "2026-11-02T09:00:06.000Z",
                    "Signature": "EXAMPLEtcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j==",
                    "SigningCertUrl": "https://sns.eu-north-1.amazonaws.com/SimpleNotificationService-example.pem",
                    "MessageId": format!("95df01b4-ee98-5cb9-9903-4c221d41eb{i:02}"),
                    "Message": message,
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": format!("https://sns.eu-north-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:21be56ed"),
                    "TopicArn": topic,
                    "Subject": "Amazon SES Email Event Notification"
                }
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("an SNS event")
}

/// The fixture checkout (08:00 UTC) delivered, and its first email sent at 09:00.
async fn stack_after_first_email() -> MemoryRuntime {
    let stack = MemoryRuntime::new(ts("2026-11-02T08:00:30Z"), LocalShops::defaults());
    let request = cartback_webhook::WebhookRequest {
        shop: SHOP.to_owned(),
        platform: "shopify".to_owned(),
        headers: Headers::new().with(
            cartback_core::platforms::shopify::TOPIC_HEADER,
            "checkouts/create",
        ),
        body: CHECKOUT.to_vec(),
    };
    let (reply, _) = stack.deliver(&request).await.expect("delivered");
    assert!(reply.0.is_ok(), "{:?}", reply.0);
    let reports = stack.run_until(ts(SENT)).await.expect("ran");
    assert!(
        matches!(reports.as_slice(), [r] if r.kind == ReportKind::Sent && r.step == 1),
        "{reports:?}"
    );
    stack
}

fn deps(stack: &MemoryRuntime) -> MemoryPorts {
    Bundle {
        metrics: Metrics::memory(),
        ..stack.ports()
    }
}

async fn cart(stack: &MemoryRuntime) -> CartRecord {
    stack
        .store
        .cart(&shop(), &cart_id())
        .await
        .expect("store")
        .expect("cart")
        .value
}

async fn person(stack: &MemoryRuntime) -> Option<ContactRecord> {
    let key = Email::parse("ada@example.com").expect("email").key();
    stack
        .store
        .contact(&shop(), &key)
        .await
        .expect("store")
        .map(|c| c.value)
}

#[tokio::test]
async fn a_hard_bounce_suppresses_email_and_the_next_email_is_never_sent() {
    let stack = stack_after_first_email().await;
    stack.clock.advance_to(ts("2026-11-02T09:00:06Z"));
    let bounce = sns(&[ses(BOUNCE, SENT, "2026-11-02T09:00:05.120Z")]);

    let handled = handle(&bounce, &deps(&stack)).await.expect("handled");
    assert_eq!(
        handled,
        Handled {
            changed: 1,
            ..Handled::default()
        }
    );
    let suppression = person(&stack)
        .await
        .and_then(|p| p.email_suppressed)
        .expect("email suppressed");
    assert_eq!(suppression.reason, SuppressionReason::Bounced);
    assert_eq!(suppression.at, ts("2026-11-02T09:00:05.120Z"));

    // SNS delivers at least once: the same event again changes nothing.
    let again = handle(&bounce, &deps(&stack)).await.expect("handled");
    assert_eq!(
        again,
        Handled {
            unchanged: 1,
            ..Handled::default()
        }
    );

    // Step 2 would be an email (no phone): the cart stops instead, nothing more is sent.
    stack.drain_stream().await.expect("stream");
    let reports = stack
        .run_until(ts("2026-11-06T00:00:00Z"))
        .await
        .expect("ran");
    assert!(
        reports.iter().all(|r| r.kind != ReportKind::Sent),
        "{reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| r.kind == ReportKind::Stopped && r.reason.as_deref() == Some("bounced")),
        "{reports:?}"
    );
    assert_eq!(stack.mailer.outbox().len(), 1);
}

#[tokio::test]
async fn a_complaint_suppresses_and_a_soft_bounce_does_not() {
    let stack = stack_after_first_email().await;
    stack.clock.advance_to(ts("2026-11-02T12:00:00Z"));
    let handled = handle(
        &sns(&[ses(BOUNCE_TRANSIENT, SENT, "2026-11-02T09:00:05Z")]),
        &deps(&stack),
    )
    .await
    .expect("handled");
    assert_eq!(handled.unchanged, 1);
    assert!(
        person(&stack)
            .await
            .and_then(|p| p.email_suppressed)
            .is_none()
    );

    handle(
        &sns(&[ses(COMPLAINT, SENT, "2026-11-02T11:42:00Z")]),
        &deps(&stack),
    )
    .await
    .expect("handled");
    let suppression = person(&stack).await.and_then(|p| p.email_suppressed);
    assert_eq!(
        suppression.map(|s| s.reason),
        Some(SuppressionReason::Complained)
    );
}

#[tokio::test]
async fn proxy_opens_are_not_engagement_and_a_click_is() {
    let stack = stack_after_first_email().await;
    stack.clock.advance_to(ts("2026-11-02T11:00:05Z"));
    let handled = handle(
        &sns(&[
            // Prefetched 20 s after the send: a privacy proxy, not a reader.
            ses(OPEN, SENT, "2026-11-02T09:00:20.000Z"),
            // Apple Mail Privacy Protection, whenever it comes.
            ses(OPEN_APPLE_PROXY, SENT, "2026-11-02T10:30:00.000Z"),
            ses(DELIVERY, SENT, "2026-11-02T09:00:03.000Z"),
        ]),
        &deps(&stack),
    )
    .await
    .expect("handled");
    assert_eq!(
        handled,
        Handled {
            unchanged: 3,
            ..Handled::default()
        }
    );
    let before = cart(&stack).await;
    assert_eq!(before.sent[0].opened_at, None);
    assert_eq!(before.sent[0].clicked_at, None);

    let click = sns(&[ses(CLICK, SENT, "2026-11-02T11:00:00.000Z")]);
    assert_eq!(
        handle(&click, &deps(&stack))
            .await
            .expect("handled")
            .changed,
        1
    );
    let after = cart(&stack).await;
    assert_eq!(after.sent[0].clicked_at, Some(ts("2026-11-02T11:00:00Z")));
    assert_eq!(after.sent[0].opened_at, Some(ts("2026-11-02T11:00:00Z")));
    // Idempotent.
    assert_eq!(
        handle(&click, &deps(&stack))
            .await
            .expect("handled")
            .unchanged,
        1
    );

    // Clicked: step 2 comes 8 h after step 1 (not 10 h), by email.
    stack.drain_stream().await.expect("stream");
    let reports = stack
        .run_until(ts("2026-11-02T20:00:00Z"))
        .await
        .expect("ran");
    let sent: Vec<_> = reports
        .iter()
        .filter(|r| r.kind == ReportKind::Sent)
        .collect();
    assert_eq!(sent.len(), 1, "{reports:?}");
    assert_eq!((sent[0].step, sent[0].at), (2, ts("2026-11-02T17:00:00Z")));
    assert_eq!(sent[0].channel, Some("email"));
}

#[tokio::test]
async fn a_reader_opening_later_brings_step_two_to_the_opened_branch() {
    let stack = stack_after_first_email().await;
    stack.clock.advance_to(ts("2026-11-02T10:15:00Z"));
    let open = ses(OPEN, SENT, "2026-11-02T10:14:00.000Z");
    assert_eq!(
        handle(&sns(&[open]), &deps(&stack))
            .await
            .expect("handled")
            .changed,
        1
    );
    assert_eq!(
        cart(&stack).await.sent[0].opened_at,
        Some(ts("2026-11-02T10:14:00Z"))
    );
    stack.drain_stream().await.expect("stream");
    let reports = stack
        .run_until(ts("2026-11-02T20:00:00Z"))
        .await
        .expect("ran");
    let sent: Vec<_> = reports
        .iter()
        .filter(|r| r.kind == ReportKind::Sent)
        .map(|r| (r.step, r.at))
        .collect();
    assert_eq!(sent, vec![(2, ts("2026-11-02T15:00:00Z"))], "{reports:?}");
}

#[tokio::test]
async fn malformed_foreign_and_unknown_messages_are_skipped() {
    let stack = stack_after_first_email().await;
    let unknown_cart = ses(BOUNCE, SENT, "2026-11-02T09:00:05Z").replace(
        &cartback_core::model::ids::tag_value(TOKEN),
        &cartback_core::model::ids::tag_value("no-such-cart"),
    );
    let handled = handle(
        &sns(&[
            "ada@example.com bounced".to_owned(),
            "{\"Type\": \"SubscriptionConfirmation\"}".to_owned(),
            ses(BOUNCE_FOREIGN, SENT, "2026-11-02T09:00:05Z"),
            unknown_cart,
        ]),
        &deps(&stack),
    )
    .await
    .expect("handled");
    // The three are skipped; a bounce naming a cart we no longer hold (expired, say) still
    // suppresses the address it bounced from.
    assert_eq!(
        handled,
        Handled {
            skipped: 3,
            changed: 1,
            ..Handled::default()
        }
    );
    assert_eq!(
        person(&stack)
            .await
            .and_then(|p| p.email_suppressed)
            .map(|s| s.reason),
        Some(SuppressionReason::Bounced)
    );
}

#[tokio::test]
async fn a_store_outage_fails_the_invocation_for_a_retry_and_the_retry_applies_it() {
    let stack = stack_after_first_email().await;
    let store = OutageStore::new(stack.store.clone());
    store.fail_retryably();
    let deps = deps(&stack).with_store(store.clone());
    let bounce = sns(&[ses(BOUNCE, SENT, "2026-11-02T09:00:05Z")]);
    let error = handle(&bounce, &deps).await.expect_err("fails for a retry");
    assert!(error.retryable);

    store.recover();
    assert_eq!(handle(&bounce, &deps).await.expect("retried").changed, 1);
    assert!(
        person(&stack)
            .await
            .and_then(|p| p.email_suppressed)
            .is_some()
    );
}

#[tokio::test]
async fn a_permanent_store_error_is_logged_and_skipped() {
    let stack = stack_after_first_email().await;
    let store = OutageStore::new(stack.store.clone());
    store.fail_permanently();
    let deps = deps(&stack).with_store(store);
    let handled = handle(&sns(&[ses(BOUNCE, SENT, "2026-11-02T09:00:05Z")]), &deps)
        .await
        .expect("not retried");
    assert_eq!(
        handled,
        Handled {
            failed: 1,
            ..Handled::default()
        }
    );
}

/// A bounce that arrives after the cart expired (DynamoDB's TTL deleted it): the address it
/// names is suppressed all the same, and the same person's next cart gets no email.
#[tokio::test]
async fn a_bounce_after_the_cart_expired_suppresses_the_address_and_the_next_cart_gets_nothing() {
    let stack = stack_after_first_email().await;
    stack
        .run_until(ts("2026-12-03T09:00:00Z"))
        .await
        .expect("ran");
    stack
        .store
        .delete_cart(&shop(), &cart_id())
        .await
        .expect("deleted");
    stack.drain_stream().await.expect("stream");
    assert!(stack.store.peek_cart(&shop(), &cart_id()).is_none());
    let sent_before = stack.mailer.outbox().len();

    // SES names the bounced recipient; the destination list says the same.
    let mut event: Value =
        serde_json::from_str(&ses(BOUNCE, SENT, "2026-12-03T09:00:00Z")).expect("JSON");
    assert_eq!(
        event["bounce"]["bouncedRecipients"][0]["emailAddress"],
        "ada@example.com"
    );
    event["mail"]["destination"] = json!(["ada@example.com"]);
    let handled = handle(&sns(&[event.to_string()]), &deps(&stack))
        .await
        .expect("handled");
    assert_eq!(
        handled,
        Handled {
            changed: 1,
            ..Handled::default()
        }
    );
    let suppression = person(&stack)
        .await
        .and_then(|p| p.email_suppressed)
        .expect("email suppressed without the cart");
    assert_eq!(suppression.reason, SuppressionReason::Bounced);

    // The same person checks out again.
    let now = stack.clock.now().to_string();
    let mut body: Value = serde_json::from_slice(CHECKOUT).expect("fixture JSON");
    body["token"] = json!("77aa77aa77aa77aa77aa77aa77aa77aa");
    body["created_at"] = json!(now);
    body["updated_at"] = json!(now);
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
    stack.drain_stream().await.expect("stream");
    let reports = stack
        .run_until(ts("2026-12-10T09:00:00Z"))
        .await
        .expect("ran");
    assert!(
        reports.iter().all(|r| r.kind != ReportKind::Sent),
        "{reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| r.cart == "77aa77aa77aa77aa77aa77aa77aa77aa"
                && r.kind == ReportKind::Stopped
                && r.reason.as_deref() == Some("bounced")),
        "{reports:?}"
    );
    assert_eq!(stack.mailer.outbox().len(), sent_before);
}

/// A bounce names the recipient that bounced (`bouncedRecipients`), which is the address
/// suppressed even when `mail.destination` lists another first.
#[tokio::test]
async fn a_bounce_suppresses_the_bounced_recipient() {
    let stack = stack_after_first_email().await;
    stack.clock.advance_to(ts("2026-11-02T09:00:06Z"));
    let mut event: Value =
        serde_json::from_str(&ses(BOUNCE, SENT, "2026-11-02T09:00:05Z")).expect("JSON");
    event["mail"]["destination"] = json!(["someone-else@example.com", "ada@example.com"]);
    let handled = handle(&sns(&[event.to_string()]), &deps(&stack))
        .await
        .expect("handled");
    assert_eq!(handled.changed, 1);
    assert!(
        person(&stack)
            .await
            .and_then(|p| p.email_suppressed)
            .is_some()
    );
    let other = Email::parse("someone-else@example.com")
        .expect("email")
        .key();
    assert!(
        stack
            .store
            .contact(&shop(), &other)
            .await
            .expect("store")
            .is_none()
    );
}
