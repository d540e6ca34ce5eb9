//! A shop's settings (the table's CONFIG item) and its webhook secret.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::contact::Email;
use crate::ids::ShopId;
use crate::sequence::{Sequence, SequenceError};

/// A webhook signing secret. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// How webhooks for a shop are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verify every webhook against this secret.
    Required(Secret),
    /// Only for local simulation on trusted input files: accept unsigned webhooks.
    Skipped,
}

/// What a shop configures, as stored in its CONFIG item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSettings {
    pub name: String,
    pub from_address: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<Url>,
    #[serde(default = "default_accent")]
    pub accent_color: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    /// A sequence file's contents; the default sequence when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_toml: Option<String>,
}

fn default_accent() -> String {
    "#0f766e".to_owned()
}

impl ShopSettings {
    /// Defaults for a shop known only by its id (local simulation).
    pub fn defaults_for(id: &ShopId) -> Self {
        let name = id
            .as_str()
            .split('.')
            .next()
            .unwrap_or(id.as_str())
            .replace(['-', '_'], " ");
        let from_address = Email::parse(&format!("shop@{}", local_domain(id)))
            .or_else(|_| Email::parse("shop@example.com"))
            .expect("a literal valid address parses");
        Self {
            name,
            from_address,
            from_name: None,
            support_email: None,
            logo_url: None,
            accent_color: default_accent(),
            signature: None,
            url: None,
            sequence_toml: None,
        }
    }

    pub fn sequence(&self, shop: &ShopId) -> Result<Sequence, SequenceError> {
        match &self.sequence_toml {
            Some(source) => Sequence::parse(&format!("shop {shop} CONFIG sequence_toml"), source),
            None => Ok(Sequence::default_sequence()),
        }
    }
}

fn local_domain(id: &ShopId) -> String {
    if id.as_str().contains('.') {
        id.as_str().to_owned()
    } else {
        format!("{}.example.com", id.as_str())
    }
}

/// A shop ready to serve: its settings and its parsed sequence.
#[derive(Debug, Clone)]
pub struct Shop {
    pub id: ShopId,
    pub settings: ShopSettings,
    pub sequence: Sequence,
}

impl Shop {
    pub fn new(id: ShopId, settings: ShopSettings) -> Result<Self, SequenceError> {
        let sequence = settings.sequence(&id)?;
        Ok(Self {
            id,
            settings,
            sequence,
        })
    }
}
