//! SES v2 configuration-set events (as SES publishes them to SNS) → what a recipient did with
//! one of our emails: opened it, clicked it, hard-bounced, complained.
//!
//! The sender tags every email with `shop_ref` and `cart_ref` (base64url ids, see
//! [`crate::model::ids::tag_value`]) and `step` (1-based); SES hands the tags back in `mail.tags`
//! (name → array of values). Events without them are mail cartback did not send.
//!
//! Only engagement and suppression matter here:
//! - `Open` → [`FeedbackKind::Open`], unless a mail privacy proxy made it: those fetch every
//!   image at delivery, whether or not anyone reads the message. An open within
//!   [`PROXY_OPEN_WINDOW`] of the send, or with Apple Mail Privacy Protection's user agent
//!   (exactly [`APPLE_PROXY_USER_AGENT`]), is ignored.
//! - `Click` → [`FeedbackKind::Click`], always: proxies do not follow links.
//! - `Bounce` with `bounceType` `Permanent` → [`FeedbackKind::Bounce`]; `Transient` and
//!   `Undetermined` bounces are ignored (SES retries or cannot say; neither proves the address
//!   is dead).
//! - `Complaint` → [`FeedbackKind::Complaint`].
//!
//! The recipient ([`SesFeedback::recipient`], only its [`ContactKey`]) is the bounce's first
//! `bouncedRecipients[].emailAddress` or the complaint's first
//! `complainedRecipients[].emailAddress`, else the first `mail.destination` (cartback sends
//! each email to one address).
//! - `Send`, `Delivery`, `Reject`, `DeliveryDelay`, `Rendering Failure`, `Subscription`
//!   change nothing and are ignored.
//!
//! Pure: no I/O, no clock. Errors never quote the event (it holds addresses).

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::model::contact::Email;
use crate::model::ids::{CartId, ContactKey, ShopId, from_tag_value};

/// An open this soon after the send is a proxy prefetching images at delivery.
pub const PROXY_OPEN_WINDOW: SignedDuration = SignedDuration::from_secs(60);

/// The user agent Apple Mail Privacy Protection's image proxy sends: this and nothing more
/// (a person's Apple Mail sends a full `Mozilla/5.0 (iPhone; ...)` string).
pub const APPLE_PROXY_USER_AGENT: &str = "Mozilla/5.0";

/// The tags the sender puts on every email.
pub mod tags {
    pub const SHOP_REF: &str = "shop_ref";
    pub const CART_REF: &str = "cart_ref";
    /// 1-based step number.
    pub const STEP: &str = "step";
}

/// What the recipient did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedbackKind {
    Open,
    Click,
    /// A permanent (hard) bounce.
    Bounce,
    Complaint,
}

impl FeedbackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Click => "click",
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
        }
    }
}

/// One recipient action on one of our emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesFeedback {
    pub shop: ShopId,
    pub cart: CartId,
    /// The step (0-based) the email was; `None` when the email carried no step tag.
    pub step: Option<u32>,
    pub kind: FeedbackKind,
    /// When it happened (the open, click, bounce or complaint timestamp).
    pub at: Timestamp,
    /// The key of the address the email went to (a bounce suppresses that address, even if
    /// the cart has another one by now).
    pub recipient: Option<ContactKey>,
}

/// Why a well-formed event of ours changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// Send, Delivery, Reject, DeliveryDelay, Rendering Failure, Subscription, or a type SES
    /// may add later.
    NotTracked,
    /// A bounce that is not permanent (Transient, Undetermined).
    SoftBounce,
    /// An open within [`PROXY_OPEN_WINDOW`] of the send.
    ProxyOpenAtDelivery,
    /// An open by Apple Mail Privacy Protection's proxy.
    AppleProxyOpen,
}

impl Ignored {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotTracked => "not_tracked",
            Self::SoftBounce => "soft_bounce",
            Self::ProxyOpenAtDelivery => "proxy_open_at_delivery",
            Self::AppleProxyOpen => "apple_proxy_open",
        }
    }
}

