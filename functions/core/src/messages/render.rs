//! Rendering a step's email: minijinja fills the MJML, text, subject and preheader
//! templates; mrml turns MJML into HTML; mail-builder writes the MIME message SES sends.
//!
//! The templates under `templates/email/` are embedded in the binary; the environment is
//! built once per warm container and compiles each template on first use. Each set of
//! templates also keeps the HTML and text of the message shapes it has rendered
//! ([`compiled`](crate::messages::compiled)), so that the next message of a shape is filled
//! in without minijinja or mrml touching its MJML.

use std::collections::HashMap;

use jiff::Timestamp;
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use url::Url;

pub use crate::messages::compiled::CompiledShapes;
use crate::messages::compiled::{Compiled, Entry, ShapeCache};
use crate::messages::format::{self, MessageLocale};
use crate::model::cart::CartRecord;
use crate::model::contact::Email;
use crate::model::ids::log_hash;
use crate::model::shop::ShopSettings;

/// The locales templates exist for; others fall back to the first.
pub const LOCALES: &[&str] = &["en", "fi", "pl", "ja"];

macro_rules! embedded {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../../templates/email/", $path)))),*]
    };
}

/// Every template file, by its path under `templates/email/`.
pub const EMBEDDED_TEMPLATES: &[(&str, &str)] = embedded![
    "layout.mjml",
    "layout.txt",
    "en/reminder.mjml",
    "en/reminder.txt",
    "en/reminder.subject.txt",
    "en/reminder.preheader.txt",
    "en/reassure.mjml",
    "en/reassure.txt",
    "en/reassure.subject.txt",
    "en/reassure.preheader.txt",
    "en/offer.mjml",
    "en/offer.txt",
    "en/offer.subject.txt",
    "en/offer.preheader.txt",
    "fi/layout.mjml",
    "fi/layout.txt",
    "fi/reminder.mjml",
    "fi/reminder.txt",
    "fi/reminder.subject.txt",
    "fi/reminder.preheader.txt",
    "fi/reassure.mjml",
    "fi/reassure.txt",
    "fi/reassure.subject.txt",
    "fi/reassure.preheader.txt",
    "fi/offer.mjml",
    "fi/offer.txt",
    "fi/offer.subject.txt",
    "fi/offer.preheader.txt",
    "pl/layout.mjml",
    "pl/layout.txt",
    "pl/reminder.mjml",
    "pl/reminder.txt",
    "pl/reminder.subject.txt",
    "pl/reminder.preheader.txt",
    "pl/reassure.mjml",
    "pl/reassure.txt",
    "pl/reassure.subject.txt",
    "pl/reassure.preheader.txt",
    "pl/offer.mjml",
    "pl/offer.txt",
    "pl/offer.subject.txt",
    "pl/offer.preheader.txt",
    "ja/layout.mjml",
    "ja/layout.txt",
    "ja/reminder.mjml",
    "ja/reminder.txt",
    "ja/reminder.subject.txt",
    "ja/reminder.preheader.txt",
    "ja/reassure.mjml",
    "ja/reassure.txt",
    "ja/reassure.subject.txt",
    "ja/reassure.preheader.txt",
    "ja/offer.mjml",
    "ja/offer.txt",
    "ja/offer.subject.txt",
    "ja/offer.preheader.txt",
];

macro_rules! embedded_sms {
    ($($path:literal),* $(,)?) => {
        &[$((concat!("sms/", $path), include_str!(concat!("../../../../templates/sms/", $path)))),*]
    };
}

