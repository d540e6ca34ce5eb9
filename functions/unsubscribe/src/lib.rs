//! The unsubscribe function behind the links in our emails.
//!
//! `GET /unsubscribe?t=TOKEN` → 200 a confirmation page with a button that POSTs back;
//! `POST /unsubscribe?t=TOKEN` (RFC 8058 one-click, body `List-Unsubscribe=One-Click`, or
//! the page's form) → the channel is suppressed for the person in every cart
//! (`cartback_app::unsubscribe`) and 200 a short confirmation. An invalid, tampered or
//! expired token (or none) → 403 (nothing stored); the store failing → 500, so a mail client's
//! one-click POST is retried. Idempotent: a second POST answers 200 again.
//!
//! The signed token is the only authority; the POST body is not needed to act (some clients
//! send it form-encoded, some not at all). Pages are in the cart's locale (en, fi, pl, ja;
//! English otherwise) and show no personal data; their templates are under `templates/pages/`,
//! rendered by `cartback_core::messages::pages`.

use cartback_app::Ports;
pub use cartback_app::unsubscribe::{LOCALES, Page};
use cartback_app::unsubscribe::{Request as Asked, unsubscribe};
use cartback_core::messages::pages::{self, UnsubscribePage};
use cartback_core::model::shop::Secret;
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};

/// What the handler needs: the ports, and the secret the tokens are signed with (the sender
/// holds the same one).
pub struct UnsubscribeDeps<P> {
    pub ports: P,
    pub secret: Secret,
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

/// Handles one request: `method` and the `t` query parameter.
pub async fn handle<P: Ports>(
    method: &Method,
    token: Option<&str>,
    deps: &UnsubscribeDeps<P>,
) -> Reply {
    let asked = match *method {
        Method::GET => Asked::Show,
        Method::POST => Asked::Confirm,
        _ => {
            return Reply {
                page: Page::MethodNotAllowed,
                locale: LOCALES[0],
            };
        }
    };
    let (page, locale) = unsubscribe(asked, token, &deps.secret, &deps.ports).await;
    Reply { page, locale }
}

/// Handles one API Gateway (HTTP API, payload 2.0) request.
pub async fn handle_http<P: Ports>(
    request: Request,
    deps: &UnsubscribeDeps<P>,
) -> Result<Response<Body>, lambda_http::http::Error> {
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
    use cartback_core::model::sequence::Channel;

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
