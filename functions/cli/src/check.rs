//! `cartback check`: sequence files and templates, with file, line and fix for each error.

use std::path::{Path, PathBuf};

use cartback_core::messages::render::{EmailContext, RenderError, Renderer, TemplateDirError};
use cartback_core::model::cart::{CartEvent, CartRecord, Platform};
use cartback_core::model::ids::{IdError, ShopId};
use cartback_core::model::sequence::{Channel, KNOWN_TEMPLATES, Sequence, Version};
use cartback_core::model::shop::ShopSettings;
use cartback_core::platforms::shopify;
use cartback_core::platforms::webhook::{Headers, WebhookError};
use cartback_core::rules::lifecycle::{Applied, apply_activity};

const DEFAULT_DIR: &str = "templates/sequences";
/// The shop the sample cart belongs to (and a checked template directory is loaded for).
const SAMPLE_SHOP: &str = "check-shop";
/// Gmail clips a message whose HTML is larger than this.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// Why `check` could not check, or what it found (the problems themselves are printed as
/// they are found).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(
        "no sequence files given and none found in ./{DEFAULT_DIR}: run from the repository root or name the files"
    )]
    NoFiles,
    #[error(transparent)]
    Templates(#[from] TemplateDirError),
    /// The demo checkout the templates are rendered with did not parse.
    #[error(transparent)]
    SampleWebhook(#[from] WebhookError),
    #[error("the sample checkout is not cart activity")]
    SampleNotActivity,
    #[error(transparent)]
    SampleShop(#[from] IdError),
    #[error("the sample checkout was not stored: {0:?}")]
    SampleNotStored(Box<Applied>),
    #[error("{0} problem(s) found")]
    Problems(usize),
}

/// Why one template did not pass.
#[derive(Debug, thiserror::Error)]
enum TemplateProblem {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(
        "{0} bytes of HTML: Gmail clips messages over {GMAIL_CLIP_BYTES}; make the template smaller"
    )]
    Clipped(usize),
}

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
fn sample_cart() -> Result<CartRecord, CheckError> {
    let headers = Headers::new().with(shopify::TOPIC_HEADER, "checkouts/create");
    let parsed = shopify::parse(&headers, crate::demo::CHECKOUT.as_bytes())?;
    let Some(CartEvent::Activity(activity)) = parsed.event else {
        return Err(CheckError::SampleNotActivity);
    };
    let shop = ShopId::parse(SAMPLE_SHOP)?;
    match apply_activity(
        None,
        &shop,
        Platform::Shopify,
        &activity,
        &Sequence::default_sequence(),
        activity.updated_at,
    ) {
        Applied::Changed(record) => Ok(*record),
        other => Err(CheckError::SampleNotStored(Box::new(other))),
    }
}

/// Checks sequence files and the templates: the built-in ones, or `templates` (a shop's
/// directory laid out like `templates/`) over them.
pub fn run(files: &[PathBuf], templates: Option<&Path>) -> Result<(), CheckError> {
    let files = if files.is_empty() {
        let found = default_files();
        if found.is_empty() {
            return Err(CheckError::NoFiles);
        }
        found
    } else {
        files.to_vec()
    };
    let renderer = match templates {
        None => Renderer::embedded(),
        Some(dir) => {
            cartback_app::templates::with_shop_templates(Renderer::embedded(), SAMPLE_SHOP, dir)?
        }
    };
    let mut errors = 0;
    for file in &files {
        match std::fs::read_to_string(file) {
            Err(e) => {
                eprintln!("{}: cannot read: {e}", file.display());
                errors += 1;
            }
            Ok(source) => match Sequence::parse(&file.display().to_string(), &source) {
                Ok(sequence) => {
                    let splits: Vec<String> = sequence
                        .steps
                        .iter()
                        .enumerate()
                        .filter(|(_, step)| step.split.is_some())
                        .map(|(index, step)| {
                            format!(
                                "step {} split {}",
                                index + 1,
                                step.variant_names().join("/")
                            )
                        })
                        .collect();
                    println!(
                        "ok   {} (sequence `{}`, {} steps{})",
                        file.display(),
                        sequence.name,
                        sequence.steps.len(),
                        if splits.is_empty() {
                            String::new()
                        } else {
                            format!("; {}", splits.join(", "))
                        }
                    );
                    warn_untranslated_offers(file, &sequence, &renderer);
                    errors += check_subjects(file, &sequence, &renderer)?;
                }
                Err(e) => {
                    eprintln!("{e}");
                    errors += 1;
                }
            },
        }
    }
    if let Some(dir) = templates {
        println!("ok   templates in {} compile", dir.display());
    }
    errors += check_templates(&renderer)?;
    if errors > 0 {
        return Err(CheckError::Problems(errors));
    }
    Ok(())
}

/// Renders every step template in every language the set has, by email and SMS, with the
/// sample cart; a language without a template is reported (those carts get English).
fn check_templates(renderer: &Renderer) -> Result<usize, CheckError> {
    let cart = sample_cart()?;
    let settings = ShopSettings::defaults_for(&cart.shop);
    let templates = renderer.for_shop(SAMPLE_SHOP);
    let sequence = Sequence::default_sequence();
    let offer = sequence.steps.iter().find_map(|s| s.offer.clone());
    let mut errors = 0;
    let languages: Vec<String> = templates.languages().map(str::to_owned).collect();
    for lang in &languages {
        for (step, template) in KNOWN_TEMPLATES.iter().enumerate() {
            let step = step as u32;
            for channel in [Channel::Email, Channel::Sms] {
                let kind = match channel {
                    Channel::Email => "email",
                    Channel::Sms => "sms",
                };
                if !templates.has(&channel, lang, template) {
                    let fallback = templates.locale_for(&channel, template, None, None);
                    println!(
                        "warn {kind} {lang}/{template}: no translation; carts in `{lang}` get it in `{}`",
                        fallback.language()
                    );
                    continue;
                }
                let locale = templates.locale_for(&channel, template, Some(lang), None);
                let ctx =
                    EmailContext::for_channel(&cart, &settings, step, channel, locale).map(|ctx| {
                        match &offer {
                            Some(offer) if *template == "offer" => ctx.with_offer(
                                offer,
                                cart.last_activity_at,
                                &jiff::tz::TimeZone::UTC,
                            ),
                            _ => ctx,
                        }
                    });
                let outcome = match channel {
                    Channel::Email => ctx
                        .and_then(|ctx| templates.render_email(template, &ctx))
                        .map_err(TemplateProblem::from)
                        .and_then(|email| {
                            if email.html.len() > GMAIL_CLIP_BYTES {
                                Err(TemplateProblem::Clipped(email.html.len()))
                            } else {
                                Ok(format!("{} bytes of HTML", email.html.len()))
                            }
                        }),
                    Channel::Sms => ctx
                        .and_then(|ctx| templates.render_sms(template, &ctx))
                        .map_err(TemplateProblem::from)
                        .map(|sms| {
                            format!(
                                "{} characters, {}, {} part(s) with the sample link",
                                sms.text.chars().count(),
                                if sms.length.gsm7 { "GSM-7" } else { "UCS-2" },
                                sms.length.segments
                            )
                        }),
                };
                match outcome {
                    Ok(summary) => println!("ok   {kind} {lang}/{template} ({summary})"),
                    Err(e) => {
                        eprintln!("{kind} {lang}/{template}: {e}");
                        errors += 1;
                    }
                }
            }
        }
    }
    Ok(errors)
}

/// Every version of each step: `(step number, " variant `b`" or "", version)`.
fn versions(sequence: &Sequence) -> Vec<(usize, String, Version<'_>)> {
    let mut all = Vec::new();
    for (index, step) in sequence.steps.iter().enumerate() {
        let names = step.variant_names();
        if names.is_empty() {
            all.push((index + 1, String::new(), step.version(None)));
        }
        for name in names {
            all.push((
                index + 1,
                format!(" variant `{name}`"),
                step.version(Some(name)),
            ));
        }
    }
    all
}

/// An offer whose description lacks a language the templates have: those carts read it in
/// English (or the one language it has).
fn warn_untranslated_offers(file: &Path, sequence: &Sequence, renderer: &Renderer) {
    let languages: Vec<&str> = renderer.for_shop(SAMPLE_SHOP).languages().collect();
    for (step, variant, version) in versions(sequence) {
        let Some(offer) = version.offer else { continue };
        for &lang in &languages {
            if !offer.description.has(lang) {
                println!(
                    "warn {}: step {step}{variant} offer has no `{lang}` description; carts in `{lang}` read `{}`",
                    file.display(),
                    offer.description.get(lang)
                );
            }
        }
    }
}

/// Renders each subject a step or variant writes itself, in every language it has, with the
/// sample cart; a language it lacks gets the template's subject (a warning).
fn check_subjects(
    file: &Path,
    sequence: &Sequence,
    renderer: &Renderer,
) -> Result<usize, CheckError> {
    let cart = sample_cart()?;
    let settings = ShopSettings::defaults_for(&cart.shop);
    let templates = renderer.for_shop(SAMPLE_SHOP);
    let languages: Vec<String> = templates.languages().map(str::to_owned).collect();
    let mut errors = 0;
    for (step, variant, version) in versions(sequence) {
        let Some(subject) = version.subject else {
            continue;
        };
        for lang in &languages {
            if !subject.has(lang) {
                println!(
                    "warn {}: step {step}{variant} has no `{lang}` subject; carts in `{lang}` get the template's",
                    file.display()
                );
                continue;
            }
            let locale = templates.locale_for(&Channel::Email, version.template, Some(lang), None);
            let rendered = EmailContext::for_channel(
                &cart,
                &settings,
                u32::try_from(step - 1).unwrap_or(0),
                Channel::Email,
                locale,
            )
            .and_then(|ctx| templates.render_subject(subject.get(lang), &ctx));
            match rendered {
                Ok(text) => println!(
                    "ok   {}: step {step}{variant} subject in {lang}: \"{text}\"",
                    file.display()
                ),
                Err(e) => {
                    eprintln!(
                        "{}: step {step}{variant} subject in {lang}: {e}",
                        file.display()
                    );
                    errors += 1;
                }
            }
        }
    }
    Ok(errors)
}
