//! What was sent, from the services' own records, and how the fault run compares with the
//! reference: duplicates, messages after a purchase or a suppression, and every difference
//! either explained by a recorded fact or reported as unexplained.
//!
//! The rules that explain a difference (each checked against what the runs recorded):
//!
//! - `crash_after_claim`: a step the reference sent is missing, and the fault run's cart
//!   records that step as skipped `crash_after_claim` (at most once, by choice).
//! - `dead_lettered`: a step is missing or different, and the fault run dead-lettered
//!   something of that cart (a webhook Shopify gave up on, a stream record, a Scheduler
//!   delivery, a sender or feedback invocation, an unsubscribe that kept failing).
//! - `stopped_while_delayed`: a step the reference sent (at `t`) is missing; the fault run
//!   recorded a failure for one of the person's carts (a 5xx to a webhook or unsubscribe, a
//!   failed Scheduler delivery, a failed sender or feedback invocation) at or before `t`;
//!   and the fault run's cart stopped for a reason a later event gave (a purchase, a
//!   suppression, a newer cart) whose acceptance came after `t`.
//! - `channel_changed_by_delay`: a step went by the other channel; a failure was recorded
//!   for the person at or before the reference's send, and the person opened or clicked the
//!   previous email (what the channel of step 2 depends on), so the delay moved the decision
//!   to the other side of that engagement.
//! - `sent_before_delayed_stop`: a step only the fault run sent (at `t`); a failure was
//!   recorded for the person at or before `t`, and the reference stopped the cart (so the
//!   event that stopped it there reached the fault run's cart later, or its delivery failed).
//!
//! Never explained: a duplicate, a message after the purchase (of the cart, or of another of
//! the person's carts newer than its last activity) was accepted, an email after a bounce,
//! complaint or unsubscribe was accepted.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, anyhow};
use cartback_core::model::cart::{CartRecord, CartStatus};
use cartback_core::model::ids::log_hash;
use cartback_core::model::reason::SkipReason;
use cartback_core::model::sequence::Channel;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::soak::driver::{Entry, LogEntry, Run, WakeResult};
use crate::soak::history::{Action, History, SesKind};
use crate::soak::world::Outbox;

/// One message as the mail or SMS service recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub cart: usize,
    /// 0-based.
    pub step: u32,
    pub channel: Channel,
    pub at: Timestamp,
    pub message_id: String,
}

