//! Every rule of the full recovery flow, as table tests of the pure `decide()`: purchase,
//! consent, quiet hours, one sequence per person, suppression, engagement branching, channel
//! choice and step conditions. Each case builds a cart, a person and the shop's rules and
//! checks the one decision taken at one instant.

use crate::common::*;
use cartback_core::messages::render::EmailContext;
use cartback_core::model::cart::{
    CartRecord, CartSnapshot, LatestCart, Person, SentStep, Suppression, SuppressionReason,
};
use cartback_core::model::experiment::HoldoutShare;
use cartback_core::model::sequence::{Channel, Sequence};
use cartback_core::model::shop::{EmailConsent, QuietHours, Rules, ShopSettings};
use cartback_core::rules::decide::{
    Decision, DeferReason, Situation, SkipReason, StopReason, decide, due_at,
};
use cartback_core::rules::lifecycle::{
    Interaction, apply_activity, carry_sends, claim, contact_latest_cart, contact_ordered,
    contact_sent, contact_suppressed, record_engagement, record_sent,
};
use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

// ---------------------------------------------------------------------------------------------
// Builders

const ADA: &str = "ada@example.com";
const ADA_PHONE: &str = "+358401234567";

fn new_visitor() -> Sequence {
    Sequence::builtin("new-visitor").expect("shipped")
}

fn returning_customer() -> Sequence {
    Sequence::builtin("returning-customer").expect("shipped")
}

fn classic() -> Sequence {
    Sequence::default_sequence()
}

fn helsinki() -> TimeZone {
    TimeZone::get("Europe/Helsinki").expect("bundled tz database")
}

fn new_york() -> TimeZone {
    TimeZone::get("America/New_York").expect("bundled tz database")
}

/// The instant a wall clock in `zone` reads `local` ("2026-11-02T22:30").
fn wall(zone: &TimeZone, local: &str) -> Timestamp {
    let local: DateTime = local.parse().expect("civil datetime");
    local.to_zoned(zone.clone()).expect("in range").timestamp()
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("RFC 3339")
}

/// Who the shopper is and what they agreed to.
#[derive(Debug, Clone, Copy)]
struct Who {
    email: bool,
    phone: bool,
    email_consent: bool,
    sms_consent: bool,
}

/// Email and phone, both consents.
const EVERYTHING: Who = Who {
    email: true,
    phone: true,
    email_consent: true,
    sms_consent: true,
};

/// Email with marketing consent only.
const EMAIL_ONLY: Who = Who {
    email: true,
    phone: false,
    email_consent: true,
    sms_consent: false,
};

impl Who {
    fn snapshot(self) -> CartSnapshot {
        let mut snapshot = snapshot(self.email.then_some(ADA), self.phone.then_some(ADA_PHONE));
        snapshot.consent.email_marketing = self.email_consent;
        snapshot.consent.sms_marketing = self.sms_consent;
        snapshot.country = Some("FI".to_owned());
        snapshot
    }
}

/// A new cart of `who` last active at `at`, started on `sequence`.
fn cart_of(who: Who, sequence: &Sequence, at: Timestamp) -> CartRecord {
    changed(apply_activity(
        None,
        &shop(),
        cartback_core::model::cart::Platform::Shopify,
        &activity_with(who.snapshot(), at),
        sequence,
        at,
    ))
}

/// The cart after the sender recorded `step` on `channel` at `at` (as the sender does).
fn sent(cart: &CartRecord, channel: Channel, at: Timestamp, sequence: &Sequence) -> CartRecord {
    let step = cart.next_step;
    let mut done = sent_step(step, &sequence.steps[step as usize].template, at);
    done.channel = channel;
    record_sent(&claim(cart, step, channel, at), done, sequence)
}

/// The cart after `step` was passed over at `at`.
fn skipped(cart: &CartRecord, channel: Channel, at: Timestamp, sequence: &Sequence) -> CartRecord {
    let step = cart.next_step;
    let done = SentStep {
        skipped: Some(SkipReason::NoEmailConsent),
        unconfirmed: false,
        message_id: String::new(),
        channel,
        ..sent_step(step, &sequence.steps[step as usize].template, at)
    };
    record_sent(&claim(cart, step, channel, at), done, sequence)
}

/// Marks step `step` opened (and clicked) at the given times.
fn engaged(
    cart: &CartRecord,
    step: u32,
    opened: Option<Timestamp>,
    clicked: Option<Timestamp>,
) -> CartRecord {
    let mut cart = cart.clone();
    let done = cart
        .sent
        .iter_mut()
        .find(|s| s.step == step)
        .expect("the step was done");
    done.opened_at = opened.or(clicked);
    done.clicked_at = clicked;
    cart
}

/// The shop's rules, the recipient's zone and what is known of the person.
struct World {
    rules: Rules,
    zone: TimeZone,
    person: Person,
}

impl Default for World {
    fn default() -> Self {
        Self {
            rules: Rules::default(),
            zone: helsinki(),
            person: Person::default(),
        }
    }
}

impl World {
    fn decide(&self, cart: &CartRecord, sequence: &Sequence, now: Timestamp) -> Decision {
        decide(&Situation {
            cart,
            person: &self.person,
            sequence,
            rules: &self.rules,
            zone: &self.zone,
            now,
            holdout: HoldoutShare::DEFAULT,
        })
    }

    fn with_person(person: Person) -> Self {
        Self {
            person,
            ..Self::default()
        }
    }
}

fn send(step: u32, channel: Channel) -> Decision {
    Decision::Send { step, channel }
}

fn skip(step: u32, channel: Channel, reason: SkipReason) -> Decision {
    Decision::Skip {
        step,
        channel,
        reason,
    }
}

fn stop(reason: StopReason) -> Decision {
    Decision::Stop { reason }
}

fn defer(until: Timestamp, reason: DeferReason) -> Decision {
    Decision::Defer { until, reason }
}

fn suppression(reason: SuppressionReason) -> Option<Suppression> {
    Some(Suppression { reason, at: t0() })
}

fn hours_after(t: Timestamp, h: i64) -> Timestamp {
    t.checked_add(hours(h)).expect("in range")
}

// ---------------------------------------------------------------------------------------------
// Purchase stops everything

