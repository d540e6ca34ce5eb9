//! Properties of the whole pipeline (webhook → store → planner → schedules → sender, and
//! recipient events through the feedback handler) over random event histories, on the
//! in-memory ports of `cartback-local` with a virtual clock.
//!
//! A history has 1–3 people (email and/or phone, an address in one of a few zones or none,
//! new or returning), each with up to 3 carts, and up to 24 events at random times: checkout
//! updates with random consent flags, orders (of seen and unseen carts), opens, clicks,
//! bounces, complaints and unsubscribes (email or SMS). A model of what the system was told
//! checks every message the pipeline sends:
//!
//! - never after the cart's purchase, nor after a purchase of the same person made after
//!   the cart's last activity;
//! - never an email without marketing consent, never an SMS without a phone and SMS consent;
//! - never an SMS between 21:00 and 09:00 in the recipient's local time;
//! - never to a suppressed channel (bounce, complaint, unsubscribe) or an opted-out number;
//! - never more than 3 messages per person in any 7 days;
//! - never the same (cart, step) twice.

use std::collections::{HashMap, HashSet};

use cartback_app::feedback::{Action, RecipientEvent};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::sequence::Channel;
use cartback_core::platforms::webhook::Headers;
use cartback_local::{LocalShops, MemoryRuntime, Report, ReportKind};
use cartback_webhook::WebhookRequest;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

const SHOP: &str = "prop-shop.myshopify.com";
const CHECKOUT: &str = include_str!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const ORDER: &str = include_str!("../../../core/tests/fixtures/shopify/orders_create.json");
/// Carts per person.
const CARTS: usize = 3;

// ---------------------------------------------------------------------------------------------
// Histories

/// Where a phone number or an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Finland,
    NewYork,
    California,
    Japan,
    Britain,
}

impl Place {
    /// A valid number of person `person` here; opted out (ends in 99) or not.
    fn phone(self, person: usize, opted_out: bool) -> String {
        let end = if opted_out { "99" } else { "67" };
        match self {
            Self::Finland => format!("+3584012{person}45{end}"),
            // No California area code: a US number is placed by its country.
            Self::NewYork | Self::California => format!("+1212555{person}2{end}"),
            Self::Japan => format!("+8131234{person}5{end}"),
            Self::Britain => format!("+447400123{person}{end}"),
        }
    }

    /// Shopify's `country_code` and `province_code`.
    fn address(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Finland => ("FI", None),
            Self::NewYork => ("US", Some("NY")),
            Self::California => ("US", Some("CA")),
            Self::Japan => ("JP", None),
            Self::Britain => ("GB", None),
        }
    }

    /// The recipient's zone for an address here.
    fn address_zone(self) -> &'static str {
        match self {
            Self::Finland => "Europe/Helsinki",
            Self::NewYork => "America/New_York",
            Self::California => "America/Los_Angeles",
            Self::Japan => "Asia/Tokyo",
            Self::Britain => "Europe/London",
        }
    }

    /// The recipient's zone for a phone number from here (the country's main zone).
    fn phone_zone(self) -> &'static str {
        match self {
            Self::NewYork | Self::California => "America/New_York",
            other => other.address_zone(),
        }
    }
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        Just(Place::Finland),
        Just(Place::NewYork),
        Just(Place::California),
        Just(Place::Japan),
        Just(Place::Britain),
    ]
}

#[derive(Debug, Clone)]
struct Person {
    email: bool,
    /// Where the number is from, and whether it replied STOP to the SMS service.
    phone: Option<(Place, bool)>,
    address: Option<Place>,
    returning: bool,
    /// Which of the person's email and phone their second cart carries (the first carries
    /// both); only in histories with partial carts, else every cart carries both.
    second_cart: (bool, bool),
}

impl Person {
    /// (email, phone) that cart `cart` carries.
    fn carries(&self, cart: usize, partial: bool) -> (bool, bool) {
        if partial && cart == 1 {
            self.second_cart
        } else {
            (true, true)
        }
    }

    fn email(&self, index: usize) -> Option<String> {
        self.email.then(|| format!("person{index}@example.com"))
    }

    fn phone_number(&self, index: usize) -> Option<String> {
        self.phone
            .map(|(place, opted_out)| place.phone(index, opted_out))
    }

    fn zone(&self) -> &'static str {
        match (self.address, self.phone) {
            (Some(address), _) => address.address_zone(),
            (None, Some((phone, _))) => phone.phone_zone(),
            (None, None) => "UTC",
        }
    }
}

