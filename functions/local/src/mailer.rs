//! An outbox instead of SES.

use std::sync::{Arc, Mutex};

use cartback_core::contact::Email;
use cartback_core::ports::{Mailer, OutgoingEmail, PortError};

use crate::calls::CallCounts;

#[derive(Debug, Clone)]
pub struct SentEmail {
    pub message_id: String,
    pub to: Email,
    pub from: Email,
    pub raw: Vec<u8>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryMailer(Arc<Mutex<Vec<SentEmail>>>, CallCounts);

impl MemoryMailer {
    /// An outbox that counts the SES calls the real adapter would make.
    pub fn counting(calls: CallCounts) -> Self {
        Self(Arc::default(), calls)
    }

    pub fn outbox(&self) -> Vec<SentEmail> {
        self.0.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

impl Mailer for MemoryMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, PortError> {
        self.1.count("sesv2", "SendEmail");
        let mut outbox = self
            .0
            .lock()
            .map_err(|_| PortError::permanent("outbox", "lock poisoned"))?;
        let message_id = format!("local-{:06}", outbox.len() + 1);
        outbox.push(SentEmail {
            message_id: message_id.clone(),
            to: email.to.clone(),
            from: email.from.clone(),
            raw: email.raw.clone(),
            tags: email.tags.clone(),
        });
        Ok(message_id)
    }
}
