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
//! English otherwise) and show no personal data.

use cartback_core::ids::log_hash;
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
pub const LOCALES: &[&str] = &["en", "fi", "pl", "ja"];

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

/// The texts of one language.
struct Texts {
    confirm_title: &'static str,
    confirm_email: &'static str,
    confirm_sms: &'static str,
    button: &'static str,
    done_title: &'static str,
    done_text: &'static str,
    invalid_title: &'static str,
    invalid_text: &'static str,
    error_title: &'static str,
    error_text: &'static str,
}

const EN: Texts = Texts {
    confirm_title: "Unsubscribe from cart reminders",
    confirm_email: "Press the button to stop receiving cart reminder emails from this shop.",
    confirm_sms: "Press the button to stop receiving cart reminder text messages from this shop.",
    button: "Unsubscribe",
    done_title: "You are unsubscribed",
    done_text: "You will not receive any more cart reminders like this from this shop.",
    invalid_title: "This link is invalid or has expired",
    invalid_text: "The unsubscribe link could not be used. Use the link in a more recent message, or contact the shop.",
    error_title: "Something went wrong",
    error_text: "Your request could not be saved. Please try again in a moment.",
};

const FI: Texts = Texts {
    confirm_title: "Peru ostoskorimuistutukset",
    confirm_email: "Paina painiketta, niin et enää saa tämän kaupan ostoskorimuistutuksia sähköpostiisi.",
    confirm_sms: "Paina painiketta, niin et enää saa tämän kaupan ostoskorimuistutuksia tekstiviestinä.",
    button: "Peru muistutukset",
    done_title: "Muistutukset on peruttu",
    done_text: "Et saa enää tällaisia ostoskorimuistutuksia tästä kaupasta.",
    invalid_title: "Linkki ei kelpaa tai se on vanhentunut",
    invalid_text: "Peruutuslinkkiä ei voitu käyttää. Käytä uudemman viestin linkkiä tai ota yhteyttä kauppaan.",
    error_title: "Jokin meni vikaan",
    error_text: "Pyyntöäsi ei voitu tallentaa. Yritä hetken kuluttua uudelleen.",
};

const PL: Texts = Texts {
    confirm_title: "Rezygnacja z przypomnień o koszyku",
    confirm_email: "Naciśnij przycisk, aby nie otrzymywać już e-maili z przypomnieniami o koszyku z tego sklepu.",
    confirm_sms: "Naciśnij przycisk, aby nie otrzymywać już SMS-ów z przypomnieniami o koszyku z tego sklepu.",
    button: "Zrezygnuj",
    done_title: "Zrezygnowano z przypomnień",
    done_text: "Nie będziesz już otrzymywać takich przypomnień o koszyku z tego sklepu.",
    invalid_title: "Link jest nieprawidłowy lub wygasł",
    invalid_text: "Nie można użyć tego linku. Użyj linku z nowszej wiadomości lub skontaktuj się ze sklepem.",
    error_title: "Coś poszło nie tak",
    error_text: "Nie udało się zapisać Twojej prośby. Spróbuj ponownie za chwilę.",
};

const JA: Texts = Texts {
    confirm_title: "カートのリマインダーの配信停止",
    confirm_email: "ボタンを押すと、このショップからのカートのリマインダーメールが届かなくなります。",
    confirm_sms: "ボタンを押すと、このショップからのカートのリマインダーSMSが届かなくなります。",
    button: "配信を停止する",
    done_title: "配信を停止しました",
    done_text: "このショップからのカートのリマインダーは今後届きません。",
    invalid_title: "このリンクは無効か、有効期限が切れています",
    invalid_text: "配信停止リンクを使用できませんでした。新しいメッセージのリンクを使用するか、ショップにお問い合わせください。",
    error_title: "問題が発生しました",
    error_text: "リクエストを保存できませんでした。しばらくしてからもう一度お試しください。",
};

fn texts(locale: &str) -> &'static Texts {
    match locale {
        "fi" => &FI,
        "pl" => &PL,
        "ja" => &JA,
        _ => &EN,
    }
}

/// Escapes text for HTML content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page: a heading and a paragraph (and on the confirmation page, the form).
fn render(page: &Page, locale: &str) -> String {
    let t = texts(locale);
    let (title, body) = match page {
        Page::Confirm { token, channel } => {
            let text = match channel {
                Channel::Sms => t.confirm_sms,
                Channel::Email => t.confirm_email,
            };
            (
                t.confirm_title,
                format!(
                    "<p>{}</p>\n<form method=\"post\" action=\"?t={}\">\
                     <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                     <button type=\"submit\">{}</button></form>",
                    escape(text),
                    escape(token),
                    escape(t.button)
                ),
            )
        }
        Page::Done => (t.done_title, format!("<p>{}</p>", escape(t.done_text))),
        Page::Invalid => (
            t.invalid_title,
            format!("<p>{}</p>", escape(t.invalid_text)),
        ),
        Page::Unavailable => (t.error_title, format!("<p>{}</p>", escape(t.error_text))),
        Page::MethodNotAllowed => (
            t.invalid_title,
            format!("<p>{}</p>", escape(t.invalid_text)),
        ),
    };
    format!(
        "<!doctype html>\n<html lang=\"{locale}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}}\
         button{{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#222;color:#fff;cursor:pointer}}</style>\n\
         </head>\n<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n",
        locale = escape(locale),
        title = escape(title),
    )
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
