//! An outbox instead of SES.

use std::sync::{Arc, Mutex};

use cartback_core::model::contact::Email;
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

#[derive(Debug, Default)]
struct State {
    outbox: Vec<SentEmail>,
    sent: usize,
    /// Sends are only counted, not kept (long simulations: no copy of every message).
    forget: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryMailer(Arc<Mutex<State>>, CallCounts);

impl MemoryMailer {
    /// An outbox that counts the SES calls the real adapter would make.
    pub fn counting(calls: CallCounts) -> Self {
        Self(Arc::default(), calls)
    }

    pub fn outbox(&self) -> Vec<SentEmail> {
        self.0.lock().map(|s| s.outbox.clone()).unwrap_or_default()
    }

    /// How many messages were sent (kept or not).
    pub fn sent_count(&self) -> usize {
        self.0.lock().map(|s| s.sent).unwrap_or_default()
    }

    /// From now on, messages are counted (and get ids) but not kept in the outbox.
    pub fn forget_messages(&self) {
        if let Ok(mut state) = self.0.lock() {
            state.forget = true;
        }
    }
}

impl Mailer for MemoryMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, PortError> {
        self.1.count("sesv2", "SendEmail");
        let mut state = self
            .0
            .lock()
            .map_err(|_| PortError::permanent("outbox", "lock poisoned"))?;
        state.sent += 1;
        let message_id = format!("local-{:06}", state.sent);
        if state.forget {
            return Ok(message_id);
        }
        state.outbox.push(SentEmail {
            message_id: message_id.clone(),
            to: email.to.clone(),
            from: email.from.clone(),
            raw: email.raw.clone(),
            tags: email.tags.clone(),
        });
        Ok(message_id)
    }
}