#[test]
fn a_purchase_stops_this_cart_and_the_persons_other_carts_after_this_carts_activity() {
    let sequence = classic();
    let cart = cart_of(EMAIL_ONLY, &sequence, t0());
    let due = at(hours(1));
    let bought = convert(Some(&cart), &conversion(at(mins(30))), at(mins(30)));
    let ordered = |at: Timestamp| {
        World::with_person(Person {
            last_order_at: Some(at),
            ..Person::default()
        })
    };
    let table: [(&str, &CartRecord, World, Decision); 6] = [
        (
            "this cart bought",
            &bought,
            World::default(),
            stop(StopReason::Purchased),
        ),
        (
            "this cart bought, an older order elsewhere too",
            &bought,
            ordered(t0() - hours(48)),
            stop(StopReason::Purchased),
        ),
        (
            "another cart bought after this cart's activity",
            &cart,
            ordered(at(mins(30))),
            stop(StopReason::PurchasedElsewhere),
        ),
        (
            "another cart bought at the very instant of this cart's activity",
            &cart,
            ordered(t0()),
            stop(StopReason::PurchasedElsewhere),
        ),
        (
            "an order before this cart's activity does not stop it",
            &cart,
            ordered(t0() - SignedDuration::from_secs(1)),
            send(0, Channel::Email),
        ),
        (
            "no order at all",
            &cart,
            World::default(),
            send(0, Channel::Email),
        ),
    ];
    for (what, cart, world, expected) in table {
        assert_eq!(world.decide(cart, &sequence, due), expected, "{what}");
    }
}

#[test]
fn a_purchase_elsewhere_stops_even_a_cart_that_waits_or_defers() {
    // Not due yet, or in quiet hours: the stop comes first either way.
    let sequence = new_visitor();
    let cart = sent(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        at(hours(1)),
        &sequence,
    );
    let world = World::with_person(Person {
        last_order_at: Some(at(hours(2))),
        ..Person::default()
    });
    for now in [at(hours(3)), at(hours(11)), at(hours(14))] {
        assert_eq!(
            world.decide(&cart, &sequence, now),
            stop(StopReason::PurchasedElsewhere),
            "at {now}"
        );
    }
}

#[test]
fn an_order_recorded_under_the_phone_stops_the_cart_of_the_email() {
    // The person is merged over their email and phone records.
    let sequence = classic();
    let cart = cart_of(EVERYTHING, &sequence, t0());
    let by_phone =
        contact_ordered(None, &shop(), &phone(ADA_PHONE).key(), at(mins(40))).expect("first order");
    let by_email = cartback_core::model::cart::ContactRecord::new(&shop(), &email(ADA).key());
    let world = World::with_person(Person::merge(&[by_email, by_phone]));
    assert_eq!(
        world.decide(&cart, &sequence, at(hours(1))),
        stop(StopReason::PurchasedElsewhere)
    );
}

// ---------------------------------------------------------------------------------------------
// Consent

#[test]
fn email_needs_marketing_consent_unless_the_shop_lifts_it() {
    let sequence = classic();
    let now = at(hours(1));
    let no_consent = Who {
        email_consent: false,
        ..EMAIL_ONLY
    };
    let lifted = World {
        rules: Rules {
            email_consent: EmailConsent::NotRequired,
            ..Rules::default()
        },
        ..World::default()
    };
    let table = [
        (
            "consent, default rules",
            EMAIL_ONLY,
            World::default(),
            send(0, Channel::Email),
        ),
        // Nothing in the sequence can reach them: the cart stops at once.
        (
            "no consent, default rules",
            no_consent,
            World::default(),
            stop(StopReason::NoConsent),
        ),
        (
            "no consent, not required",
            no_consent,
            lifted,
            send(0, Channel::Email),
        ),
    ];
    for (what, who, world, expected) in table {
        let cart = cart_of(who, &sequence, t0());
        assert_eq!(world.decide(&cart, &sequence, now), expected, "{what}");
    }
}

#[test]
fn without_email_consent_the_email_steps_are_skipped_while_sms_can_still_reach_them() {
    let sequence = new_visitor();
    let who = Who {
        email_consent: false,
        ..EVERYTHING
    };
    let world = World::default();
    let cart = cart_of(who, &sequence, t0());
    // Step 1 (email) is passed over; the sequence goes on for the SMS of step 2.
    assert_eq!(
        world.decide(&cart, &sequence, at(hours(1))),
        skip(0, Channel::Email, SkipReason::NoEmailConsent)
    );
    let cart = skipped(&cart, Channel::Email, at(hours(1)), &sequence);
    // 10 h after the skip (nothing opened), 21:00 in Helsinki in November is quiet: use a
    // zone where it is daytime.
    let world = World {
        zone: TimeZone::UTC,
        ..world
    };
    assert_eq!(
        world.decide(&cart, &sequence, at(hours(11))),
        send(1, Channel::Sms)
    );
    let cart = sent(&cart, Channel::Sms, at(hours(11)), &sequence);
    // Step 3 is email only: nothing left that may reach them.
    assert_eq!(
        world.decide(&cart, &sequence, at(hours(11 + 48))),
        stop(StopReason::NoConsent)
    );
}

/// A one-step sequence on `channel`.
fn one_step(channel: &str) -> Sequence {
    Sequence::parse(
        "one.toml",
        &format!("name = \"one\"\n[[step]]\ntemplate = \"reminder\"\nchannel = \"{channel}\"\ndelay = \"1h\"\n"),
    )
    .expect("valid")
}

#[test]
fn sms_needs_a_phone_and_sms_consent_and_nothing_else_will_do() {
    // Every combination of contact details and consents, for a step on each channel choice,
    // under both email consent rules: SMS is chosen exactly when there is a phone with SMS
    // consent (and never otherwise), whatever else is known.
    let world = World {
        zone: TimeZone::UTC,
        ..World::default()
    };
    let lifted = World {
        rules: Rules {
            email_consent: EmailConsent::NotRequired,
            ..Rules::default()
        },
        zone: TimeZone::UTC,
        ..World::default()
    };
    for channel in ["sms", "sms_or_email", "email"] {
        let sequence = one_step(channel);
        for bits in 0..16 {
            let who = Who {
                email: bits & 1 != 0,
                phone: bits & 2 != 0,
                email_consent: bits & 4 != 0,
                sms_consent: bits & 8 != 0,
            };
            let cart = cart_of(who, &sequence, t0());
            for (rules, world) in [("required", &world), ("not_required", &lifted)] {
                let decision = world.decide(&cart, &sequence, at(hours(1)));
                let sms_allowed = who.phone && who.sms_consent && channel != "email";
                let email_allowed =
                    who.email && (who.email_consent || rules == "not_required") && channel != "sms";
                let expected = if !who.email && !who.phone {
                    stop(StopReason::NoContact)
                } else if sms_allowed {
                    send(0, Channel::Sms)
                } else if email_allowed {
                    send(0, Channel::Email)
                } else {
                    // A one-step sequence with no allowed channel stops.
                    match decision {
                        Decision::Stop { .. } => decision.clone(),
                        _ => panic!("{channel} {who:?} {rules}: expected a stop, got {decision:?}"),
                    }
                };
                assert_eq!(
                    decision, expected,
                    "{channel} {who:?} email consent {rules}"
                );
            }
        }
    }
}

