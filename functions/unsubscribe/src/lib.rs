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
//! English otherwise) and show no personal data.

use cartback_app::Ports;
pub use cartback_app::unsubscribe::{LOCALES, Page};
use cartback_app::unsubscribe::{Request as Asked, unsubscribe};
use cartback_core::model::sequence::Channel;
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
