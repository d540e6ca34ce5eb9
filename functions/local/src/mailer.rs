//! An outbox instead of SES.

use std::sync::{Arc, Mutex};

use cartback_core::model::contact::Email;
use cartback_core::model::time::Clock;
use cartback_core::ports::{Mailer, OutgoingEmail, PortError};
use jiff::Timestamp;
use serde::Serialize;

use crate::VirtualClock;
use crate::calls::CallCounts;

/// What SES refuses on an account's behalf, to model its limits in a local run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendLimits {
    /// At most this many sends a second (the account's `MaxSendRate`); SES throttles the
    /// rest (`TooManyRequestsException`).
    pub per_second: Option<u32>,
    /// From the first time up to (not including) the second, every send is refused for the
    /// account's reason (`SendingPausedException`).
    pub outage: Option<(Timestamp, Timestamp)>,
}

/// What the limits did, for the summary of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LimitStats {
    /// Sends SES accepted.
    pub accepted: usize,
    /// Sends refused as over the rate.
    pub throttled: usize,
    /// Sends refused during the outage.
    pub refused_account: usize,
    /// The most sends accepted in one second.
    pub busiest_second: u32,
    /// When the first and the last accepted send were made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_accepted: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accepted: Option<Timestamp>,
}

#[derive(Debug)]
struct Limiter {
    limits: SendLimits,
    clock: VirtualClock,
    second: i64,
    in_second: u32,
    stats: LimitStats,
}

impl Limiter {
    /// Whether SES takes a send now; the refusal it answers otherwise.
    fn admit(&mut self) -> Result<(), PortError> {
        let now = self.clock.now();
        if let Some((from, to)) = self.limits.outage
            && from <= now
            && now < to
        {
            self.stats.refused_account += 1;
            return Err(PortError::account_side(
                "sesv2",
                "SendEmail: SendingPausedException: Email sending is disabled for this account.",
            ));
        }
        let second = now.as_second();
        if second != self.second {
            self.second = second;
            self.in_second = 0;
        }
        if let Some(rate) = self.limits.per_second
            && self.in_second >= rate
        {
            self.stats.throttled += 1;
            return Err(PortError::retryable(
                "sesv2",
                "SendEmail: TooManyRequestsException: Maximum sending rate exceeded.",
            ));
        }
        self.in_second += 1;
        self.stats.accepted += 1;
        self.stats.busiest_second = self.stats.busiest_second.max(self.in_second);
        self.stats.first_accepted.get_or_insert(now);
        self.stats.last_accepted = Some(now);
        Ok(())
    }
}

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
    /// The account's limits, when modelled.
    limiter: Option<Limiter>,
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

    /// From now on, SES refuses what `limits` say, at the times `clock` tells.
    pub fn limit(&self, limits: SendLimits, clock: VirtualClock) {
        if let Ok(mut state) = self.0.lock() {
            state.limiter = Some(Limiter {
                limits,
                clock,
                second: i64::MIN,
                in_second: 0,
                stats: LimitStats::default(),
            });
        }
    }

    /// What the limits did (`None` when none were set).
    pub fn limit_stats(&self) -> Option<LimitStats> {
        self.0
            .lock()
            .ok()
            .and_then(|s| s.limiter.as_ref().map(|l| l.stats.clone()))
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
        if let Some(limiter) = state.limiter.as_mut() {
            limiter.admit()?;
        }
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