#[test]
fn an_sms_step_without_sms_consent_or_phone_is_skipped_with_the_reason() {
    // An SMS step in the middle of a sequence whose email steps can still reach the person.
    let sequence = Sequence::parse(
        "mixed.toml",
        "name = \"mixed\"\n[[step]]\ntemplate = \"reminder\"\nchannel = \"sms\"\ndelay = \"1h\"\n\
         [[step]]\ntemplate = \"offer\"\ndelay = \"1 day\"\n",
    )
    .expect("valid");
    let world = World {
        zone: TimeZone::UTC,
        ..World::default()
    };
    let table = [
        (
            Who {
                sms_consent: false,
                ..EVERYTHING
            },
            skip(0, Channel::Sms, SkipReason::NoSmsConsent),
        ),
        (
            Who {
                phone: false,
                ..EVERYTHING
            },
            skip(0, Channel::Sms, SkipReason::NoPhone),
        ),
        (EVERYTHING, send(0, Channel::Sms)),
    ];
    for (who, expected) in table {
        let cart = cart_of(who, &sequence, t0());
        assert_eq!(
            world.decide(&cart, &sequence, at(hours(1))),
            expected,
            "{who:?}"
        );
    }
}

#[test]
fn the_first_name_is_used_only_with_marketing_consent_for_that_channel() {
    let settings = ShopSettings::defaults_for(&shop());
    let table = [
        // (email consent, sms consent, channel, first name shown)
        (true, false, Channel::Email, true),
        (false, false, Channel::Email, false),
        (false, true, Channel::Email, false),
        (false, true, Channel::Sms, true),
        (true, false, Channel::Sms, false),
        (false, false, Channel::Sms, false),
    ];
    for (email_consent, sms_consent, channel, shown) in table {
        let who = Who {
            email_consent,
            sms_consent,
            ..EVERYTHING
        };
        let cart = cart_of(who, &classic(), t0());
        let ctx = EmailContext::in_cart_locale(&cart, &settings, 0, channel).expect("context");
        assert_eq!(
            ctx.customer.first_name.as_deref(),
            shown.then_some("Ada"),
            "email consent {email_consent}, sms consent {sms_consent}, {channel:?}"
        );
        // The rest of the message does not depend on consent.
        assert_eq!(ctx.items.len(), 1);
        assert!(ctx.cart_url.starts_with("https://"));
    }
    // Without consent, the rendered email greets nobody by name.
    let cart = cart_of(
        Who {
            email_consent: false,
            ..EMAIL_ONLY
        },
        &classic(),
        t0(),
    );
    let ctx = EmailContext::for_cart(&cart, &settings, 0).expect("context");
    let email = cartback_core::messages::render::Renderer::embedded()
        .render_email("reminder", &ctx)
        .expect("renders");
    assert!(!email.text.contains("Ada"), "{}", email.text);
    assert!(!email.html.contains("Ada"));
    assert!(!email.subject.contains("Ada"));
}

// ---------------------------------------------------------------------------------------------
// Quiet hours

/// A one-step SMS sequence due 1 h after the last activity.
fn sms_at(due: Timestamp) -> (Sequence, CartRecord) {
    let sequence = one_step("sms");
    let cart = cart_of(
        EVERYTHING,
        &sequence,
        due.checked_sub(hours(1)).expect("range"),
    );
    (sequence, cart)
}

#[test]
fn an_sms_due_in_the_helsinki_night_is_deferred_to_nine_in_the_morning() {
    let z = helsinki();
    let world = World::default();
    let table = [
        ("2026-11-02T22:30", Some("2026-11-03T09:00")),
        ("2026-11-02T21:00", Some("2026-11-03T09:00")),
        ("2026-11-02T20:59", None),
        ("2026-11-03T00:10", Some("2026-11-03T09:00")),
        ("2026-11-03T08:59", Some("2026-11-03T09:00")),
        ("2026-11-03T09:00", None),
        ("2026-11-03T13:00", None),
    ];
    for (due, until) in table {
        let (sequence, cart) = sms_at(wall(&z, due));
        let expected = match until {
            Some(until) => defer(wall(&z, until), DeferReason::QuietHours),
            None => send(0, Channel::Sms),
        };
        assert_eq!(
            world.decide(&cart, &sequence, wall(&z, due)),
            expected,
            "due {due} Helsinki"
        );
    }
    // 22:30 Helsinki is 20:30 UTC, 09:00 the next day is 07:00 UTC (EET, UTC+2).
    let (sequence, cart) = sms_at(ts("2026-11-02T20:30:00Z"));
    assert_eq!(
        world.decide(&cart, &sequence, ts("2026-11-02T20:30:00Z")),
        defer(ts("2026-11-03T07:00:00Z"), DeferReason::QuietHours)
    );
}

#[test]
fn quiet_hours_are_the_recipients_not_the_shops() {
    // 20:30 UTC: 22:30 in Helsinki, 15:30 in New York.
    let now = ts("2026-11-02T20:30:00Z");
    let (sequence, cart) = sms_at(now);
    let in_helsinki = World::default();
    let in_new_york = World {
        zone: new_york(),
        ..World::default()
    };
    assert_eq!(
        in_helsinki.decide(&cart, &sequence, now),
        defer(ts("2026-11-03T07:00:00Z"), DeferReason::QuietHours)
    );
    assert_eq!(
        in_new_york.decide(&cart, &sequence, now),
        send(0, Channel::Sms)
    );
    // 03:00 UTC: 05:00 in Helsinki (quiet), 22:00 in New York (quiet until 09:00 EST, 14:00 UTC).
    let now = ts("2026-11-03T03:00:00Z");
    let (sequence, cart) = sms_at(now);
    assert_eq!(
        in_helsinki.decide(&cart, &sequence, now),
        defer(ts("2026-11-03T07:00:00Z"), DeferReason::QuietHours)
    );
    assert_eq!(
        in_new_york.decide(&cart, &sequence, now),
        defer(ts("2026-11-03T14:00:00Z"), DeferReason::QuietHours)
    );
}

