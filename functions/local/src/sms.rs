//! SMS in memory: an outbox and an opt-out list (numbers ending in 99 are opted out, like
//! moto's `CheckIfPhoneNumberIsOptedOut`, so local runs can exercise the path).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use cartback_core::model::contact::Phone;
use cartback_core::ports::{OutgoingSms, PortError, SmsSender};

use crate::calls::CallCounts;

#[derive(Debug, Clone)]
pub struct SentSms {
    pub message_id: String,
    pub to: Phone,
    pub text: String,
    pub sender_id: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    outbox: Vec<SentSms>,
    sent: usize,
    /// Sends are only counted, not kept (long simulations: no copy of every message).
    forget: bool,
    opted_out: HashSet<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MemorySms(Arc<Mutex<State>>, CallCounts);

impl MemorySms {
    /// SMS that counts the SNS calls the real adapter would make.
    pub fn counting(calls: CallCounts) -> Self {
        Self(Arc::default(), calls)
    }

    pub fn outbox(&self) -> Vec<SentSms> {
        self.0.lock().map(|s| s.outbox.clone()).unwrap_or_default()
    }

    /// How many SMS were sent (kept or not).
    pub fn sent_count(&self) -> usize {
        self.0.lock().map(|s| s.sent).unwrap_or_default()
    }

    /// From now on, SMS are counted (and get ids) but not kept in the outbox.
    pub fn forget_messages(&self) {
        if let Ok(mut state) = self.0.lock() {
            state.forget = true;
        }
    }

    /// The number replied STOP.
    pub fn opt_out(&self, phone: &Phone) {
        if let Ok(mut state) = self.0.lock() {
            state.opted_out.insert(phone.as_str().to_owned());
        }
    }
}

impl SmsSender for MemorySms {
    async fn send_sms(&self, sms: &OutgoingSms) -> Result<String, PortError> {
        self.1.count("sns", "Publish");
        let mut state = self
            .0
            .lock()
            .map_err(|_| PortError::permanent("sms", "lock poisoned"))?;
        state.sent += 1;
        let message_id = format!("local-sms-{:06}", state.sent);
        if state.forget {
            return Ok(message_id);
        }
        state.outbox.push(SentSms {
            message_id: message_id.clone(),
            to: sms.to.clone(),
            text: sms.text.clone(),
            sender_id: sms.sender_id.clone(),
        });
        Ok(message_id)
    }

    async fn is_opted_out(&self, phone: &Phone) -> Result<bool, PortError> {
        self.1.count("sns", "CheckIfPhoneNumberIsOptedOut");
        let state = self
            .0
            .lock()
            .map_err(|_| PortError::permanent("sms", "lock poisoned"))?;
        Ok(state.opted_out.contains(phone.as_str()) || phone.as_str().ends_with("99"))
    }
}
