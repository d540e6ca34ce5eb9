//! `cartback check`: sequence files and templates, with file, line and fix for each error.

use std::path::PathBuf;

use cartback_core::cart::{CartRecord, CartSnapshot, CartStatus, Consent, LineItem, Platform};
use cartback_core::ids::{CartId, ShopId};
use cartback_core::money::{CurrencyCode, Money};
use cartback_core::render::{EmailContext, LOCALES, Renderer};
use cartback_core::sequence::{KNOWN_TEMPLATES, Sequence};
use cartback_core::shop::ShopSettings;

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

/// A cart to render every template with.
fn sample_cart() -> Result<CartRecord, String> {
    let shop = ShopId::parse("check-shop").map_err(|e| e.to_string())?;
    let eur = CurrencyCode::parse("EUR").map_err(|e| e.to_string())?;
    let price = Money::parse("24.90", eur).map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::UNIX_EPOCH;
    Ok(CartRecord {
        shop,
        cart: CartId::parse("check").map_err(|e| e.to_string())?,
        platform: Platform::Shopify,
        status: CartStatus::Open,
        snapshot: Some(CartSnapshot {
            email: None,
            phone: None,
            first_name: Some("Ada".into()),
            orders_count: 0,
            consent: Consent::default(),
            locale: None,
            items: vec![LineItem {
                title: "Merino Wool Beanie".into(),
                variant: Some("Charcoal".into()),
                quantity: 2,
                unit_price: price,
                image_url: None,
            }],
            total: price,
            recovery_url: Some(
                url::Url::parse("https://check-shop.example.com/cart/recover")
                    .map_err(|e| e.to_string())?,
            ),
        }),
        contact: None,
        last_activity_at: now,
        source_updated_at: now,
        sequence: "default".into(),
        sent: Vec::new(),
        next_step: 0,
        next_due_at: None,
        generation: 1,
        claimed_step: None,
        stop_reason: None,
        converted_at: None,
        order_id: None,
        order_total: None,
        expires_at: 0,
    })
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
        }
    }
    if errors > 0 {
        return Err(format!("{errors} problem(s) found"));
    }
    Ok(())
}
