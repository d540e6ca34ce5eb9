//! Signed, expiring unsubscribe tokens for the links in our emails (RFC 8058 one-click and
//! the confirmation page).
//!
//! A token is `base64url(payload) "." base64url(HMAC-SHA256(secret, payload))`, both without
//! padding. Two payloads verify:
//! - `2:<shop>:<cart>:<channel>:<expires>:<contact>` (issued since the unsubscribe no longer
//!   needs the cart): the contact is the person's [`ContactKey`] (the SHA-256 of the
//!   normalised address that keys their `CONTACT#` item), masked with a pad only the
//!   secret's holder can make (`HMAC-SHA256(secret, "contact" shop cart)`, XOR), as 32 bytes
//!   in base64url: the suppression can be written on the person even after the cart
//!   expired, and the link does not let anyone test a guessed address against the hash;
//! - `1:<shop>:<cart>:<channel>:<expires>` (links sent before): the cart alone.
//!
//! Shop and cart ids are base64url (so no separator can appear inside them), the channel `e`
//! (email) or `s` (SMS), the expiry unix seconds. Tokens never carry an address: only its
//! hash. Verifying never panics on any input.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};

use crate::model::ids::{CartId, ContactKey, ShopId, from_tag_value, tag_value};
use crate::model::sequence::Channel;
use crate::model::shop::Secret;
use crate::platforms::webhook::{hmac_sha256, macs_equal};

/// How long a link in an email keeps working, counted from sending.
pub const VALIDITY: SignedDuration = SignedDuration::from_hours(90 * 24);

/// Longer tokens are refused before any decoding (ours stay well below 1 KiB).
pub const MAX_TOKEN_LEN: usize = 2048;

/// The payload of tokens naming the cart only (still accepted, no longer issued).
const CART_ONLY: &str = "1";
/// The payload of tokens naming the cart and the person's contact key.
const WITH_CONTACT: &str = "2";

/// Whose messages on which channel a token stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeClaim {
    pub shop: ShopId,
    pub cart: CartId,
    pub channel: Channel,
    /// The key of the address the message went to; `None` in tokens issued before tokens
    /// carried it (and `issue` then writes such a token).
    pub contact: Option<ContactKey>,
}

/// Why a token was refused; none of them is the recipient's fault to fix, all are a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the unsubscribe token is malformed")]
    Malformed,
    #[error("the unsubscribe token's signature does not match")]
    BadSignature,
    #[error("the unsubscribe token has expired")]
    Expired,
}

/// When a link in an email sent at `sent_at` stops working.
pub fn expiry_for(sent_at: Timestamp) -> Timestamp {
    sent_at.checked_add(VALIDITY).unwrap_or(Timestamp::MAX)
}

fn channel_code(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "e",
        Channel::Sms => "s",
    }
}

/// The pad that masks the contact key of the cart's tokens: only the secret's holder can make
/// it, so a link does not reveal the hash of the address.
fn contact_pad(secret: &Secret, shop: &ShopId, cart: &CartId) -> Vec<u8> {
    let mut message = b"contact\0".to_vec();
    message.extend_from_slice(shop.as_str().as_bytes());
    message.push(0);
    message.extend_from_slice(cart.as_str().as_bytes());
    hmac_sha256(secret.expose(), &message)
}

/// `bytes` XOR the cart's pad (masks and unmasks alike).
fn masked(secret: &Secret, shop: &ShopId, cart: &CartId, bytes: [u8; 32]) -> [u8; 32] {
    let pad = contact_pad(secret, shop, cart);
    let mut out = bytes;
    for (byte, mask) in out.iter_mut().zip(pad) {
        *byte ^= mask;
    }
    out
}

fn payload(secret: &Secret, claim: &UnsubscribeClaim, expires: Timestamp) -> String {
    let common = format!(
        "{}:{}:{}:{}",
        tag_value(claim.shop.as_str()),
        tag_value(claim.cart.as_str()),
        channel_code(claim.channel),
        expires.as_second()
    );
    match &claim.contact {
        Some(contact) => format!(
            "{WITH_CONTACT}:{common}:{}",
            URL_SAFE_NO_PAD.encode(masked(secret, &claim.shop, &claim.cart, contact.to_bytes()))
        ),
        None => format!("{CART_ONLY}:{common}"),
    }
}

/// A token for `claim`, valid until `expires`.
pub fn issue(secret: &Secret, claim: &UnsubscribeClaim, expires: Timestamp) -> String {
    let payload = payload(secret, claim, expires);
    let mac = hmac_sha256(secret.expose(), payload.as_bytes());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(mac)
    )
}

