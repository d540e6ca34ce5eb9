//! Ways to reach a person, parsed once: email addresses and E.164 phone numbers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::ids::ContactKey;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("not a valid email address")]
    Email,
    #[error("not a valid phone number")]
    Phone,
}

/// A syntactically valid email address, normalised to lower case (never logged).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let trimmed = raw.trim();
        // A bare address with a top-level domain: "Ada <ada@example.com>" or "a@localhost"
        // are valid RFC 5322 but never what a checkout's email field should hold.
        if trimmed.contains(['<', '>']) || trimmed.contains(char::is_whitespace) {
            return Err(ContactError::Email);
        }
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        email_address::EmailAddress::parse_with_options(trimmed, options)
            .map_err(|_| ContactError::Email)?;
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> ContactKey {
        ContactKey::of(&format!("email:{}", self.0))
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email(#{})", &self.key().as_str()[..12])
    }
}

impl TryFrom<String> for Email {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

/// A phone number in E.164 form (`+358401234567`); never logged.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Parses a number written with a country code; national numbers need a region hint.
    pub fn parse(raw: &str, region_hint: Option<&str>) -> Result<Self, ContactError> {
        let region = region_hint
            .and_then(|r| phonenumber::country::Id::from_str(&r.to_ascii_uppercase()).ok());
        let number = phonenumber::parse(region, raw.trim()).map_err(|_| ContactError::Phone)?;
        if !phonenumber::is_valid(&number) {
            return Err(ContactError::Phone);
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> ContactKey {
        ContactKey::of(&format!("phone:{}", self.0))
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone(#{})", &self.key().as_str()[..12])
    }
}

impl TryFrom<String> for Phone {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value, None)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        let e = Email::parse("  Ada@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ada@example.com");
        assert_eq!(e.key(), Email::parse("ada@example.com").unwrap().key());
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("a@localhost").is_err());
        assert!(Email::parse("").is_err());
        assert!(Email::parse("Ada <ada@example.com>").is_err());
        assert!(Email::parse("ada@[127.0.0.1]").is_err());
    }

    #[test]
    fn debug_never_shows_the_address() {
        let e = Email::parse("ada@example.com").unwrap();
        assert!(!format!("{e:?}").contains("ada"));
        let p = Phone::parse("+358 40 1234567", None).unwrap();
        assert!(!format!("{p:?}").contains("1234567"));
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            Phone::parse("+358 40 123 4567", None).unwrap().as_str(),
            "+358401234567"
        );
        assert_eq!(
            Phone::parse("040 123 4567", Some("fi")).unwrap().as_str(),
            "+358401234567"
        );
        assert!(Phone::parse("12", None).is_err());
        assert!(Phone::parse("040 123 4567", None).is_err());
    }

    #[test]
    fn email_and_phone_keys_differ() {
        let e = Email::parse("ada@example.com").unwrap();
        let p = Phone::parse("+358401234567", None).unwrap();
        assert_ne!(e.key(), p.key());
        assert_eq!(e.key().as_str().len(), 64);
    }
}