/// What an SES event means for cartback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SesOutcome {
    Feedback(SesFeedback),
    /// Ours, but nothing to record. `event_type` is SES's own name (e.g. "Delivery").
    Ignored {
        event_type: String,
        reason: Ignored,
    },
}

/// Why a message is not an SES event of ours. Never quotes the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SesEventError {
    #[error("not JSON ({category} at line {line}, column {column})")]
    NotJson {
        category: &'static str,
        line: usize,
        column: usize,
    },
    #[error("not an SES event: no `eventType` or `mail`")]
    NotSesEvent,
    /// Mail cartback did not send (no `shop_ref`/`cart_ref` tags), e.g. other mail through
    /// the same configuration set, or identity notifications (which carry no tags).
    #[error("not a cartback email: no `{0}` tag")]
    Foreign(&'static str),
    #[error("tag `{0}` is malformed")]
    BadTag(&'static str),
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{0}` is not an RFC 3339 timestamp")]
    BadTimestamp(&'static str),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    event_type: Option<String>,
    mail: Option<Mail>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    open: Option<Open>,
    click: Option<Stamped>,
}

#[derive(Deserialize)]
struct Mail {
    timestamp: Option<String>,
    #[serde(default)]
    tags: HashMap<String, Vec<String>>,
    #[serde(default)]
    destination: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: Option<String>,
    timestamp: Option<String>,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    timestamp: Option<String>,
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: Option<String>,
}

#[derive(Deserialize)]
struct Stamped {
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Open {
    timestamp: Option<String>,
    user_agent: Option<String>,
}

fn timestamp(value: Option<&str>, field: &'static str) -> Result<Timestamp, SesEventError> {
    value
        .ok_or(SesEventError::Missing(field))?
        .parse()
        .map_err(|_| SesEventError::BadTimestamp(field))
}

fn tag<'a>(tags: &'a HashMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    tags.get(name)
        .and_then(|values| values.first())
        .map(String::as_str)
}

fn id_tag<T>(
    tags: &HashMap<String, Vec<String>>,
    name: &'static str,
    parse: impl FnOnce(String) -> Option<T>,
) -> Result<T, SesEventError> {
    let value = tag(tags, name).ok_or(SesEventError::Foreign(name))?;
    from_tag_value(value)
        .and_then(parse)
        .ok_or(SesEventError::BadTag(name))
}

/// The 1-based `step` tag as a 0-based step; absent → `None`.
fn step_tag(tags: &HashMap<String, Vec<String>>) -> Result<Option<u32>, SesEventError> {
    match tag(tags, tags::STEP) {
        None => Ok(None),
        Some(value) => value
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .map(Some)
            .ok_or(SesEventError::BadTag(tags::STEP)),
    }
}

/// Whether an open was made by a privacy proxy rather than a reader.
fn proxy_open(sent: Timestamp, opened: Timestamp, user_agent: Option<&str>) -> Option<Ignored> {
    if user_agent.map(str::trim) == Some(APPLE_PROXY_USER_AGENT) {
        return Some(Ignored::AppleProxyOpen);
    }
    let window_end = sent.checked_add(PROXY_OPEN_WINDOW).unwrap_or(sent);
    (opened <= window_end).then_some(Ignored::ProxyOpenAtDelivery)
}

/// Reads one SES event (the JSON SES publishes; the `Message` of an SNS notification).
pub fn interpret(message: &str) -> Result<SesOutcome, SesEventError> {
    let event: Event = serde_json::from_str(message).map_err(|e| SesEventError::NotJson {
        category: match e.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated",
        },
        line: e.line(),
        column: e.column(),
    })?;
    let (Some(event_type), Some(mail)) = (event.event_type, event.mail) else {
        return Err(SesEventError::NotSesEvent);
    };
    let shop = id_tag(&mail.tags, tags::SHOP_REF, |s| ShopId::parse(s).ok())?;
    let cart = id_tag(&mail.tags, tags::CART_REF, |s| CartId::parse(s).ok())?;
    let step = step_tag(&mail.tags)?;
    let ignored = |reason| {
        Ok(SesOutcome::Ignored {
            event_type: event_type.clone(),
            reason,
        })
    };
    // The addresses the event is about: a bounce's or complaint's own recipients, else (and
    // for opens and clicks) where the email went.
    let mut named: Vec<String> = Vec::new();
    let (kind, at) = match event_type.as_str() {
        "Open" => {
            let open = event.open.ok_or(SesEventError::Missing("open"))?;
            let at = timestamp(open.timestamp.as_deref(), "open.timestamp")?;
            let sent = timestamp(mail.timestamp.as_deref(), "mail.timestamp")?;
            if let Some(reason) = proxy_open(sent, at, open.user_agent.as_deref()) {
                return ignored(reason);
            }
            (FeedbackKind::Open, at)
        }
        "Click" => {
            let click = event.click.ok_or(SesEventError::Missing("click"))?;
            let at = timestamp(click.timestamp.as_deref(), "click.timestamp")?;
            (FeedbackKind::Click, at)
        }
        "Bounce" => {
            let bounce = event.bounce.ok_or(SesEventError::Missing("bounce"))?;
            match bounce.bounce_type.as_deref() {
                None => return Err(SesEventError::Missing("bounce.bounceType")),
                Some("Permanent") => {}
                Some(_) => return ignored(Ignored::SoftBounce),
            }
            let at = timestamp(bounce.timestamp.as_deref(), "bounce.timestamp")?;
            named.extend(
                bounce
                    .bounced_recipients
                    .into_iter()
                    .filter_map(|r| r.email_address),
            );
            (FeedbackKind::Bounce, at)
        }
        "Complaint" => {
            let complaint = event.complaint.ok_or(SesEventError::Missing("complaint"))?;
            let at = timestamp(complaint.timestamp.as_deref(), "complaint.timestamp")?;
            named.extend(
                complaint
                    .complained_recipients
                    .into_iter()
                    .filter_map(|r| r.email_address),
            );
            (FeedbackKind::Complaint, at)
        }
        _ => return ignored(Ignored::NotTracked),
    };
    let recipient = named
        .iter()
        .chain(&mail.destination)
        .find_map(|to| Email::parse(to).ok())
        .map(|email| email.key());
    Ok(SesOutcome::Feedback(SesFeedback {
        shop,
        cart,
        step,
        kind,
        at,
        recipient,
    }))
}

/// The recipient action in an SES event, if it is one of ours that counts.
pub fn feedback(message: &str) -> Option<SesFeedback> {
    match interpret(message) {
        Ok(SesOutcome::Feedback(feedback)) => Some(feedback),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn proxy_opens_are_recognised() {
        let sent = at("2026-11-02T09:00:00Z");
        let ua = Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)");
        assert_eq!(
            proxy_open(sent, at("2026-11-02T09:00:59Z"), ua),
            Some(Ignored::ProxyOpenAtDelivery)
        );
        assert_eq!(
            proxy_open(sent, at("2026-11-02T09:01:00Z"), ua),
            Some(Ignored::ProxyOpenAtDelivery)
        );
        assert_eq!(proxy_open(sent, at("2026-11-02T09:01:01Z"), ua), None);
        assert_eq!(
            proxy_open(sent, at("2026-11-02T15:00:00Z"), Some("Mozilla/5.0")),
            Some(Ignored::AppleProxyOpen)
        );
        assert_eq!(proxy_open(sent, at("2026-11-02T15:00:00Z"), None), None);
    }

    #[test]
    fn steps_are_one_based_in_tags() {
        let mut tags = HashMap::new();
        assert_eq!(step_tag(&tags), Ok(None));
        tags.insert("step".to_owned(), vec!["3".to_owned()]);
        assert_eq!(step_tag(&tags), Ok(Some(2)));
        tags.insert("step".to_owned(), vec!["0".to_owned()]);
        assert_eq!(step_tag(&tags), Err(SesEventError::BadTag("step")));
        tags.insert("step".to_owned(), vec!["two".to_owned()]);
        assert_eq!(step_tag(&tags), Err(SesEventError::BadTag("step")));
    }
}
