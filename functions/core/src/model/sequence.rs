//! Reminder sequences are data: a TOML file names each step's channel, template, delay,
//! conditions and offer.
//!
//! ```toml
//! name = "new-visitor"
//!
//! [[step]]
//! template = "reminder"
//! delay = "1h"                      # step 1: after the cart's last activity
//!
//! [[step]]
//! template = "reassure"
//! channel = "sms_or_email"          # SMS where allowed, else email
//! prefer_sms_when = "not_opened"    # ... and only if step 1 was not opened
//! delay = { clicked = "8h", opened = "6h", none = "10h" }   # after the previous step
//!
//! [[step]]
//! template = "offer"
//! delay = { clicked = "1 day", opened = "1 day", none = "2 days" }
//! offer = { description = "10 % off your cart", code = "COMEBACK10", valid_for = "24h" }
//! ```
//!
//! Instead of one `code` for everyone, an offer may draw a single-use code per cart from a
//! pool the shop uploaded (`cartback codes import --pool winter10 codes.txt`):
//! `offer = { description = "10 % off your cart", pool = "winter10", valid_for = "24h" }`.

use std::ops::Range;

use jiff::{SignedDuration, Span, SpanRelativeTo};
use serde::{Deserialize, Serialize};

use crate::model::ids::{CartId, PoolName, ShopId};

/// How a message reaches the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
}

/// The channel a step asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelChoice {
    Email,
    Sms,
    /// SMS where allowed (and `prefer_sms_when` holds), else email.
    SmsOrEmail,
}

/// The recipient's engagement so far in this sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engagement {
    /// Nothing opened or clicked.
    None,
    /// Something opened, nothing clicked.
    Opened,
    /// Something clicked.
    Clicked,
}

impl Engagement {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Opened => "opened",
            Self::Clicked => "clicked",
        }
    }
}

/// A condition on the engagement so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    #[default]
    Always,
    Opened,
    NotOpened,
    Clicked,
    NotClicked,
}

impl Condition {
    pub fn holds(self, engagement: Engagement) -> bool {
        match self {
            Self::Always => true,
            Self::Opened => engagement >= Engagement::Opened,
            Self::NotOpened => engagement == Engagement::None,
            Self::Clicked => engagement == Engagement::Clicked,
            Self::NotClicked => engagement < Engagement::Clicked,
        }
    }
}

/// What a step's delay counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayFrom {
    /// The cart's last activity (the classic "1 h, 24 h, 72 h after abandonment").
    LastActivity,
    /// The time the previous step was sent (or skipped).
    PreviousStep,
}

/// How long to wait, possibly depending on the engagement so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    Fixed(SignedDuration),
    ByEngagement {
        clicked: SignedDuration,
        opened: SignedDuration,
        none: SignedDuration,
    },
}

impl Delay {
    pub fn for_engagement(self, engagement: Engagement) -> SignedDuration {
        match self {
            Self::Fixed(delay) => delay,
            Self::ByEngagement {
                clicked,
                opened,
                none,
            } => match engagement {
                Engagement::Clicked => clicked,
                Engagement::Opened => opened,
                Engagement::None => none,
            },
        }
    }
}

/// A text the shop writes once per language (`{ en = "...", fi = "..." }`) or once for all
/// (`"..."`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LocalizedText {
    Same(String),
    PerLanguage(std::collections::BTreeMap<String, String>),
}

impl LocalizedText {
    /// The text for `lang`, else the English one, else any.
    pub fn get(&self, lang: &str) -> &str {
        match self {
            Self::Same(text) => text,
            Self::PerLanguage(texts) => texts
                .get(lang)
                .or_else(|| texts.get("en"))
                .or_else(|| texts.values().next())
                .map_or("", String::as_str),
        }
    }

    /// Whether a text was written for `lang` (a single text counts for every language).
    pub fn has(&self, lang: &str) -> bool {
        match self {
            Self::Same(_) => true,
            Self::PerLanguage(texts) => texts.contains_key(lang),
        }
    }

    fn is_blank(&self) -> bool {
        match self {
            Self::Same(text) => text.trim().is_empty(),
            Self::PerLanguage(texts) => {
                texts.is_empty() || texts.values().any(|t| t.trim().is_empty())
            }
        }
    }
}

