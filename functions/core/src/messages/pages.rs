//! The pages cartback shows in a browser (the unsubscribe pages): minijinja fills
//! `templates/pages/<lang>/<page>.html`, each extending `templates/pages/layout.html`.
//!
//! The templates are embedded in the binary (as the email templates are, see
//! [`crate::messages::render`]); the environment is built on first use and compiles each page when it
//! is first shown. Pure: no I/O.

use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::messages::render::RenderError;
use crate::model::sequence::Channel;

/// The languages the pages are written in; others get the first.
pub const LOCALES: &[&str] = &["en", "fi", "pl", "ja"];

macro_rules! embedded_pages {
    ($($path:literal),* $(,)?) => {
        &[$((concat!("pages/", $path), include_str!(concat!("../../../../templates/pages/", $path)))),*]
    };
}

/// Every page template, by its path under `templates/` (`pages/<lang>/<page>.html`).
pub const EMBEDDED_PAGES: &[(&str, &str)] = embedded_pages![
    "layout.html",
    "en/confirm.html",
    "en/done.html",
    "en/invalid.html",
    "en/unavailable.html",
    "fi/confirm.html",
    "fi/done.html",
    "fi/invalid.html",
    "fi/unavailable.html",
    "pl/confirm.html",
    "pl/done.html",
    "pl/invalid.html",
    "pl/unavailable.html",
    "ja/confirm.html",
    "ja/done.html",
    "ja/invalid.html",
    "ja/unavailable.html",
];

/// One of the unsubscribe function's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsubscribePage<'a> {
    /// A button that posts the unsubscribe of `channel` back (`token` in the form's action).
    Confirm { token: &'a str, channel: Channel },
    /// The channel is unsubscribed.
    Done,
    /// A bad, tampered or expired token (or none).
    Invalid,
    /// The unsubscribe could not be stored: try again.
    Unavailable,
}

impl UnsubscribePage<'_> {
    /// The page's template, under `pages/<lang>/`.
    fn template(&self) -> &'static str {
        match self {
            Self::Confirm { .. } => "confirm.html",
            Self::Done => "done.html",
            Self::Invalid => "invalid.html",
            Self::Unavailable => "unavailable.html",
        }
    }
}

/// What the page templates may use (see `templates/pages/layout.html`).
#[derive(Serialize)]
struct PageContext<'a> {
    lang: &'a str,
    token: Option<&'a str>,
    channel: Option<Channel>,
}

/// Escapes text for HTML content and double-quoted attributes: `&`, `<`, `>`, `"`, `'`
/// (unlike minijinja's own escaper, `/` stays as it is).
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

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_keep_trailing_newline(true);
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(text) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            out.write_str(&escape(text))?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    // The embedded pages are checked by the tests; a syntax error there is a build defect,
    // reported when rendering.
    env.set_loader(|name| {
        Ok(EMBEDDED_PAGES
            .iter()
            .find(|(path, _)| *path == name)
            .map(|(_, source)| (*source).to_owned()))
    });
    env
});

/// The HTML of an unsubscribe page: `<html lang>` says `lang`; the text is `lang`'s when the
/// pages are written in it (see [`LOCALES`]), else English.
pub fn unsubscribe(page: &UnsubscribePage<'_>, lang: &str) -> Result<String, RenderError> {
    let written_in = LOCALES
        .iter()
        .find(|l| **l == lang)
        .copied()
        .unwrap_or(LOCALES[0]);
    let name = format!("pages/{written_in}/{}", page.template());
    let (token, channel) = match page {
        UnsubscribePage::Confirm { token, channel } => (Some(*token), Some(*channel)),
        _ => (None, None),
    };
    let template_error = |source| RenderError::Template {
        template: name.clone(),
        source,
    };
    PAGES
        .get_template(&name)
        .map_err(template_error)?
        .render(PageContext {
            lang,
            token,
            channel,
        })
        .map_err(template_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_page(token: &str) -> [UnsubscribePage<'_>; 5] {
        [
            UnsubscribePage::Confirm {
                token,
                channel: Channel::Email,
            },
            UnsubscribePage::Confirm {
                token,
                channel: Channel::Sms,
            },
            UnsubscribePage::Done,
            UnsubscribePage::Invalid,
            UnsubscribePage::Unavailable,
        ]
    }

    #[test]
    fn every_page_renders_in_every_language() {
        for lang in LOCALES {
            for page in every_page("a.b") {
                let html = unsubscribe(&page, lang).expect("renders");
                assert!(html.starts_with("<!doctype html>\n"), "{html}");
                assert!(html.ends_with("</body>\n</html>\n"), "{html}");
                assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{html}");
                assert!(!html.contains("{{") && !html.contains("{%"), "{html}");
                let has_form = matches!(page, UnsubscribePage::Confirm { .. });
                assert_eq!(html.contains("<form "), has_form, "{html}");
            }
        }
    }

    #[test]
    fn every_embedded_page_is_used() {
        for (path, _) in EMBEDDED_PAGES {
            let used = *path == "pages/layout.html"
                || LOCALES.iter().any(|lang| {
                    every_page("a.b")
                        .iter()
                        .any(|page| *path == format!("pages/{lang}/{}", page.template()))
                });
            assert!(used, "{path}");
        }
    }

    #[test]
    fn the_confirmation_names_the_channel() {
        let email = UnsubscribePage::Confirm {
            token: "a.b",
            channel: Channel::Email,
        };
        let sms = UnsubscribePage::Confirm {
            token: "a.b",
            channel: Channel::Sms,
        };
        assert!(
            unsubscribe(&email, "en")
                .expect("renders")
                .contains("emails")
        );
        assert!(
            unsubscribe(&sms, "en")
                .expect("renders")
                .contains("text messages")
        );
    }

    #[test]
    fn the_heading_is_the_title() {
        let html = unsubscribe(&UnsubscribePage::Done, "fi").expect("renders");
        assert!(
            html.contains("<title>Muistutukset on peruttu</title>"),
            "{html}"
        );
        assert!(html.contains("<h1>Muistutukset on peruttu</h1>"), "{html}");
    }

    #[test]
    fn other_languages_get_english_text_under_their_own_tag() {
        let html = unsubscribe(&UnsubscribePage::Invalid, "sv").expect("renders");
        assert!(html.contains("<html lang=\"sv\">"), "{html}");
        assert!(
            html.contains("This link is invalid or has expired"),
            "{html}"
        );
    }

    #[test]
    fn dynamic_values_are_escaped() {
        let page = UnsubscribePage::Confirm {
            token: "\"><script>'&/",
            channel: Channel::Sms,
        };
        let html = unsubscribe(&page, "x\"<").expect("renders");
        assert!(
            html.contains("action=\"?t=&quot;&gt;&lt;script&gt;&#39;&amp;/\""),
            "{html}"
        );
        assert!(html.contains("<html lang=\"x&quot;&lt;\">"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }
}
