//! Rendering a step's email: minijinja fills the MJML, text, subject and preheader
//! templates; mrml turns MJML into HTML; mail-builder writes the MIME message SES sends.
//!
//! The templates under `templates/email/` are embedded in the binary; the environment is
//! built once per warm container and compiles each template on first use.

use jiff::Timestamp;
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::cart::CartRecord;
use crate::contact::Email;
use crate::ids::log_hash;
use crate::shop::ShopSettings;

/// The locales templates exist for; others fall back to the first.
pub const LOCALES: &[&str] = &["en", "fi", "pl", "ja"];

macro_rules! embedded {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../templates/email/", $path)))),*]
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
    "fi/expires.txt",
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
    "pl/expires.txt",
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
    "ja/expires.txt",
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
        &[$((concat!("sms/", $path), include_str!(concat!("../../../templates/sms/", $path)))),*]
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
    /// The expiry written in English ("Friday 14 March, 23:59").
    pub expires: String,
    /// The same moment as numbers, for locales that write dates their own way.
    pub expires_parts: DateParts,
}

/// A local date and time as numbers; `weekday` is 1 (Monday) to 7 (Sunday).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DateParts {
    pub year: i16,
    pub month: i8,
    pub day: i8,
    pub weekday: i8,
    pub hour: i8,
    pub minute: i8,
}

/// Everything a template may use; every string is already formatted.
#[derive(Debug, Clone, Serialize)]
pub struct EmailContext {
    pub shop: ShopContext,
    pub customer: CustomerContext,
    pub items: Vec<ItemContext>,
    pub total: String,
    pub cart_url: String,
    pub step: u32,
    pub offer: Option<OfferContext>,
    pub unsubscribe_url: Option<String>,
}

impl EmailContext {
    /// The context for an email of step `step` (0-based) of `cart`.
    pub fn for_cart(
        cart: &CartRecord,
        shop: &ShopSettings,
        step: u32,
    ) -> Result<Self, RenderError> {
        Self::for_channel(cart, shop, step, crate::sequence::Channel::Email)
    }

    /// Adds a step's offer, its expiry written in the recipient's zone.
    pub fn with_offer(
        mut self,
        offer: &crate::sequence::Offer,
        sent_at: Timestamp,
        zone: &jiff::tz::TimeZone,
    ) -> Self {
        let expires = sent_at
            .checked_add(offer.valid_for)
            .unwrap_or(sent_at)
            .to_zoned(zone.clone());
        self.offer = Some(OfferContext {
            code: offer.code.clone().unwrap_or_default(),
            description: offer.description.clone(),
            expires: expires.strftime("%A %-d %B, %H:%M").to_string(),
            expires_parts: DateParts {
                year: expires.year(),
                month: expires.month(),
                day: expires.day(),
                weekday: expires.weekday().to_monday_one_offset(),
                hour: expires.hour(),
                minute: expires.minute(),
            },
        });
        self
    }

    /// The context for a message of step `step` (0-based) of `cart` on `channel`: the first
    /// name only with that channel's marketing consent.
    pub fn for_channel(
        cart: &CartRecord,
        shop: &ShopSettings,
        step: u32,
        channel: crate::sequence::Channel,
    ) -> Result<Self, RenderError> {
        let snapshot = cart.snapshot.as_ref().ok_or(RenderError::NoSnapshot)?;
        let cart_url = snapshot
            .recovery_url
            .as_ref()
            .ok_or(RenderError::NoRecoveryLink)?
            .to_string();
        Ok(Self {
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
                    crate::sequence::Channel::Email => snapshot.consent.email_marketing,
                    crate::sequence::Channel::Sms => snapshot.consent.sms_marketing,
                }),
            },
            items: snapshot
                .items
                .iter()
                .map(|item| ItemContext {
                    title: item.title.clone(),
                    variant: item.variant.clone(),
                    quantity: item.quantity,
                    unit_price: item.unit_price.to_string(),
                    line_total: item
                        .unit_price
                        .times(item.quantity)
                        .map_or_else(String::new, |m| m.to_string()),
                    image_url: item.image_url.as_ref().map(ToString::to_string),
                })
                .collect(),
            total: snapshot.total.to_string(),
            cart_url,
            step: step + 1,
            offer: None,
            unsubscribe_url: None,
        })
    }
}

/// A rendered email, before MIME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub preheader: String,
    pub html: String,
    pub text: String,
}

/// The compiled templates; build once, render many times.
pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::embedded()
    }
}

impl Renderer {
    /// The templates compiled into the binary.
    pub fn embedded() -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".mjml") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        // Each template is compiled when first used and kept in the environment for the
        // container's life: a container compiles only the locales and steps it renders, and
        // none of them during init. The embedded templates are checked by the tests; a
        // syntax error there is a build defect, reported when rendering.
        env.set_loader(|name| {
            Ok(EMBEDDED_TEMPLATES
                .iter()
                .chain(EMBEDDED_SMS)
                .find(|(path, _)| *path == name)
                .map(|(_, source)| (*source).to_owned()))
        });
        Self { env }
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

    fn render_one(&self, name: &str, ctx: &EmailContext) -> Result<String, RenderError> {
        let template_error = |source| RenderError::Template {
            template: name.to_owned(),
            source,
        };
        self.env
            .get_template(name)
            .map_err(template_error)?
            .render(ctx)
            .map_err(template_error)
    }

    /// Renders `template` ("reminder", ...) in the cart's locale (English as fallback).
    pub fn render_email(
        &self,
        template: &str,
        locale: Option<&str>,
        ctx: &EmailContext,
    ) -> Result<RenderedEmail, RenderError> {
        let base = format!("{}/{template}", Self::locale_of(locale));
        let one_line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let subject = one_line(self.render_one(&format!("{base}.subject.txt"), ctx)?);
        let preheader = one_line(self.render_one(&format!("{base}.preheader.txt"), ctx)?);
        let mjml = self.render_one(&format!("{base}.mjml"), ctx)?;
        let mjml_error = |message: String| RenderError::Mjml {
            template: format!("{base}.mjml"),
            message,
        };
        let parsed = mrml::parse(&mjml).map_err(|e| mjml_error(e.to_string()))?;
        let html = parsed
            .element
            .render(&mrml::prelude::render::RenderOptions::default())
            .map_err(|e| mjml_error(e.to_string()))?;
        let text = self.render_one(&format!("{base}.txt"), ctx)?;
        Ok(RenderedEmail {
            subject,
            preheader,
            html,
            text,
        })
    }
}

/// An SMS text, ready to send, with its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedSms {
    pub text: String,
    pub length: crate::sms::SmsLength,
}

impl Renderer {
    /// Renders the SMS text of `template` in the cart's locale (English as fallback).
    pub fn render_sms(
        &self,
        template: &str,
        locale: Option<&str>,
        ctx: &EmailContext,
    ) -> Result<RenderedSms, RenderError> {
        let name = format!("sms/{}/{template}.txt", Self::locale_of(locale));
        let text = self
            .render_one(&name, ctx)?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let length = crate::sms::length(&text);
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
    if let Some(url) = envelope.unsubscribe_url {
        // Raw: written as is (no encoding); a URL has no whitespace, so it is never folded.
        builder = builder
            .header("List-Unsubscribe", Raw::new(format!("<{url}>")))
            .header(
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