/// A time-limited offer shown in a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub description: LocalizedText,
    /// A shorter text for SMS, where one accented letter can double the price (GSM-7 has
    /// no `ł`); the description when unset.
    pub sms_description: Option<LocalizedText>,
    /// One code shown to everyone.
    pub code: Option<String>,
    /// Or: a single-use code per cart, drawn from this pool of the shop's at send time.
    pub pool: Option<PoolName>,
    pub valid_for: SignedDuration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub channel: ChannelChoice,
    pub template: String,
    pub delay: Delay,
    pub from: DelayFrom,
    /// The step is skipped unless this holds at its time.
    pub send_when: Condition,
    /// For `sms_or_email`: SMS only when this holds, else email.
    pub prefer_sms_when: Condition,
    pub offer: Option<Offer>,
    /// An email subject over the template's own (a minijinja text, one per language or one
    /// for all); a language it lacks gets the template's subject.
    pub subject: Option<LocalizedText>,
    /// An A/B split of the step: the step's own fields are the control variant; `None` when
    /// the step is sent one way to every cart.
    pub split: Option<Split>,
}

/// A step split into variants: each cart gets one, by a stable hash of shop, cart, sequence
/// and step (`experiment::variant_index`), in proportion to the weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The control's name (the step's own fields): `a` unless the step names it.
    pub control: String,
    pub control_weight: u32,
    /// The other variants, in file order.
    pub variants: Vec<Variant>,
}

/// A variant of a split step: the step's fields with its overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub weight: u32,
    pub template: String,
    pub delay: Delay,
    pub offer: Option<Offer>,
    pub subject: Option<LocalizedText>,
}

impl Step {
    /// The variants' names, the control first; empty for a step that is not split.
    pub fn variant_names(&self) -> Vec<&str> {
        match &self.split {
            None => Vec::new(),
            Some(split) => std::iter::once(split.control.as_str())
                .chain(split.variants.iter().map(|v| v.name.as_str()))
                .collect(),
        }
    }

    /// The variant of this step (0-based `step` of `sequence`) that `cart` of `shop` gets,
    /// by name; `None` for a step that is not split.
    pub fn assigned_variant(
        &self,
        shop: &ShopId,
        cart: &CartId,
        sequence: &str,
        step: u32,
    ) -> Option<&str> {
        let split = self.split.as_ref()?;
        let weights: Vec<u32> = std::iter::once(split.control_weight)
            .chain(split.variants.iter().map(|v| v.weight))
            .collect();
        match crate::model::experiment::variant_index(shop, cart, sequence, step, &weights)? {
            0 => Some(split.control.as_str()),
            i => split.variants.get(i - 1).map(|v| v.name.as_str()),
        }
    }

    /// What the step sends as variant `name`: its template, delay, offer and subject. The
    /// control (and any name the step does not have) is the step's own fields.
    pub fn version(&self, name: Option<&str>) -> Version<'_> {
        let variant = self
            .split
            .as_ref()
            .zip(name)
            .and_then(|(split, name)| split.variants.iter().find(|v| v.name == name));
        match variant {
            Some(v) => Version {
                name: Some(v.name.as_str()),
                template: &v.template,
                delay: v.delay,
                offer: v.offer.as_ref(),
                subject: v.subject.as_ref(),
            },
            None => Version {
                name: self.split.as_ref().map(|split| split.control.as_str()),
                template: &self.template,
                delay: self.delay,
                offer: self.offer.as_ref(),
                subject: self.subject.as_ref(),
            },
        }
    }
}

/// What one cart gets of a step: the control's fields or a variant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    /// The variant's name; `None` for a step that is not split.
    pub name: Option<&'a str>,
    pub template: &'a str,
    pub delay: Delay,
    pub offer: Option<&'a Offer>,
    pub subject: Option<&'a LocalizedText>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub name: String,
    pub steps: Vec<Step>,
}