#[test]
fn email_ignores_the_night_by_default_and_waits_when_the_shop_sets_email_quiet_hours() {
    let z = helsinki();
    let sequence = classic();
    let due = wall(&z, "2026-11-02T22:30");
    let cart = cart_of(
        EMAIL_ONLY,
        &sequence,
        due.checked_sub(hours(1)).expect("range"),
    );
    assert_eq!(
        World::default().decide(&cart, &sequence, due),
        send(0, Channel::Email)
    );
    let quiet_email = World {
        rules: Rules {
            email_quiet_hours: Some(QuietHours {
                from: Time::constant(22, 0, 0, 0),
                until: Time::constant(7, 0, 0, 0),
            }),
            ..Rules::default()
        },
        ..World::default()
    };
    assert_eq!(
        quiet_email.decide(&cart, &sequence, due),
        defer(wall(&z, "2026-11-03T07:00"), DeferReason::QuietHours)
    );
    // Turning SMS quiet hours off lets an SMS out at night.
    let (sms, sms_cart) = sms_at(due);
    let loud = World {
        rules: Rules {
            sms_quiet_hours: None,
            ..Rules::default()
        },
        ..World::default()
    };
    assert_eq!(loud.decide(&sms_cart, &sms, due), send(0, Channel::Sms));
}

#[test]
fn quiet_hours_follow_daylight_saving_time() {
    let z = helsinki();
    let world = World::default();
    let table = [
        // Spring forward (2026-03-29 03:00 → 04:00): nine in the morning is 06:00 UTC (EEST).
        ("2026-03-28T22:30", "2026-03-29T06:00:00Z"),
        // The night before is still winter time: 07:00 UTC.
        ("2026-03-27T22:30", "2026-03-28T07:00:00Z"),
        // Fall back (2026-10-25 04:00 → 03:00): nine in the morning is 07:00 UTC (EET).
        ("2026-10-24T22:30", "2026-10-25T07:00:00Z"),
        // The night before is still summer time: 06:00 UTC.
        ("2026-10-23T22:30", "2026-10-24T06:00:00Z"),
    ];
    for (due, until) in table {
        let (sequence, cart) = sms_at(wall(&z, due));
        assert_eq!(
            world.decide(&cart, &sequence, wall(&z, due)),
            defer(ts(until), DeferReason::QuietHours),
            "due {due} Helsinki"
        );
    }
    // Quiet hours ending inside the spring-forward gap end when the clocks jump (04:00 EEST).
    let ends_in_gap = World {
        rules: Rules {
            sms_quiet_hours: Some(QuietHours {
                from: Time::constant(23, 0, 0, 0),
                until: Time::constant(3, 30, 0, 0),
            }),
            ..Rules::default()
        },
        ..World::default()
    };
    let due = wall(&z, "2026-03-29T00:30");
    let (sequence, cart) = sms_at(due);
    assert_eq!(
        ends_in_gap.decide(&cart, &sequence, due),
        defer(ts("2026-03-29T01:00:00Z"), DeferReason::QuietHours)
    );
}

// ---------------------------------------------------------------------------------------------
// One sequence per person

#[test]
fn a_newer_cart_of_the_same_person_supersedes_this_one() {
    let sequence = classic();
    let cart = cart_of(EMAIL_ONLY, &sequence, t0());
    let latest = |id: &str, activity_at: Timestamp| {
        World::with_person(Person {
            latest_cart: Some(LatestCart {
                cart: cart_id(id),
                activity_at,
            }),
            ..Person::default()
        })
    };
    let table = [
        (
            "another cart, newer",
            latest("other-cart", at(mins(20))),
            stop(StopReason::Superseded),
        ),
        (
            "another cart, older",
            latest("other-cart", t0() - hours(3)),
            send(0, Channel::Email),
        ),
        (
            "another cart, same instant",
            latest("other-cart", t0()),
            send(0, Channel::Email),
        ),
        (
            "this cart is the latest",
            latest(CART, t0()),
            send(0, Channel::Email),
        ),
        ("nothing known", World::default(), send(0, Channel::Email)),
    ];
    for (what, world, expected) in table {
        assert_eq!(
            world.decide(&cart, &sequence, at(hours(1))),
            expected,
            "{what}"
        );
    }
}

#[test]
fn the_latest_cart_is_remembered_only_when_it_is_newer() {
    let key = email(ADA).key();
    let first =
        contact_latest_cart(None, &shop(), &key, &cart_id("cart-a"), t0()).expect("first cart");
    assert_eq!(
        first.latest_cart,
        Some(LatestCart {
            cart: cart_id("cart-a"),
            activity_at: t0()
        })
    );
    // The same cart again, or an older one: nothing to change.
    assert_eq!(
        contact_latest_cart(
            Some(&first),
            &shop(),
            &key,
            &cart_id("cart-a"),
            at(hours(1))
        ),
        None
    );
    assert_eq!(
        contact_latest_cart(
            Some(&first),
            &shop(),
            &key,
            &cart_id("cart-b"),
            t0() - hours(1)
        ),
        None
    );
    let newer = contact_latest_cart(
        Some(&first),
        &shop(),
        &key,
        &cart_id("cart-b"),
        at(hours(1)),
    )
    .expect("a newer cart");
    assert_eq!(newer.latest_cart.map(|l| l.cart), Some(cart_id("cart-b")));
}

fn sent_before(now: Timestamp, ago: &[i64]) -> Vec<Timestamp> {
    let mut sends: Vec<Timestamp> = ago
        .iter()
        .map(|h| now.checked_sub(hours(*h)).expect("range"))
        .collect();
    sends.sort();
    sends
}