/// SMS texts per step, by their path under `templates/` (`sms/<locale>/<step>.txt`).
pub const EMBEDDED_SMS: &[(&str, &str)] = embedded_sms![
    "en/reminder.txt",
    "en/reassure.txt",
    "en/offer.txt",
    "fi/reminder.txt",
    "fi/reassure.txt",
    "fi/offer.txt",
    "pl/reminder.txt",
    "pl/reassure.txt",
    "pl/offer.txt",
    "ja/reminder.txt",
    "ja/reassure.txt",
    "ja/offer.txt",
];

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {template}: {source}")]
    Template {
        template: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("MJML of {template}: {message}")]
    Mjml { template: String, message: String },
    #[error("the cart has nothing to show (no snapshot)")]
    NoSnapshot,
    #[error("the cart has no link back to it")]
    NoRecoveryLink,
    #[error("the cart has no {0} to send to")]
    NoRecipient(&'static str),
    #[error("the cart's sequence has no step {0}")]
    NoStep(u32),
    #[error("writing the MIME message: {0}")]
    Mime(#[from] std::io::Error),
}

#[derive(Debug, Clone, Serialize)]
pub struct ShopContext {
    pub name: String,
    pub logo_url: Option<String>,
    pub accent_color: String,
    pub support_email: Option<String>,
    pub signature: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerContext {
    pub first_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemContext {
    pub title: String,
    pub variant: Option<String>,
    pub quantity: u32,
    pub unit_price: String,
    pub line_total: String,
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OfferContext {
    pub code: String,
    pub description: String,
    /// The expiry in the recipient's zone, written for running text in the message's
    /// locale ("March 14 at 11:59 PM", "14. maaliskuuta klo 23.59").
    pub expires: String,
    /// The same, shorter, for SMS ("Mar 14, 11:59 PM", "14.3. klo 23.59").
    pub expires_short: String,
}

/// Everything a template may use; every string is already formatted for `lang`.
#[derive(Debug, Clone, Serialize)]
pub struct EmailContext {
    /// The template language the message is written in (`en`, `fi`, ...).
    pub lang: String,
    pub channel: crate::model::sequence::Channel,
    /// The full locale numbers and dates follow (`fi-FI`, `en-GB`).
    #[serde(skip)]
    pub locale: MessageLocale,
    pub shop: ShopContext,
    pub customer: CustomerContext,
    pub items: Vec<ItemContext>,
    pub total: String,
    /// The link back to the cart, with UTM parameters naming channel, sequence and step.
    pub cart_url: String,
    pub step: u32,
    pub offer: Option<OfferContext>,
    pub unsubscribe_url: Option<String>,
}

impl EmailContext {
    /// The context for an email of step `step` (0-based) of `cart`, in the cart's locale
    /// among the built-in languages (English when there is none).
    pub fn for_cart(
        cart: &CartRecord,
        shop: &ShopSettings,
        step: u32,
    ) -> Result<Self, RenderError> {
        Self::in_cart_locale(cart, shop, step, crate::model::sequence::Channel::Email)
    }

    /// [`EmailContext::for_channel`] in the cart's locale, else the shop's default, among the
    /// built-in languages (which have every template), else English.
    pub fn in_cart_locale(
        cart: &CartRecord,
        shop: &ShopSettings,
        step: u32,
        channel: crate::model::sequence::Channel,
    ) -> Result<Self, RenderError> {
        let wanted = cart.snapshot.as_ref().and_then(|s| s.locale.as_deref());
        let locale = choose_locale(wanted, shop.default_locale.as_deref(), |language| {
            LOCALES.contains(&language)
        });
        Self::for_channel(cart, shop, step, channel, locale)
    }

    /// Adds a step's offer, its expiry written in the recipient's zone.
    pub fn with_offer(
        mut self,
        offer: &crate::model::sequence::Offer,
        sent_at: Timestamp,
        zone: &jiff::tz::TimeZone,
    ) -> Self {
        let expires = sent_at
            .checked_add(offer.valid_for)
            .unwrap_or(sent_at)
            .to_zoned(zone.clone())
            .datetime();
        self.offer = Some(OfferContext {
            code: offer.code.clone().unwrap_or_default(),
            description: match (self.channel, &offer.sms_description) {
                (crate::model::sequence::Channel::Sms, Some(text)) if text.has(&self.lang) => {
                    text.get(&self.lang).to_owned()
                }
                _ => offer.description.get(&self.lang).to_owned(),
            },
            expires: format::date_time(expires, &self.locale),
            expires_short: format::date_time_short(expires, &self.locale),
        });
        self
    }

    /// The context for a message of step `step` (0-based) of `cart` on `channel`, written
    /// for `locale` (see [`Templates::locale_for`]): the first name only with that channel's
    /// marketing consent.
    pub fn for_channel(
        cart: &CartRecord,
        shop: &ShopSettings,
        step: u32,
        channel: crate::model::sequence::Channel,
        locale: MessageLocale,
    ) -> Result<Self, RenderError> {
        let snapshot = cart.snapshot.as_ref().ok_or(RenderError::NoSnapshot)?;
        let recovery = snapshot
            .recovery_url
            .as_ref()
            .ok_or(RenderError::NoRecoveryLink)?;
        let cart_url = tracked_link(recovery, channel, &cart.sequence, step).to_string();
        let money = |m: crate::model::money::Money| format::money(m, &locale);
        Ok(Self {
            lang: locale.language().to_owned(),
            channel,
            shop: ShopContext {
                name: shop.name.clone(),
                logo_url: shop.logo_url.as_ref().map(ToString::to_string),
                accent_color: shop.accent_color.clone(),
                support_email: shop.support_email.as_ref().map(|e| e.as_str().to_owned()),
                signature: shop.signature.clone(),
                url: shop.url.as_ref().map(ToString::to_string),
            },
            // Personal touches only for people who agreed to marketing email.
            customer: CustomerContext {
                first_name: snapshot.first_name.clone().filter(|_| match channel {
                    crate::model::sequence::Channel::Email => snapshot.consent.email_marketing,
                    crate::model::sequence::Channel::Sms => snapshot.consent.sms_marketing,
                }),
            },
            items: snapshot
                .items
                .iter()
                .map(|item| ItemContext {
                    title: item.title.clone(),
                    variant: item.variant.clone(),
                    quantity: item.quantity,
                    unit_price: money(item.unit_price),
                    line_total: item
                        .unit_price
                        .times(item.quantity)
                        .map_or_else(String::new, money),
                    image_url: item.image_url.as_ref().map(ToString::to_string),
                })
                .collect(),
            total: money(snapshot.total),
            cart_url,
            step: step + 1,
            offer: None,
            unsubscribe_url: None,
            locale,
        })
    }
}

/// The cart link as sent: `utm_source=cartback`, `utm_medium` the channel, `utm_campaign`
/// the sequence, `utm_content` the step (`step-1`), replacing any UTM values already there
/// and keeping every other parameter. SES click tracking wraps this link as it stands.
pub fn tracked_link(
    url: &Url,
    channel: crate::model::sequence::Channel,
    sequence: &str,
    step: u32,
) -> Url {
    let mut tracked = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("utm_"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    tracked
        .query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("utm_source", "cartback")
        .append_pair("utm_medium", channel.as_str())
        .append_pair("utm_campaign", sequence)
        .append_pair("utm_content", &format!("step-{}", step + 1));
    tracked
}

/// A rendered email, before MIME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub preheader: String,
    pub html: String,
    pub text: String,
}

/// An SMS text, ready to send, with its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedSms {
    pub text: String,
    pub length: crate::messages::sms::SmsLength,
}

/// The compiled templates: the built-in set, and per shop the built-in set under the shop's
/// own files. Build once per warm container, render many times.
pub struct Renderer {
    base: TemplateSet,
    shops: HashMap<String, TemplateSet>,
}

/// One environment of compiled templates, the languages it has and the message shapes it
/// has compiled.
struct TemplateSet {
    env: Environment<'static>,
    languages: Vec<String>,
    shapes: ShapeCache,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::embedded()
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".mjml") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    // Each built-in template is compiled when first used and kept in the environment for the
    // container's life: a container compiles only the locales and steps it renders, and
    // none of them during init. The embedded templates are checked by the tests; a syntax
    // error there is a build defect, reported when rendering. A shop's own files are added
    // to the environment explicitly and take precedence over the loader.
    env.set_loader(|name| {
        Ok(EMBEDDED_TEMPLATES
            .iter()
            .chain(EMBEDDED_SMS)
            .find(|(path, _)| *path == name)
            .map(|(_, source)| (*source).to_owned()))
    });
    env
}

/// A shop's template directory could not be used: which file, which line, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {problem}\n  fix: {fix}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct TemplateDirError {
    pub file: String,
    pub line: Option<usize>,
    pub problem: String,
    pub fix: String,
}

impl Renderer {
    /// The templates compiled into the binary.
    pub fn embedded() -> Self {
        Self {
            base: TemplateSet {
                env: environment(),
                languages: LOCALES.iter().map(|l| (*l).to_owned()).collect(),
                shapes: ShapeCache::new(true),
            },
            shops: HashMap::new(),
        }
    }

    /// Adds `shop`'s own templates, read from `dir` (named `dir_label` in errors) by the
    /// caller (`cartback_app::templates`): each file with its path and the name it is known
    /// by, laid out like the built-in `templates/`: `email/layout.mjml`,
    /// `email/<lang>/<step>.mjml` (and `.txt`, `.subject.txt`, `.preheader.txt`),
    /// `email/<lang>/layout.mjml`, `sms/<lang>/<step>.txt`. A file there replaces the
    /// built-in one of the same name; a new `<lang>` adds a language. Every file is compiled
    /// now, so a mistake shows at start-up with its file and line. Messages are compiled
    /// ([`Templates::render_email`]) only when every file sticks to the built-in templates'
    /// tags; otherwise each is rendered in full.
    pub fn with_shop_files(
        mut self,
        shop: &str,
        dir_label: &str,
        files: Vec<TemplateFile>,
    ) -> Result<Self, TemplateDirError> {
        let cacheable = files
            .iter()
            .all(|file| crate::messages::compiled::cacheable_source(&file.source));
        let mut set = TemplateSet {
            env: environment(),
            languages: self.base.languages.clone(),
            shapes: ShapeCache::new(cacheable),
        };
        if files.is_empty() {
            return Err(TemplateDirError {
                file: dir_label.to_owned(),
                line: None,
                problem: "no template files found".into(),
                fix: "put files under email/<lang>/ and sms/<lang>/, as in the built-in templates/ directory".into(),
            });
        }
        for TemplateFile { file, name, source } in files {
            if let Some(lang) = name.split('/').next().filter(|l| is_language(l))
                && !set.languages.iter().any(|known| known == lang)
            {
                set.languages.push(lang.to_owned());
            }
            set.env
                .add_template_owned(name, source)
                .map_err(|e| TemplateDirError {
                    file,
                    line: e.line(),
                    problem: e.detail().unwrap_or("template syntax error").to_owned(),
                    fix: "correct the template syntax (minijinja, like Jinja2)".into(),
                })?;
        }
        self.shops.insert(shop.to_owned(), set);
        Ok(self)
    }

    /// The shops with templates of their own.
    pub fn shops_with_templates(&self) -> impl Iterator<Item = &str> {
        self.shops.keys().map(String::as_str)
    }

    /// The templates a shop's messages use: its own over the built-in ones.
    pub fn for_shop(&self, shop: &str) -> Templates<'_> {
        Templates {
            set: self.shops.get(shop).unwrap_or(&self.base),
        }
    }

    fn base(&self) -> Templates<'_> {
        Templates { set: &self.base }
    }

    /// See [`Templates::render_email`]; the built-in templates.
    pub fn render_email(
        &self,
        template: &str,
        ctx: &EmailContext,
    ) -> Result<RenderedEmail, RenderError> {
        self.base().render_email(template, ctx)
    }

    /// See [`Templates::render_email_uncached`]; the built-in templates.
    pub fn render_email_uncached(
        &self,
        template: &str,
        ctx: &EmailContext,
    ) -> Result<RenderedEmail, RenderError> {
        self.base().render_email_uncached(template, ctx)
    }

    /// See [`Templates::render_sms`]; the built-in templates.
    pub fn render_sms(
        &self,
        template: &str,
        ctx: &EmailContext,
    ) -> Result<RenderedSms, RenderError> {
        self.base().render_sms(template, ctx)
    }
}

