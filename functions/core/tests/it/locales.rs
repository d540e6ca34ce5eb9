//! Every step's email and SMS in every locale: they render, pick the cart's locale (region
//! ignored, English as fallback) and leak none of the layout's English strings.

use crate::common::*;
use cartback_core::messages::render::{EmailContext, LOCALES, RenderedEmail, Renderer};
use cartback_core::model::cart::{CartRecord, LineItem};
use cartback_core::model::sequence::{Channel, KNOWN_TEMPLATES, Sequence};
use cartback_core::model::shop::ShopSettings;

const CART_URL: &str = "https://demo-shop.example.com/cart/recover";
const TITLES: [&str; 2] = ["Merino Wool Beanie", "Linen Scarf"];

/// A two-item cart in `locale`, with a phone and SMS consent.
fn cart_in(locale: Option<&str>) -> CartRecord {
    let mut snapshot = snapshot(Some("ada@example.com"), Some("+358401234567"));
    snapshot.locale = locale.map(str::to_owned);
    snapshot.items.push(LineItem {
        title: TITLES[1].to_owned(),
        variant: None,
        quantity: 2,
        unit_price: eur("19.50"),
        image_url: None,
    });
    snapshot.total = eur("63.90");
    apply(None, &activity_with(snapshot, t0()), t0())
}

fn settings() -> ShopSettings {
    let mut settings = ShopSettings::defaults_for(&shop());
    settings.name = "Demo Shop".to_owned();
    settings
}

/// The context of `step` on `channel`, with the built-in sequence's offer when it has one.
fn context(cart: &CartRecord, step: u32, channel: Channel, with_offer: bool) -> EmailContext {
    let mut ctx = EmailContext::in_cart_locale(cart, &settings(), step, channel).expect("context");
    ctx.unsubscribe_url = Some("https://demo-shop.example.com/unsubscribe?t=abc".to_owned());
    let offer = Sequence::builtin("new-visitor")
        .expect("shipped")
        .steps
        .get(step as usize)
        .and_then(|s| s.offer.clone())
        .filter(|_| with_offer);
    match offer {
        Some(offer) => ctx.with_offer(&offer, at(hours(1)), &jiff::tz::TimeZone::UTC),
        None => ctx,
    }
}

fn steps() -> impl Iterator<Item = (u32, &'static str)> {
    (0..).zip(KNOWN_TEMPLATES.iter().copied())
}

fn render(locale: &str, step: u32, template: &str, with_offer: bool) -> RenderedEmail {
    let cart = cart_in(Some(locale));
    let ctx = context(&cart, step, Channel::Email, with_offer);
    Renderer::embedded()
        .render_email(template, &ctx)
        .unwrap_or_else(|e| panic!("{locale}/{template}: {e}"))
}

#[test]
fn every_step_renders_in_every_locale() {
    assert_eq!(LOCALES, ["en", "fi", "pl", "ja"]);
    for locale in LOCALES {
        for (step, template) in steps() {
            for with_offer in [true, false] {
                let email = render(locale, step, template, with_offer);
                let what = format!("{locale}/{template} (offer: {with_offer})");
                assert!(!email.subject.trim().is_empty(), "{what}: empty subject");
                assert!(!email.subject.contains('\n'), "{what}: {}", email.subject);
                assert!(
                    !email.preheader.trim().is_empty(),
                    "{what}: empty preheader"
                );
                assert!(
                    email.html.contains(&format!("lang=\"{locale}\"")),
                    "{what}: no lang"
                );
                for title in TITLES {
                    assert!(email.html.contains(title), "{what}: {title} missing");
                    assert!(
                        email.text.contains(title),
                        "{what}: {title} missing in text"
                    );
                }
                assert!(email.html.contains(CART_URL), "{what}: no cart link");
                assert!(
                    email.text.contains(CART_URL),
                    "{what}: no cart link in text"
                );
                assert!(!email.html.contains("{{"), "{what}: unrendered tag");
                // CARTBACK_PREVIEW_DIR=/tmp writes each locale's offer email for a look.
                if let Some(dir) = std::env::var_os("CARTBACK_PREVIEW_DIR")
                    && with_offer
                    && template == "offer"
                {
                    let path = std::path::Path::new(&dir).join(format!("{locale}.html"));
                    std::fs::write(path, &email.html).expect("write preview");
                }
                if with_offer {
                    println!(
                        "{what}: {} bytes of HTML, subject {:?}",
                        email.html.len(),
                        email.subject
                    );
                }
            }
        }
    }
}

