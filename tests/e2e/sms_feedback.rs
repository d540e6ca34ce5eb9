//! End to end on emulated AWS (moto), the second channel and the feedback loop:
//! - a new visitor with a phone and SMS consent who did not open the reminder email gets
//!   step 2 by SMS through SNS, moved out of quiet hours in their own time zone;
//! - SES events, in the documented shapes and SNS's Lambda envelope, reach the feedback
//!   handler: a hard bounce suppresses email for the person in DynamoDB and the next email is
//!   never sent; an open a privacy proxy made at delivery is ignored, a click counts.
//!
//! The fixture checkout is a Finnish shopper (address in FI: Europe/Helsinki, UTC+2 in
//! November) last active 2026-11-02 08:00 UTC; the reminder goes at 09:00 UTC (11:00 local).

use cartback_core::model::cart::{CartRecord, SuppressionReason};
use cartback_core::model::contact::Email;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::sequence::Channel;
use cartback_core::ports::CartStore;
use cartback_core::rules::decide::{DeferReason, StopReason};
use cartback_e2e::{TestEnv, ses_event};
use cartback_feedback::Handled;
use cartback_sender::Outcome;
use jiff::Timestamp;
use serde_json::{Value, json};

/// The address the fixture checkout's emails go to.
const ADA: &str = "ada@example.com";
const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const PHONE: &str = "+358401234567";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
const RECOVERY_URL: &str = "https://demo-shop.myshopify.com/90123456789/checkouts/4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87/recover?key=5e0b1d7c2a9f48e3b6c1d0a9f8e7d6c5";
const BOUNCE: &str = include_str!("../../functions/core/tests/fixtures/ses/bounce_permanent.json");
const OPEN: &str = include_str!("../../functions/core/tests/fixtures/ses/open.json");
const OPEN_APPLE_PROXY: &str =
    include_str!("../../functions/core/tests/fixtures/ses/open_apple_proxy.json");
const CLICK: &str = include_str!("../../functions/core/tests/fixtures/ses/click.json");

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

fn shop() -> ShopId {
    ShopId::parse(SHOP).expect("shop id")
}

fn cart_id() -> CartId {
    CartId::parse(TOKEN).expect("cart id")
}

/// The fixture checkout with a mobile number and SMS marketing consent.
fn checkout_with_sms_consent() -> String {
    let mut checkout: Value = serde_json::from_str(CHECKOUT).expect("fixture JSON");
    checkout["phone"] = json!(PHONE);
    checkout["sms_marketing_phone"] = json!(PHONE);
    checkout["buyer_accepts_sms_marketing"] = json!(true);
    checkout.to_string()
}

async fn start() -> TestEnv {
    TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env")
}

async fn stored_cart(env: &TestEnv) -> CartRecord {
    env.store()
        .cart(&shop(), &cart_id())
        .await
        .expect("DynamoDB")
        .expect("cart stored")
        .value
}

/// Posts the checkout and fires the reminder at 09:00; returns SES's message id.
async fn reminder_sent(env: &TestEnv, checkout: &str) -> String {
    let (status, body) = env
        .post_shopify("checkouts/create", checkout, "wh-checkout-1")
        .await
        .expect("posted");
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");
    env.clock.advance_to(at("2026-11-02T09:00:00Z"));
    let outcomes = env.fire_due_schedules().await.expect("fired");
    let [
        Outcome::Sent {
            step: 0,
            channel: Channel::Email,
            message_id,
            ..
        },
    ] = outcomes.as_slice()
    else {
        panic!("the reminder email goes first: {outcomes:?}");
    };
    env.drain_stream().await.expect("stream");
    message_id.clone()
}

/// Moves the clock to `when` and fires what is due there.
async fn fire_at(env: &TestEnv, when: &str) -> Vec<Outcome> {
    env.clock.advance_to(at(when));
    let outcomes = env.fire_due_schedules().await.expect("fired");
    env.drain_stream().await.expect("stream");
    outcomes
}

