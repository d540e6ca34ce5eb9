//! Unsubscribing through the signed link in a message: the token is the only authority.
//! Showing the link's page reads the cart's language; confirming suppresses the channel for
//! the person in every cart (`feedback::apply`): on the contact item the token's contact key
//! names, whether or not the cart still exists (a token issued before tokens carried the key
//! suppresses the cart's address, so only while the cart exists). Idempotent: confirming
//! twice is done twice.

use cartback_core::messages::unsubscribe::{TokenError, UnsubscribeClaim, verify};
use cartback_core::model::ids::log_hash;
use cartback_core::model::sequence::Channel;
use cartback_core::model::shop::Secret;
use cartback_core::model::time::Clock;
use cartback_core::ports::CartStore;
use tracing::Instrument;

use crate::Ports;
use crate::feedback::{Action, RecipientEvent, apply};

/// The languages the pages are written in; others get the first.
pub const LOCALES: &[&str] = cartback_core::messages::pages::LOCALES;

/// What the person asked for with the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Opened it (`GET`): the confirmation page.
    Show,
    /// Confirmed (`POST`: the page's button or a mail client's one-click).
    Confirm,
}

/// Which page to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The token is good: a button to confirm (`token` goes back in the form's action).
    Confirm { token: String, channel: Channel },
    /// The channel is suppressed (now or before).
    Done,
    /// Bad, tampered or expired token (or none).
    Invalid,
    /// The store failed: try again.
    Unavailable,
    /// Neither GET nor POST.
    MethodNotAllowed,
}

fn locale_of(locale: Option<&str>) -> &'static str {
    let wanted = locale
        .and_then(|l| l.split(['-', '_']).next())
        .map(str::to_ascii_lowercase);
    LOCALES
        .iter()
        .find(|l| Some(**l) == wanted.as_deref())
        .copied()
        .unwrap_or(LOCALES[0])
}

/// The cart's locale; English when the cart is gone or the store cannot say.
async fn cart_locale<P: Ports>(claim: &UnsubscribeClaim, ports: &P) -> &'static str {
    match ports.store().cart(&claim.shop, &claim.cart).await {
        Ok(cart) => locale_of(
            cart.as_ref()
                .and_then(|c| c.value.snapshot.as_ref())
                .and_then(|s| s.locale.as_deref()),
        ),
        Err(error) => {
            tracing::warn!(error = %error, "could not read the cart's locale; English it is");
            LOCALES[0]
        }
    }
}

fn invalid(error: TokenError) -> (Page, &'static str) {
    tracing::warn!(reason = %error, "unsubscribe token refused");
    (Page::Invalid, LOCALES[0])
}

/// Answers one request: what it asks and the `t` query parameter. The page, and the
/// language it is written in.
pub async fn unsubscribe<P: Ports>(
    request: Request,
    token: Option<&str>,
    secret: &Secret,
    ports: &P,
) -> (Page, &'static str) {
    let now = ports.clock().now();
    let claim = match verify(secret, token.unwrap_or_default(), now) {
        Ok(claim) => claim,
        Err(error) => return invalid(error),
    };
    let span = tracing::info_span!("unsubscribe", shop = %claim.shop, cart = %log_hash(&[claim.shop.as_str(), claim.cart.as_str()]), channel = claim.channel.as_str());
    // `instrument`, not `span.enter()`: an entered guard held across an await stays on the
    // thread's span stack while the task is parked, and another task there (or this one
    // resumed on another thread) then works under, or closes, the wrong span.
    for_claim(request, token, claim, now, ports)
        .instrument(span)
        .await
}

/// The confirmation page or the unsubscribe itself, for a verified token.
async fn for_claim<P: Ports>(
    request: Request,
    token: Option<&str>,
    claim: UnsubscribeClaim,
    now: jiff::Timestamp,
    ports: &P,
) -> (Page, &'static str) {
    let locale = cart_locale(&claim, ports).await;
    if request == Request::Show {
        tracing::info!(status = 200, "confirmation page shown");
        return (
            Page::Confirm {
                token: token.unwrap_or_default().to_owned(),
                channel: claim.channel,
            },
            locale,
        );
    }
    let event = RecipientEvent {
        shop: claim.shop.clone(),
        cart: claim.cart.clone(),
        step: None,
        action: Action::Unsubscribe(claim.channel),
        at: now,
        // The person the link was sent to (tokens issued before they carried it: `None`,
        // the cart's address then, while the cart exists).
        address: claim.contact.clone(),
    };
    match apply(&event, ports).await {
        Ok(applied) => {
            tracing::info!(status = 200, applied = applied.as_str(), "unsubscribed");
            (Page::Done, locale)
        }
        Err(error) => {
            tracing::error!(status = 500, service = error.service, error = %error.message, retryable = error.retryable, "could not record the unsubscribe; the client may retry");
            (Page::Unavailable, locale)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_fall_back_to_english() {
        assert_eq!(locale_of(Some("fi-FI")), "fi");
        assert_eq!(locale_of(Some("PL")), "pl");
        assert_eq!(locale_of(Some("ja_JP")), "ja");
        assert_eq!(locale_of(Some("sv")), "en");
        assert_eq!(locale_of(None), "en");
    }
}