#[test]
fn the_offer_block_is_there_exactly_when_there_is_an_offer() {
    let (step, template) = steps().last().expect("a last step");
    for locale in LOCALES {
        let with = render(locale, step, template, true);
        let without = render(locale, step, template, false);
        for email in [&with.html, &with.text, &with.preheader] {
            assert!(email.contains("COMEBACK10"), "{locale}: no code in {email}");
        }
        assert!(!without.html.contains("COMEBACK10"), "{locale}");
        assert!(!without.text.contains("COMEBACK10"), "{locale}");
    }
}

#[test]
fn the_locale_comes_from_the_cart_with_or_without_region() {
    let renderer = Renderer::embedded();
    for (cart_locale, expected) in [
        (Some("fi-FI"), "fi"),
        (Some("ja-JP"), "ja"),
        (Some("pl"), "pl"),
        (Some("PL_pl"), "pl"),
        (Some("en-GB"), "en"),
        (Some("de-AT"), "en"),
        (Some("xx"), "en"),
        (Some(""), "en"),
        (None, "en"),
    ] {
        let cart = cart_in(cart_locale);
        for (step, template) in steps() {
            let ctx = context(&cart, step, Channel::Email, true);
            assert_eq!(ctx.lang, expected, "{cart_locale:?}/{template}");
            let got = renderer.render_email(template, &ctx).expect("renders");
            let want = renderer
                .render_email(
                    template,
                    &context(&cart_in(Some(expected)), step, Channel::Email, true),
                )
                .expect("renders");
            if cart_locale.is_some_and(|l| l.split(['-', '_']).nth(1).is_none()) {
                // Same language, no region: the same message.
                assert_eq!(got, want, "{cart_locale:?}/{template}");
            }
            assert!(got.html.contains(&format!("lang=\"{expected}\"")));
        }
    }
}

/// The layout's and the steps' English strings, none of which may show up in translated mails.
const ENGLISH: &[&str] = &[
    "Total",
    "Qty",
    " each",
    "Return to",
    "Complete my",
    "Complete your",
    "Your cart",
    "Questions?",
    "reply to this email",
    "You're receiving",
    "Unsubscribe",
    "Use this code",
    "Valid until",
    "Hi ",
    " team",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

#[test]
fn no_english_fixed_strings_leak_into_other_locales() {
    for (step, template) in steps() {
        let english = render("en", step, template, true);
        assert!(english.html.contains("Total") && english.html.contains("Qty"));
        assert!(english.html.contains("Unsubscribe from cart reminders"));
        for locale in LOCALES.iter().filter(|l| **l != "en") {
            for with_offer in [true, false] {
                let email = render(locale, step, template, with_offer);
                for part in [&email.html, &email.text, &email.subject, &email.preheader] {
                    for word in ENGLISH {
                        assert!(
                            !part.contains(word),
                            "{locale}/{template}: English {word:?} in\n{part}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn sms_in_every_locale_has_the_link_and_the_opt_out() {
    let stop = [
        ("en", "Reply STOP"),
        ("fi", "Vastaa STOP"),
        ("pl", "Odpisz STOP"),
        ("ja", "配信停止はSTOPと返信"),
    ];
    let renderer = Renderer::embedded();
    for (locale, stop) in stop {
        for (step, template) in steps() {
            for with_offer in [true, false] {
                let cart = cart_in(Some(locale));
                let ctx = context(&cart, step, Channel::Sms, with_offer);
                let sms = renderer
                    .render_sms(template, &ctx)
                    .unwrap_or_else(|e| panic!("{locale}/{template}: {e}"));
                let what = format!("{locale}/{template} (offer: {with_offer})");
                assert!(sms.text.contains(CART_URL), "{what}: {}", sms.text);
                assert!(sms.text.contains(stop), "{what}: {}", sms.text);
                assert!(sms.text.contains("Demo Shop"), "{what}: {}", sms.text);
                assert_eq!(sms.length, cartback_core::messages::sms::length(&sms.text));
                if locale == "fi" {
                    assert!(sms.length.gsm7, "{what}: Finnish must fit GSM-7");
                }
                if matches!(locale, "en" | "fi" | "pl") {
                    // A short shop name and link; the UTM parameters take a second part.
                    assert!(sms.length.segments <= 2, "{what}: {}", sms.text);
                }
                if locale != "en" {
                    assert!(!sms.text.contains("Reply STOP"), "{what}");
                }
                println!(
                    "{what}: {} chars, {}, {} units, {} part(s): {}",
                    sms.text.chars().count(),
                    if sms.length.gsm7 { "GSM-7" } else { "UCS-2" },
                    sms.length.units,
                    sms.length.segments,
                    sms.text
                );
            }
        }
    }
}