/// The claim of a genuine token that has not expired at `now`.
pub fn verify(
    secret: &Secret,
    token: &str,
    now: Timestamp,
) -> Result<UnsubscribeClaim, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (payload, mac) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload.as_bytes())
        .map_err(|_| TokenError::Malformed)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac.as_bytes())
        .map_err(|_| TokenError::Malformed)?;
    if !macs_equal(&hmac_sha256(secret.expose(), &payload), &mac) {
        return Err(TokenError::BadSignature);
    }
    let payload = std::str::from_utf8(&payload).map_err(|_| TokenError::Malformed)?;
    let (claim, expires) = parse_payload(secret, payload).ok_or(TokenError::Malformed)?;
    if now >= expires {
        return Err(TokenError::Expired);
    }
    Ok(claim)
}

fn parse_payload(secret: &Secret, payload: &str) -> Option<(UnsubscribeClaim, Timestamp)> {
    let mut parts = payload.split(':');
    let (version, shop, cart, channel, expires) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let masked_contact = match version {
        CART_ONLY => None,
        WITH_CONTACT => {
            let bytes = URL_SAFE_NO_PAD.decode(parts.next()?.as_bytes()).ok()?;
            Some(<[u8; 32]>::try_from(bytes).ok()?)
        }
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    let shop = ShopId::parse(from_tag_value(shop)?).ok()?;
    let cart = CartId::parse(from_tag_value(cart)?).ok()?;
    let contact =
        masked_contact.map(|bytes| ContactKey::from_bytes(masked(secret, &shop, &cart, bytes)));
    let channel = match channel {
        "e" => Channel::Email,
        "s" => Channel::Sms,
        _ => return None,
    };
    let expires = Timestamp::from_second(expires.parse().ok()?).ok()?;
    Some((
        UnsubscribeClaim {
            shop,
            cart,
            channel,
            contact,
        },
        expires,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::contact::{Email, Phone};
    use proptest::prelude::*;

    fn secret() -> Secret {
        Secret::new("unsubscribe-test-secret")
    }

    fn claim() -> UnsubscribeClaim {
        UnsubscribeClaim {
            shop: ShopId::parse("demo-shop.myshopify.com").expect("shop id"),
            cart: CartId::parse("4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87").expect("cart id"),
            channel: Channel::Email,
            contact: Some(Email::parse("ada@example.com").expect("email").key()),
        }
    }

    fn old_claim() -> UnsubscribeClaim {
        UnsubscribeClaim {
            contact: None,
            ..claim()
        }
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let sent = ts("2026-11-02T09:00:00Z");
        let token = issue(&secret(), &claim(), expiry_for(sent));
        assert_eq!(verify(&secret(), &token, sent), Ok(claim()));
        let last_second = ts("2027-01-31T08:59:59Z");
        assert_eq!(verify(&secret(), &token, last_second), Ok(claim()));
        assert_eq!(
            verify(&secret(), &token, ts("2027-01-31T09:00:00Z")),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn an_sms_claim_round_trips() {
        let claim = UnsubscribeClaim {
            channel: Channel::Sms,
            ..claim()
        };
        let now = ts("2026-11-02T09:00:00Z");
        let token = issue(&secret(), &claim, expiry_for(now));
        assert_eq!(verify(&secret(), &token, now), Ok(claim));
    }

    #[test]
    fn a_token_carries_the_contact_key_and_an_old_token_still_verifies() {
        let now = ts("2026-11-02T09:00:00Z");
        let token = issue(&secret(), &claim(), expiry_for(now));
        assert_eq!(verify(&secret(), &token, now), Ok(claim()));
        let sms = UnsubscribeClaim {
            channel: Channel::Sms,
            contact: Some(Phone::parse("+358401234567", None).expect("phone").key()),
            ..claim()
        };
        let token = issue(&secret(), &sms, expiry_for(now));
        assert_eq!(verify(&secret(), &token, now), Ok(sms));
        // A link sent before tokens carried the key: `1:…`, the cart only.
        let old = issue(&secret(), &old_claim(), expiry_for(now));
        let (payload, _) = old.split_once('.').expect("two parts");
        let payload = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
        assert!(payload.starts_with(b"1:"), "{payload:?}");
        assert_eq!(verify(&secret(), &old, now), Ok(old_claim()));
    }

    #[test]
    fn the_link_does_not_reveal_the_hash_of_the_address() {
        let now = ts("2026-11-02T09:00:00Z");
        let token = issue(&secret(), &claim(), expiry_for(now));
        let (payload, _) = token.split_once('.').expect("two parts");
        let payload = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
        let plain = URL_SAFE_NO_PAD.encode(claim().contact.expect("a key").to_bytes());
        assert!(
            !String::from_utf8_lossy(&payload).contains(&plain),
            "a guessed address cannot be tested against the link"
        );
        // Another secret unmasks a different key (and fails the signature anyway).
        let other = Secret::new("another-secret");
        let hidden = masked(&secret(), &claim().shop, &claim().cart, [7; 32]);
        assert_ne!(
            masked(&other, &claim().shop, &claim().cart, hidden),
            [7; 32]
        );
        assert_eq!(
            masked(&secret(), &claim().shop, &claim().cart, hidden),
            [7; 32]
        );
    }

    #[test]
    fn a_token_stays_short() {
        let token = issue(&secret(), &claim(), ts("2027-01-01T00:00:00Z"));
        assert!(token.len() <= 240, "{} characters: {token}", token.len());
    }

    #[test]
    fn tokens_are_url_safe_and_carry_no_address() {
        let token = issue(&secret(), &claim(), ts("2027-01-01T00:00:00Z"));
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
            "{token}"
        );
        assert!(!token.contains('@'));
        let (payload, _) = token.split_once('.').expect("two parts");
        let payload =
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("UTF-8");
        assert!(!payload.contains("ada"), "{payload}");
        assert!(!payload.contains('@'), "{payload}");
    }

    #[test]
    fn another_secret_or_an_edited_payload_is_a_bad_signature() {
        let now = ts("2026-11-02T09:00:00Z");
        let token = issue(&secret(), &claim(), expiry_for(now));
        assert_eq!(
            verify(&Secret::new("another"), &token, now),
            Err(TokenError::BadSignature)
        );
        // A later expiry under the original signature.
        let (_, mac) = token.split_once('.').expect("two parts");
        let forged = issue(&secret(), &claim(), ts("2099-01-01T00:00:00Z"));
        let (payload, _) = forged.split_once('.').expect("two parts");
        assert_eq!(
            verify(&secret(), &format!("{payload}.{mac}"), now),
            Err(TokenError::BadSignature)
        );
        // One character of the MAC changed.
        let mut chars: Vec<char> = token.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(verify(&secret(), &tampered, now).is_err());
    }

    #[test]
    fn garbage_is_malformed() {
        let now = ts("2026-11-02T09:00:00Z");
        for token in ["", ".", "abc", "abc.def", "!!!.???", "a.b.c"] {
            assert!(
                matches!(
                    verify(&secret(), token, now),
                    Err(TokenError::Malformed | TokenError::BadSignature)
                ),
                "{token}"
            );
        }
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(verify(&secret(), &long, now), Err(TokenError::Malformed));
    }

    #[test]
    fn a_well_signed_but_unparsable_payload_is_malformed() {
        let now = ts("2026-11-02T09:00:00Z");
        for payload in [
            "2:a:b:e:1",
            "1:a:b:x:1",
            "1:!:b:e:1",
            "1:a:b:e",
            "1:a:b:e:1:2",
            "2:a:b:e:1:AAAA",
            "2:a:b:e:1:!!",
            "3:a:b:e:1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let mac = hmac_sha256(secret().expose(), payload.as_bytes());
            let token = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(payload),
                URL_SAFE_NO_PAD.encode(mac)
            );
            assert_eq!(verify(&secret(), &token, now), Err(TokenError::Malformed));
        }
    }

    proptest! {
        #![proptest_config(cartback_testkit::proptest_config(256))]

        #[test]
        fn random_strings_never_panic(token in ".{0,300}") {
            let _ = verify(&secret(), &token, Timestamp::UNIX_EPOCH);
        }

        #[test]
        fn random_url_safe_strings_never_panic(token in "[A-Za-z0-9_.=-]{0,300}") {
            let _ = verify(&secret(), &token, Timestamp::UNIX_EPOCH);
        }

        #[test]
        fn any_signed_payload_never_panics(payload in ".{0,200}", expires in any::<i64>()) {
            let mac = hmac_sha256(secret().expose(), payload.as_bytes());
            let token = format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(mac));
            let _ = verify(&secret(), &token, Timestamp::UNIX_EPOCH);
            let _ = Timestamp::from_second(expires).map(|e| issue(&secret(), &claim(), e));
        }
    }
}