/// The first of the cart's tag and the shop's default whose language `usable` accepts, its
/// region kept for numbers and dates; English when neither is.
fn choose_locale(
    wanted: Option<&str>,
    shop_default: Option<&str>,
    mut usable: impl FnMut(&str) -> bool,
) -> MessageLocale {
    [wanted, shop_default]
        .into_iter()
        .flatten()
        .find_map(|tag| {
            let language = language_of(tag);
            usable(&language).then(|| MessageLocale::resolve(Some(tag), &language))
        })
        .unwrap_or_else(|| MessageLocale::resolve(None, LOCALES[0]))
}

/// The language subtag of a platform's locale tag, lower case (`fi` of `fi_FI`).
fn language_of(tag: &str) -> String {
    tag.trim()
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// `en`, `fi`, `pt-BR`: a directory name that can be a language.
fn is_language(name: &str) -> bool {
    name.parse::<icu_locale_core::Locale>().is_ok() && !name.contains('.')
}

/// The name a shop's template file is known by, from its path below the shop's directory
/// (`["email", "fi", "reminder.mjml"]` → `fi/reminder.mjml`, `["sms", "fi", "reminder.txt"]`
/// → `sms/fi/reminder.txt`); `Ok(None)` for a file to pass over (dotfiles, notes and sample
/// data at the top), `Err` for anything else, so nothing is silently ignored.
pub fn template_name(file: &str, relative: &[&str]) -> Result<Option<String>, TemplateDirError> {
    Ok(match relative {
        ["email", file] if file.ends_with(".mjml") || file.ends_with(".txt") => {
            Some((*file).to_owned())
        }
        ["email", lang, file]
            if is_language(lang) && (file.ends_with(".mjml") || file.ends_with(".txt")) =>
        {
            Some(format!("{lang}/{file}"))
        }
        ["sms", lang, file] if is_language(lang) && file.ends_with(".txt") => {
            Some(format!("sms/{lang}/{file}"))
        }
        [name] if name.starts_with('.') || name.ends_with(".md") || name.ends_with(".json") => None,
        _ => {
            return Err(TemplateDirError {
                file: file.to_owned(),
                line: None,
                problem: "not a template cartback knows where to use".into(),
                fix: "email templates go under email/ or email/<lang>/ (.mjml, .txt), SMS texts under sms/<lang>/<step>.txt".into(),
            });
        }
    })
}

/// A shop's template file as read: its path (for errors), the name it is known by
/// ([`template_name`]) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    pub file: String,
    pub name: String,
    pub source: String,
}

