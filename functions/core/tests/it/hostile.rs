//! Hostile input against the parsers that face the outside (issue 9): unsubscribe tokens
//! (anyone can type a URL), sequence files (a shop owner's hand-edited TOML) and SES events
//! (what arrives through SNS). None may panic; each rejection is an error value, and a
//! changed token never verifies.
//!
//! A longer run: `PROPTEST_CASES=50000 cargo test --release -p cartback-core --test it hostile`.

use cartback_core::messages::unsubscribe::{self, TokenError, UnsubscribeClaim};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::sequence::{BUILTIN_SEQUENCES, Channel, Sequence};
use cartback_core::model::shop::Secret;
use cartback_core::platforms::ses_event;
use jiff::Timestamp;
use proptest::prelude::*;

fn now() -> Timestamp {
    "2026-11-02T08:00:00Z".parse().expect("time")
}

fn secret() -> Secret {
    Secret::new("unsubscribe-test-secret")
}

fn claim() -> UnsubscribeClaim {
    UnsubscribeClaim {
        shop: ShopId::parse("demo-shop.myshopify.com").expect("shop"),
        cart: CartId::parse("4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87").expect("cart"),
        channel: Channel::Email,
        contact: Some(
            cartback_core::model::contact::Email::parse("ada@example.com")
                .expect("email")
                .key(),
        ),
    }
}

fn genuine() -> String {
    unsubscribe::issue(&secret(), &claim(), unsubscribe::expiry_for(now()))
}

proptest! {
    #![proptest_config(cartback_testkit::proptest_config(256))]

    #[test]
    fn arbitrary_tokens_are_refused_without_panicking(token in any::<String>()) {
        prop_assert!(unsubscribe::verify(&secret(), &token, now()).is_err());
    }

    #[test]
    fn token_shaped_garbage_is_refused(token in "[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,60}") {
        prop_assert!(unsubscribe::verify(&secret(), &token, now()).is_err());
    }

    #[test]
    fn a_genuine_token_changed_anywhere_never_verifies(at in 0usize..400, with in any::<char>()) {
        let token = genuine();
        let mut chars: Vec<char> = token.chars().collect();
        let at = at % chars.len();
        prop_assume!(chars[at] != with);
        chars[at] = with;
        let changed: String = chars.into_iter().collect();
        prop_assert!(unsubscribe::verify(&secret(), &changed, now()).is_err());
    }

    #[test]
    fn arbitrary_sequence_text_is_an_error_with_a_line_not_a_panic(source in any::<String>()) {
        if let Err(error) = Sequence::parse("hostile.toml", &source) {
            prop_assert!(error.line >= 1, "{error}");
            prop_assert!(error.line <= source.lines().count().max(1) + 1, "line {} of {}", error.line, source.lines().count());
        }
    }

    #[test]
    fn edited_builtin_sequences_parse_or_point_at_a_line(
        which in 0usize..BUILTIN_SEQUENCES.len(),
        edits in prop::collection::vec((0usize..4000, "[ -~\\n]{0,12}", 0usize..8), 1..4),
    ) {
        let (_, original) = BUILTIN_SEQUENCES[which];
        let mut source = original.to_owned();
        for (at, text, cut) in edits {
            let mut at = at % (source.len() + 1);
            while !source.is_char_boundary(at) { at -= 1; }
            let mut end = (at + cut).min(source.len());
            while !source.is_char_boundary(end) { end -= 1; }
            source.replace_range(at..end.max(at), &text);
        }
        if let Err(error) = Sequence::parse("edited.toml", &source) {
            prop_assert!(error.line >= 1 && error.line <= source.lines().count() + 1, "{error}");
            prop_assert!(!error.fix.is_empty(), "every error says how to fix it: {error}");
        }
    }

    #[test]
    fn arbitrary_ses_messages_are_errors_or_ignored_not_panics(message in any::<String>()) {
        let _ = ses_event::interpret(&message);
        let _ = ses_event::feedback(&message);
    }

    #[test]
    fn ses_shaped_json_with_hostile_fields_does_not_panic(
        event_type in prop_oneof![Just("Bounce".to_owned()), Just("Complaint".to_owned()), Just("Open".to_owned()), Just("Click".to_owned()), Just("Delivery".to_owned()), any::<String>()],
        tags in prop::collection::vec(("[a-z_]{1,12}", any::<String>()), 0..4),
        destination in prop::collection::vec(any::<String>(), 0..3),
        huge in any::<bool>(),
    ) {
        let mut tag_map = serde_json::Map::new();
        for (name, value) in tags {
            tag_map.insert(name, serde_json::json!([value]));
        }
        let message = serde_json::json!({
            "eventType": event_type,
            "mail": {
                "timestamp": if huge { serde_json::json!(1e308) } else { serde_json::json!("2026-11-02T08:00:00.000Z") },
                "messageId": "0100018c",
                "destination": destination,
                "tags": tag_map,
            },
            "bounce": { "bounceType": "Permanent", "bouncedRecipients": [{ "emailAddress": "x" }] },
        })
        .to_string();
        let _ = ses_event::interpret(&message);
        let _ = ses_event::feedback(&message);
    }
}

#[test]
fn a_genuine_token_verifies_and_expires() {
    assert_eq!(
        unsubscribe::verify(&secret(), &genuine(), now()),
        Ok(claim())
    );
    let later = unsubscribe::expiry_for(now()) + jiff::SignedDuration::from_secs(1);
    assert_eq!(
        unsubscribe::verify(&secret(), &genuine(), later),
        Err(TokenError::Expired)
    );
    assert_eq!(
        unsubscribe::verify(&Secret::new("another secret"), &genuine(), now()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn an_oversize_token_is_malformed_before_any_decoding() {
    let token = format!("{}.{}", "A".repeat(100_000), "B".repeat(43));
    assert_eq!(
        unsubscribe::verify(&secret(), &token, now()),
        Err(TokenError::Malformed)
    );
}