/// Every message in `outbox`, by cart and step: an email by its `Message-ID`
/// (`cartback.<hash of shop and cart>.s<step>@…`) and `Date`, an SMS by the cart link it
/// carries (`…/checkouts/<token>/…&utm_content=step-<n>`) and the invocation that sent it.
pub fn sends(outbox: &Outbox, run: &Run, history: &History) -> Result<Vec<Sent>> {
    let by_hash: HashMap<String, usize> = history
        .carts
        .iter()
        .enumerate()
        .map(|(i, c)| (log_hash(&[c.shop, c.token.as_str()]), i))
        .collect();
    let by_token: HashMap<&str, usize> = history
        .carts
        .iter()
        .enumerate()
        .map(|(i, c)| (c.token.as_str(), i))
        .collect();
    let mut sent = Vec::new();
    for (message_id, raw) in &outbox.emails {
        let text = String::from_utf8_lossy(raw);
        let header = |name: &str| {
            text.lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .ok_or_else(|| anyhow!("a sent email without {name}"))
        };
        let id = header("Message-ID")?;
        let inner = id
            .trim_matches(['<', '>'])
            .strip_prefix("cartback.")
            .and_then(|rest| rest.split_once('@'))
            .map(|(local, _)| local)
            .and_then(|local| local.rsplit_once(".s"))
            .ok_or_else(|| anyhow!("not one of our Message-IDs: {id}"))?;
        let cart = *by_hash
            .get(inner.0)
            .ok_or_else(|| anyhow!("an email for an unknown cart: {id}"))?;
        let step: u32 = inner.1.parse().map_err(|_| anyhow!("step in {id}"))?;
        let at = jiff::fmt::rfc2822::parse(&header("Date")?)
            .map_err(|e| anyhow!("Date of {id}: {e}"))?
            .timestamp();
        sent.push(Sent {
            cart,
            step: step.saturating_sub(1),
            channel: Channel::Email,
            at,
            message_id: message_id.clone(),
        });
    }
    let mut unknown_outcomes: HashMap<(usize, u32), Vec<Timestamp>> = HashMap::new();
    let mut by_message: HashMap<&str, Timestamp> = HashMap::new();
    for entry in &run.log {
        if let Entry::Wake { step, result, .. } = &entry.entry {
            match result {
                WakeResult::Sent { message_id, .. } => {
                    by_message.insert(message_id.as_str(), entry.at);
                }
                WakeResult::Failed {
                    kind: "outcome_unknown",
                } => unknown_outcomes
                    .entry((entry.cart, *step))
                    .or_default()
                    .push(entry.at),
                _ => {}
            }
        }
    }
    for (message_id, _, text) in &outbox.sms {
        let token = text
            .split("/checkouts/")
            .nth(1)
            .and_then(|rest| rest.split(['/', '?']).next())
            .ok_or_else(|| anyhow!("an SMS without its cart link"))?;
        let cart = *by_token
            .get(token)
            .ok_or_else(|| anyhow!("an SMS for an unknown cart"))?;
        let step: u32 = text
            .split("utm_content=step-")
            .nth(1)
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow!("an SMS without its step"))?;
        let step = step.saturating_sub(1);
        let at = match by_message.get(message_id.as_str()) {
            Some(at) => *at,
            // Sent, but its answer was lost: the invocation that claimed it sent it.
            None => unknown_outcomes
                .get_mut(&(cart, step))
                .and_then(|times| (!times.is_empty()).then(|| times.remove(0)))
                .ok_or_else(|| anyhow!("an SMS no invocation sent (cart {cart})"))?,
        };
        sent.push(Sent {
            cart,
            step,
            channel: Channel::Sms,
            at,
            message_id: message_id.clone(),
        });
    }
    sent.sort_by_key(|s| (s.at, s.cart, s.step));
    Ok(sent)
}

/// The comparison's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub sends: usize,
    pub reference_sends: usize,
    pub duplicates: Vec<String>,
    pub after_purchase: Vec<String>,
    pub after_suppression: Vec<String>,
    /// Steps the reference sent that the fault run did not, unexplained.
    pub lost: Vec<String>,
    /// Steps only the fault run sent, unexplained.
    pub extra: Vec<String>,
    /// The same step by the other channel, unexplained.
    pub changed: Vec<String>,
    pub explained: BTreeMap<&'static str, u64>,
    /// Steps the fault run's carts record as skipped `crash_after_claim`.
    pub crash_after_claim: u64,
    /// Of those, how many messages had left anyway (the answer was lost, not the send).
    pub crash_after_claim_sent: u64,
    /// Sends of both runs: how much later the fault run's went.
    pub delayed_sends: u64,
    pub max_delay_minutes: i64,
    pub delayed_over_an_hour: u64,
    /// Of those, how many had no recorded failure for the person before the reference's send.
    pub delayed_over_an_hour_unexplained: Vec<String>,
}

/// Facts of a run, by cart.
struct Facts<'a> {
    history: &'a History,
    log_by_cart: HashMap<usize, Vec<&'a LogEntry>>,
    carts_of_person: HashMap<usize, Vec<usize>>,
}