/// The compiled templates one shop's messages use.
#[derive(Clone, Copy)]
pub struct Templates<'a> {
    set: &'a TemplateSet,
}

impl<'a> Templates<'a> {
    /// The languages these templates are written in.
    pub fn languages(self) -> impl Iterator<Item = &'a str> {
        self.set.languages.iter().map(String::as_str)
    }
}

impl Templates<'_> {
    /// Whether `template` exists in `lang` for `channel` (every part of it for email).
    pub fn has(
        &self,
        channel: &crate::model::sequence::Channel,
        lang: &str,
        template: &str,
    ) -> bool {
        let exists = |name: String| self.set.env.get_template(&name).is_ok();
        match channel {
            crate::model::sequence::Channel::Email => {
                ["mjml", "txt", "subject.txt", "preheader.txt"]
                    .iter()
                    .all(|part| exists(format!("{lang}/{template}.{part}")))
            }
            crate::model::sequence::Channel::Sms => exists(format!("sms/{lang}/{template}.txt")),
        }
    }

    /// The locale a message is written in: the cart's, else the shop's default, else
    /// English, taking the first that has `template` for `channel`. A region (`fi-FI`,
    /// `en-GB`) is kept for numbers and dates.
    pub fn locale_for(
        &self,
        channel: &crate::model::sequence::Channel,
        template: &str,
        wanted: Option<&str>,
        shop_default: Option<&str>,
    ) -> MessageLocale {
        choose_locale(wanted, shop_default, |language| {
            self.set.languages.iter().any(|l| l == language)
                && self.has(channel, language, template)
        })
    }

    fn render_one(&self, name: &str, ctx: &EmailContext) -> Result<String, RenderError> {
        let template_error = |source| RenderError::Template {
            template: name.to_owned(),
            source,
        };
        self.set
            .env
            .get_template(name)
            .map_err(template_error)?
            .render(ctx)
            .map_err(template_error)
    }

    /// Renders `template` ("reminder", ...) in the context's language. The first message of
    /// each shape (see [`compiled`](crate::messages::compiled)) goes through the full
    /// pipeline ([`Templates::render_email_uncached`]) and compiles the shape; the next ones
    /// of that shape have their values filled into it, byte for byte the same output.
    pub fn render_email(
        &self,
        template: &str,
        ctx: &EmailContext,
    ) -> Result<RenderedEmail, RenderError> {
        let base = format!("{}/{template}", ctx.lang);
        let Some(lookup) = self.set.shapes.lookup(&base, ctx) else {
            return self.render_full(&base, ctx);
        };
        match lookup.entry.as_deref() {
            Some(Entry::Compiled(compiled)) => {
                let (html, text) = compiled.fill(&lookup.shape.values);
                Ok(RenderedEmail {
                    subject: self.render_line(&format!("{base}.subject.txt"), ctx)?,
                    preheader: self.render_line(&format!("{base}.preheader.txt"), ctx)?,
                    html,
                    text,
                })
            }
            Some(Entry::Full) => self.render_full(&base, ctx),
            None => {
                let email = self.render_full(&base, ctx)?;
                self.set.shapes.compile(lookup, |shape| {
                    let mjml = self
                        .render_one(&format!("{base}.mjml"), &shape.context)
                        .ok()?;
                    let html = self.mjml_to_html(&base, &mjml).ok()?;
                    let text = self
                        .render_one(&format!("{base}.txt"), &shape.context)
                        .ok()?;
                    Compiled::new(
                        &mjml,
                        &html,
                        &text,
                        &shape.values,
                        (&email.html, &email.text),
                    )
                });
                Ok(email)
            }
        }
    }

    /// Renders `template` in the context's language through the full pipeline: minijinja
    /// fills the subject, preheader, MJML and text templates, mrml turns the MJML into HTML.
    /// What [`Templates::render_email`] gives, without compiling anything.
    pub fn render_email_uncached(
        &self,
        template: &str,
        ctx: &EmailContext,
    ) -> Result<RenderedEmail, RenderError> {
        self.render_full(&format!("{}/{template}", ctx.lang), ctx)
    }

    /// What these templates have done with the message shapes they met.
    pub fn compiled_shapes(&self) -> CompiledShapes {
        self.set.shapes.stats()
    }

    fn render_full(&self, base: &str, ctx: &EmailContext) -> Result<RenderedEmail, RenderError> {
        let subject = self.render_line(&format!("{base}.subject.txt"), ctx)?;
        let preheader = self.render_line(&format!("{base}.preheader.txt"), ctx)?;
        let mjml = self.render_one(&format!("{base}.mjml"), ctx)?;
        let html = self.mjml_to_html(base, &mjml)?;
        let text = self.render_one(&format!("{base}.txt"), ctx)?;
        Ok(RenderedEmail {
            subject,
            preheader,
            html,
            text,
        })
    }

    /// `name` rendered on one line (every run of whitespace one space).
    fn render_line(&self, name: &str, ctx: &EmailContext) -> Result<String, RenderError> {
        let rendered = self.render_one(name, ctx)?;
        Ok(rendered.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// mrml's HTML for the MJML rendered from `base`'s template.
    fn mjml_to_html(&self, base: &str, mjml: &str) -> Result<String, RenderError> {
        let mjml_error = |message: String| RenderError::Mjml {
            template: format!("{base}.mjml"),
            message,
        };
        let parsed = mrml::parse(mjml).map_err(|e| mjml_error(e.to_string()))?;
        parsed
            .element
            .render(&mrml::prelude::render::RenderOptions::default())
            .map_err(|e| mjml_error(e.to_string()))
    }

    /// Renders a subject written in a sequence file (a step's or a variant's own, over the
    /// template's), on one line.
    pub fn render_subject(&self, text: &str, ctx: &EmailContext) -> Result<String, RenderError> {
        let rendered =
            self.set
                .env
                .render_str(text, ctx)
                .map_err(|source| RenderError::Template {
                    template: "the step's subject".to_owned(),
                    source,
                })?;
        Ok(rendered.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// Renders the SMS text of `template` in the context's language, on one line (every
    /// run of whitespace, no-break spaces too, becomes one plain space: GSM-7 has no other).
    pub fn render_sms(
        &self,
        template: &str,
        ctx: &EmailContext,
    ) -> Result<RenderedSms, RenderError> {
        let name = format!("sms/{}/{template}.txt", ctx.lang);
        let text = self
            .render_one(&name, ctx)?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let length = crate::messages::sms::length(&text);
        Ok(RenderedSms { text, length })
    }
}

/// Who sends and receives, and which cart step the message is (for its Message-ID).
pub struct Envelope<'a> {
    pub from: &'a Email,
    pub from_name: &'a str,
    pub to: &'a Email,
    pub cart: &'a CartRecord,
    pub step: u32,
    pub date: Timestamp,
    /// The one-click unsubscribe link (RFC 8058): when set, the message carries
    /// `List-Unsubscribe` and `List-Unsubscribe-Post`.
    pub unsubscribe_url: Option<&'a str>,
    /// A mailbox the shop reads for unsubscribe requests by email (`mailto:` in
    /// `List-Unsubscribe`, after the https link), for clients that only know mailto.
    pub unsubscribe_mailto: Option<&'a Email>,
}

/// The full MIME message (multipart/alternative text + HTML).
pub fn mime_message(
    envelope: &Envelope<'_>,
    email: &RenderedEmail,
) -> Result<Vec<u8>, RenderError> {
    let domain = envelope
        .from
        .as_str()
        .rsplit_once('@')
        .map_or("cartback.invalid", |(_, d)| d);
    let message_id = format!(
        "cartback.{}.s{}@{domain}",
        log_hash(&[envelope.cart.shop.as_str(), envelope.cart.cart.as_str()]),
        envelope.step + 1
    );
    let mut builder = MessageBuilder::new();
    let targets: Vec<String> = envelope
        .unsubscribe_url
        .map(|url| format!("<{url}>"))
        .into_iter()
        .chain(
            envelope
                .unsubscribe_mailto
                .map(|mailbox| format!("<mailto:{}?subject=unsubscribe>", mailbox.as_str())),
        )
        .collect();
    if !targets.is_empty() {
        // Raw: written as is (no encoding). No whitespace between the targets (RFC 2369 allows
        // none), so the writer never folds the line inside the header.
        builder = builder.header("List-Unsubscribe", Raw::new(targets.join(",")));
    }
    if envelope.unsubscribe_url.is_some() {
        // One-click (RFC 8058) needs the https link; a mailto alone does not qualify.
        builder = builder.header(
            "List-Unsubscribe-Post",
            Raw::new("List-Unsubscribe=One-Click"),
        );
    }
    let bytes = builder
        .from((envelope.from_name, envelope.from.as_str()))
        .to(envelope.to.as_str())
        .subject(email.subject.as_str())
        .date(envelope.date.as_second())
        .message_id(message_id)
        .text_body(email.text.as_str())
        .html_body(email.html.as_str())
        .write_to_vec()?;
    Ok(bytes)
}