async fn schedule_times(env: &TestEnv) -> Vec<String> {
    env.schedules()
        .await
        .expect("schedules")
        .into_iter()
        .map(|s| s.expression)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unopened_reminder_is_followed_by_an_sms_moved_out_of_quiet_hours() {
    let env = start().await;
    reminder_sent(&env, &checkout_with_sms_consent()).await;

    // Nothing was opened: step 2 is scheduled for the unopened branch, 10 h after step 1,
    // with no wake-up before it.
    assert_eq!(schedule_times(&env).await, ["at(2026-11-02T19:00:00)"]);
    let outcomes = fire_at(&env, "2026-11-02T15:00:00Z").await;
    assert!(outcomes.is_empty(), "{outcomes:?}");

    // 19:00 UTC is 21:00 in Helsinki: quiet hours for SMS until 09:00 local (07:00 UTC).
    let outcomes = fire_at(&env, "2026-11-02T19:00:00Z").await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [Outcome::Deferred { step: 1, until, reason: DeferReason::QuietHours }]
                if *until == at("2026-11-03T07:00:00Z")
        ),
        "{outcomes:?}"
    );
    assert_eq!(schedule_times(&env).await, ["at(2026-11-03T07:00:00)"]);
    assert!(
        env.sent_sms().await.expect("moto").is_empty(),
        "nothing at night"
    );

    // 09:00 in Helsinki: the SMS goes through SNS.
    let outcomes = fire_at(&env, "2026-11-03T07:00:00Z").await;
    let [
        Outcome::Sent {
            step: 1,
            channel: Channel::Sms,
            template,
            to,
            message_id,
            segments,
            ..
        },
    ] = outcomes.as_slice()
    else {
        panic!("step 2 goes by SMS: {outcomes:?}");
    };
    assert_eq!((template.as_str(), to.as_str()), ("reassure", PHONE));
    assert!(*segments >= 1);

    let sms = env.sent_sms().await.expect("moto");
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].phone_number, PHONE);
    assert_eq!(&sms[0].message_id, message_id);
    for needle in ["demo shop", RECOVERY_URL, "STOP"] {
        assert!(
            sms[0].message.contains(needle),
            "{needle:?} missing from the SMS: {}",
            sms[0].message
        );
    }
    // One email (the reminder), one SMS; step 3 (the offer email) is armed for the branch of
    // nothing opened or clicked, two days after the SMS.
    assert_eq!(env.sent_emails().await.expect("moto").len(), 1);
    let cart = stored_cart(&env).await;
    assert_eq!(cart.sent.len(), 2);
    assert_eq!(cart.sent[1].channel, Channel::Sms);
    assert_eq!(cart.sent[1].sent_at, at("2026-11-03T07:00:00Z"));
    assert_eq!(schedule_times(&env).await, ["at(2026-11-05T07:00:00)"]);

    let logs = cartback_e2e::captured_logs();
    assert!(
        !logs.contains(PHONE) && !logs.contains("401234567"),
        "phone number in the logs"
    );
    env.assert_no_personal_data(&[&checkout_with_sms_consent()])
        .await
        .expect("no personal data in logs, schedules or metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_bounce_suppresses_email_in_dynamodb_and_the_next_email_is_never_sent() {
    let env = start().await;
    let message_id = reminder_sent(&env, CHECKOUT).await;

    env.clock.advance_to(at("2026-11-02T09:00:06Z"));
    let bounce = ses_event(
        BOUNCE,
        &message_id,
        ADA,
        at("2026-11-02T09:00:00Z"),
        at("2026-11-02T09:00:04.512Z"),
    )
    .expect("event");
    let handled = env
        .post_ses_events(std::slice::from_ref(&bounce))
        .await
        .expect("handled");
    assert_eq!(
        handled,
        Handled {
            changed: 1,
            ..Handled::default()
        }
    );

    // The person's contact item in DynamoDB now suppresses email (by the hash of the address).
    let key = Email::parse("ada@example.com").expect("email").key();
    let contact = env
        .store()
        .contact(&shop(), &key)
        .await
        .expect("DynamoDB")
        .expect("contact item");
    let suppressed = contact.value.email_suppressed.expect("email suppressed");
    assert_eq!(suppressed.reason, SuppressionReason::Bounced);
    assert_eq!(suppressed.at, at("2026-11-02T09:00:04.512Z"));

    // SNS delivers at least once: the same event again changes nothing.
    let again = env
        .post_ses_events(std::slice::from_ref(&bounce))
        .await
        .expect("handled");
    assert_eq!(
        again,
        Handled {
            unchanged: 1,
            ..Handled::default()
        }
    );

    // Step 2 (email: no phone) wakes at 19:00 (nothing opened) and stops instead of sending.
    env.drain_stream().await.expect("stream");
    let outcomes = fire_at(&env, "2026-11-02T19:00:00Z").await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [Outcome::Stopped {
                reason: StopReason::Bounced,
                step: 1
            }]
        ),
        "{outcomes:?}"
    );
    assert!(schedule_times(&env).await.is_empty());
    let outcomes = fire_at(&env, "2026-12-02T00:00:00Z").await;
    assert!(outcomes.is_empty(), "{outcomes:?}");
    assert_eq!(env.sent_emails().await.expect("moto").len(), 1);
    assert!(env.sent_sms().await.expect("moto").is_empty());
    assert_eq!(
        stored_cart(&env).await.stop_reason,
        Some(StopReason::Bounced)
    );

    let logs = cartback_e2e::captured_logs();
    assert!(!logs.contains(TOKEN), "the cart id is logged hashed only");
    env.assert_no_personal_data(&[CHECKOUT, &bounce])
        .await
        .expect("no personal data in logs, schedules or metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_open_at_delivery_is_ignored_and_a_click_counts() {
    let env = start().await;
    // With SMS consent, an unopened reminder would be followed by an SMS at 19:00.
    let message_id = reminder_sent(&env, &checkout_with_sms_consent()).await;
    let sent = at("2026-11-02T09:00:00Z");

    // Images fetched 31 s after the send (a privacy proxy at delivery), and Apple Mail
    // Privacy Protection's fetch later: neither is engagement.
    env.clock.advance_to(at("2026-11-02T10:00:05Z"));
    let proxy_opens = [
        ses_event(OPEN, &message_id, ADA, sent, at("2026-11-02T09:00:31Z")).expect("event"),
        ses_event(
            OPEN_APPLE_PROXY,
            &message_id,
            ADA,
            sent,
            at("2026-11-02T09:40:00Z"),
        )
        .expect("event"),
    ];
    let handled = env.post_ses_events(&proxy_opens).await.expect("handled");
    assert_eq!(
        handled,
        Handled {
            unchanged: 2,
            ..Handled::default()
        }
    );
    let cart = stored_cart(&env).await;
    assert_eq!(
        (cart.sent[0].opened_at, cart.sent[0].clicked_at),
        (None, None)
    );

    // A click at 10:00 is engagement, recorded on step 1 in DynamoDB.
    let click =
        ses_event(CLICK, &message_id, ADA, sent, at("2026-11-02T10:00:00Z")).expect("event");
    let handled = env
        .post_ses_events(std::slice::from_ref(&click))
        .await
        .expect("handled");
    assert_eq!(handled.changed, 1, "{handled:?}");
    let cart = stored_cart(&env).await;
    assert_eq!(cart.sent[0].clicked_at, Some(at("2026-11-02T10:00:00Z")));
    assert_eq!(cart.sent[0].opened_at, Some(at("2026-11-02T10:00:00Z")));

    // Clicked: step 2 comes 8 h after step 1 and by email (SMS is for the unopened). The
    // click moved the schedule from 19:00 to 17:00.
    env.drain_stream().await.expect("stream");
    assert_eq!(schedule_times(&env).await, ["at(2026-11-02T17:00:00)"]);
    let outcomes = fire_at(&env, "2026-11-02T15:00:00Z").await;
    assert!(outcomes.is_empty(), "{outcomes:?}");
    let outcomes = fire_at(&env, "2026-11-02T17:00:00Z").await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [Outcome::Sent {
                step: 1,
                channel: Channel::Email,
                ..
            }]
        ),
        "{outcomes:?}"
    );
    assert_eq!(env.sent_emails().await.expect("moto").len(), 2);
    assert!(env.sent_sms().await.expect("moto").is_empty());
    env.assert_no_personal_data(&[&checkout_with_sms_consent(), &click])
        .await
        .expect("no personal data in logs, schedules or metrics");
}