fn person() -> impl Strategy<Value = Person> {
    (
        prop::bool::weighted(0.8),
        prop::option::weighted(0.6, (place(), prop::bool::weighted(0.15))),
        prop::option::weighted(0.7, place()),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(email, phone, address, returning)| Person {
            // Someone we can reach at all.
            email: email || phone.is_none(),
            phone,
            address,
            returning,
            second_cart: (true, true),
        })
}

/// Someone with an email and a phone, whose second cart carries only one of them (or both).
fn person_known_by_parts() -> impl Strategy<Value = Person> {
    let second = prop_oneof![Just((true, true)), Just((true, false)), Just((false, true))];
    (
        person(),
        place(),
        prop::option::weighted(0.5, place()),
        second,
    )
        .prop_map(|(person, phone, address, second_cart)| Person {
            email: true,
            phone: Some(person.phone.unwrap_or((phone, false))),
            address: person.address.or(address),
            second_cart,
            ..person
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recipient {
    Open,
    Click,
    Bounce,
    Complaint,
    UnsubscribeEmail,
    UnsubscribeSms,
}

#[derive(Debug, Clone)]
enum Act {
    /// The cart was created or changed, with these consents.
    Checkout {
        email_consent: bool,
        sms_consent: bool,
    },
    /// The cart (seen or not) was bought.
    Order,
    /// Something the recipient did with a message of the cart (1-based step, or the latest).
    Recipient { kind: Recipient, step: Option<u32> },
}

fn act() -> impl Strategy<Value = Act> {
    let kind = prop_oneof![
        3 => Just(Recipient::Open),
        2 => Just(Recipient::Click),
        1 => Just(Recipient::Bounce),
        1 => Just(Recipient::Complaint),
        1 => Just(Recipient::UnsubscribeEmail),
        1 => Just(Recipient::UnsubscribeSms),
    ];
    prop_oneof![
        6 => (prop::bool::weighted(0.8), prop::bool::weighted(0.6))
            .prop_map(|(email_consent, sms_consent)| Act::Checkout { email_consent, sms_consent }),
        1 => Just(Act::Order),
        3 => (kind, prop::option::of(1_u32..=3))
            .prop_map(|(kind, step)| Act::Recipient { kind, step }),
    ]
}

#[derive(Debug, Clone)]
struct Event {
    /// Minutes after the previous event (at least one: every event has its own minute).
    gap: i64,
    person: usize,
    cart: usize,
    act: Act,
}

#[derive(Debug, Clone)]
struct History {
    people: Vec<Person>,
    events: Vec<Event>,
    /// Second carts carry only part of the person's contact details.
    partial: bool,
}

fn events_of(
    people: Vec<Person>,
    carts: usize,
    partial: bool,
    max_events: usize,
    max_gap: i64,
) -> impl Strategy<Value = History> {
    let n = people.len();
    let event = (1..=max_gap, 0..n, 0..carts, act()).prop_map(|(gap, person, cart, act)| Event {
        gap,
        person,
        cart,
        act,
    });
    (Just(people), prop::collection::vec(event, 1..=max_events)).prop_map(
        move |(people, events)| History {
            people,
            events,
            partial,
        },
    )
}

fn history() -> impl Strategy<Value = History> {
    prop::collection::vec(person(), 1..=3)
        .prop_flat_map(|people| events_of(people, CARTS, false, 24, 720))
}

/// Histories whose people have two carts, the second known by email, phone or both: every
/// two carts of a person share an address. Fewer, sparser events, so sequences run their
/// course before the next cart.
fn history_with_partial_carts() -> impl Strategy<Value = History> {
    prop::collection::vec(person_known_by_parts(), 1..=2)
        .prop_flat_map(|people| events_of(people, 2, true, 8, 3 * 24 * 60))
}

// ---------------------------------------------------------------------------------------------
// Webhooks and recipient events

fn cart_token(person: usize, cart: usize) -> String {
    format!("p{person}-cart-{cart}")
}

fn stamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    if let Some(slot) = value.pointer_mut(pointer) {
        *slot = new;
    }
}

fn checkout_body(
    history: &History,
    index: usize,
    cart: usize,
    at: Timestamp,
    email_consent: bool,
    sms_consent: bool,
) -> Value {
    let person = &history.people[index];
    let (with_email, with_phone) = person.carries(cart, history.partial);
    let mut body: Value = serde_json::from_str(CHECKOUT).expect("the fixture is JSON");
    let at = stamp(at);
    set(&mut body, "/token", json!(cart_token(index, cart)));
    set(&mut body, "/created_at", json!(at));
    set(&mut body, "/updated_at", json!(at));
    let email = person.email(index).filter(|_| with_email);
    set(&mut body, "/email", json!(email));
    set(&mut body, "/customer/email", json!(email));
    set(
        &mut body,
        "/phone",
        json!(person.phone_number(index).filter(|_| with_phone)),
    );
    set(&mut body, "/customer/phone", Value::Null);
    set(&mut body, "/buyer_accepts_marketing", json!(email_consent));
    set(
        &mut body,
        "/buyer_accepts_sms_marketing",
        json!(sms_consent),
    );
    set(
        &mut body,
        "/customer/orders_count",
        json!(u32::from(person.returning)),
    );
    let address = person.address.map(|place| {
        let (country, province) = place.address();
        json!({ "country_code": country, "province_code": province })
    });
    set(&mut body, "/shipping_address", json!(address));
    set(&mut body, "/billing_address", json!(address));
    body
}

fn order_body(person: &Person, index: usize, cart: usize, at: Timestamp) -> Value {
    let mut body: Value = serde_json::from_str(ORDER).expect("the fixture is JSON");
    let at = stamp(at);
    set(&mut body, "/checkout_token", json!(cart_token(index, cart)));
    for pointer in ["/created_at", "/processed_at", "/updated_at"] {
        set(&mut body, pointer, json!(at));
    }
    let email = person.email(index);
    for pointer in ["/email", "/contact_email", "/customer/email"] {
        set(&mut body, pointer, json!(email));
    }
    set(&mut body, "/phone", json!(person.phone_number(index)));
    set(&mut body, "/customer/phone", Value::Null);
    body
}

fn webhook(topic: &str, body: &Value) -> WebhookRequest {
    WebhookRequest {
        shop: SHOP.to_owned(),
        platform: "shopify".to_owned(),
        headers: Headers::new().with(cartback_core::platforms::shopify::TOPIC_HEADER, topic),
        body: body.to_string().into_bytes(),
    }
}

// ---------------------------------------------------------------------------------------------
// The model: what the system was told, and the rules every message must keep

#[derive(Debug, Clone)]
struct CartModel {
    person: usize,
    /// A checkout of it was seen (it has a snapshot).
    seen: bool,
    last_activity: Timestamp,
    email_consent: bool,
    sms_consent: bool,
    converted_at: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct PersonModel {
    orders: Vec<Timestamp>,
    email_suppressed: Option<Timestamp>,
    sms_suppressed: Option<Timestamp>,
    sends: Vec<Timestamp>,
}

/// What the runs did, to show the properties were not kept vacuously.
#[derive(Debug, Default, Clone)]
struct Coverage {
    /// Per output line: "sent email", "sent sms", "deferred quiet_hours", "stopped superseded", ...
    lines: HashMap<String, usize>,
}

impl Coverage {
    fn count(&mut self, report: &Report) {
        let detail = match report.kind {
            ReportKind::Sent => report.channel.unwrap_or_default().to_owned(),
            _ => report.reason.clone().unwrap_or_default(),
        };
        let kind = serde_json::to_value(report.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *self.lines.entry(format!("{kind} {detail}")).or_default() += 1;
    }

    fn seen(&self, line: &str) -> usize {
        self.lines.get(line).copied().unwrap_or_default()
    }

    fn add(&mut self, other: Coverage) {
        for (line, n) in other.lines {
            *self.lines.entry(line).or_default() += n;
        }
    }
}

struct Model<'a> {
    history: &'a History,
    coverage: Coverage,
    carts: HashMap<String, CartModel>,
    people: Vec<PersonModel>,
    sent: HashSet<(String, u32)>,
    /// Every message, for the failure report.
    log: Vec<String>,
}

impl<'a> Model<'a> {
    fn new(history: &'a History) -> Self {
        Self {
            history,
            carts: HashMap::new(),
            people: history
                .people
                .iter()
                .map(|_| PersonModel::default())
                .collect(),
            sent: HashSet::new(),
            log: Vec::new(),
            coverage: Coverage::default(),
        }
    }

    fn checkout(&mut self, event: &Event, at: Timestamp, email_consent: bool, sms_consent: bool) {
        let token = cart_token(event.person, event.cart);
        let cart = self.carts.entry(token).or_insert(CartModel {
            person: event.person,
            seen: false,
            last_activity: at,
            email_consent,
            sms_consent,
            converted_at: None,
        });
        if cart.converted_at.is_some() {
            return;
        }
        cart.seen = true;
        cart.last_activity = at;
        cart.email_consent = email_consent;
        cart.sms_consent = sms_consent;
    }

    fn order(&mut self, event: &Event, at: Timestamp) {
        let token = cart_token(event.person, event.cart);
        let cart = self.carts.entry(token).or_insert(CartModel {
            person: event.person,
            seen: false,
            last_activity: at,
            email_consent: false,
            sms_consent: false,
            converted_at: None,
        });
        cart.converted_at.get_or_insert(at);
        self.people[event.person].orders.push(at);
    }

    fn recipient(&mut self, event: &Event, kind: Recipient, at: Timestamp) {
        let person = &self.history.people[event.person];
        // Suppression goes through the cart's snapshot: an unseen cart changes nothing, nor
        // does one without the channel's address.
        let seen = self
            .carts
            .get(&cart_token(event.person, event.cart))
            .is_some_and(|c| c.seen);
        let (with_email, with_phone) = person.carries(event.cart, self.history.partial);
        let model = &mut self.people[event.person];
        match kind {
            Recipient::Bounce | Recipient::Complaint | Recipient::UnsubscribeEmail
                if seen && person.email && with_email =>
            {
                model.email_suppressed.get_or_insert(at);
            }
            Recipient::UnsubscribeSms if seen && person.phone.is_some() && with_phone => {
                model.sms_suppressed.get_or_insert(at);
            }
            _ => {}
        }
    }

    /// Checks one decision the pipeline printed, against what it was told before it.
    fn observe(&mut self, report: &Report) -> Result<(), TestCaseError> {
        self.coverage.count(report);
        if report.kind != ReportKind::Sent {
            return Ok(());
        }
        let at = report.at;
        let what = format!(
            "{} sent {} step {} by {:?}",
            stamp(at),
            report.cart,
            report.step,
            report.channel
        );
        self.log.push(what.clone());
        let cart = self
            .carts
            .get(&report.cart)
            .ok_or_else(|| TestCaseError::fail(format!("{what}: a cart never seen")))?
            .clone();
        let index = cart.person;
        let person = &self.history.people[index];
        let model = &self.people[index];
        // Never the same step twice.
        prop_assert!(
            self.sent.insert((report.cart.clone(), report.step)),
            "{} twice",
            what
        );
        // Never after a purchase.
        prop_assert!(cart.converted_at.is_none(), "{} after its purchase", what);
        prop_assert!(
            model.orders.iter().all(|o| *o < cart.last_activity),
            "{} after a purchase of the same person since the cart's last activity ({:?})",
            what,
            model.orders
        );
        match report.channel {
            Some("email") => {
                prop_assert!(cart.email_consent, "{} without email consent", what);
                prop_assert_eq!(report.to.clone(), person.email(index), "{}", what);
                prop_assert!(
                    model.email_suppressed.is_none(),
                    "{} after the email was suppressed at {:?}",
                    what,
                    model.email_suppressed
                );
            }
            Some("sms") => {
                prop_assert!(cart.sms_consent, "{} without SMS consent", what);
                prop_assert_eq!(report.to.clone(), person.phone_number(index), "{}", what);
                prop_assert!(
                    person.phone.is_some_and(|(_, opted_out)| !opted_out),
                    "{} to a number that opted out",
                    what
                );
                prop_assert!(
                    model.sms_suppressed.is_none(),
                    "{} after an SMS unsubscribe",
                    what
                );
                let zone = TimeZone::get(person.zone()).expect("a bundled zone");
                let local = zone.to_datetime(at).time();
                prop_assert!(
                    (Time::constant(9, 0, 0, 0)..Time::constant(21, 0, 0, 0)).contains(&local),
                    "{} at {} local time in {}",
                    what,
                    local,
                    person.zone()
                );
            }
            other => prop_assert!(false, "{} on channel {:?}", what, other),
        }
        self.people[index].sends.push(at);
        Ok(())
    }

    /// The checks over the whole run.
    fn finish(&self) -> Result<(), TestCaseError> {
        let week = SignedDuration::from_hours(24 * 7);
        for (index, person) in self.people.iter().enumerate() {
            let mut sends = person.sends.clone();
            sends.sort();
            for w in sends.windows(4) {
                prop_assert!(
                    w[3].duration_since(w[0]) >= week,
                    "person {} got 4 messages within a week: {:?}\n{}",
                    index,
                    w,
                    self.log.join("\n")
                );
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Running a history

fn failed(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

async fn run(history: &History, shops: LocalShops) -> Result<Coverage, TestCaseError> {
    // Across the October and November DST changes of Europe and the US.
    let start: Timestamp = "2026-10-20T06:00:00Z".parse().expect("valid");
    let stack = MemoryRuntime::new(start, shops);
    let shop = ShopId::parse(SHOP).map_err(failed)?;
    let mut model = Model::new(history);
    let mut now = start;
    for event in &history.events {
        now = now
            .checked_add(SignedDuration::from_mins(event.gap))
            .map_err(failed)?;
        for report in stack.run_until(now).await.map_err(failed)? {
            model.observe(&report)?;
        }
        let person = &history.people[event.person];
        match &event.act {
            Act::Checkout {
                email_consent,
                sms_consent,
            } => {
                let body = checkout_body(
                    history,
                    event.person,
                    event.cart,
                    now,
                    *email_consent,
                    *sms_consent,
                );
                let (reply, reports) = stack
                    .deliver(&webhook("checkouts/update", &body))
                    .await
                    .map_err(failed)?;
                prop_assert!(reply.0.is_ok(), "checkout refused: {:?}", reply.0);
                for report in &reports {
                    model.observe(report)?;
                }
                model.checkout(event, now, *email_consent, *sms_consent);
            }
            Act::Order => {
                let body = order_body(person, event.person, event.cart, now);
                let (reply, reports) = stack
                    .deliver(&webhook("orders/create", &body))
                    .await
                    .map_err(failed)?;
                prop_assert!(reply.0.is_ok(), "order refused: {:?}", reply.0);
                for report in &reports {
                    model.observe(report)?;
                }
                model.order(event, now);
            }
            Act::Recipient { kind, step } => {
                let action = match kind {
                    Recipient::Open => Action::Open,
                    Recipient::Click => Action::Click,
                    Recipient::Bounce => Action::Bounce,
                    Recipient::Complaint => Action::Complaint,
                    Recipient::UnsubscribeEmail => Action::Unsubscribe(Channel::Email),
                    Recipient::UnsubscribeSms => Action::Unsubscribe(Channel::Sms),
                };
                let recipient = RecipientEvent {
                    shop: shop.clone(),
                    cart: CartId::parse(cart_token(event.person, event.cart)).map_err(failed)?,
                    step: step.map(|s| s - 1),
                    action,
                    at: now,
                    // As `simulate` does: the event names the cart, not the address.
                    address: None,
                };
                stack.recipient_event(&recipient).await.map_err(failed)?;
                model.recipient(event, *kind, now);
            }
        }
    }
    let end = now
        .checked_add(SignedDuration::from_hours(24 * 30))
        .map_err(failed)?;
    for report in stack.run_until(end).await.map_err(failed)? {
        model.observe(&report)?;
    }
    model.finish()?;
    Ok(model.coverage)
}

fn block_on(history: &History, shops: LocalShops) -> Result<Coverage, TestCaseError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(failed)?
        .block_on(run(history, shops))
}

// ---------------------------------------------------------------------------------------------
// Histories built to reach each rule

/// A person with an email and an address in Finland; a phone from there when `phone`.
fn finn(phone: bool) -> Person {
    Person {
        email: true,
        phone: phone.then_some((Place::Finland, false)),
        address: Some(Place::Finland),
        returning: false,
        second_cart: (true, true),
    }
}

fn checkout(gap: i64, cart: usize, email_consent: bool, sms_consent: bool) -> Event {
    Event {
        gap,
        person: 0,
        cart,
        act: Act::Checkout {
            email_consent,
            sms_consent,
        },
    }
}

fn later(gap: i64, cart: usize, act: Act) -> Event {
    Event {
        gap,
        person: 0,
        cart,
        act,
    }
}

fn recipient(kind: Recipient) -> Act {
    Act::Recipient {
        kind,
        step: Some(1),
    }
}

/// Histories built to reach the lines of the pipeline's output that the rules produce, each
/// listed with the lines it reaches, every line at least once: every run of the properties covers every rule by construction,
/// whatever the random histories happen to draw. The history starts at 06:00 UTC (09:00 in
/// Helsinki); a gap is in minutes.
fn covering_histories() -> Vec<(&'static [&'static str], History)> {
    let one = |person: Person, events: Vec<Event>| History {
        people: vec![person],
        events,
        partial: false,
    };
    vec![
        // Three emails, nothing in the way.
        (
            &["sent email"],
            one(finn(false), vec![checkout(60, 0, true, false)]),
        ),
        // The first email goes unopened: the second step prefers SMS, due ten hours after
        // the first email, at 21:00 in Helsinki — quiet hours, so it waits for the morning.
        (
            &["sent sms", "deferred quiet_hours"],
            one(finn(true), vec![checkout(60, 0, true, true)]),
        ),
        // SMS consent without email consent: the email steps are passed over, the SMS
        // step still goes.
        (
            &["skipped no_email_consent"],
            one(finn(true), vec![checkout(60, 0, false, true)]),
        ),
        // The first cart's three emails, then a second cart four days later: its first
        // email would be the fourth message within a week.
        (
            &["deferred frequency_cap"],
            one(
                finn(false),
                vec![
                    checkout(60, 0, true, false),
                    checkout(4 * 24 * 60, 1, true, false),
                ],
            ),
        ),
        (
            &["stopped purchased"],
            one(
                finn(false),
                vec![checkout(60, 0, true, false), later(90, 0, Act::Order)],
            ),
        ),
        // An order of a cart never seen: the person bought after the first cart's activity.
        (
            &["stopped purchased_elsewhere"],
            one(
                finn(false),
                vec![checkout(60, 0, true, false), later(90, 1, Act::Order)],
            ),
        ),
        (
            &["stopped superseded"],
            one(
                finn(false),
                vec![checkout(60, 0, true, false), checkout(90, 1, true, false)],
            ),
        ),
        (
            &["stopped unsubscribed"],
            one(
                finn(false),
                vec![
                    checkout(60, 0, true, false),
                    later(90, 0, recipient(Recipient::UnsubscribeEmail)),
                ],
            ),
        ),
        (
            &["stopped bounced"],
            one(
                finn(false),
                vec![
                    checkout(60, 0, true, false),
                    later(90, 0, recipient(Recipient::Bounce)),
                ],
            ),
        ),
    ]
}

/// Runs the histories built to reach each rule, then `cases` random histories (from the
/// suite's seed), against a shop with these settings. Stops at the first broken rule.
fn check_histories(
    histories: impl Strategy<Value = History>,
    cases: u32,
    shops: &LocalShops,
    max_shrink_iters: u32,
) -> (Result<(), String>, Coverage) {
    let mut total = Coverage::default();
    for (lines, history) in covering_histories() {
        match block_on(&history, shops.clone()) {
            Ok(coverage) => total.add(coverage),
            Err(failure) => {
                return (
                    Err(format!("the history built for {lines:?}: {failure}")),
                    total,
                );
            }
        }
    }
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        max_shrink_iters,
        ..cartback_testkit::proptest_config(cases)
    });
    let random = std::sync::Mutex::new(Coverage::default());
    let result = runner.run(&histories, |history| {
        let coverage = block_on(&history, shops.clone())?;
        random.lock().expect("not poisoned").add(coverage);
        Ok(())
    });
    total.add(random.into_inner().expect("not poisoned"));
    (result.map_err(|failure| failure.to_string()), total)
}

/// Cases per run: each runs the whole pipeline over a month of virtual time.
const CASES: u32 = 64;

/// Every line a rule of the default shop produces.
const RULES: [&str; 10] = [
    "sent email",
    "sent sms",
    "skipped no_email_consent",
    "deferred quiet_hours",
    "deferred frequency_cap",
    "stopped purchased",
    "stopped purchased_elsewhere",
    "stopped superseded",
    "stopped unsubscribed",
    "stopped bounced",
];

#[test]
fn each_rule_has_a_history_that_reaches_it() {
    let built = covering_histories();
    for rule in RULES {
        let (_, history) = built
            .iter()
            .find(|(lines, _)| lines.contains(&rule))
            .unwrap_or_else(|| panic!("no history is built to reach `{rule}`"));
        let coverage = block_on(history, LocalShops::defaults())
            .unwrap_or_else(|failure| panic!("the history built for `{rule}`: {failure}"));
        assert!(
            coverage.seen(rule) > 0,
            "the history built for `{rule}` no longer reaches it: {coverage:#?}"
        );
    }
}

#[test]
fn every_message_keeps_every_rule() {
    let (result, total) = check_histories(history(), CASES, &LocalShops::defaults(), 1024);
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Not kept vacuously: the built histories reach every rule.
    for line in RULES {
        assert!(total.seen(line) > 0, "no `{line}`: {total:#?}");
    }
}

#[test]
fn the_model_catches_a_shop_whose_rules_allow_what_the_defaults_forbid() {
    // The properties hold the defaults to account: with a rule switched off they fail (on
    // the history built for that rule, if no random one finds it first).
    type Relax = fn(&mut cartback_core::model::shop::Rules);
    let shop = ShopId::parse(SHOP).expect("valid shop id");
    let relaxed = |change: Relax| {
        let mut settings = cartback_core::model::shop::ShopSettings::defaults_for(&shop);
        change(&mut settings.rules);
        LocalShops::defaults().with_settings(shop.clone(), settings)
    };
    let cases: [(&str, Relax, &str); 3] = [
        (
            "email consent not required",
            |rules| rules.email_consent = cartback_core::model::shop::EmailConsent::NotRequired,
            "without email consent",
        ),
        (
            "no SMS quiet hours",
            |rules| rules.sms_quiet_hours = None,
            "local time",
        ),
        (
            "no frequency cap",
            |rules| rules.frequency_cap.messages = 0,
            "within a week",
        ),
    ];
    for (what, change, complaint) in cases {
        let (result, _) = check_histories(history(), CASES, &relaxed(change), 0);
        match result {
            Ok(()) => panic!("{what}: no history broke a rule"),
            Err(failure) => assert!(failure.contains(complaint), "{what}: {failure}"),
        }
    }
}

#[test]
fn every_message_keeps_every_rule_when_later_carts_know_the_person_by_one_address() {
    // Such histories are rarer: look harder.
    let (result, _) = check_histories(
        history_with_partial_carts(),
        8 * CASES,
        &LocalShops::defaults(),
        1024,
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn the_phone_numbers_of_the_histories_are_valid_and_placed_where_expected() {
    // The model's zones must be the ones the pipeline derives.
    use cartback_core::rules::zone::{ZoneHints, recipient_zone};
    for place in [
        Place::Finland,
        Place::NewYork,
        Place::California,
        Place::Japan,
        Place::Britain,
    ] {
        for person in 0..3 {
            for opted_out in [false, true] {
                let raw = place.phone(person, opted_out);
                let phone = cartback_core::model::contact::Phone::parse(&raw, None)
                    .unwrap_or_else(|_| panic!("{raw} is a valid number"));
                assert_eq!(phone.as_str(), raw);
                let hints = ZoneHints {
                    phone_e164: Some(phone.as_str()),
                    ..ZoneHints::default()
                };
                let (zone, _) = recipient_zone(&hints, &TimeZone::UTC);
                assert_eq!(zone.iana_name(), Some(place.phone_zone()), "{raw}");
            }
        }
        let (country, region) = place.address();
        let hints = ZoneHints {
            country: Some(country),
            region,
            ..ZoneHints::default()
        };
        let (zone, _) = recipient_zone(&hints, &TimeZone::UTC);
        assert_eq!(zone.iana_name(), Some(place.address_zone()), "{place:?}");
    }
}

#[test]
fn a_history_with_every_kind_of_event_runs_clean() {
    // A fixed history as a smoke test of the harness itself: the model sees the messages.
    let ada = Person {
        email: true,
        phone: Some((Place::Finland, false)),
        address: Some(Place::Finland),
        returning: false,
        second_cart: (true, true),
    };
    let history = History {
        partial: false,
        people: vec![ada],
        events: vec![
            Event {
                gap: 60,
                person: 0,
                cart: 0,
                act: Act::Checkout {
                    email_consent: true,
                    sms_consent: true,
                },
            },
            Event {
                gap: 90,
                person: 0,
                cart: 0,
                act: Act::Recipient {
                    kind: Recipient::Open,
                    step: Some(1),
                },
            },
        ],
    };
    let coverage = block_on(&history, LocalShops::defaults()).expect("no rule broken");
    assert_eq!(coverage.seen("sent email"), 3, "{coverage:?}");
}
