//! One-click unsubscribe end to end on emulated AWS (moto): the email SES accepted carries
//! `List-Unsubscribe` (https, signed token) and `List-Unsubscribe-Post`; a forged, tampered or
//! expired token gets 403 and changes nothing; a GET only shows the page; the RFC 8058 POST
//! suppresses email for the person and the next step is never sent.

use cartback_core::messages::unsubscribe::{UnsubscribeClaim, issue};
use cartback_core::model::cart::SuppressionReason;
use cartback_core::model::contact::Email;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::sequence::Channel;
use cartback_core::model::shop::Secret;
use cartback_core::ports::CartStore;
use cartback_e2e::{PUBLIC_URL, TestEnv};
use cartback_sender::Outcome;
use jiff::Timestamp;

const SHOP: &str = "demo-shop.myshopify.com";
const SECRET: &str = "cartback-fixture-secret";
const CHECKOUT: &str =
    include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

/// The header's value, unfolded.
fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

async fn email_suppressed(env: &TestEnv) -> Option<SuppressionReason> {
    let email = Email::parse("ada@example.com").expect("address");
    env.store()
        .contact(&env.shop, &email.key())
        .await
        .expect("store")
        .and_then(|c| c.value.email_suppressed)
        .map(|s| s.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sent_email_unsubscribes_in_one_click_and_forged_tokens_change_nothing() {
    let env = TestEnv::start(at("2026-11-02T08:00:30Z"), SHOP, SECRET)
        .await
        .expect("test env");
    let shop = ShopId::parse(SHOP).expect("shop");
    let cart = CartId::parse(TOKEN).expect("cart");
    let (status, body) = env
        .post_shopify("checkouts/create", CHECKOUT, "wh-unsub-1")
        .await
        .expect("webhook");
    assert_eq!(status, 200, "{body}");
    env.drain_stream().await.expect("stream");
    env.clock.advance_to(at("2026-11-02T09:00:00Z"));
    let outcomes = env.fire_due_schedules().await.expect("fires");
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Sent { step: 0, .. }]),
        "{outcomes:?}"
    );

    // The raw message in moto's SES has both headers, the link signed and https.
    let mails = env.sent_emails().await.expect("moto data");
    assert_eq!(mails.len(), 1);
    let raw = &mails[0].raw;
    let link = header(raw, "List-Unsubscribe").expect("List-Unsubscribe header");
    assert_eq!(
        header(raw, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let url = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix('>'))
        .expect("<url>");
    assert!(
        url.starts_with(&format!("{PUBLIC_URL}/unsubscribe?t=")),
        "{url}"
    );
    let token = url.rsplit_once("?t=").expect("token").1.to_owned();
    // The same link is in the HTML part's footer, and it is not click-tracked.
    let (_, _, html) = mails[0].decoded().expect("MIME");
    assert!(
        html.contains(&format!("{url}\" ses:no-track")),
        "unsubscribe link in the HTML"
    );

    env.drain_stream().await.expect("stream");
    let pending_before = env.schedules().await.expect("schedules");
    assert_eq!(pending_before.len(), 1, "step 2 is scheduled");

    // Forged (another secret), tampered and expired tokens: 403 and nothing changes.
    let claim = UnsubscribeClaim {
        shop: shop.clone(),
        cart: cart.clone(),
        channel: Channel::Email,
        contact: None,
    };
    let forged = issue(&Secret::new("a guess"), &claim, at("2027-01-01T00:00:00Z"));
    let expired = issue(
        &Secret::new("e2e-unsubscribe-secret-not-for-production"),
        &claim,
        at("2026-11-02T08:59:59Z"),
    );
    let mut tampered = token.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII");
    for bad in [&forged, &expired, &tampered] {
        for method in ["GET", "POST"] {
            let (status, page) = env.call_unsubscribe(method, bad).await.expect("call");
            assert_eq!(status, 403, "{method} {bad}: {page}");
        }
    }
    assert_eq!(email_suppressed(&env).await, None);
    env.drain_stream().await.expect("stream");
    assert_eq!(env.schedules().await.expect("schedules").len(), 1);

    // A GET (a link scanner, or the person opening the link) only shows the page.
    let (status, page) = env.call_unsubscribe("GET", &token).await.expect("call");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form"), "a confirmation button: {page}");
    assert_eq!(email_suppressed(&env).await, None);

    // The one-click POST suppresses email for the person, and is idempotent.
    for _ in 0..2 {
        let (status, page) = env.call_unsubscribe("POST", &token).await.expect("call");
        assert_eq!(status, 200, "{page}");
    }
    assert_eq!(
        email_suppressed(&env).await,
        Some(SuppressionReason::Unsubscribed)
    );

    // Step 2's time comes: nothing more is sent.
    env.drain_stream().await.expect("stream");
    env.clock.advance_to(at("2026-11-03T12:00:00Z"));
    let outcomes = env.fire_due_schedules().await.expect("fires");
    assert!(
        outcomes.iter().all(|o| !matches!(o, Outcome::Sent { .. })),
        "{outcomes:?}"
    );
    assert_eq!(env.sent_emails().await.expect("moto data").len(), 1);
    env.assert_no_personal_data(&[CHECKOUT])
        .await
        .expect("no personal data in logs, schedules or metrics");
}
