//! `simulate --faults`: what a fault-injected run must still guarantee, checked against a
//! run of the same input without faults.
//!
//! A message is identified by (shop, cart, step, channel). What the faulty run delivered is
//! every `sent` decision plus every message that left in a sender invocation that then failed
//! (the send's answer was lost, or recording it failed). The invariants:
//! - **no duplicate**: no message delivered twice;
//! - **nothing after purchase**: no message delivered after the cart's conversion was
//!   accepted;
//! - **nothing lost**: every message of the fault-free run was delivered, except
//!   - a step recorded as skipped `crash_after_claim` (at most once, by choice), and
//!   - a step a fault pushed past the end of its cart: a fault delayed something of that
//!     cart at or before the fault-free send, and the faulty run then recorded the cart as
//!     stopped or the step as skipped (e.g. a retried reminder that now meets the purchase);
//! - **nothing extra** except a message of a cart a fault delayed before it went (e.g. a
//!   conversion held back past a reminder, as a platform's late delivery would be);
//! - a step sent by the other channel than without faults counts as **rerouted** when a fault
//!   delayed its cart first (step 1 ended as `crash_after_claim`, so an "SMS if the email was
//!   not opened" step chose SMS);
//! - **nothing hidden**: the outboxes hold exactly the messages counted above.

use std::collections::{BTreeMap, HashMap, HashSet};

use cartback_local::{Faults, Report, ReportKind, Unconfirmed};
use jiff::Timestamp;
use serde::Serialize;

/// (shop, cart, 1-based step, channel)
type MessageKey = (String, String, u32, String);

/// The figures of a fault-injected run and whether the invariants held.
#[derive(Debug, Clone, Serialize)]
pub struct FaultSummary {
    pub seed: u64,
    pub rate: f64,
    pub carts: usize,
    /// Faults injected, by class.
    pub faults: BTreeMap<String, u64>,
    pub faults_total: u64,
    /// Retries the faults caused, by path (`sdk`, `sender`, `planner`,
    /// `webhook_redelivery`, `feedback`).
    pub retries: BTreeMap<&'static str, u64>,
    /// Messages the fault-free run sent.
    pub reference_sent: usize,
    /// Messages the faulty run delivered (sent, plus sent with a lost answer).
    pub delivered: usize,
    /// Of those, sent in an invocation that failed (counted from the outboxes).
    pub unconfirmed: usize,
    pub duplicates: usize,
    pub after_purchase: usize,
    pub lost: usize,
    /// Steps recorded as skipped `crash_after_claim`.
    pub crash_after_claim: usize,
    /// Fault-free messages the faulty run rightly did not send (see the module docs).
    pub explained_missing: usize,
    /// Messages only the faulty run sent, of carts a fault delayed first.
    pub explained_extra: usize,
    /// Steps sent by the other channel than without faults, of carts a fault delayed first.
    pub rerouted: usize,
    /// Messages only the faulty run sent, with no fault to explain them.
    pub unexplained_extra: usize,
    /// Wake-ups whose retries ran out (in the dead-letter queue on AWS).
    pub dead_lettered: usize,
    /// Messages in the outboxes that no decision accounts for.
    pub hidden: usize,
    pub invariants_hold: bool,
    /// The first few violations, for the person reading the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
}

/// What the checker needs from the faulty run.
pub struct FaultyRun<'a> {
    pub reports: &'a [Report],
    pub unconfirmed: &'a [Unconfirmed],
    /// When each cart's conversion was accepted: (shop, cart) → time.
    pub converted: &'a HashMap<(String, String), Timestamp>,
    pub faults: &'a Faults,
    /// Steps the table records as skipped `crash_after_claim`: (shop, cart, 1-based step).
    /// Usually also a decision; not when the answer to the skip's own write was lost (the
    /// retry then finds the step done and reports nothing).
    pub crashed: &'a HashSet<(String, String, u32)>,
    /// The person behind each cart ((shop, cart) → an opaque key): a fault on one of a
    /// person's carts can change what another gets (the frequency cap, a purchase).
    pub people: &'a HashMap<(String, String), String>,
    /// Messages in the mail and SMS outboxes.
    pub outbox: usize,
    pub carts: usize,
}

const SHOWN_VIOLATIONS: usize = 10;

fn key(report: &Report) -> Option<MessageKey> {
    Some((
        report.shop.clone(),
        report.cart.clone(),
        report.step,
        report.channel?.to_owned(),
    ))
}