/// Templates a step may name (the files under `templates/email/<locale>/` and `templates/sms/<locale>/`).
pub const KNOWN_TEMPLATES: &[&str] = &["reminder", "reassure", "offer"];
/// The most steps a sequence may have: more is fatigue, not recovery.
pub const MAX_STEPS: usize = 5;
/// The earliest a first reminder may go out after the cart's last activity.
pub const MIN_FIRST_DELAY: SignedDuration = SignedDuration::from_mins(10);
/// The largest weight of a variant (weights are relative: 1 and 1 is an even split).
pub const MAX_WEIGHT: i64 = 1000;
/// The control's name when the step does not give one.
pub const DEFAULT_CONTROL: &str = "a";

/// An error in a sequence file, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}\n  fix: {fix}")]
pub struct SequenceError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub fix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SequenceFile {
    name: toml::Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    step: Vec<toml::Spanned<StepFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    #[serde(default = "default_channel")]
    channel: ChannelChoice,
    template: toml::Spanned<String>,
    delay: toml::Spanned<DelayFile>,
    #[serde(default)]
    from: Option<toml::Spanned<DelayFrom>>,
    #[serde(default)]
    send_when: Condition,
    #[serde(default)]
    prefer_sms_when: Option<toml::Spanned<Condition>>,
    #[serde(default)]
    offer: Option<toml::Spanned<OfferFile>>,
    #[serde(default)]
    subject: Option<toml::Spanned<LocalizedText>>,
    /// The control variant's name, for a split step.
    #[serde(default)]
    name: Option<toml::Spanned<String>>,
    /// The control variant's weight, for a split step.
    #[serde(default)]
    weight: Option<toml::Spanned<i64>>,
    /// `[[step.variant]]` tables: the other variants of a split step.
    #[serde(default)]
    variant: Vec<toml::Spanned<VariantFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    name: toml::Spanned<String>,
    #[serde(default)]
    weight: Option<toml::Spanned<i64>>,
    #[serde(default)]
    template: Option<toml::Spanned<String>>,
    #[serde(default)]
    delay: Option<toml::Spanned<DelayFile>>,
    #[serde(default)]
    offer: Option<toml::Spanned<OfferFile>>,
    /// This variant shows no offer (where the step's control shows one).
    #[serde(default)]
    without_offer: Option<toml::Spanned<bool>>,
    #[serde(default)]
    subject: Option<toml::Spanned<LocalizedText>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DelayFile {
    Text(String),
    ByEngagement(EngagementDelays),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EngagementDelays {
    clicked: String,
    opened: String,
    none: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfferFile {
    description: LocalizedText,
    #[serde(default)]
    sms_description: Option<LocalizedText>,
    #[serde(default)]
    code: Option<toml::Spanned<String>>,
    #[serde(default)]
    pool: Option<toml::Spanned<String>>,
    valid_for: String,
}

fn default_channel() -> ChannelChoice {
    ChannelChoice::Email
}

/// Parses "1h", "24h", "3 days", "90m" or ISO 8601 ("PT1H") into an exact duration.
pub fn parse_delay(text: &str) -> Option<SignedDuration> {
    let span: Span = text.trim().parse().ok()?;
    span.to_duration(SpanRelativeTo::days_are_24_hours()).ok()
}

/// 1-based line and column (in characters, not bytes) of a byte offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let before = &source[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Makes errors that point into one file.
struct Errors<'a> {
    file: &'a str,
    source: &'a str,
}

impl Errors<'_> {
    fn at(&self, span: Range<usize>, message: String, fix: &str) -> SequenceError {
        let (line, column) = line_col(self.source, span.start);
        SequenceError {
            file: self.file.to_owned(),
            line,
            column,
            message,
            fix: fix.to_owned(),
        }
    }

    fn template(&self, template: &toml::Spanned<String>) -> Result<String, SequenceError> {
        let name = template.get_ref().clone();
        if !KNOWN_TEMPLATES.contains(&name.as_str()) {
            return Err(self.at(
                template.span(),
                format!("unknown template `{name}`"),
                &format!("use one of: {}", KNOWN_TEMPLATES.join(", ")),
            ));
        }
        Ok(name)
    }

    fn delay(&self, delay: &toml::Spanned<DelayFile>) -> Result<Delay, SequenceError> {
        let delay_span = delay.span();
        let duration = |text: &str| {
            parse_delay(text)
                .filter(|d| !d.is_negative())
                .ok_or_else(|| {
                    self.at(
                        delay_span.clone(),
                        format!("`{text}` is not a duration"),
                        "write a positive duration such as \"1h\", \"24h\", \"90m\" or \"3 days\"",
                    )
                })
        };
        Ok(match delay.get_ref() {
            DelayFile::Text(text) => Delay::Fixed(duration(text)?),
            DelayFile::ByEngagement(d) => Delay::ByEngagement {
                clicked: duration(&d.clicked)?,
                opened: duration(&d.opened)?,
                none: duration(&d.none)?,
            },
        })
    }

    /// The checks of one delay of step `index` (the control's or a variant's) that do not
    /// depend on the steps before it.
    fn first_step_delay(
        &self,
        index: usize,
        from: DelayFrom,
        delay: Delay,
        delay_span: Range<usize>,
    ) -> Result<(), SequenceError> {
        if index == 0 {
            if matches!(delay, Delay::ByEngagement { .. }) {
                return Err(self.at(
                    delay_span,
                    "the first step has no earlier message whose engagement it could depend on"
                        .into(),
                    "give the first step one delay, e.g. `delay = \"1h\"`",
                ));
            }
            if delay.for_engagement(Engagement::None) < MIN_FIRST_DELAY {
                return Err(self.at(
                    delay_span,
                    format!(
                        "the first reminder would go out {:#} after the last activity",
                        delay.for_engagement(Engagement::None)
                    ),
                    "wait at least 10 minutes: the shopper may still be checking out",
                ));
            }
        }
        if from == DelayFrom::LastActivity && matches!(delay, Delay::ByEngagement { .. }) {
            return Err(self.at(
                delay_span,
                "a delay that depends on engagement must count from the previous step".into(),
                "remove `from = \"last_activity\"` or give one delay",
            ));
        }
        Ok(())
    }

    fn offer(&self, offer: toml::Spanned<OfferFile>) -> Result<Offer, SequenceError> {
        let span = offer.span();
        let offer = offer.into_inner();
        if offer.description.is_blank() {
            return Err(self.at(
                span,
                "the offer has an empty description".into(),
                "describe it, e.g. `description = \"10 % off your cart\"`, or per language `description = { en = \"10 % off your cart\", fi = \"10 % alennus ostoskoristasi\" }`",
            ));
        }
        let valid_for = parse_delay(&offer.valid_for)
            .filter(|d| d.is_positive())
            .ok_or_else(|| {
                self.at(
                    span.clone(),
                    format!("offer validity `{}` is not a duration", offer.valid_for),
                    "write how long the offer holds, e.g. `valid_for = \"24h\"`",
                )
            })?;
        let code = offer
            .code
            .map(toml::Spanned::into_inner)
            .filter(|c| !c.trim().is_empty());
        let pool = match offer.pool {
            None => None,
            Some(pool) => {
                let pool_span = pool.span();
                let name = pool.into_inner();
                if let Some(code) = &code {
                    return Err(self.at(
                        pool_span,
                        format!("the offer has both `code = \"{code}\"` and `pool = \"{name}\"`"),
                        &format!(
                            "keep one: `pool = \"{name}\"` gives each cart its own single-use code, `code = \"{code}\"` shows the same code to everyone"
                        ),
                    ));
                }
                Some(PoolName::parse(name.as_str()).map_err(|e| {
                    self.at(
                        pool_span,
                        format!("`{name}` is not a pool name: {e}"),
                        "name the pool as you imported it, e.g. `pool = \"winter10\"` (letters, digits, `-`, `_`, `.`; at most 64)",
                    )
                })?)
            }
        };
        Ok(Offer {
            description: offer.description,
            sms_description: offer.sms_description.filter(|d| !d.is_blank()),
            code,
            pool,
            valid_for,
        })
    }

    /// A subject over the template's: not blank, valid minijinja in every language, and
    /// only where the step can be an email.
    fn subject(
        &self,
        subject: toml::Spanned<LocalizedText>,
        channel: ChannelChoice,
    ) -> Result<LocalizedText, SequenceError> {
        let span = subject.span();
        let subject = subject.into_inner();
        if channel == ChannelChoice::Sms {
            return Err(self.at(
                span,
                "an SMS has no subject".into(),
                "remove `subject`, or send the step by email (`channel = \"email\"` or \"sms_or_email\")",
            ));
        }
        if subject.is_blank() {
            return Err(self.at(
                span,
                "the subject is empty".into(),
                "write it, e.g. `subject = \"{{ customer.first_name }}, your cart is waiting\"`, or per language `subject = { en = \"…\", fi = \"…\" }`",
            ));
        }
        let texts: Vec<(&str, &str)> = match &subject {
            LocalizedText::Same(text) => vec![("", text.as_str())],
            LocalizedText::PerLanguage(texts) => texts
                .iter()
                .map(|(lang, text)| (lang.as_str(), text.as_str()))
                .collect(),
        };
        let env = minijinja::Environment::new();
        for (lang, text) in texts {
            if let Err(e) = env.template_from_str(text) {
                let which = if lang.is_empty() {
                    String::new()
                } else {
                    format!(" (`{lang}`)")
                };
                return Err(self.at(
                    span,
                    format!(
                        "the subject{which} is not a valid template: {}",
                        e.detail().unwrap_or("syntax error")
                    ),
                    "write the subject as the templates' own *.subject.txt are written (minijinja: `{{ customer.first_name }}`, `{% if … %}…{% endif %}`)",
                ));
            }
        }
        Ok(subject)
    }

    /// A variant's name: letters, digits, `-` and `_`, at most 32 (it becomes an SES tag,
    /// a metric dimension and a report line).
    fn variant_name(&self, name: &toml::Spanned<String>) -> Result<String, SequenceError> {
        let text = name.get_ref();
        let ok = !text.is_empty()
            && text.len() <= 32
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(self.at(
                name.span(),
                format!("`{text}` is not a variant name"),
                "name it with letters, digits, `-` or `_` (at most 32), e.g. `name = \"b\"` or `name = \"short-subject\"`",
            ));
        }
        Ok(text.clone())
    }