#[test]
fn at_most_three_messages_per_person_in_any_seven_days() {
    let sequence = classic();
    let cart = cart_of(EMAIL_ONLY, &sequence, t0());
    let now = at(hours(1));
    let week = 24 * 7;
    let table: [(&str, &[i64], Decision); 6] = [
        ("none before", &[], send(0, Channel::Email)),
        ("two in the week", &[2, 30], send(0, Channel::Email)),
        (
            "three in the week: wait until the oldest leaves the window",
            &[2, 30, 100],
            defer(hours_after(now, week - 100), DeferReason::FrequencyCap),
        ),
        (
            "four in the week (a lowered cap): the oldest of the last three decides",
            &[2, 30, 100, 150],
            defer(hours_after(now, week - 100), DeferReason::FrequencyCap),
        ),
        (
            "three, one of them exactly a week ago",
            &[2, 30, week],
            send(0, Channel::Email),
        ),
        (
            "three, one of them older than a week",
            &[2, 30, week + 5],
            send(0, Channel::Email),
        ),
    ];
    for (what, ago, expected) in table {
        let world = World::with_person(Person {
            recent_sends: sent_before(now, ago),
            ..Person::default()
        });
        assert_eq!(world.decide(&cart, &sequence, now), expected, "{what}");
    }
    // Once the oldest left the window the message goes out.
    let until = hours_after(now, week - 100);
    let world = World::with_person(Person {
        recent_sends: sent_before(now, &[2, 30, 100]),
        ..Person::default()
    });
    assert_eq!(
        world.decide(&cart, &sequence, until),
        send(0, Channel::Email)
    );
}

#[test]
fn the_cap_is_configurable_and_zero_turns_it_off() {
    let sequence = classic();
    let cart = cart_of(EMAIL_ONLY, &sequence, t0());
    let now = at(hours(1));
    let person = Person {
        recent_sends: sent_before(now, &[1, 2, 3, 4, 5]),
        ..Person::default()
    };
    let with_cap = |messages, days| World {
        rules: Rules {
            frequency_cap: cartback_core::model::shop::FrequencyCap { messages, days },
            ..Rules::default()
        },
        person: person.clone(),
        ..World::default()
    };
    assert_eq!(
        with_cap(0, 7).decide(&cart, &sequence, now),
        send(0, Channel::Email)
    );
    assert_eq!(
        with_cap(6, 7).decide(&cart, &sequence, now),
        send(0, Channel::Email)
    );
    assert_eq!(
        with_cap(5, 1).decide(&cart, &sequence, now),
        defer(hours_after(now, 24 - 5), DeferReason::FrequencyCap)
    );
}

#[test]
fn the_cap_counts_the_carts_own_messages_and_the_carried_ones_once() {
    let sequence = new_visitor();
    let step_1 = at(hours(1));
    // Step 1 went out; step 2 is due at +10 h (nothing opened).
    let cart = sent(
        &cart_of(EMAIL_ONLY, &sequence, t0()),
        Channel::Email,
        step_1,
        &sequence,
    );
    let due = hours_after(step_1, 10);
    let with = |person: Person| World {
        rules: Rules {
            frequency_cap: cartback_core::model::shop::FrequencyCap {
                messages: 2,
                days: 1,
            },
            ..Rules::default()
        },
        zone: TimeZone::UTC,
        person,
    };
    // The cart's own message counts, though the person's item holds nothing.
    assert_eq!(
        with(Person::default()).decide(&cart, &sequence, due),
        send(1, Channel::Email)
    );
    let earlier = at(hours(-2));
    let carried = Person {
        recent_sends: vec![earlier],
        ..Person::default()
    };
    assert_eq!(
        with(carried).decide(&cart, &sequence, due),
        defer(hours_after(earlier, 24), DeferReason::FrequencyCap)
    );
    // A message both on the cart and carried onto the person (written before messages were
    // kept on the cart) counts once.
    let twice = Person {
        recent_sends: vec![step_1],
        ..Person::default()
    };
    assert_eq!(
        with(twice).decide(&cart, &sequence, due),
        send(1, Channel::Email)
    );
}

#[test]
fn a_newer_cart_carries_the_sent_and_claimed_messages_of_the_previous_one() {
    let sequence = new_visitor();
    let key = email(ADA).key();
    let previous = sent(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        at(hours(1)),
        &sequence,
    );
    // Step 2 passed over, then claimed again by a sender that may be sending right now.
    let passed = skipped(&previous, Channel::Sms, at(hours(11)), &sequence);
    let claiming = claim(&passed, 2, Channel::Email, at(hours(35)));
    let now = at(hours(36));
    let latest =
        contact_latest_cart(None, &shop(), &key, &cart_id("cart-b"), now).expect("the newer cart");

    let carried = carry_sends(latest.clone(), &claiming, now);

    assert_eq!(
        carried.recent_sends,
        vec![
            at(hours(1)).as_millisecond(),
            at(hours(35)).as_millisecond()
        ],
        "the skipped step is no message"
    );
    // Carried twice (a retried webhook), each message counts once; a month on they are gone.
    assert_eq!(carry_sends(carried.clone(), &claiming, now), carried);
    let month = at(hours(24 * 40));
    assert!(
        carry_sends(latest, &claiming, month)
            .recent_sends
            .is_empty()
    );
}

#[test]
fn a_capped_sms_that_frees_up_at_night_waits_for_the_morning_too() {
    let z = helsinki();
    // Due 12:00 Helsinki; the oldest of three sends leaves the window at 23:00 Helsinki.
    let due = wall(&z, "2026-11-10T12:00");
    let (sequence, cart) = sms_at(due);
    let oldest = wall(&z, "2026-11-03T23:00");
    let world = World::with_person(Person {
        recent_sends: vec![
            oldest,
            wall(&z, "2026-11-05T10:00"),
            wall(&z, "2026-11-09T10:00"),
        ],
        ..Person::default()
    });
    assert_eq!(
        world.decide(&cart, &sequence, due),
        defer(wall(&z, "2026-11-11T09:00"), DeferReason::FrequencyCap)
    );
}

#[test]
fn every_send_counts_once_for_the_person_and_old_sends_are_forgotten() {
    let key = email(ADA).key();
    let mut record = contact_sent(None, &shop(), &key, t0());
    for h in [1, 2] {
        record = contact_sent(Some(&record), &shop(), &key, at(hours(h)));
    }
    assert_eq!(record.recent_sends.len(), 3);
    // A month later the old sends are dropped.
    let later = contact_sent(Some(&record), &shop(), &key, at(hours(24 * 40)));
    assert_eq!(
        later.recent_sends,
        vec![at(hours(24 * 40)).as_millisecond()]
    );
    // Merged over email and phone records, each send counts once.
    let phone_key = phone(ADA_PHONE).key();
    let by_phone = contact_sent(None, &shop(), &phone_key, at(hours(1)));
    let person = Person::merge(&[record, by_phone]);
    assert_eq!(person.recent_sends, vec![t0(), at(hours(1)), at(hours(2))]);
}

