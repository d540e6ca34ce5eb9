//! Rendering each step's email for the fixture cart, and the MIME message around it.

use crate::common::*;
use cartback_core::messages::render::{
    EmailContext, Envelope, RenderedEmail, Renderer, mime_message,
};
use cartback_core::model::cart::{CartEvent, CartRecord, Platform};
use cartback_core::model::contact::Email;
use cartback_core::model::sequence::{Channel, KNOWN_TEMPLATES, Sequence};
use cartback_core::model::shop::{ShopSettings, SignatureCheck};
use cartback_core::platforms::shopify;
use cartback_core::platforms::webhook::{Headers, parse_webhook};
use cartback_core::rules::lifecycle::apply_activity;

const CHECKOUT_CREATE: &[u8] = include_bytes!("../fixtures/shopify/checkouts_create.json");
const CHECKOUT_YEN: &[u8] = include_bytes!("../fixtures/shopify/checkouts_create_yen.json");
const RECOVERY_URL: &str = "https://demo-shop.myshopify.com/90123456789/checkouts/4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87/recover?key=5e0b1d7c2a9f48e3b6c1d0a9f8e7d6c5";

/// The cart cartback keeps for `body` (a Shopify checkout webhook).
fn cart_from(body: &[u8]) -> CartRecord {
    let parsed = parse_webhook(
        Platform::Shopify,
        &Headers::new().with(shopify::TOPIC_HEADER, "checkouts/create"),
        body,
        &SignatureCheck::Skipped,
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect("fixture parses");
    let Some(CartEvent::Activity(activity)) = parsed.event else {
        panic!("expected activity, got {:?}", parsed.event);
    };
    changed(apply_activity(
        None,
        &shop(),
        Platform::Shopify,
        &activity,
        &Sequence::default_sequence(),
        activity.updated_at,
    ))
}

fn fixture_cart() -> CartRecord {
    cart_from(CHECKOUT_CREATE)
}

fn settings() -> ShopSettings {
    ShopSettings::defaults_for(&shop())
}

fn render(cart: &CartRecord, template: &str, step: u32) -> RenderedEmail {
    let ctx = EmailContext::for_cart(cart, &settings(), step).expect("context");
    Renderer::embedded()
        .render_email(template, &ctx)
        .unwrap_or_else(|e| panic!("{template}: {e}"))
}

fn steps() -> impl Iterator<Item = (u32, &'static str)> {
    (0..).zip(KNOWN_TEMPLATES.iter().copied())
}

fn with_title(cart: &CartRecord, title: &str) -> CartRecord {
    let mut cart = cart.clone();
    let snapshot = cart.snapshot.as_mut().expect("snapshot");
    snapshot.items[0].title = title.to_owned();
    cart
}

#[test]
fn context_formats_prices_totals_and_the_cart_link() {
    let ctx = EmailContext::for_cart(&fixture_cart(), &settings(), 0).expect("context");
    assert_eq!(ctx.step, 1);
    assert_eq!(ctx.total, "€49.90");
    // The platform's link, its own parameters kept, with UTM parameters after them.
    let tracked = url::Url::parse(&ctx.cart_url).expect("a URL");
    let original = url::Url::parse(RECOVERY_URL).expect("a URL");
    assert_eq!(tracked.path(), original.path());
    let pairs: Vec<(String, String)> = tracked.query_pairs().into_owned().collect();
    for pair in original.query_pairs().into_owned() {
        assert!(pairs.contains(&pair), "{pair:?} lost");
    }
    let utm: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| k.starts_with("utm_"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        utm,
        [
            ("utm_source", "cartback"),
            ("utm_medium", "email"),
            ("utm_campaign", "default"),
            ("utm_content", "step-1"),
        ]
    );
    assert_eq!(ctx.customer.first_name.as_deref(), Some("Ada"));
    assert_eq!(ctx.shop.name, "demo shop");
    let items: Vec<(&str, &str, &str)> = ctx
        .items
        .iter()
        .map(|i| {
            (
                i.title.as_str(),
                i.unit_price.as_str(),
                i.line_total.as_str(),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            ("Merino Wool Beanie", "€24.90", "€24.90"),
            ("Organic Cotton Tote", "€12.50", "€25.00"),
        ]
    );
}

#[test]
fn context_of_a_cart_without_snapshot_is_an_error() {
    let bought = convert(None, &conversion(t0()), t0());
    assert!(EmailContext::for_cart(&bought, &settings(), 0).is_err());
}

#[test]
fn every_step_renders_a_one_line_subject() {
    let cart = fixture_cart();
    for (step, template) in steps() {
        let email = render(&cart, template, step);
        assert!(!email.subject.trim().is_empty(), "{template}");
        assert!(
            !email.subject.contains(['\n', '\r']),
            "{template}: {:?}",
            email.subject
        );
        assert_eq!(email.subject, email.subject.trim(), "{template}");
        assert!(!email.preheader.trim().is_empty(), "{template}");
        assert!(!email.preheader.contains('\n'), "{template}");
    }
}

#[test]
fn subjects_of_the_three_steps_differ() {
    let cart = fixture_cart();
    let subjects: Vec<String> = steps().map(|(s, t)| render(&cart, t, s).subject).collect();
    assert_eq!(subjects.len(), 3);
    assert_ne!(subjects[0], subjects[1]);
    assert_ne!(subjects[1], subjects[2]);
    assert_ne!(subjects[0], subjects[2]);
}

#[test]
fn every_step_html_shows_items_prices_total_and_the_cart_link() {
    let cart = fixture_cart();
    for (step, template) in steps() {
        let html = render(&cart, template, step).html;
        assert!(html.contains("<html"), "{template}: not HTML");
        assert!(!html.contains("<mj-"), "{template}: MJML left in the HTML");
        for needle in [
            "Merino Wool Beanie",
            "Charcoal",
            "Organic Cotton Tote",
            "Natural",
            "€24.90",
            "€12.50",
            "€25.00",
            "€49.90",
            RECOVERY_URL,
        ] {
            assert!(html.contains(needle), "{template}: {needle:?} missing");
        }
        assert!(
            html.contains(&format!("href=\"{}", RECOVERY_URL.replace('&', "&amp;"))),
            "{template}: the cart link is not a link"
        );
        assert!(
            html.contains(&format!("utm_content=step-{}", step + 1)),
            "{template}: the link does not name the step"
        );
    }
}

#[test]
fn every_step_text_part_has_items_total_and_the_cart_link() {
    let cart = fixture_cart();
    for (step, template) in steps() {
        let text = render(&cart, template, step).text;
        for needle in [
            "Merino Wool Beanie",
            "Organic Cotton Tote",
            "€25.00",
            "€49.90",
            RECOVERY_URL,
        ] {
            assert!(
                text.contains(needle),
                "{template}: {needle:?} missing in\n{text}"
            );
        }
        assert!(!text.contains("<"), "{template}: markup in the text part");
    }
}

#[test]
fn the_first_name_greets_the_shopper() {
    let cart = fixture_cart();
    let email = render(&cart, "reminder", 0);
    assert!(email.subject.contains("Ada"), "{}", email.subject);
    assert!(email.html.contains("Hi Ada"));
    assert!(email.text.contains("Hi Ada"));
}

#[test]
fn without_a_first_name_there_is_no_empty_greeting() {
    let mut cart = fixture_cart();
    cart.snapshot.as_mut().expect("snapshot").first_name = None;
    for (step, template) in steps() {
        let email = render(&cart, template, step);
        assert!(!email.subject.starts_with(','), "{}", email.subject);
        assert!(!email.html.contains("Hi ,"), "{template}");
        assert!(!email.text.contains("Hi ,"), "{template}");
        for text in [&email.subject, &email.preheader, &email.text] {
            assert!(
                !text.to_lowercase().contains("none"),
                "{template}: `none` in {text}"
            );
        }
        assert!(!email.html.contains("Hi none"), "{template}");
    }
}

#[test]
fn yen_prices_have_no_decimals_and_japanese_grouping() {
    // The fixture's customer_locale is `ja`: the full-width yen sign CLDR gives Japanese.
    let cart = cart_from(CHECKOUT_YEN);
    let email = render(&cart, "reminder", 0);
    assert!(email.html.contains("￥1,290"), "yen price missing");
    assert!(email.html.contains("￥2,580"), "yen total missing");
    assert!(!email.html.contains("1,290.00"));
    assert!(email.html.contains("手ぬぐい"));
    assert!(email.html.contains("lang=\"ja\""));
}

#[test]
fn unknown_locale_falls_back_to_the_shop_default_then_english() {
    let renderer = Renderer::embedded();
    let in_locale = |cart_locale: Option<&str>, shop_default: Option<&str>| {
        let mut cart = fixture_cart();
        cart.snapshot.as_mut().expect("snapshot").locale = cart_locale.map(str::to_owned);
        let mut shop = settings();
        shop.default_locale = shop_default.map(str::to_owned);
        let ctx = EmailContext::for_cart(&cart, &shop, 0).expect("context");
        (ctx.lang.clone(), ctx.locale.to_string(), ctx.total.clone())
    };
    for locale in [Some("xx"), Some("de-AT"), Some(""), None] {
        assert_eq!(in_locale(locale, None).0, "en", "{locale:?}");
        assert_eq!(in_locale(locale, Some("fi")).0, "fi", "{locale:?}");
    }
    // The cart's own language wins over the shop's; its region shapes the numbers.
    assert_eq!(in_locale(Some("pl-PL"), Some("fi")).1, "pl-PL");
    let (lang, tag, total) = in_locale(Some("en-GB"), None);
    assert_eq!((lang.as_str(), tag.as_str()), ("en", "en-GB"));
    assert!(total.starts_with('€'), "{total}");
    let (_, _, total) = in_locale(Some("fi-FI"), None);
    assert!(total.ends_with('€'), "{total}");
    // And the English templates render for a locale we have no words for.
    let mut cart = fixture_cart();
    cart.snapshot.as_mut().expect("snapshot").locale = Some("de-AT".into());
    let ctx = EmailContext::for_cart(&cart, &settings(), 0).expect("context");
    let email = renderer.render_email("reminder", &ctx).expect("renders");
    assert!(email.html.contains("lang=\"en\""));
}

#[test]
fn an_unknown_template_is_an_error() {
    let ctx = EmailContext::for_cart(&fixture_cart(), &settings(), 0).expect("context");
    assert!(Renderer::embedded().render_email("welcome", &ctx).is_err());
}

#[test]
fn script_in_a_product_title_is_escaped_in_the_html() {
    let cart = with_title(&fixture_cart(), "<script>alert(1)</script> Beanie & \"Co\"");
    for (step, template) in steps() {
        let html = render(&cart, template, step).html;
        assert!(!html.contains("<script>"), "{template}: unescaped <script>");
        assert!(
            !html.contains("</script>"),
            "{template}: unescaped </script>"
        );
        assert!(
            html.contains("&lt;script&gt;"),
            "{template}: the title is not shown escaped"
        );
    }
    // The text part is plain text: shown as typed, not HTML-escaped.
    let text = render(&cart, "reminder", 0).text;
    assert!(
        text.contains("<script>alert(1)</script> Beanie & \"Co\""),
        "{text}"
    );
}

#[test]
fn markup_in_the_shop_name_and_first_name_is_escaped_in_the_html() {
    let mut cart = fixture_cart();
    cart.snapshot.as_mut().expect("snapshot").first_name = Some("<b>Ada</b>".to_owned());
    let mut shop = settings();
    shop.name = "<img src=x onerror=alert(1)>".to_owned();
    let ctx = EmailContext::for_cart(&cart, &shop, 0).expect("context");
    for (_, template) in steps() {
        let email = Renderer::embedded()
            .render_email(template, &ctx)
            .expect("renders");
        assert!(!email.html.contains("<b>Ada"), "{template}");
        assert!(!email.html.contains("<img src=x"), "{template}");
    }
}

#[test]
fn subject_is_not_html_escaped() {
    let cart = with_title(&fixture_cart(), "Beanie");
    let mut cart = cart;
    cart.snapshot.as_mut().expect("snapshot").first_name = Some("Zoë & Ann".to_owned());
    let email = render(&cart, "reminder", 0);
    assert!(email.subject.contains("Zoë & Ann"), "{}", email.subject);
    assert!(!email.subject.contains("&amp;"), "{}", email.subject);
}

// ---------------------------------------------------------------------------------------------
// MIME

fn mime(cart: &CartRecord, step: u32) -> String {
    mime_with(cart, step, None)
}

fn mime_with(cart: &CartRecord, step: u32, unsubscribe_url: Option<&str>) -> String {
    mime_full(cart, step, unsubscribe_url, None)
}

fn mime_full(
    cart: &CartRecord,
    step: u32,
    unsubscribe_url: Option<&str>,
    mailto: Option<&Email>,
) -> String {
    let (_, template) = steps()
        .nth(usize::try_from(step).expect("small"))
        .expect("a step");
    let email = render(cart, template, step);
    let shop = settings();
    let to: Email = cart
        .snapshot
        .as_ref()
        .and_then(|s| s.email.clone())
        .expect("an email");
    let bytes = mime_message(
        &Envelope {
            from: &shop.from_address,
            from_name: &shop.name,
            to: &to,
            cart,
            step,
            date: at(hours(1)),
            unsubscribe_url,
            unsubscribe_mailto: mailto,
        },
        &email,
    )
    .expect("MIME");
    String::from_utf8(bytes).expect("MIME is ASCII/UTF-8")
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[test]
fn mime_message_is_multipart_alternative_with_envelope_headers() {
    let cart = fixture_cart();
    let message = mime(&cart, 0);
    assert!(
        message.contains("Content-Type: multipart/alternative"),
        "{message}"
    );
    let from = header(&message, "From").expect("From header");
    assert!(from.contains("shop@demo-shop.myshopify.com"), "{from}");
    let to = header(&message, "To").expect("To header");
    assert!(to.contains("ada@example.com"), "{to}");
    assert!(header(&message, "Subject").is_some_and(|s| !s.is_empty()));
    assert!(header(&message, "Date").is_some());
    assert!(message.contains("text/plain"));
    assert!(message.contains("text/html"));
}

#[test]
fn list_unsubscribe_headers_only_with_a_link() {
    let cart = fixture_cart();
    let plain = mime(&cart, 0);
    assert_eq!(header(&plain, "List-Unsubscribe"), None);
    assert_eq!(header(&plain, "List-Unsubscribe-Post"), None);

    // Long enough that a folding writer would be tempted to wrap it.
    let url = format!("https://example.com/unsubscribe?t={}", "a".repeat(120));
    let message = mime_with(&cart, 0, Some(&url));
    assert_eq!(
        header(&message, "List-Unsubscribe"),
        Some(format!("<{url}>").as_str()),
        "{message}"
    );
    assert_eq!(
        header(&message, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );

    // With the shop's mailbox: both, the one-click link first.
    let mailbox = Email::parse("unsubscribe@demo-shop.example").expect("address");
    let both = mime_full(&cart, 0, Some(&url), Some(&mailbox));
    assert_eq!(
        header(&both, "List-Unsubscribe"),
        Some(
            format!("<{url}>,<mailto:unsubscribe@demo-shop.example?subject=unsubscribe>").as_str()
        )
    );
    assert!(header(&both, "List-Unsubscribe-Post").is_some());
    // A mailbox alone is no one-click.
    let mail_only = mime_full(&cart, 0, None, Some(&mailbox));
    assert!(header(&mail_only, "List-Unsubscribe").is_some());
    assert_eq!(header(&mail_only, "List-Unsubscribe-Post"), None);
}

#[test]
fn message_id_is_stable_per_cart_and_step() {
    let cart = fixture_cart();
    let first = mime(&cart, 0);
    let again = mime(&cart, 0);
    let id = header(&first, "Message-ID").expect("Message-ID");
    assert_eq!(header(&again, "Message-ID"), Some(id));
    assert!(id.starts_with('<') && id.ends_with('>'), "{id}");
    assert!(id.ends_with("@demo-shop.myshopify.com>"), "{id}");
    assert!(!id.contains(CART), "the cart token is in {id}");

    let next_step = mime(&cart, 1);
    assert_ne!(header(&next_step, "Message-ID"), Some(id));

    let mut other = cart.clone();
    other.cart = cart_id("7a9b1c2d3e4f5061728394a5b6c7d8e9");
    assert_ne!(header(&mime(&other, 0), "Message-ID"), Some(id));
}

#[test]
fn a_first_name_with_line_breaks_cannot_add_mail_headers() {
    let mut cart = fixture_cart();
    cart.snapshot.as_mut().expect("snapshot").first_name =
        Some("Ada\r\nBcc: victim@example.org\r\nX-Evil: 1".to_owned());
    let message = mime(&cart, 0);
    let head = message.split("\r\n\r\n").next().expect("a header block");
    for line in head.lines() {
        assert!(!line.starts_with("Bcc:"), "injected header in\n{head}");
        assert!(!line.starts_with("X-Evil:"), "injected header in\n{head}");
    }
    assert!(header(&message, "Subject").is_some());
}

#[test]
fn a_cart_without_any_link_gets_no_email_with_an_empty_button() {
    let mut cart = fixture_cart();
    cart.snapshot.as_mut().expect("snapshot").recovery_url = None;
    let shop = settings();
    assert!(shop.url.is_none());
    match EmailContext::for_cart(&cart, &shop, 0) {
        Err(_) => {}
        Ok(ctx) => {
            assert!(!ctx.cart_url.is_empty(), "the cart link is empty");
            let html = Renderer::embedded()
                .render_email("reminder", &ctx)
                .expect("renders")
                .html;
            assert!(!html.contains("href=\"\""), "an empty link in the HTML");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SMS

/// The fixture cart with a short link back, as a shop with a link shortener would send it.
fn short_link_cart() -> CartRecord {
    let mut cart = fixture_cart();
    cart.snapshot.as_mut().expect("snapshot").recovery_url =
        Some(url::Url::parse("https://demo.example/c/4f3c2a").expect("literal URL"));
    cart
}

fn render_sms(
    cart: &CartRecord,
    template: &str,
    step: u32,
) -> cartback_core::messages::render::RenderedSms {
    let ctx = EmailContext::in_cart_locale(cart, &settings(), step, Channel::Sms).expect("context");
    let ctx = match Sequence::builtin("new-visitor")
        .expect("shipped")
        .steps
        .get(step as usize)
        .and_then(|s| s.offer.clone())
    {
        Some(offer) => ctx.with_offer(&offer, at(hours(1)), &jiff::tz::TimeZone::UTC),
        None => ctx,
    };
    Renderer::embedded()
        .render_sms(template, &ctx)
        .unwrap_or_else(|e| panic!("{template}: {e}"))
}

#[test]
fn every_sms_is_one_line_with_the_shop_the_link_and_how_to_opt_out() {
    let cart = fixture_cart();
    for (step, template) in steps() {
        let sms = render_sms(&cart, template, step);
        assert!(!sms.text.contains('\n'), "{template}: {}", sms.text);
        assert!(
            sms.text.starts_with("demo shop"),
            "{template}: {}",
            sms.text
        );
        assert!(sms.text.contains(RECOVERY_URL), "{template}: {}", sms.text);
        assert!(sms.text.contains("STOP"), "{template}: {}", sms.text);
        assert_eq!(
            sms.length,
            cartback_core::messages::sms::length(&sms.text),
            "{template}"
        );
    }
    let offer = render_sms(&cart, "offer", 2);
    assert!(offer.text.contains("COMEBACK10"), "{}", offer.text);
}

#[test]
fn english_sms_texts_fit_two_gsm_segments_with_a_short_link() {
    let cart = short_link_cart();
    for (step, template) in steps() {
        let sms = render_sms(&cart, template, step);
        assert!(sms.length.gsm7, "{template}: {}", sms.text);
        // The words take one part; the UTM parameters of the link a second.
        assert!(
            sms.length.segments <= 2,
            "{template} ({} septets): {}",
            sms.length.units,
            sms.text
        );
    }
}

#[test]
fn the_sms_uses_the_first_name_only_with_sms_consent() {
    let mut cart = short_link_cart();
    let snapshot = cart.snapshot.as_mut().expect("snapshot");
    snapshot.consent.sms_marketing = true;
    assert!(render_sms(&cart, "reminder", 0).text.contains("Ada"));
    cart.snapshot
        .as_mut()
        .expect("snapshot")
        .consent
        .sms_marketing = false;
    assert!(!render_sms(&cart, "reminder", 0).text.contains("Ada"));
}