/// Checks the faulty run against the fault-free `reference` decisions.
pub fn check(reference: &[Report], run: &FaultyRun<'_>, seed: u64, rate: f64) -> FaultSummary {
    let sent_at = |reports: &[Report]| -> Vec<(MessageKey, Timestamp)> {
        reports
            .iter()
            .filter(|r| r.kind == ReportKind::Sent)
            .filter_map(|r| key(r).map(|k| (k, r.at)))
            .collect()
    };
    let expected: HashMap<MessageKey, Timestamp> = sent_at(reference).into_iter().collect();
    let mut delivered: Vec<(MessageKey, Timestamp)> = sent_at(run.reports);
    delivered.extend(run.unconfirmed.iter().map(|u| {
        (
            (u.shop.clone(), u.cart.clone(), u.step, u.channel.to_owned()),
            u.at,
        )
    }));
    let mut violations = Vec::new();
    let mut note = |violation: String| {
        if violations.len() < SHOWN_VIOLATIONS {
            violations.push(violation);
        }
    };

    let mut copies: HashMap<&MessageKey, usize> = HashMap::new();
    for (key, _) in &delivered {
        *copies.entry(key).or_default() += 1;
    }
    let mut duplicates = 0;
    let mut repeated: Vec<(&&MessageKey, &usize)> = copies.iter().collect();
    repeated.sort();
    for (key, count) in repeated {
        if *count > 1 {
            duplicates += count - 1;
            note(format!("duplicate: {key:?} delivered {count} times"));
        }
    }

    let mut after_purchase = 0;
    for ((shop, cart, step, channel), at) in &delivered {
        if let Some(converted) = run.converted.get(&(shop.clone(), cart.clone()))
            && at > converted
        {
            after_purchase += 1;
            note(format!(
                "after purchase: {shop}/{cart} step {step} {channel} at {at}, bought at {converted}"
            ));
        }
    }

    let ended = |shop: &str, cart: &str, from: Timestamp| {
        run.reports.iter().any(|r| {
            r.shop == shop
                && r.cart == cart
                && r.at >= from
                && matches!(r.kind, ReportKind::Stopped | ReportKind::Skipped)
        })
    };
    let skipped_for = |(shop, cart, step, _): &MessageKey, reason: &str| {
        run.reports.iter().any(|r| {
            r.kind == ReportKind::Skipped
                && r.shop == *shop
                && r.cart == *cart
                && r.step == *step
                && r.reason
                    .as_deref()
                    .is_some_and(|why| why.starts_with(reason))
        })
    };
    let (mut lost, mut crash_after_claim, mut explained_missing, mut dead_lettered) = (0, 0, 0, 0);
    // The first fault on any of a person's carts.
    let mut person_delay: HashMap<&String, Timestamp> = HashMap::new();
    for ((shop, cart), person) in run.people {
        if let Some(delayed) = run.faults.first_delay(shop, cart) {
            let first = person_delay.entry(person).or_insert(delayed);
            *first = (*first).min(delayed);
        }
    }
    let first_delay = |shop: &str, cart: &str| {
        let own = run.faults.first_delay(shop, cart);
        let person = run
            .people
            .get(&(shop.to_owned(), cart.to_owned()))
            .and_then(|person| person_delay.get(person).copied());
        own.into_iter().chain(person).min()
    };
    let delayed_by =
        |shop: &str, cart: &str, at: Timestamp| first_delay(shop, cart).is_some_and(|d| d <= at);
    // A step that went by the other channel: a fault changed what the sender knew (a step
    // before it ended as crash_after_claim, so "email not opened" chose SMS).
    let step_of = |(shop, cart, step, _): &MessageKey| (shop.clone(), cart.clone(), *step);
    let delivered_steps: HashMap<(String, String, u32), Timestamp> = delivered
        .iter()
        .map(|(key, at)| (step_of(key), *at))
        .collect();
    let mut rerouted_steps = HashSet::new();
    let mut missing: Vec<(&MessageKey, &Timestamp)> = Vec::new();
    for (key, at) in &expected {
        if copies.contains_key(key) {
            continue;
        }
        match delivered_steps.get(&step_of(key)) {
            Some(other) if delayed_by(&key.0, &key.1, (*at).min(*other)) => {
                rerouted_steps.insert(step_of(key));
            }
            _ => missing.push((key, at)),
        }
    }
    let rerouted = rerouted_steps.len();
    missing.sort();
    for (key, at) in missing {
        let (shop, cart, step, channel) = key;
        if skipped_for(key, "crash_after_claim")
            || run.crashed.contains(&(shop.clone(), cart.clone(), *step))
        {
            crash_after_claim += 1;
        } else if skipped_for(key, "dead_lettered") {
            dead_lettered += 1;
            note(format!(
                "dead-lettered: {shop}/{cart} step {step} {channel}"
            ));
        } else if first_delay(shop, cart)
            .is_some_and(|delayed| delayed <= *at && ended(shop, cart, delayed))
        {
            explained_missing += 1;
        } else {
            lost += 1;
            note(format!(
                "lost: {shop}/{cart} step {step} {channel} (sent at {at} without faults)"
            ));
        }
    }

    let (mut explained_extra, mut unexplained_extra) = (0, 0);
    let mut extra: Vec<&(MessageKey, Timestamp)> = delivered
        .iter()
        .filter(|(key, _)| !expected.contains_key(key) && !rerouted_steps.contains(&step_of(key)))
        .collect();
    extra.sort();
    for ((shop, cart, step, channel), at) in extra {
        if delayed_by(shop, cart, *at) {
            explained_extra += 1;
        } else {
            unexplained_extra += 1;
            note(format!(
                "extra: {shop}/{cart} step {step} {channel} at {at}, not sent without faults"
            ));
        }
    }

    let hidden = run.outbox.abs_diff(delivered.len());
    if hidden > 0 {
        note(format!(
            "hidden: the outboxes hold {} messages, the decisions account for {}",
            run.outbox,
            delivered.len()
        ));
    }
    let faults = run.faults.injected();
    FaultSummary {
        seed,
        rate,
        carts: run.carts,
        faults_total: faults.values().sum(),
        faults,
        retries: run.faults.retries(),
        reference_sent: expected.len(),
        delivered: delivered.len(),
        unconfirmed: run.unconfirmed.len(),
        duplicates,
        after_purchase,
        lost,
        crash_after_claim,
        explained_missing,
        explained_extra,
        rerouted,
        unexplained_extra,
        dead_lettered,
        hidden,
        invariants_hold: duplicates == 0
            && after_purchase == 0
            && lost == 0
            && unexplained_extra == 0
            && dead_lettered == 0
            && hidden == 0,
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cartback_local::{FaultPlan, VirtualClock};

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    fn report(kind: ReportKind, cart: &str, step: u32, at: &str) -> Report {
        Report {
            channel: Some("email"),
            ..Report::new(ts(at), kind, "shop", cart, step)
        }
    }

    fn skipped(cart: &str, step: u32, at: &str, reason: &str) -> Report {
        Report {
            reason: Some(reason.into()),
            ..report(ReportKind::Skipped, cart, step, at)
        }
    }

    fn sent(cart: &str, step: u32, at: &str) -> Report {
        report(ReportKind::Sent, cart, step, at)
    }

    fn summary(reference: &[Report], faulty: &[Report], faults: &Faults) -> FaultSummary {
        summary_with(reference, faulty, faults, &HashMap::new())
    }

    fn summary_with(
        reference: &[Report],
        faulty: &[Report],
        faults: &Faults,
        converted: &HashMap<(String, String), Timestamp>,
    ) -> FaultSummary {
        let outbox = faulty.iter().filter(|r| r.kind == ReportKind::Sent).count();
        check(
            reference,
            &FaultyRun {
                reports: faulty,
                unconfirmed: &[],
                converted,
                faults,
                crashed: &HashSet::new(),
                people: &HashMap::new(),
                outbox,
                carts: 2,
            },
            1,
            0.1,
        )
    }

    #[test]
    fn the_same_sends_hold() {
        let both = [sent("a", 1, "2026-11-02T09:00:00Z")];
        let s = summary(&both, &both, &Faults::none());
        assert!(s.invariants_hold, "{s:?}");
    }

    #[test]
    fn a_second_copy_is_a_duplicate() {
        let reference = [sent("a", 1, "2026-11-02T09:00:00Z")];
        let faulty = [
            sent("a", 1, "2026-11-02T09:00:00Z"),
            sent("a", 1, "2026-11-02T09:01:00Z"),
        ];
        let s = summary(&reference, &faulty, &Faults::none());
        assert_eq!(s.duplicates, 1);
        assert!(!s.invariants_hold);
    }

    #[test]
    fn a_missing_step_is_lost_unless_recorded_as_crash_after_claim() {
        let reference = [sent("a", 1, "2026-11-02T09:00:00Z")];
        let lost = summary(&reference, &[], &Faults::none());
        assert_eq!(lost.lost, 1);
        assert!(!lost.invariants_hold);

        let crashed = [skipped("a", 1, "2026-11-02T09:01:00Z", "crash_after_claim")];
        let s = summary(&reference, &crashed, &Faults::none());
        assert_eq!((s.lost, s.crash_after_claim), (0, 1));
        assert!(s.invariants_hold);
    }

    #[test]
    fn a_step_a_fault_pushed_past_the_cart_s_end_is_explained_but_only_with_the_delay() {
        let reference = [sent("a", 2, "2026-11-03T09:00:00Z")];
        let faulty = [report(ReportKind::Stopped, "a", 2, "2026-11-03T09:02:00Z")];
        let unexplained = summary(&reference, &faulty, &Faults::none());
        assert_eq!(unexplained.lost, 1);

        let plan = FaultPlan::new(1, 0.1).expect("a rate");
        let faults = Faults::new(plan, VirtualClock::new(ts("2026-11-02T00:00:00Z")));
        faults.delayed("shop", "a", ts("2026-11-03T09:00:00Z"));
        let s = summary(&reference, &faulty, &faults);
        assert_eq!((s.lost, s.explained_missing), (0, 1));
        assert!(s.invariants_hold);
    }

    #[test]
    fn a_message_after_the_accepted_purchase_breaks_the_invariants() {
        let both = [sent("a", 1, "2026-11-02T09:00:00Z")];
        let converted = HashMap::from([(
            ("shop".to_owned(), "a".to_owned()),
            ts("2026-11-02T08:59:00Z"),
        )]);
        let s = summary_with(&both, &both, &Faults::none(), &converted);
        assert_eq!(s.after_purchase, 1);
        assert!(!s.invariants_hold);
    }

    #[test]
    fn a_step_sent_by_the_other_channel_after_a_fault_is_rerouted_not_lost() {
        let reference = [sent("a", 2, "2026-11-03T09:00:00Z")];
        let faulty = [Report {
            channel: Some("sms"),
            ..sent("a", 2, "2026-11-03T09:01:00Z")
        }];
        let without_fault = summary(&reference, &faulty, &Faults::none());
        assert_eq!(
            (without_fault.lost, without_fault.unexplained_extra),
            (1, 1)
        );

        let plan = FaultPlan::new(1, 0.1).expect("a rate");
        let faults = Faults::new(plan, VirtualClock::new(ts("2026-11-02T00:00:00Z")));
        faults.delayed("shop", "a", ts("2026-11-02T09:00:00Z"));
        let s = summary(&reference, &faulty, &faults);
        assert_eq!((s.lost, s.unexplained_extra, s.rerouted), (0, 0, 1));
        assert!(s.invariants_hold);
    }

    #[test]
    fn an_extra_message_needs_a_fault_on_its_cart_or_another_cart_of_the_person() {
        let faulty = [sent("b", 1, "2026-11-02T09:00:00Z")];
        let s = summary(&[], &faulty, &Faults::none());
        assert_eq!(s.unexplained_extra, 1);
        assert!(!s.invariants_hold);

        // Cart a of the same person met a fault first (its message did not count against
        // the frequency cap, so b's went).
        let plan = FaultPlan::new(1, 0.1).expect("a rate");
        let faults = Faults::new(plan, VirtualClock::new(ts("2026-11-02T00:00:00Z")));
        faults.delayed("shop", "a", ts("2026-11-02T08:00:00Z"));
        let people = HashMap::from([
            (("shop".to_owned(), "a".to_owned()), "ada".to_owned()),
            (("shop".to_owned(), "b".to_owned()), "ada".to_owned()),
        ]);
        let s = check(
            &[],
            &FaultyRun {
                reports: &faulty,
                unconfirmed: &[],
                converted: &HashMap::new(),
                faults: &faults,
                crashed: &HashSet::new(),
                people: &people,
                outbox: 1,
                carts: 2,
            },
            1,
            0.1,
        );
        assert_eq!((s.unexplained_extra, s.explained_extra), (0, 1));
        assert!(s.invariants_hold);
    }
}
