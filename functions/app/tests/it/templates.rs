//! Shops' own template folders, read by `cartback_app::templates` and compiled by core's
//! renderer: a shop's file replaces the built-in one for that shop only, a new language is
//! added, and a broken file is named with its line.

use cartback_app::templates::with_shop_templates;
use cartback_core::messages::render::{EmailContext, Renderer};
use cartback_core::model::cart::{CartEvent, CartRecord, Platform};
use cartback_core::model::ids::ShopId;
use cartback_core::model::sequence::{Channel, Sequence};
use cartback_core::model::shop::{ShopSettings, SignatureCheck};
use cartback_core::platforms::shopify;
use cartback_core::platforms::webhook::{Headers, parse_webhook};
use cartback_core::rules::lifecycle::{Applied, apply_activity};

const CHECKOUT_CREATE: &[u8] =
    include_bytes!("../../../core/tests/fixtures/shopify/checkouts_create.json");

fn shop() -> ShopId {
    ShopId::parse("demo-shop.myshopify.com").expect("valid shop id")
}

/// The cart cartback keeps for the fixture checkout.
fn fixture_cart() -> CartRecord {
    let parsed = parse_webhook(
        Platform::Shopify,
        &Headers::new().with(shopify::TOPIC_HEADER, "checkouts/create"),
        CHECKOUT_CREATE,
        &SignatureCheck::Skipped,
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect("fixture parses");
    let Some(CartEvent::Activity(activity)) = parsed.event else {
        panic!("expected activity, got {:?}", parsed.event);
    };
    match apply_activity(
        None,
        &shop(),
        Platform::Shopify,
        &activity,
        &Sequence::default_sequence(),
        activity.updated_at,
    ) {
        Applied::Changed(record) => *record,
        other => panic!("expected a changed record, got {other:?}"),
    }
}

fn settings() -> ShopSettings {
    ShopSettings::defaults_for(&shop())
}

/// Writes `files` (path under the directory, contents) into a fresh directory.
fn template_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, contents) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }
    dir
}

#[test]
fn a_shops_own_templates_replace_the_built_in_ones_for_that_shop_only() {
    let dir = template_dir(&[
        (
            "email/en/reminder.subject.txt",
            "{{ shop.name }} kept your basket",
        ),
        (
            "email/layout.mjml",
            &cartback_core::messages::render::EMBEDDED_TEMPLATES
                .iter()
                .find(|(name, _)| *name == "layout.mjml")
                .expect("layout")
                .1
                .replace(
                    "<mj-body background-color=\"#f4f4f5\"",
                    "<mj-body background-color=\"#fdf6e3\"",
                ),
        ),
        (
            "sms/en/reminder.txt",
            "{{ shop.name }}: basket {{ cart_url }} STOP to end",
        ),
    ]);
    let renderer =
        with_shop_templates(Renderer::embedded(), "demo-shop", dir.path()).expect("loads");
    let ctx = EmailContext::for_cart(&fixture_cart(), &settings(), 0).expect("context");
    let own = renderer
        .for_shop("demo-shop")
        .render_email("reminder", &ctx)
        .expect("renders");
    assert_eq!(own.subject, "demo shop kept your basket");
    assert!(
        own.html.contains("#fdf6e3"),
        "the shop's layout is not used"
    );
    // Not overridden: the built-in text part and preheader.
    let builtin = renderer.render_email("reminder", &ctx).expect("renders");
    assert_eq!(own.text, builtin.text);
    assert_eq!(own.preheader, builtin.preheader);
    // Another shop still gets the built-in set.
    let other = renderer
        .for_shop("other-shop")
        .render_email("reminder", &ctx)
        .expect("renders");
    assert_eq!(other, builtin);
    let sms_ctx =
        EmailContext::in_cart_locale(&fixture_cart(), &settings(), 0, Channel::Sms).expect("ctx");
    let sms = renderer
        .for_shop("demo-shop")
        .render_sms("reminder", &sms_ctx)
        .expect("renders");
    assert!(
        sms.text.starts_with("demo shop: basket https://"),
        "{}",
        sms.text
    );
}

#[test]
fn a_shop_may_add_a_language_and_a_missing_step_falls_back() {
    let mut files = Vec::new();
    for part in ["mjml", "txt", "subject.txt", "preheader.txt"] {
        let source = cartback_core::messages::render::EMBEDDED_TEMPLATES
            .iter()
            .find(|(name, _)| *name == format!("en/reminder.{part}"))
            .expect("built in")
            .1
            .replace("Hi", "Hej");
        files.push((format!("email/sv/reminder.{part}"), source));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, s)| (p.as_str(), s.as_str()))
        .collect();
    let dir = template_dir(&refs);
    let renderer =
        with_shop_templates(Renderer::embedded(), "demo-shop", dir.path()).expect("loads");
    let templates = renderer.for_shop("demo-shop");
    assert!(templates.languages().any(|l| l == "sv"));
    let email = Channel::Email;
    assert_eq!(
        templates
            .locale_for(&email, "reminder", Some("sv-SE"), None)
            .to_string(),
        "sv-SE"
    );
    // No Swedish offer: the shop's default language, else English.
    assert!(!templates.has(&email, "sv", "offer"));
    assert_eq!(
        templates
            .locale_for(&email, "offer", Some("sv-SE"), None)
            .to_string(),
        "en"
    );
    assert_eq!(
        templates
            .locale_for(&email, "offer", Some("sv-SE"), Some("fi"))
            .to_string(),
        "fi"
    );
    let locale = templates.locale_for(&email, "reminder", Some("sv-SE"), None);
    let ctx =
        EmailContext::for_channel(&fixture_cart(), &settings(), 0, email, locale).expect("context");
    let rendered = templates.render_email("reminder", &ctx).expect("renders");
    assert!(rendered.text.contains("Hej"), "{}", rendered.text);
    // Swedish numbers: a comma and the euro sign after the amount.
    assert!(
        rendered.html.contains("49,90\u{a0}€"),
        "total not in Swedish style"
    );
}

#[test]
fn a_broken_shop_template_names_its_file_and_line() {
    let dir = template_dir(&[("email/en/reminder.subject.txt", "Hello\n{{ shop.name }\n")]);
    let error = with_shop_templates(Renderer::embedded(), "demo-shop", dir.path())
        .err()
        .expect("rejected");
    assert!(
        error.file.ends_with("email/en/reminder.subject.txt"),
        "{error}"
    );
    assert_eq!(error.line, Some(2), "{error}");
    assert!(error.to_string().contains("fix:"), "{error}");

    let dir = template_dir(&[("email/en/remider.mjml.bak", "x")]);
    let error = with_shop_templates(Renderer::embedded(), "demo-shop", dir.path())
        .err()
        .expect("an unknown file is rejected, not ignored");
    assert!(error.file.ends_with("remider.mjml.bak"), "{error}");
}