    fn weight(&self, weight: Option<&toml::Spanned<i64>>) -> Result<u32, SequenceError> {
        let Some(weight) = weight else { return Ok(1) };
        let value = *weight.get_ref();
        if value < 1 {
            return Err(self.at(
                weight.span(),
                format!("weight {value}: a variant with no positive weight is never chosen"),
                "give each variant a weight of at least 1 (weights are relative: 1 and 1 split evenly), or remove the variant",
            ));
        }
        u32::try_from(value)
            .ok()
            .filter(|w| i64::from(*w) <= MAX_WEIGHT)
            .ok_or_else(|| {
                self.at(
                    weight.span(),
                    format!("weight {value} is larger than {MAX_WEIGHT}"),
                    "weights are relative: use small numbers, e.g. 1 and 3 for a quarter and three quarters",
                )
            })
    }
}

impl Sequence {
    /// Parses and checks a sequence file; `file` names it in errors.
    pub fn parse(file: &str, source: &str) -> Result<Self, SequenceError> {
        let errors = Errors { file, source };
        let error = |span: Range<usize>, message: String, fix: &str| errors.at(span, message, fix);
        let raw: SequenceFile = toml::from_str(source).map_err(|e| {
            // serde's words for a delay of the wrong shape name an internal type.
            let message = if e.message().contains("DelayFile") {
                let given = e
                    .span()
                    .and_then(|span| source.get(span))
                    .unwrap_or("this value")
                    .trim();
                format!(
                    "`{given}` is not a delay: write a duration such as \"1h\", or a table `{{ clicked = \"8h\", opened = \"6h\", none = \"10h\" }}`"
                )
            } else {
                e.message().to_owned()
            };
            error(
                e.span().unwrap_or(0..0),
                message,
                "write the file as in templates/sequences/new-visitor.toml: `name = \"...\"` and one `[[step]]` table per step with `template` and `delay`",
            )
        })?;
        if raw.name.get_ref().trim().is_empty() {
            return Err(error(
                raw.name.span(),
                "the sequence name is empty".into(),
                "give the sequence a name, e.g. `name = \"new-visitor\"`",
            ));
        }
        if raw.step.is_empty() {
            return Err(error(
                0..0,
                "the sequence has no steps".into(),
                "add at least one `[[step]]` table",
            ));
        }
        if raw.step.len() > MAX_STEPS {
            return Err(error(
                raw.step[MAX_STEPS].span(),
                format!("the sequence has {} steps", raw.step.len()),
                &format!(
                    "keep at most {MAX_STEPS} steps: more reminders annoy more than they recover"
                ),
            ));
        }
        let mut steps = Vec::with_capacity(raw.step.len());
        // The latest offset from the last activity of the previous step (over its variants),
        // while every step so far counts from the last activity.
        let mut previous_offset: Option<SignedDuration> = None;
        for (index, spanned) in raw.step.into_iter().enumerate() {
            let step_span = spanned.span();
            let step = spanned.into_inner();
            let template = errors.template(&step.template)?;
            let delay_span = step.delay.span();
            let delay = errors.delay(&step.delay)?;
            let default_from = if index == 0 {
                DelayFrom::LastActivity
            } else {
                DelayFrom::PreviousStep
            };
            let from = step.from.as_ref().map_or(default_from, |f| *f.get_ref());
            let from_span = step.from.as_ref().map_or(step_span.clone(), |f| f.span());
            if index == 0 && from != DelayFrom::LastActivity {
                return Err(error(
                    from_span,
                    "the first step can only count from the cart's last activity".into(),
                    "remove `from` from the first step",
                ));
            }
            let prefer_sms_when = match &step.prefer_sms_when {
                Some(condition) if step.channel != ChannelChoice::SmsOrEmail => {
                    return Err(error(
                        condition.span(),
                        "`prefer_sms_when` only applies to `channel = \"sms_or_email\"`".into(),
                        "remove it, or set `channel = \"sms_or_email\"`",
                    ));
                }
                Some(condition) => *condition.get_ref(),
                None => Condition::Always,
            };
            let offer = step.offer.map(|offer| errors.offer(offer)).transpose()?;
            let subject = step
                .subject
                .map(|subject| errors.subject(subject, step.channel))
                .transpose()?;
            // The control and each variant: every delay is checked alike.
            let mut delays = vec![(delay, delay_span)];
            let split = if step.variant.is_empty() {
                if let Some(extra) = step
                    .name
                    .as_ref()
                    .map(toml::Spanned::span)
                    .or_else(|| step.weight.as_ref().map(toml::Spanned::span))
                {
                    return Err(error(
                        extra,
                        "`name` and `weight` name the control of a step split into variants, and this step has none".into(),
                        "remove them, or add the other variants as `[[step.variant]]` tables with a `name` and what they change (`subject`, `template`, `delay`, `offer`)",
                    ));
                }
                None
            } else {
                let control = match &step.name {
                    Some(name) => errors.variant_name(name)?,
                    None => DEFAULT_CONTROL.to_owned(),
                };
                let control_weight = errors.weight(step.weight.as_ref())?;
                let mut names = vec![control.clone()];
                let mut variants = Vec::with_capacity(step.variant.len());
                for v in step.variant {
                    let v = v.into_inner();
                    let name = errors.variant_name(&v.name)?;
                    if names.contains(&name) {
                        return Err(error(
                            v.name.span(),
                            format!("step {} has two variants named `{name}`", index + 1),
                            &format!(
                                "give each variant its own name (the control, the step's own fields, is `{}`{})",
                                names[0],
                                if step.name.is_none() {
                                    "; set `name` on the step to call it otherwise"
                                } else {
                                    ""
                                }
                            ),
                        ));
                    }
                    names.push(name.clone());
                    let weight = errors.weight(v.weight.as_ref())?;
                    let template = match &v.template {
                        Some(t) => errors.template(t)?,
                        None => template.clone(),
                    };
                    let delay = match &v.delay {
                        Some(d) => {
                            let parsed = errors.delay(d)?;
                            delays.push((parsed, d.span()));
                            parsed
                        }
                        None => delay,
                    };
                    let offer = match (v.offer, v.without_offer) {
                        (Some(_), Some(without)) if *without.get_ref() => {
                            return Err(error(
                                without.span(),
                                format!(
                                    "variant `{name}` has both an `offer` and `without_offer = true`"
                                ),
                                "keep one: `offer = { … }` shows that offer, `without_offer = true` shows none",
                            ));
                        }
                        (Some(o), _) => Some(errors.offer(o)?),
                        (None, Some(without)) if *without.get_ref() => None,
                        (None, _) => offer.clone(),
                    };
                    let subject = match v.subject {
                        Some(s) => Some(errors.subject(s, step.channel)?),
                        None => subject.clone(),
                    };
                    variants.push(Variant {
                        name,
                        weight,
                        template,
                        delay,
                        offer,
                        subject,
                    });
                }
                Some(Split {
                    control,
                    control_weight,
                    variants,
                })
            };
            for (delay, span) in &delays {
                errors.first_step_delay(index, from, *delay, span.clone())?;
            }
            let mut latest: Option<SignedDuration> = None;
            for (delay, span) in &delays {
                match (from, delay, previous_offset) {
                    (DelayFrom::LastActivity, Delay::Fixed(delay), Some(previous))
                        if *delay <= previous =>
                    {
                        return Err(error(
                            span.clone(),
                            format!("step {} is due no later than the step before it", index + 1),
                            "give each step a longer delay than the previous one, or count from the previous step",
                        ));
                    }
                    (DelayFrom::LastActivity, Delay::Fixed(_), None) if index > 0 => {
                        return Err(error(
                            from_span.clone(),
                            format!(
                                "step {} counts from the last activity but follows a step that counts from the previous send",
                                index + 1
                            ),
                            "count this step from the previous step too (remove `from`)",
                        ));
                    }
                    (DelayFrom::LastActivity, Delay::Fixed(delay), _) => {
                        latest = latest.max(Some(*delay));
                    }
                    _ => {}
                }
            }
            previous_offset = match from {
                DelayFrom::LastActivity => latest,
                DelayFrom::PreviousStep => None,
            };
            steps.push(Step {
                channel: step.channel,
                template,
                delay,
                from,
                send_when: step.send_when,
                prefer_sms_when,
                offer,
                subject,
                split,
            });
        }
        Ok(Self {
            name: raw.name.into_inner(),
            steps,
        })
    }