// ---------------------------------------------------------------------------------------------
// Suppression

#[test]
fn a_suppressed_email_stops_an_email_sequence_with_the_suppression_reason() {
    let sequence = classic();
    let cart = cart_of(EMAIL_ONLY, &sequence, t0());
    let table = [
        (SuppressionReason::Unsubscribed, StopReason::Unsubscribed),
        (SuppressionReason::Bounced, StopReason::Bounced),
        (SuppressionReason::Complained, StopReason::Complained),
    ];
    for (why, expected) in table {
        let world = World::with_person(Person {
            email_suppressed: suppression(why),
            ..Person::default()
        });
        // At any step, due or not.
        assert_eq!(
            world.decide(&cart, &sequence, at(hours(1))),
            stop(expected),
            "{why:?}"
        );
        assert_eq!(
            world.decide(&cart, &sequence, at(mins(5))),
            stop(expected),
            "{why:?}"
        );
        let later = sent(&cart, Channel::Email, at(hours(1)), &sequence);
        assert_eq!(
            world.decide(&later, &sequence, at(hours(24))),
            stop(expected),
            "{why:?}"
        );
    }
}

#[test]
fn a_suppressed_email_skips_email_steps_while_sms_can_still_reach_the_person() {
    let sequence = new_visitor();
    let cart = cart_of(EVERYTHING, &sequence, t0());
    let world = World {
        zone: TimeZone::UTC,
        person: Person {
            email_suppressed: suppression(SuppressionReason::Bounced),
            ..Person::default()
        },
        ..World::default()
    };
    assert_eq!(
        world.decide(&cart, &sequence, at(hours(1))),
        skip(0, Channel::Email, SkipReason::EmailSuppressed)
    );
    let cart = skipped(&cart, Channel::Email, at(hours(1)), &sequence);
    assert_eq!(
        world.decide(&cart, &sequence, at(hours(11))),
        send(1, Channel::Sms)
    );
    let cart = sent(&cart, Channel::Sms, at(hours(11)), &sequence);
    assert_eq!(
        world.decide(&cart, &sequence, at(hours(59))),
        stop(StopReason::Bounced)
    );
}

#[test]
fn an_sms_opt_out_sends_sms_or_email_steps_by_email() {
    let sequence = new_visitor();
    let cart = sent(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        at(hours(1)),
        &sequence,
    );
    let now = at(hours(11));
    let world = |person: Person| World {
        zone: TimeZone::UTC,
        person,
        ..World::default()
    };
    let table = [
        ("nothing known", Person::default(), send(1, Channel::Sms)),
        (
            "the number replied STOP (SNS opt-out)",
            Person {
                sms_opted_out: true,
                ..Person::default()
            },
            send(1, Channel::Email),
        ),
        (
            "unsubscribed from SMS",
            Person {
                sms_suppressed: suppression(SuppressionReason::Unsubscribed),
                ..Person::default()
            },
            send(1, Channel::Email),
        ),
        (
            "SMS and email both suppressed",
            Person {
                sms_opted_out: true,
                email_suppressed: suppression(SuppressionReason::Complained),
                ..Person::default()
            },
            stop(StopReason::Complained),
        ),
    ];
    for (what, person, expected) in table {
        assert_eq!(
            world(person).decide(&cart, &sequence, now),
            expected,
            "{what}"
        );
    }
    // An SMS-only step for an opted-out number is skipped while email steps remain.
    let mixed = Sequence::parse(
        "mixed.toml",
        "name = \"mixed\"\n[[step]]\ntemplate = \"reminder\"\nchannel = \"sms\"\ndelay = \"1h\"\n\
         [[step]]\ntemplate = \"offer\"\ndelay = \"1 day\"\n",
    )
    .expect("valid");
    let cart = cart_of(EVERYTHING, &mixed, t0());
    let opted_out = world(Person {
        sms_opted_out: true,
        ..Person::default()
    });
    assert_eq!(
        opted_out.decide(&cart, &mixed, at(hours(1))),
        skip(0, Channel::Sms, SkipReason::SmsOptedOut)
    );
    let unsubscribed = world(Person {
        sms_suppressed: suppression(SuppressionReason::Unsubscribed),
        ..Person::default()
    });
    assert_eq!(
        unsubscribed.decide(&cart, &mixed, at(hours(1))),
        skip(0, Channel::Sms, SkipReason::SmsSuppressed)
    );
}

#[test]
fn suppression_is_per_channel_and_the_first_one_is_kept() {
    let key = email(ADA).key();
    let bounced = contact_suppressed(
        None,
        &shop(),
        &key,
        Channel::Email,
        SuppressionReason::Bounced,
        t0(),
    )
    .expect("first suppression");
    assert_eq!(
        bounced.email_suppressed,
        suppression(SuppressionReason::Bounced)
    );
    assert_eq!(bounced.sms_suppressed, None);
    assert_eq!(
        contact_suppressed(
            Some(&bounced),
            &shop(),
            &key,
            Channel::Email,
            SuppressionReason::Complained,
            at(hours(1)),
        ),
        None
    );
    let both = contact_suppressed(
        Some(&bounced),
        &shop(),
        &key,
        Channel::Sms,
        SuppressionReason::Unsubscribed,
        at(hours(1)),
    )
    .expect("SMS is separate");
    assert_eq!(
        both.email_suppressed,
        suppression(SuppressionReason::Bounced)
    );
    assert_eq!(
        both.sms_suppressed.map(|s| s.reason),
        Some(SuppressionReason::Unsubscribed)
    );
}

// ---------------------------------------------------------------------------------------------
// Engagement branching

#[test]
fn new_visitor_step_2_is_due_8_6_or_10_hours_after_step_1_by_engagement() {
    let sequence = new_visitor();
    let step_1 = at(hours(1));
    let cart = sent(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        step_1,
        &sequence,
    );
    let table = [
        ("clicked", engaged(&cart, 0, None, Some(at(hours(2)))), 8),
        ("opened", engaged(&cart, 0, Some(at(hours(2))), None), 6),
        ("none", cart.clone(), 10),
    ];
    for (what, cart, h) in table {
        assert_eq!(
            due_at(&cart, &sequence, 1),
            Some(hours_after(step_1, h)),
            "{what}"
        );
    }
}

