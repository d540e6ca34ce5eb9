//! `cartback check`: sequence files and templates, with file, line and fix for each error.

use std::path::PathBuf;

use cartback_core::cart::{CartEvent, CartRecord, Platform};
use cartback_core::ids::ShopId;
use cartback_core::lifecycle::{Applied, apply_activity};
use cartback_core::render::{EmailContext, LOCALES, Renderer};
use cartback_core::sequence::{Channel, KNOWN_TEMPLATES, Sequence};
use cartback_core::shop::ShopSettings;
use cartback_core::shopify;
use cartback_core::webhook::Headers;

const DEFAULT_DIR: &str = "templates/sequences";

fn default_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(DEFAULT_DIR)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A cart to render every template with: the demo's Shopify checkout, through the real
/// adapter and the real first state change.
fn sample_cart() -> Result<CartRecord, String> {
    let headers = Headers::new().with(shopify::TOPIC_HEADER, "checkouts/create");
    let parsed =
        shopify::parse(&headers, crate::demo::CHECKOUT.as_bytes()).map_err(|e| e.to_string())?;
    let Some(CartEvent::Activity(activity)) = parsed.event else {
        return Err("the sample checkout is not cart activity".into());
    };
    let shop = ShopId::parse("check-shop").map_err(|e| e.to_string())?;
    match apply_activity(
        None,
        &shop,
        Platform::Shopify,
        &activity,
        &Sequence::default_sequence(),
        activity.updated_at,
    ) {
        Applied::Changed(record) => Ok(*record),
        other => Err(format!("the sample checkout was not stored: {other:?}")),
    }
}

pub fn run(files: &[PathBuf]) -> Result<(), String> {
    let files = if files.is_empty() {
        let found = default_files();
        if found.is_empty() {
            return Err(format!(
                "no sequence files given and none found in ./{DEFAULT_DIR}: run from the repository root or name the files"
            ));
        }
        found
    } else {
        files.to_vec()
    };
    let mut errors = 0;
    for file in &files {
        match std::fs::read_to_string(file) {
            Err(e) => {
                eprintln!("{}: cannot read: {e}", file.display());
                errors += 1;
            }
            Ok(source) => match Sequence::parse(&file.display().to_string(), &source) {
                Ok(sequence) => println!(
                    "ok   {} (sequence `{}`, {} steps)",
                    file.display(),
                    sequence.name,
                    sequence.steps.len()
                ),
                Err(e) => {
                    eprintln!("{e}");
                    errors += 1;
                }
            },
        }
    }
    let renderer = Renderer::embedded();
    let cart = sample_cart()?;
    let settings = ShopSettings::defaults_for(&cart.shop);
    for locale in LOCALES {
        for (step, template) in KNOWN_TEMPLATES.iter().enumerate() {
            let rendered = EmailContext::for_cart(&cart, &settings, step as u32)
                .and_then(|ctx| renderer.render_email(template, Some(locale), &ctx));
            match rendered {
                Ok(email) => println!(
                    "ok   template {locale}/{template} ({} bytes of HTML)",
                    email.html.len()
                ),
                Err(e) => {
                    eprintln!("templates/email/{locale}/{template}: {e}");
                    errors += 1;
                }
            }
            let sms = EmailContext::for_channel(&cart, &settings, step as u32, Channel::Sms)
                .and_then(|ctx| renderer.render_sms(template, Some(locale), &ctx));
            match sms {
                Ok(sms) => println!(
                    "ok   sms {locale}/{template} ({} characters, {}, {} part(s) with the sample link)",
                    sms.text.chars().count(),
                    if sms.length.gsm7 { "GSM-7" } else { "UCS-2" },
                    sms.length.segments
                ),
                Err(e) => {
                    eprintln!("templates/sms/{locale}/{template}.txt: {e}");
                    errors += 1;
                }
            }
        }
    }
    if errors > 0 {
        return Err(format!("{errors} problem(s) found"));
    }
    Ok(())
}
