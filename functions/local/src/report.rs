//! What `simulate` prints of a local run: one decision per line, as JSON.

use jiff::Timestamp;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    Sent,
    Skipped,
    Stopped,
    Deferred,
}

/// One decision, as `simulate` prints it (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
    pub kind: ReportKind,
    pub shop: String,
    pub cart: String,
    /// 1-based step number.
    pub step: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The SMS text (SMS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// The variant of a step split into variants (A/B).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// SMS parts (SMS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<usize>,
    /// The offer code the message shows (the step's, or the one drawn from its pool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_code: Option<String>,
    /// `Some(false)` on a `sent` line whose send got no answer (the message may have gone;
    /// it is never sent again); absent when the service confirmed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<bool>,
    /// When a deferred message is due again.
    #[serde(skip_serializing_if = "Option::is_none", with = "rfc3339_opt")]
    pub until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Report {
    /// A decision of `kind` about the cart's step (1-based) at `at`, with no details yet.
    pub fn new(at: Timestamp, kind: ReportKind, shop: &str, cart: &str, step: u32) -> Self {
        Self {
            at,
            kind,
            shop: shop.to_owned(),
            cart: cart.to_owned(),
            step,
            channel: None,
            to: None,
            subject: None,
            text: None,
            template: None,
            sequence: None,
            variant: None,
            message_id: None,
            segments: None,
            offer_code: None,
            confirmed: None,
            until: None,
            reason: None,
        }
    }
}

mod rfc3339_opt {
    use jiff::Timestamp;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(&t.strftime("%Y-%m-%dT%H:%M:%SZ")),
            None => s.serialize_none(),
        }
    }
}

mod rfc3339 {
    use jiff::Timestamp;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    }
}
