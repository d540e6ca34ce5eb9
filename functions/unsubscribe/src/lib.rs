//! The unsubscribe function behind the links in our emails.
//!
//! `GET /unsubscribe?t=TOKEN` → 200 a confirmation page with a button that POSTs back;
//! `POST /unsubscribe?t=TOKEN` (RFC 8058 one-click, body `List-Unsubscribe=One-Click`, or
//! the page's form) → the channel is suppressed for the person in every cart (through
//! [`cartback_feedback::apply`]) and 200 a short confirmation. An invalid, tampered or
//! expired token (or none) → 403 (nothing stored); the store failing → 500, so a mail client's
//! one-click POST is retried. Idempotent: a second POST answers 200 again.
//!
//! The signed token is the only authority; the POST body is not needed to act (some clients
//! send it form-encoded, some not at all). Pages are in the cart's locale (en, fi, pl, ja;
//! English otherwise) and show no personal data; their templates are under `templates/pages/`,
//! rendered by [`cartback_core::pages`].

use cartback_core::ids::log_hash;
use cartback_core::pages::{self, UnsubscribePage};
use cartback_core::ports::{CartStore, ShopDirectory};
use cartback_core::sequence::Channel;
use cartback_core::shop::Secret;
use cartback_core::time::Clock;
use cartback_core::unsubscribe::{TokenError, UnsubscribeClaim, verify};
use cartback_feedback::{Action, FeedbackDeps, RecipientEvent, apply};
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

/// What the handler needs; generic so tests and the local runtime use in-memory ports.
pub struct UnsubscribeDeps<S, D, C> {
    /// The same ports the feedback function applies suppressions with.
    pub feedback: FeedbackDeps<S, D, C>,
    /// Signs and verifies the tokens (the sender holds the same one).
    pub secret: Secret,
}

/// The languages the pages are written in; others get the first.
pub const LOCALES: &[&str] = pages::LOCALES;

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

/// The handler's answer: a status and a page in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub page: Page,
    pub locale: &'static str,
}

impl Reply {
    pub fn status(&self) -> u16 {
        match self.page {
            Page::Confirm { .. } | Page::Done => 200,
            Page::Invalid => 403,
            Page::MethodNotAllowed => 405,
            Page::Unavailable => 500,
        }
    }