#[test]
fn new_visitor_step_3_is_due_1_day_after_step_2_with_any_engagement_else_2_days() {
    let sequence = new_visitor();
    let cart = sent(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        at(hours(1)),
        &sequence,
    );
    let step_2 = at(hours(11));
    let cart = sent(&cart, Channel::Sms, step_2, &sequence);
    let table = [
        (
            "step 1 opened",
            engaged(&cart, 0, Some(at(hours(2))), None),
            24,
        ),
        (
            "step 1 clicked",
            engaged(&cart, 0, None, Some(at(hours(2)))),
            24,
        ),
        (
            "step 2 clicked",
            engaged(&cart, 1, None, Some(at(hours(12)))),
            24,
        ),
        ("nothing", cart.clone(), 48),
    ];
    for (what, cart, h) in table {
        assert_eq!(
            due_at(&cart, &sequence, 2),
            Some(hours_after(step_2, h)),
            "{what}"
        );
    }
}

#[test]
fn the_next_step_is_armed_for_the_branch_of_the_engagement_so_far() {
    let sequence = new_visitor();
    let step_1 = at(hours(1));
    let cart = sent(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        step_1,
        &sequence,
    );
    let table = [
        ("none", cart.clone(), 10),
        ("opened", engaged(&cart, 0, Some(at(hours(2))), None), 6),
        ("clicked", engaged(&cart, 0, None, Some(at(hours(2)))), 8),
    ];
    for (what, cart, h) in table {
        assert_eq!(
            due_at(&cart, &sequence, 1),
            Some(hours_after(step_1, h)),
            "{what}"
        );
    }
    // The sender arms the branch of what it knows after recording step 1 (nothing opened):
    // a cart nobody engages with is woken once for the step, not first at the opened branch.
    assert_eq!(cart.next_due_at, Some(hours_after(step_1, 10)));
    // Step 1 counts from the last activity; past the last step nothing is due.
    let fresh = cart_of(EVERYTHING, &sequence, t0());
    assert_eq!(due_at(&fresh, &sequence, 0), Some(at(hours(1))));
    assert_eq!(fresh.next_due_at, Some(at(hours(1))));
    assert_eq!(due_at(&fresh, &sequence, 3), None);
}

#[test]
fn a_wake_up_before_the_branch_that_applies_waits_for_it() {
    let sequence = new_visitor();
    let step_1 = at(hours(1));
    let cart = sent(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        step_1,
        &sequence,
    );
    let world = World {
        zone: TimeZone::UTC,
        ..World::default()
    };
    let at_6 = hours_after(step_1, 6);
    let table = [
        (
            "none: wait for +10 h",
            cart.clone(),
            Decision::Wait {
                until: hours_after(step_1, 10),
            },
        ),
        (
            "clicked: wait for +8 h",
            engaged(&cart, 0, None, Some(at(hours(2)))),
            Decision::Wait {
                until: hours_after(step_1, 8),
            },
        ),
        (
            "opened: +6 h is due",
            engaged(&cart, 0, Some(at(hours(2))), None),
            send(1, Channel::Email),
        ),
    ];
    for (what, cart, expected) in table {
        assert_eq!(world.decide(&cart, &sequence, at_6), expected, "{what}");
    }
}

#[test]
fn engagement_moves_the_next_step_to_its_branch_but_never_before_now() {
    let sequence = new_visitor();
    let step_1 = at(hours(1));
    let armed = sent(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        step_1,
        &sequence,
    );
    // Nothing opened yet: armed for the none branch (+10 h).
    assert_eq!(armed.next_due_at, Some(hours_after(step_1, 10)));

    // An open at +7 h: the opened branch (+6 h) is past, so it is due now (+7 h), not before.
    let now = hours_after(step_1, 7);
    let opened =
        record_engagement(&armed, 0, Interaction::Open, now, &sequence, now).expect("a new open");
    assert_eq!(opened.next_due_at, Some(now));
    assert_eq!(opened.generation, armed.generation + 1);
    assert_eq!(opened.sent[0].opened_at, Some(now));

    // An open at +2 h: due at +6 h.
    let now = hours_after(step_1, 2);
    let early =
        record_engagement(&armed, 0, Interaction::Open, now, &sequence, now).expect("a new open");
    assert_eq!(early.next_due_at, Some(hours_after(step_1, 6)));

    // A click at +2 h: due at +8 h; the click counts as an open too.
    let clicked =
        record_engagement(&armed, 0, Interaction::Click, now, &sequence, now).expect("a new click");
    assert_eq!(clicked.next_due_at, Some(hours_after(step_1, 8)));
    assert_eq!(clicked.sent[0].clicked_at, Some(now));
    assert_eq!(clicked.sent[0].opened_at, Some(now));

    // A click after the open moves the wake-up later, to the clicked branch (+8 h): no
    // wake-up at +6 h only to wait.
    let later = hours_after(step_1, 3);
    let then_clicked = record_engagement(&early, 0, Interaction::Click, later, &sequence, later)
        .expect("a new click");
    assert_eq!(then_clicked.next_due_at, Some(hours_after(step_1, 8)));
    assert_eq!(then_clicked.generation, early.generation + 1);

    // The same open twice changes nothing; nor does one for a step never sent.
    assert_eq!(
        record_engagement(&early, 0, Interaction::Open, now, &sequence, now),
        None
    );
    assert_eq!(
        record_engagement(&armed, 2, Interaction::Open, now, &sequence, now),
        None
    );
}

#[test]
fn engagement_that_keeps_the_branch_leaves_a_deferred_wake_up_alone() {
    let sequence = new_visitor();
    let step_1 = at(hours(1));
    let opened = engaged(
        &sent(
            &cart_of(EVERYTHING, &sequence, t0()),
            Channel::Email,
            step_1,
            &sequence,
        ),
        0,
        Some(at(hours(2))),
        None,
    );
    let step_2 = hours_after(step_1, 6);
    let armed = sent(&opened, Channel::Email, step_2, &sequence);
    // Step 3 is a day after step 2 whether opened or clicked; quiet hours deferred it.
    let deferred = cartback_core::rules::lifecycle::rearm(&armed, hours_after(step_2, 30));
    let now = hours_after(step_2, 1);
    let clicked = record_engagement(&deferred, 0, Interaction::Click, now, &sequence, now)
        .expect("a new click");
    assert_eq!(clicked.next_due_at, deferred.next_due_at);
    assert_eq!(clicked.generation, deferred.generation);
}

