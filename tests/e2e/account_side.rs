//! On moto: SES refuses a send from a sender identity that is not verified
//! (`MessageRejected`). That is the account's configuration, not the shopper's doing: the
//! step is deferred (15 minutes, then longer), the cart is not stopped, the refusal is
//! counted for the alarm, and once the operator verifies the identity the step goes out.

use cartback_core::model::ids::CartId;
use cartback_core::model::reason::DeferReason;
use cartback_core::model::shop::{Secret, ShopSettings};
use cartback_core::ports::CartStore;
use cartback_e2e::TestEnv;
use cartback_sender::Outcome;
use jiff::{SignedDuration, Timestamp};

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_sender_identity_defers_the_step_until_the_operator_verifies_it() {
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let cart = CartId::parse(TOKEN).expect("a cart id");
    // The deploy left the shop's from address unverified.
    let ses = aws_sdk_sesv2::Client::new(&env.sdk);
    let from = ShopSettings::defaults_for(&env.shop).from_address;
    ses.delete_email_identity()
        .email_identity(from.as_str())
        .send()
        .await
        .expect("identity deleted");

    let hmac = cartback_core::platforms::shopify::sign(&Secret::new(SECRET), CHECKOUT.as_bytes());
    let headers = [
        ("X-Shopify-Topic", "checkouts/create"),
        ("X-Shopify-Hmac-Sha256", hmac.as_str()),
        ("X-Shopify-Webhook-Id", "account-side-checkout"),
        ("X-Shopify-Shop-Domain", SHOP),
    ];
    let (status, body) = env
        .post_webhook("shopify", &headers, CHECKOUT)
        .await
        .expect("posted");
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");

    env.clock.advance_to(at("2026-11-02T09:00:00Z"));
    let outcomes = env.fire_due_schedules().await.expect("fired");
    let [
        Outcome::Deferred {
            step: 0,
            until,
            reason: DeferReason::Account,
        },
    ] = outcomes.as_slice()
    else {
        panic!("{outcomes:?}");
    };
    let until = *until;
    assert!(until >= at("2026-11-02T09:15:00Z"), "{until}");
    let stored = env
        .store()
        .cart(&env.shop, &cart)
        .await
        .expect("read")
        .expect("the cart")
        .value;
    assert_eq!(stored.stop_reason, None, "the shopper did nothing wrong");
    assert_eq!(stored.claimed_step, None);
    assert_eq!(stored.next_due_at, Some(until));
    assert!(env.sent_emails().await.expect("outbox").is_empty());
    let counted = env
        .metrics()
        .iter()
        .filter(|m| m.value_of("SendsDeferred").is_some())
        .filter(|m| m.to_line().contains(r#""Reason":"account""#))
        .count();
    assert_eq!(counted, 1, "counted for the account-side alarm");

    // The operator verifies the identity; the deferred step goes out at its new time.
    ses.create_email_identity()
        .email_identity(from.as_str())
        .send()
        .await
        .expect("identity verified");
    env.drain_stream().await.expect("stream");
    env.clock.advance_to(until + SignedDuration::from_secs(1));
    let outcomes = env.fire_due_schedules().await.expect("fired");
    assert!(
        matches!(
            outcomes.as_slice(),
            [Outcome::Sent {
                step: 0,
                confirmed: true,
                ..
            }]
        ),
        "{outcomes:?}"
    );
    assert_eq!(env.sent_emails().await.expect("outbox").len(), 1);
}

/// What SES v2 and SNS answer, as their wire protocols carry it, for each error an operator
/// meets on a first deploy: the real SDK parses it and the adapter classes it. Account side
/// defers, throttled retries, the recipient's refusal stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_code_is_classed_by_whose_fault_it_is_through_the_real_sdk() {
    use cartback_core::model::contact::{Email, Phone};
    use cartback_core::ports::{Mailer, OutgoingEmail, OutgoingSms, PortError, SmsSender};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[derive(Debug, PartialEq)]
    enum Class {
        Account,
        Retryable,
        Permanent,
    }
    fn class(error: &PortError) -> Class {
        match (error.account_side, error.retryable) {
            (true, _) => Class::Account,
            (false, true) => Class::Retryable,
            (false, false) => Class::Permanent,
        }
    }
    let email = OutgoingEmail {
        to: Email::parse("ada@example.com").expect("an address"),
        from: Email::parse("shop@kuura.example").expect("an address"),
        raw: b"From: shop@kuura.example\r\nTo: ada@example.com\r\nSubject: hi\r\n\r\nhi".to_vec(),
        tags: Vec::new(),
    };
    for (code, status, message, expected) in [
        (
            "MessageRejected",
            400,
            "Email address is not verified.",
            Class::Account,
        ),
        (
            "SendingPausedException",
            400,
            "Sending is paused for this account.",
            Class::Account,
        ),
        ("AccountSuspendedException", 400, "", Class::Account),
        (
            "MailFromDomainNotVerifiedException",
            400,
            "",
            Class::Account,
        ),
        (
            "NotFoundException",
            404,
            "Configuration set <cartback> does not exist.",
            Class::Account,
        ),
        (
            "AccessDeniedException",
            403,
            "not authorized to perform: ses:SendEmail",
            Class::Account,
        ),
        (
            "LimitExceededException",
            400,
            "Daily message quota exceeded.",
            Class::Account,
        ),
        (
            "TooManyRequestsException",
            429,
            "Maximum sending rate exceeded.",
            Class::Retryable,
        ),
        (
            "BadRequestException",
            400,
            "Illegal address",
            Class::Permanent,
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v2/email/outbound-emails"))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("x-amzn-ErrorType", code)
                    .set_body_json(serde_json::json!({ "message": message })),
            )
            .mount(&server)
            .await;
        let sdk = cartback_devstack::sdk_config(&server.uri(), cartback_e2e::REGION).await;
        let error = cartback_aws::SesMailer::new(&sdk, None)
            .send_email(&email)
            .await
            .expect_err("refused");
        assert_eq!(class(&error), expected, "{code}: {error}");
        assert!(!error.message.contains("ada@example.com"), "{error}");
    }

    let sms = OutgoingSms {
        to: Phone::parse("+358401234567", None).expect("a number"),
        text: "hi".to_owned(),
        sender_id: None,
    };
    for (code, status, message, expected) in [
        (
            "AuthorizationError",
            403,
            "not authorized to perform: SNS:Publish",
            Class::Account,
        ),
        ("KMSAccessDenied", 400, "", Class::Account),
        (
            "Throttling",
            400,
            "No quota left for account",
            Class::Account,
        ),
        ("Throttling", 400, "Rate exceeded", Class::Retryable),
        (
            "InvalidParameter",
            400,
            "Invalid parameter: PhoneNumber",
            Class::Permanent,
        ),
    ] {
        let server = MockServer::start().await;
        let body = format!(
            "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>e2e</RequestId></ErrorResponse>"
        );
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(body.into_bytes(), "text/xml"))
            .mount(&server)
            .await;
        let sdk = cartback_devstack::sdk_config(&server.uri(), cartback_e2e::REGION).await;
        let error = cartback_aws::SnsSms::new(&sdk)
            .send_sms(&sms)
            .await
            .expect_err("refused");
        assert_eq!(class(&error), expected, "{code} {message}: {error}");
    }
}