    /// A sequence shipped with cartback, by name.
    pub fn builtin(name: &str) -> Option<Self> {
        BUILTIN_SEQUENCES
            .iter()
            .find(|(file, _)| {
                file.trim_end_matches(".toml")
                    .ends_with(&format!("/{name}"))
            })
            .map(|(file, source)| match Self::parse(file, source) {
                Ok(sequence) => sequence,
                // The embedded files are checked by a unit test; a broken build must not ship.
                Err(error) => panic!("embedded sequence {file} is invalid: {error}"),
            })
    }

    /// The classic three emails at 1 h, 24 h and 72 h after the last activity.
    pub fn default_sequence() -> Self {
        Self::builtin("default").expect("the default sequence is embedded")
    }
}

/// The sequences shipped with cartback (file, contents).
pub const BUILTIN_SEQUENCES: &[(&str, &str)] = &[
    (
        "templates/sequences/new-visitor.toml",
        include_str!("../../../../templates/sequences/new-visitor.toml"),
    ),
    (
        "templates/sequences/returning-customer.toml",
        include_str!("../../../../templates/sequences/returning-customer.toml"),
    ),
    (
        "templates/sequences/default.toml",
        include_str!("../../../../templates/sequences/default.toml"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sequence_is_three_emails_at_1_24_72_hours() {
        let seq = Sequence::default_sequence();
        let hours: Vec<i64> = seq
            .steps
            .iter()
            .map(|s| match s.delay {
                Delay::Fixed(delay) => delay.as_hours(),
                Delay::ByEngagement { .. } => panic!("the classic sequence does not branch"),
            })
            .collect();
        assert_eq!(hours, vec![1, 24, 72]);
        assert!(seq.steps.iter().all(|s| s.channel == ChannelChoice::Email));
        assert!(seq.steps.iter().all(|s| s.from == DelayFrom::LastActivity));
        assert_eq!(
            seq.steps
                .iter()
                .map(|s| s.template.as_str())
                .collect::<Vec<_>>(),
            vec!["reminder", "reassure", "offer"]
        );
    }

    #[test]
    fn delays_accept_friendly_and_iso_forms() {
        assert_eq!(parse_delay("1h"), Some(SignedDuration::from_hours(1)));
        assert_eq!(parse_delay("3 days"), Some(SignedDuration::from_hours(72)));
        assert_eq!(parse_delay("PT90M"), Some(SignedDuration::from_mins(90)));
        assert_eq!(parse_delay("soon"), None);
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let src = "name = \"x\"\n\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n\n[[step]]\ntemplate = \"welcome\"\ndelay = \"2h\"\n";
        let err = Sequence::parse("shop.toml", src).unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("shop.toml", 8));
        assert!(err.message.contains("welcome"), "{err}");
        assert!(err.fix.contains("reminder"), "{err}");
        assert!(err.to_string().starts_with("shop.toml:8:"));
    }

    #[test]
    fn bad_durations_and_order_are_refused() {
        let src = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"whenever\"\n";
        let err = Sequence::parse("a.toml", src).unwrap_err();
        assert_eq!(err.line, 4);
        // Both from the last activity: step 2 before step 1 is refused.
        let src = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"2h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\nfrom = \"last_activity\"\n";
        let err = Sequence::parse("a.toml", src).unwrap_err();
        assert_eq!(err.line, 7, "{err}");
        // Counted from the previous step (the default after step 1) the same delays are fine.
        let src = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"2h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\n";
        assert!(Sequence::parse("a.toml", src).is_ok());
        let src = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1m\"\n";
        assert!(Sequence::parse("a.toml", src).is_err());
    }

    const OFFER_STEP: &str = "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n[[step]]\ntemplate = \"offer\"\ndelay = \"1 day\"\n";

    #[test]
    fn an_offer_may_draw_its_code_from_a_pool() {
        let src = format!(
            "{OFFER_STEP}offer = {{ description = \"10 % off\", pool = \"winter10\", valid_for = \"24h\" }}\n"
        );
        let sequence = Sequence::parse("a.toml", &src).expect("valid");
        let offer = sequence.steps[1].offer.as_ref().expect("an offer");
        assert_eq!(offer.pool.as_ref().map(PoolName::as_str), Some("winter10"));
        assert_eq!(offer.code, None);
    }

    #[test]
    fn an_offer_with_both_a_code_and_a_pool_is_refused_where_the_pool_is() {
        let src = format!(
            "{OFFER_STEP}offer = {{ description = \"10 % off\", code = \"COMEBACK10\", pool = \"winter10\", valid_for = \"24h\" }}\n"
        );
        let err = Sequence::parse("shop.toml", &src).unwrap_err();
        assert_eq!(
            (err.file.as_str(), err.line, err.column),
            ("shop.toml", 8, 65)
        );
        assert!(err.message.contains("COMEBACK10"), "{err}");
        assert!(err.message.contains("winter10"), "{err}");
        assert!(err.fix.contains("keep one"), "{err}");
        assert!(err.to_string().starts_with("shop.toml:8:65: "), "{err}");
    }

    #[test]
    fn a_pool_name_that_could_not_be_imported_is_refused() {
        let src = format!(
            "{OFFER_STEP}offer = {{ description = \"10 % off\", pool = \"winter 10\", valid_for = \"24h\" }}\n"
        );
        let err = Sequence::parse("shop.toml", &src).unwrap_err();
        assert_eq!(err.line, 8, "{err}");
        assert!(err.message.contains("winter 10"), "{err}");
        assert!(err.fix.contains("as you imported it"), "{err}");
        let src = format!(
            "{OFFER_STEP}offer = {{ description = \"10 % off\", pool = \"\", valid_for = \"24h\" }}\n"
        );
        assert!(Sequence::parse("shop.toml", &src).is_err());
    }

    #[test]
    fn syntax_errors_and_unknown_keys_point_at_the_line() {
        let err = Sequence::parse(
            "a.toml",
            "name = \"x\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\nwhen = 3\n",
        )
        .unwrap_err();
        assert_eq!(err.line, 5, "{err}");
        let err = Sequence::parse("a.toml", "name = \n").unwrap_err();
        assert_eq!(err.line, 1, "{err}");
    }
}