#[test]
fn engagement_with_a_skipped_step_or_on_a_bought_cart_re_arms_nothing() {
    let sequence = new_visitor();
    let cart = skipped(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        at(hours(1)),
        &sequence,
    );
    assert_eq!(
        record_engagement(
            &cart,
            0,
            Interaction::Open,
            at(hours(2)),
            &sequence,
            at(hours(2))
        ),
        None
    );
    let cart = sent(
        &cart_of(EVERYTHING, &sequence, t0()),
        Channel::Email,
        at(hours(1)),
        &sequence,
    );
    let bought = convert(Some(&cart), &conversion(at(hours(2))), at(hours(2)));
    let opened = record_engagement(
        &bought,
        0,
        Interaction::Open,
        at(hours(3)),
        &sequence,
        at(hours(3)),
    )
    .expect("the open is recorded");
    assert_eq!(opened.next_due_at, None);
    assert_eq!(opened.generation, bought.generation);
}

#[test]
fn step_2_goes_by_sms_when_step_1_was_not_opened_and_sms_is_allowed_else_by_email() {
    let sequence = new_visitor();
    let world = World {
        zone: TimeZone::UTC,
        ..World::default()
    };
    let no_sms_consent = Who {
        sms_consent: false,
        ..EVERYTHING
    };
    let no_phone = Who {
        phone: false,
        ..EVERYTHING
    };
    // (who, opened, clicked, due after step 1, channel)
    let table = [
        (EVERYTHING, false, false, 10, Channel::Sms),
        (EVERYTHING, true, false, 6, Channel::Email),
        (EVERYTHING, true, true, 8, Channel::Email),
        (no_sms_consent, false, false, 10, Channel::Email),
        (no_phone, false, false, 10, Channel::Email),
        (no_sms_consent, true, false, 6, Channel::Email),
    ];
    for (who, opened, clicked, h, channel) in table {
        let step_1 = at(hours(1));
        let cart = sent(
            &cart_of(who, &sequence, t0()),
            Channel::Email,
            step_1,
            &sequence,
        );
        let cart = engaged(
            &cart,
            0,
            opened.then_some(at(hours(2))),
            clicked.then_some(at(hours(2))),
        );
        assert_eq!(
            world.decide(&cart, &sequence, hours_after(step_1, h)),
            send(1, channel),
            "{who:?} opened {opened} clicked {clicked}"
        );
    }
}

#[test]
fn a_step_whose_condition_fails_is_skipped_and_the_sequence_goes_on() {
    let sequence = Sequence::parse(
        "perks.toml",
        "name = \"perks\"\n[[step]]\ntemplate = \"reminder\"\ndelay = \"1h\"\n\
         [[step]]\ntemplate = \"offer\"\nsend_when = \"clicked\"\ndelay = \"8h\"\n\
         [[step]]\ntemplate = \"reassure\"\nsend_when = \"not_opened\"\ndelay = \"1 day\"\n",
    )
    .expect("valid");
    let world = World::default();
    let step_1 = at(hours(1));
    let cart = sent(
        &cart_of(EMAIL_ONLY, &sequence, t0()),
        Channel::Email,
        step_1,
        &sequence,
    );
    let due = hours_after(step_1, 8);
    let table = [
        (
            "not clicked",
            cart.clone(),
            skip(1, Channel::Email, SkipReason::ConditionNotMet),
        ),
        (
            "opened only",
            engaged(&cart, 0, Some(at(hours(2))), None),
            skip(1, Channel::Email, SkipReason::ConditionNotMet),
        ),
        (
            "clicked",
            engaged(&cart, 0, None, Some(at(hours(2)))),
            send(1, Channel::Email),
        ),
    ];
    for (what, cart, expected) in table {
        assert_eq!(world.decide(&cart, &sequence, due), expected, "{what}");
    }
    // The skipped step counts as done: step 3 follows a day after the skip.
    let passed = skipped(&cart, Channel::Email, due, &sequence);
    assert_eq!(passed.next_step, 2);
    assert_eq!(passed.next_due_at, Some(hours_after(due, 24)));
    assert_eq!(
        world.decide(&passed, &sequence, hours_after(due, 24)),
        send(2, Channel::Email)
    );
    let opened = engaged(&passed, 0, Some(at(hours(2))), None);
    assert_eq!(
        world.decide(&opened, &sequence, hours_after(due, 24)),
        skip(2, Channel::Email, SkipReason::ConditionNotMet)
    );
}

// ---------------------------------------------------------------------------------------------
// The defaults, to the minute

#[test]
fn returning_customers_get_emails_at_1_25_and_73_hours() {
    let sequence = returning_customer();
    let world = World::default();
    let mut cart = cart_of(EVERYTHING, &sequence, t0());
    let mut times = Vec::new();
    while let Some(due) = cart.next_due_at {
        let before = due
            .checked_sub(SignedDuration::from_mins(1))
            .expect("range");
        assert_eq!(
            world.decide(&cart, &sequence, before),
            Decision::Wait { until: due }
        );
        assert_eq!(
            world.decide(&cart, &sequence, due),
            send(cart.next_step, Channel::Email)
        );
        cart = sent(&cart, Channel::Email, due, &sequence);
        times.push(due.duration_since(t0()).as_hours());
    }
    assert_eq!(times, vec![1, 25, 73]);
    assert_eq!(
        world.decide(&cart, &sequence, at(hours(200))),
        stop(StopReason::SequenceComplete)
    );
}

#[test]
fn a_moved_cart_waits_for_its_new_last_activity() {
    // Step 1 counts from the last activity; an update after arming makes the wake-up wait.
    let sequence = new_visitor();
    let world = World::default();
    let cart = cart_of(EVERYTHING, &sequence, t0());
    let mut moved_snapshot = EVERYTHING.snapshot();
    moved_snapshot.total = eur("49.80");
    let moved = changed(apply_activity(
        Some(&cart),
        &shop(),
        cartback_core::model::cart::Platform::Shopify,
        &activity_with(moved_snapshot, at(mins(40))),
        &sequence,
        at(mins(40)),
    ));
    assert_eq!(
        world.decide(&moved, &sequence, at(hours(1))),
        Decision::Wait {
            until: at(hours(1) + mins(40))
        }
    );
}