    pub fn html(&self) -> String {
        render(&self.page, self.locale)
    }
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
async fn cart_locale<S, D, C>(
    claim: &UnsubscribeClaim,
    deps: &UnsubscribeDeps<S, D, C>,
) -> &'static str
where
    S: CartStore,
{
    match deps.feedback.store.cart(&claim.shop, &claim.cart).await {
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

fn invalid(error: TokenError) -> Reply {
    tracing::warn!(reason = %error, "unsubscribe token refused");
    Reply {
        page: Page::Invalid,
        locale: LOCALES[0],
    }
}

/// Handles one request: `method` and the `t` query parameter.
pub async fn handle<S, D, C>(
    method: &Method,
    token: Option<&str>,
    deps: &UnsubscribeDeps<S, D, C>,
) -> Reply
where
    S: CartStore,
    D: ShopDirectory,
    C: Clock,
{
    if method != Method::GET && method != Method::POST {
        return Reply {
            page: Page::MethodNotAllowed,
            locale: LOCALES[0],
        };
    }
    let now = deps.feedback.clock.now();
    let claim = match verify(&deps.secret, token.unwrap_or_default(), now) {
        Ok(claim) => claim,
        Err(error) => return invalid(error),
    };
    let span = tracing::info_span!("unsubscribe", shop = %claim.shop, cart = %log_hash(&[claim.shop.as_str(), claim.cart.as_str()]), channel = claim.channel.as_str());
    // `instrument`, not `span.enter()`: an entered guard held across an await stays on the
    // thread's span stack while the task is parked, and another task there (or this one
    // resumed on another thread) then works under, or closes, the wrong span.
    for_claim(method, token, claim, now, deps)
        .instrument(span)
        .await
}

/// The confirmation page or the unsubscribe itself, for a verified token.
async fn for_claim<S, D, C>(
    method: &Method,
    token: Option<&str>,
    claim: UnsubscribeClaim,
    now: jiff::Timestamp,
    deps: &UnsubscribeDeps<S, D, C>,
) -> Reply
where
    S: CartStore,
    D: ShopDirectory,
    C: Clock,
{
    let locale = cart_locale(&claim, deps).await;
    if method == Method::GET {
        tracing::info!(status = 200, "confirmation page shown");
        return Reply {
            page: Page::Confirm {
                token: token.unwrap_or_default().to_owned(),
                channel: claim.channel,
            },
            locale,
        };
    }
    let event = RecipientEvent {
        shop: claim.shop.clone(),
        cart: claim.cart.clone(),
        step: None,
        action: Action::Unsubscribe(claim.channel),
        at: now,
        address: None,
    };
    match apply(&event, &deps.feedback).await {
        Ok(applied) => {
            tracing::info!(status = 200, applied = ?applied, "unsubscribed");
            Reply {
                page: Page::Done,
                locale,
            }
        }
        Err(error) => {
            tracing::error!(status = 500, service = error.service, error = %error.message, retryable = error.retryable, "could not record the unsubscribe; the client may retry");
            Reply {
                page: Page::Unavailable,
                locale,
            }
        }
    }
}

/// Handles one API Gateway (HTTP API, payload 2.0) request.
pub async fn handle_http<S, D, C>(
    request: Request,
    deps: &UnsubscribeDeps<S, D, C>,
) -> Result<Response<Body>, lambda_http::http::Error>
where
    S: CartStore,
    D: ShopDirectory,
    C: Clock,
{
    let query = request.query_string_parameters();
    let reply = handle(request.method(), query.first("t"), deps).await;
    let mut response = Response::builder()
        .status(reply.status())
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        // The token is in the URL: never hand it on to another site.
        .header("referrer-policy", "no-referrer")
        .header("x-robots-tag", "noindex")
        .header("x-content-type-options", "nosniff")
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        );
    if reply.page == Page::MethodNotAllowed {
        response = response.header("allow", "GET, POST");
    }
    response.body(Body::Text(reply.html()))
}

/// The page's HTML, from the templates under `templates/pages/` (see [`pages`]).
fn render(page: &Page, locale: &str) -> String {
    let page = match page {
        Page::Confirm { token, channel } => UnsubscribePage::Confirm {
            token,
            channel: *channel,
        },
        Page::Done => UnsubscribePage::Done,
        Page::Invalid | Page::MethodNotAllowed => UnsubscribePage::Invalid,
        Page::Unavailable => UnsubscribePage::Unavailable,
    };
    match pages::unsubscribe(&page, locale) {
        Ok(html) => html,
        // The pages are compiled in and every one is rendered by the tests: a build defect.
        Err(error) => {
            tracing::error!(error = %error, "the unsubscribe page could not be rendered");
            FALLBACK.to_owned()
        }
    }
}

/// The answer when a page cannot be rendered (never, unless the build is broken).
const FALLBACK: &str = "<!doctype html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"robots\" content=\"noindex\">\n<title>Unsubscribe</title>\n</head>\n<body>\n</body>\n</html>\n";

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

    #[test]
    fn every_page_is_html_in_its_language() {
        for locale in LOCALES {
            for page in [
                Page::Confirm {
                    token: "a.b".into(),
                    channel: Channel::Email,
                },
                Page::Done,
                Page::Invalid,
                Page::Unavailable,
            ] {
                let html = render(&page, locale);
                assert!(html.starts_with("<!doctype html>"), "{html}");
                assert!(html.contains(&format!("lang=\"{locale}\"")), "{html}");
            }
        }
    }

    #[test]
    fn the_token_is_escaped_in_the_form() {
        let html = render(
            &Page::Confirm {
                token: "\"><script>".into(),
                channel: Channel::Sms,
            },
            "en",
        );
        assert!(!html.contains("<script>"), "{html}");
    }
}
