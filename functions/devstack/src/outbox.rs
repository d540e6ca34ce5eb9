//! What SES and SNS accepted, read from moto's state (`/moto-api/data.json`).

use serde_json::Value;

use crate::{DevStackError, Result};

/// One email as moto recorded it (`ses` → `RawMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    /// SES's message id (what the cart records for the step).
    pub message_id: String,
    pub source: String,
    pub destinations: Vec<String>,
    /// The whole MIME message.
    pub raw: String,
}

/// An email taken apart as a mail client would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Every header, in order, as written (unfolded).
    pub headers: Vec<(String, String)>,
}

impl SentMail {
    /// The decoded parts: (subject, text body, HTML body).
    pub fn decoded(&self) -> Result<(String, String, String)> {
        let parsed = self.parsed()?;
        Ok((parsed.subject, parsed.text, parsed.html))
    }

    /// Subject, text and HTML parts, and the headers.
    pub fn parsed(&self) -> Result<ParsedMail> {
        let message = mail_parser::MessageParser::default()
            .parse(self.raw.as_bytes())
            .ok_or_else(|| DevStackError::Data("a sent message is not MIME".into()))?;
        let raw = message.raw_message();
        let headers = message
            .headers()
            .iter()
            .map(|header| {
                let value = raw
                    .get(header.offset_start() as usize..header.offset_end() as usize)
                    .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                    .unwrap_or_default();
                let unfolded = value.split_whitespace().collect::<Vec<_>>().join(" ");
                (header.name().to_owned(), unfolded)
            })
            .collect();
        Ok(ParsedMail {
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message.body_text(0).unwrap_or_default().into_owned(),
            html: message.body_html(0).unwrap_or_default().into_owned(),
            headers,
        })
    }
}

/// One SMS as SNS published it, read back from moto (`sns` → `SMS`); what the in-memory SMS
/// port keeps is `cartback_local::SentSms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedSms {
    pub phone_number: String,
    pub message: String,
    pub message_id: String,
}

/// Every email SES accepted, from moto's state.
pub fn sent_emails(data: &Value) -> Vec<SentMail> {
    let mut mails = Vec::new();
    if let Some(ses) = data.get("ses") {
        collect_mails(ses, &mut mails);
    }
    mails
}

/// Every SMS SNS accepted, from moto's state.
pub fn sent_sms(data: &Value) -> Vec<PublishedSms> {
    let mut sms = Vec::new();
    if let Some(sns) = data.get("sns") {
        collect_sms(sns, &mut sms);
    }
    sms
}

/// moto 5 keeps published SMS as `{"sns": {"SMS": [{"phone_number", "message",
/// "message_id"}]}}`; any object with those keys is one, wherever moto nests it.
fn collect_sms(value: &Value, found: &mut Vec<PublishedSms>) {
    match value {
        Value::Object(map) => {
            let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
            if let (Some(phone_number), Some(message)) = (text("phone_number"), text("message")) {
                found.push(PublishedSms {
                    phone_number,
                    message,
                    message_id: text("message_id").unwrap_or_default(),
                });
                return;
            }
            map.values().for_each(|v| collect_sms(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_sms(v, found)),
        _ => {}
    }
}

/// moto 5 keeps raw sends as `{"ses": {"RawMessage": [{"id", "source", "destinations",
/// "raw_data"}]}}`.
fn collect_mails(value: &Value, mails: &mut Vec<SentMail>) {
    match value {
        Value::Object(map) => {
            if let Some(raw) = map.get("raw_data").and_then(Value::as_str) {
                let text = |key: &str| {
                    map.get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                // moto lists the envelope recipient and the To header both.
                let mut destinations: Vec<String> = map
                    .get("destinations")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                destinations.dedup();
                mails.push(SentMail {
                    message_id: text("id"),
                    source: text("source"),
                    destinations,
                    raw: raw.to_owned(),
                });
                return;
            }
            map.values().for_each(|v| collect_mails(v, mails));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_mails(v, mails)),
        _ => {}
    }
}