impl<'a> Facts<'a> {
    fn new(history: &'a History, run: &'a Run) -> Self {
        let mut log_by_cart: HashMap<usize, Vec<&LogEntry>> = HashMap::new();
        for entry in &run.log {
            log_by_cart.entry(entry.cart).or_default().push(entry);
        }
        let mut carts_of_person: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, cart) in history.carts.iter().enumerate() {
            carts_of_person.entry(cart.person).or_default().push(i);
        }
        Self {
            history,
            log_by_cart,
            carts_of_person,
        }
    }

    fn log(&self, cart: usize) -> impl Iterator<Item = &&'a LogEntry> {
        self.log_by_cart.get(&cart).into_iter().flatten()
    }

    fn person_carts(&self, cart: usize) -> Vec<usize> {
        let person = self.history.carts[cart].person;
        self.carts_of_person
            .get(&person)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether a failure was recorded for any of the person's carts at or before `t`.
    fn delayed_by(&self, cart: usize, t: Timestamp) -> bool {
        self.person_carts(cart)
            .into_iter()
            .any(|c| self.log(c).any(|e| e.at <= t && e.entry.is_failure()))
    }

    fn dead_lettered(&self, cart: usize) -> bool {
        self.person_carts(cart)
            .into_iter()
            .any(|c| self.log(c).any(|e| e.entry.is_dead_letter()))
            || self.log(usize::MAX).any(|e| e.entry.is_dead_letter())
    }

    /// When cartback accepted the cart's order (the first 200), if it did.
    fn order_accepted(&self, cart: usize) -> Option<(Timestamp, Timestamp)> {
        self.log(cart).find_map(|e| match &e.entry {
            Entry::Webhook {
                topic: "orders/create",
                status: 200,
                stamped,
                ..
            } => Some((e.at, *stamped)),
            _ => None,
        })
    }

    /// The cart's last activity as cartback knew it at `t` (accepted checkouts).
    fn activity_at(&self, cart: usize, t: Timestamp) -> Option<Timestamp> {
        self.log(cart)
            .filter(|e| e.at <= t)
            .filter_map(|e| match &e.entry {
                Entry::Webhook {
                    topic: "checkouts/create" | "checkouts/update",
                    status: 200,
                    stamped,
                    ..
                } => Some(*stamped),
                _ => None,
            })
            .max()
    }

    /// When cartback accepted a suppression of the person's email (bounce, complaint,
    /// unsubscribe), if it did.
    fn email_suppressed(&self, cart: usize) -> Option<Timestamp> {
        self.person_carts(cart)
            .into_iter()
            .flat_map(|c| self.log(c))
            .filter_map(|e| match &e.entry {
                Entry::Ses {
                    kind: SesKind::Bounce | SesKind::Complaint,
                    ok: true,
                    ..
                } => Some(e.at),
                Entry::Unsubscribe { status: 200, .. } => Some(e.at),
                _ => None,
            })
            .min()
    }

    /// Whether a purchase known at `t` forbids a message for `cart` then: its own order,
    /// or another of the person's orders at or after the cart's last activity.
    fn purchase_known(&self, cart: usize, t: Timestamp) -> Option<String> {
        if let Some((accepted, _)) = self.order_accepted(cart)
            && accepted <= t
        {
            return Some(format!("its order was accepted at {accepted}"));
        }
        let activity = self.activity_at(cart, t)?;
        self.person_carts(cart)
            .into_iter()
            .filter(|c| *c != cart)
            .find_map(|c| {
                let (accepted, stamped) = self.order_accepted(c)?;
                (accepted <= t && stamped >= activity)
                    .then(|| format!("the person's order of cart {c} was accepted at {accepted}"))
            })
    }

    /// When an event that stops `cart` was accepted: its purchase, the person's other
    /// purchase, a suppression, or a newer cart of the person.
    fn stops_accepted(&self, cart: usize) -> Vec<Timestamp> {
        let mut times: Vec<Timestamp> = self
            .person_carts(cart)
            .into_iter()
            .flat_map(|c| self.log(c))
            .filter_map(|e| match &e.entry {
                Entry::Webhook { status: 200, .. } => Some(e.at),
                Entry::Ses { ok: true, .. } => Some(e.at),
                Entry::Unsubscribe { status: 200, .. } => Some(e.at),
                _ => None,
            })
            .collect();
        times.sort();
        times
    }

    /// What happened to the cart in the run, for a failure message.
    fn story(&self, cart: usize) -> String {
        self.log(cart)
            .map(|e| format!("{} {:?}", e.at, e.entry))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn engaged_with_step_one(&self, cart: usize) -> bool {
        self.history.events.iter().any(|e| {
            e.cart == cart
                && matches!(
                    e.action,
                    Action::Ses {
                        kind: SesKind::Open | SesKind::Click,
                        step: 1
                    }
                )
        })
    }
}

fn stopped(record: Option<&CartRecord>) -> bool {
    record.is_some_and(|r| {
        r.status == CartStatus::Converted
            || r.stop_reason.is_some_and(|reason| {
                !matches!(
                    reason,
                    cartback_core::rules::decide::StopReason::SequenceComplete
                        | cartback_core::rules::decide::StopReason::Holdout
                )
            })
    })
}

fn bump(counts: &mut BTreeMap<&'static str, u64>, class: &'static str) {
    *counts.entry(class).or_insert(0) += 1;
}

fn key_of(history: &History, cart: usize) -> (String, String) {
    let c = &history.carts[cart];
    (c.shop.to_owned(), c.token.clone())
}

/// Compares the fault run's sends with the reference's.
#[allow(clippy::too_many_arguments)]
pub fn compare(
    history: &History,
    fault_run: &Run,
    fault_sends: &[Sent],
    fault_carts: &HashMap<(String, String), CartRecord>,
    reference_sends: &[Sent],
    reference_carts: &HashMap<(String, String), CartRecord>,
) -> Verdict {
    let facts = Facts::new(history, fault_run);
    let mut verdict = Verdict {
        sends: fault_sends.len(),
        reference_sends: reference_sends.len(),
        ..Verdict::default()
    };
    let mut fault: BTreeMap<(usize, u32), Vec<&Sent>> = BTreeMap::new();
    for sent in fault_sends {
        fault.entry((sent.cart, sent.step)).or_default().push(sent);
    }
    let reference: BTreeMap<(usize, u32), &Sent> = reference_sends
        .iter()
        .map(|s| ((s.cart, s.step), s))
        .collect();
    let describe = |s: &Sent| {
        format!(
            "cart {} ({}) step {} by {} at {}",
            s.cart,
            log_hash(&[
                history.carts[s.cart].shop,
                history.carts[s.cart].token.as_str()
            ]),
            s.step + 1,
            s.channel.as_str(),
            s.at
        )
    };
    let mut explained_counts: BTreeMap<&'static str, u64> = BTreeMap::new();

    // Never a duplicate, never after a purchase or a suppression cartback had accepted.
    for ((_, _), sends) in &fault {
        if sends.len() > 1 {
            verdict.duplicates.push(
                sends
                    .iter()
                    .map(|s| describe(s))
                    .collect::<Vec<_>>()
                    .join(" and "),
            );
        }
        for sent in sends {
            if let Some(why) = facts.purchase_known(sent.cart, sent.at) {
                verdict
                    .after_purchase
                    .push(format!("{}: {why}", describe(sent)));
            }
            if sent.channel == Channel::Email
                && let Some(at) = facts.email_suppressed(sent.cart)
                && at <= sent.at
            {
                verdict
                    .after_suppression
                    .push(format!("{}: email suppressed at {at}", describe(sent)));
            }
        }
    }

    // Crash after claim: what the fault run's carts record, and whether the message left.
    for (i, cart) in history.carts.iter().enumerate() {
        let Some(record) = fault_carts.get(&(cart.shop.to_owned(), cart.token.clone())) else {
            continue;
        };
        for done in &record.sent {
            if done.skipped == Some(SkipReason::CrashAfterClaim) {
                verdict.crash_after_claim += 1;
                if fault.contains_key(&(i, done.step)) {
                    verdict.crash_after_claim_sent += 1;
                } else if std::env::var_os("CARTBACK_SOAK_TRACE").is_some() {
                    eprintln!(
                        "crash_after_claim without a message: cart {i} step {}: {}",
                        done.step + 1,
                        facts.story(i)
                    );
                }
            }
        }
    }

    for (key, expected) in &reference {
        let (cart, step) = *key;
        let fault_record = fault_carts.get(&key_of(history, cart));
        match fault.get(key) {
            Some(got) => {
                let got = got[0];
                if got.channel != expected.channel {
                    if facts.dead_lettered(cart) {
                        bump(&mut explained_counts, "dead_lettered");
                    } else if facts.delayed_by(cart, expected.at)
                        && facts.engaged_with_step_one(cart)
                    {
                        bump(&mut explained_counts, "channel_changed_by_delay");
                    } else {
                        verdict.changed.push(format!(
                            "{} (the reference sent it by {} at {})",
                            describe(got),
                            expected.channel.as_str(),
                            expected.at
                        ));
                    }
                }
                let delay = got.at.duration_since(expected.at);
                if delay > SignedDuration::ZERO {
                    verdict.delayed_sends += 1;
                    verdict.max_delay_minutes = verdict.max_delay_minutes.max(delay.as_mins());
                    if delay > SignedDuration::from_hours(1) {
                        verdict.delayed_over_an_hour += 1;
                        if !facts.delayed_by(cart, expected.at) && !facts.dead_lettered(cart) {
                            verdict.delayed_over_an_hour_unexplained.push(format!(
                                "{} ({} min after the reference)",
                                describe(got),
                                delay.as_mins()
                            ));
                        }
                    }
                }
            }
            None => {
                let crashed = fault_record.is_some_and(|r| {
                    r.sent
                        .iter()
                        .any(|d| d.step == step && d.skipped == Some(SkipReason::CrashAfterClaim))
                });
                if crashed {
                    bump(&mut explained_counts, "crash_after_claim");
                } else if facts.dead_lettered(cart) {
                    bump(&mut explained_counts, "dead_lettered");
                } else if facts.delayed_by(cart, expected.at)
                    && stopped(fault_record)
                    && facts
                        .stops_accepted(cart)
                        .iter()
                        .any(|stop| *stop > expected.at)
                {
                    bump(&mut explained_counts, "stopped_while_delayed");
                } else {
                    verdict.lost.push(format!(
                        "{} (the fault run's story: {}; its cart: {})",
                        describe(expected),
                        facts.story(cart),
                        fault_record.map_or_else(
                            || "not stored".to_owned(),
                            |r| format!(
                                "{:?}, stop {:?}, next step {}, sent {:?}",
                                r.status,
                                r.stop_reason,
                                r.next_step + 1,
                                r.sent
                                    .iter()
                                    .map(|d| (
                                        d.step + 1,
                                        d.channel.as_str(),
                                        d.skipped.map(|r| r.as_str().to_owned())
                                    ))
                                    .collect::<Vec<_>>()
                            )
                        )
                    ));
                }
            }
        }
    }
    for (key, sends) in &fault {
        if reference.contains_key(key) {
            continue;
        }
        let sent = sends[0];
        let reference_record = reference_carts.get(&key_of(history, sent.cart));
        if facts.dead_lettered(sent.cart) {
            bump(&mut explained_counts, "dead_lettered");
        } else if facts.delayed_by(sent.cart, sent.at) && stopped(reference_record) {
            bump(&mut explained_counts, "sent_before_delayed_stop");
        } else {
            verdict.extra.push(format!(
                "{} (the fault run's story: {}; the reference's cart: {})",
                describe(sent),
                facts.story(sent.cart),
                reference_record.map_or_else(
                    || "not stored".to_owned(),
                    |r| format!("{:?}, stop {:?}", r.status, r.stop_reason)
                )
            ));
        }
    }
    verdict.explained = explained_counts;
    verdict
}
