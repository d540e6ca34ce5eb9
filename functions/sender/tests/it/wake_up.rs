//! The sender on in-memory ports: one wake-up at a time, on a virtual clock, with the real
//! renderer. Carts are written through `MemoryStore` as the webhook would write them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cartback_app::{Absent, Bundle, Messaging};
use cartback_core::model::cart::{
    CartActivity, CartEvent, CartRecord, CartStatus, ContactRecord, Person, Platform,
    SuppressionReason, Versioned,
};
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::sequence::{Channel, Sequence};
use cartback_core::model::shop::{EmailConsent, ShopSettings};
use cartback_core::platforms::webhook::Headers;
use cartback_core::ports::{CartStore, Mailer, OutgoingEmail, PortError, Put};
use cartback_core::rules::decide::{DeferReason, SkipReason, StopReason};
use cartback_core::rules::lifecycle::{
    Applied, CLAIM_EXPIRY, Stale, apply_activity, apply_conversion, claim, contact_ordered,
    contact_suppressed, rearm,
};
use cartback_local::{
    LocalShops, MemoryMailer, MemoryOfferCodes, MemorySms, MemoryStore, VirtualClock,
};
use cartback_sender::{Metrics, Outcome, SendError, handle};
use jiff::{SignedDuration, Timestamp};

const SHOP: &str = "demo-shop.myshopify.com";
const TOKEN: &str = "4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87";
const RECOVERY_URL: &str = "https://demo-shop.myshopify.com/90123456789/checkouts/4f3c2a1b9e8d7c6b5a4f3e2d1c0b9a87/recover?key=5e0b1d7c2a9f48e3b6c1d0a9f8e7d6c5";
const CHECKOUT: &[u8] =
    include_bytes!("../../../core/tests/fixtures/shopify/checkouts_create.json");
const CHECKOUT_NO_CONTACT: &[u8] =
    include_bytes!("../../../core/tests/fixtures/shopify/checkouts_create_no_contact.json");
const ORDER: &[u8] = include_bytes!("../../../core/tests/fixtures/shopify/orders_create.json");

fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

/// 2026-11-02T08:00:00Z, the fixture checkout's updated_at.
fn t0() -> Timestamp {
    ts("2026-11-02T08:00:00Z")
}

fn at(offset: SignedDuration) -> Timestamp {
    t0().checked_add(offset).expect("in range")
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn shop() -> ShopId {
    ShopId::parse(SHOP).expect("valid shop id")
}

fn cart_id() -> CartId {
    CartId::parse(TOKEN).expect("valid cart id")
}

fn parse(topic: &str, body: &[u8]) -> CartEvent {
    cartback_core::platforms::shopify::parse(&Headers::new().with("X-Shopify-Topic", topic), body)
        .expect("the fixture parses")
        .event
        .expect("an event")
}

/// A fixture checkout as activity at `updated_at`.
fn activity(body: &[u8], updated_at: Timestamp) -> CartActivity {
    let CartEvent::Activity(mut activity) = parse("checkouts/create", body) else {
        panic!("checkouts are cart activity");
    };
    activity.updated_at = updated_at;
    activity
}

/// A fixture body with `edit` applied.
fn edited(body: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(body).expect("JSON");
    edit(&mut value);
    serde_json::to_vec(&value).expect("serialises")
}

fn changed(applied: Applied) -> CartRecord {
    match applied {
        Applied::Changed(record) => *record,
        other => panic!("expected a change, got {other:?}"),
    }
}

fn wake(step: u32, generation: u32) -> WakeUp {
    WakeUp {
        shop: shop(),
        cart: cart_id(),
        step,
        generation,
    }
}

/// `store` is the table itself; the sender reaches it through `S` (the table, or a wrapper
/// that fails some calls).
struct Harness<M, S = MemoryStore> {
    store: MemoryStore,
    clock: VirtualClock,
    deps:
        Bundle<S, M, MemorySms, Absent, LocalShops, Absent, Absent, VirtualClock, MemoryOfferCodes>,
}

impl Harness<MemoryMailer> {
    fn new() -> Self {
        Self::with_mailer(MemoryMailer::default())
    }

    fn outbox(&self) -> Vec<cartback_local::SentEmail> {
        self.deps.mailer.outbox()
    }
}

impl<M: Mailer> Harness<M> {
    fn with_mailer(mailer: M) -> Self {
        Harness::with_store(mailer, MemoryStore::clone)
    }
}

impl<M: Mailer, S: CartStore> Harness<M, S> {
    /// The sender sees the table through `wrap`.
    fn with_store(mailer: M, wrap: impl FnOnce(&MemoryStore) -> S) -> Self {
        let store = MemoryStore::default();
        let clock = VirtualClock::new(t0());
        Self {
            deps: Bundle {
                store: wrap(&store),
                mailer,
                sms: MemorySms::default(),
                schedules: Absent,
                shops: LocalShops::defaults(),
                secrets: Absent,
                store_api: Absent,
                clock: clock.clone(),
                offer_codes: MemoryOfferCodes::default(),
                erasures: cartback_app::Absent,
                metrics: Metrics::memory(),
                messaging: Messaging::default(),
            },
            store,
            clock,
        }
    }

    async fn cart(&self) -> Versioned<CartRecord> {
        self.store
            .cart(&shop(), &cart_id())
            .await
            .expect("reads")
            .expect("the cart is stored")
    }

    async fn put(&self, record: CartRecord) {
        let expected = self
            .store
            .cart(&record.shop, &record.cart)
            .await
            .expect("reads")
            .map(|v| v.version);
        self.store
            .write(vec![Put::Cart {
                record: Box::new(record),
                expected,
            }])
            .await
            .expect("writes");
    }

    /// Ada's checkout (last activity t0), armed for step 1 at t0 + 1 h.
    async fn checkout(&self) -> CartRecord {
        self.checkout_of(CHECKOUT).await
    }

    async fn checkout_of(&self, body: &[u8]) -> CartRecord {
        let record = changed(apply_activity(
            None,
            &shop(),
            Platform::Shopify,
            &activity(body, t0()),
            &Sequence::default_sequence(),
            t0(),
        ));
        self.put(record.clone()).await;
        record
    }

    /// Puts a person's record in the table, as another cart's webhook or a feedback event
    /// left it (a new item).
    async fn store_contact(&self, record: ContactRecord) {
        self.store
            .write(vec![Put::Contact {
                record,
                expected: None,
            }])
            .await
            .expect("the contact is written");
    }

    async fn wake_at(&self, when: Timestamp, wake_up: &WakeUp) -> Result<Outcome, SendError> {
        self.clock.advance_to(when);
        handle(wake_up, &self.deps).await
    }
}

fn sent_step(outcome: &Outcome) -> Option<u32> {
    match outcome {
        Outcome::Sent { step, .. } => Some(*step),
        _ => None,
    }
}

#[tokio::test]
async fn a_due_wake_up_sends_step_1_and_arms_step_2() {
    let harness = Harness::new();
    harness.checkout().await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    match &outcome {
        Outcome::Sent {
            step,
            channel,
            template,
            sequence,
            to,
            subject,
            message_id,
            segments,
            offer_code,
            variant,
            confirmed,
        } => {
            assert!(*confirmed, "SES answered");
            assert_eq!(*step, 0);
            assert_eq!(*offer_code, None, "the reminder has no offer");
            assert_eq!(*variant, None, "the step is not split");
            assert_eq!(sequence, "default");
            assert_eq!(*segments, 0, "an email has no SMS segments");
            assert_eq!(*channel, Channel::Email);
            assert_eq!(template, "reminder");
            assert_eq!(to.as_str(), "ada@example.com");
            assert_eq!(subject, "Ada, did you forget something?");
            assert_eq!(message_id, "local-000001");
        }
        other => panic!("expected a send, got {other:?}"),
    }
    let cart = harness.cart().await.value;
    assert_eq!(cart.sent.len(), 1);
    assert_eq!(cart.sent[0].sent_at, at(hours(1)));
    assert_eq!(cart.next_step, 1);
    assert_eq!(cart.generation, 2);
    assert_eq!(cart.claimed_step, None);
    assert_eq!(cart.next_due_at, Some(at(hours(24))));
}

#[tokio::test]
async fn the_same_wake_up_delivered_twice_sends_one_email() {
    let harness = Harness::new();
    harness.checkout().await;

    let first = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");
    let second = harness
        .wake_at(at(hours(1) + mins(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(sent_step(&first), Some(0));
    assert_eq!(second, Outcome::Stale(Stale::Generation));
    assert_eq!(harness.outbox().len(), 1);
    assert_eq!(harness.cart().await.value.sent.len(), 1);
}

#[tokio::test]
async fn two_copies_of_a_wake_up_running_together_send_one_email() {
    let harness = Harness::new();
    harness.checkout().await;
    harness.clock.advance_to(at(hours(1)));

    let (first, second) = (wake(0, 1), wake(0, 1));

    let (a, b) = tokio::join!(
        handle(&first, &harness.deps),
        handle(&second, &harness.deps)
    );

    let sends = [a.expect("handled"), b.expect("handled")]
        .iter()
        .filter_map(sent_step)
        .count();
    assert_eq!(sends, 1);
    assert_eq!(harness.outbox().len(), 1);
}

#[tokio::test]
async fn a_wake_up_of_an_old_generation_is_stale_and_sends_nothing() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    // The cart was re-armed since: generation 2 at t0 + 2 h.
    harness.put(rearm(&cart, at(hours(2)))).await;
    let before = harness.cart().await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(outcome, Outcome::Stale(Stale::Generation));
    assert!(harness.outbox().is_empty());
    assert_eq!(harness.cart().await, before);
}

#[tokio::test]
async fn a_wake_up_for_a_step_already_past_is_stale() {
    let harness = Harness::new();
    harness.checkout().await;
    harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    // Generation 2 is right, but step 1 (index 0) is done.
    let outcome = harness
        .wake_at(at(hours(24)), &wake(0, 2))
        .await
        .expect("handled");

    assert_eq!(outcome, Outcome::Stale(Stale::Step));
    assert_eq!(harness.outbox().len(), 1);
}

#[tokio::test]
async fn a_cart_updated_after_arming_is_rearmed_for_its_new_due_time_and_sends_nothing_now() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    let updated_at = at(mins(20));
    let updated = changed(apply_activity(
        Some(&cart),
        &shop(),
        Platform::Shopify,
        &activity(CHECKOUT, updated_at),
        &Sequence::default_sequence(),
        updated_at,
    ));
    assert_eq!(
        updated.next_due_at,
        Some(at(hours(1))),
        "an update does not move the schedule"
    );
    harness.put(updated).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(
        outcome,
        Outcome::Rearmed {
            until: at(hours(1) + mins(20))
        }
    );
    assert!(harness.outbox().is_empty());
    let cart = harness.cart().await.value;
    assert_eq!(cart.next_due_at, Some(at(hours(1) + mins(20))));
    assert_eq!(cart.generation, 2);
    assert_eq!(cart.next_step, 0);
    assert!(cart.sent.is_empty());

    // The planner's new schedule fires at the new time and sends.
    let outcome = harness
        .wake_at(at(hours(1) + mins(20)), &wake(0, 2))
        .await
        .expect("handled");
    assert_eq!(sent_step(&outcome), Some(0));
    assert_eq!(harness.outbox().len(), 1);
}

#[tokio::test]
async fn a_converted_cart_sends_nothing() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    let CartEvent::Conversion(order) = parse("orders/create", ORDER) else {
        panic!("orders are conversions");
    };
    harness
        .put(changed(apply_conversion(
            Some(&cart),
            &shop(),
            Platform::Shopify,
            &order,
            &cart.cart,
            &Person::default(),
            at(mins(30)),
        )))
        .await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert!(
        matches!(
            outcome,
            Outcome::Stale(Stale::Closed)
                | Outcome::Stopped {
                    reason: StopReason::Purchased,
                    ..
                }
        ),
        "{outcome:?}"
    );
    assert!(harness.outbox().is_empty());
    let cart = harness.cart().await.value;
    assert_eq!(cart.status, CartStatus::Converted);
    assert!(cart.sent.is_empty());
}

#[tokio::test]
async fn a_person_who_bought_since_the_cart_was_left_gets_nothing() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    let key = cart.contact.clone().expect("a contact");
    // An order on another cart, after this cart's last activity.
    let contact = contact_ordered(None, &shop(), &key, at(mins(30))).expect("a change");
    harness.store_contact(contact).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(
        outcome,
        Outcome::Stopped {
            reason: StopReason::PurchasedElsewhere,
            step: 0
        }
    );
    assert!(harness.outbox().is_empty());
    let cart = harness.cart().await.value;
    assert_eq!(cart.next_due_at, None);
    assert_eq!(cart.stop_reason, Some(StopReason::PurchasedElsewhere));
}

#[tokio::test]
async fn an_unsubscribed_person_gets_nothing() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    let key = cart.contact.clone().expect("a contact");
    let contact = contact_suppressed(
        None,
        &shop(),
        &key,
        Channel::Email,
        SuppressionReason::Unsubscribed,
        at(mins(10)),
    )
    .expect("a change");
    harness.store_contact(contact).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(
        outcome,
        Outcome::Stopped {
            reason: StopReason::Unsubscribed,
            step: 0
        }
    );
    assert!(harness.outbox().is_empty());
}

#[tokio::test]
async fn a_checkout_without_email_or_phone_stops_with_no_contact() {
    let harness = Harness::new();
    let record = harness.checkout_of(CHECKOUT_NO_CONTACT).await;
    let wake_up = WakeUp {
        cart: record.cart.clone(),
        ..wake(0, 1)
    };

    let outcome = harness
        .wake_at(at(hours(1)), &wake_up)
        .await
        .expect("handled");

    assert_eq!(
        outcome,
        Outcome::Stopped {
            reason: StopReason::NoContact,
            step: 0
        }
    );
    assert!(harness.outbox().is_empty());
}

#[tokio::test]
async fn a_wake_up_for_a_cart_that_is_gone_is_harmless() {
    let harness = Harness::new();

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(outcome, Outcome::Gone);
    assert!(harness.outbox().is_empty());
}

#[tokio::test]
async fn the_three_default_steps_go_out_at_1_24_and_72_hours_then_the_sequence_is_complete() {
    let harness = Harness::new();
    harness.checkout().await;
    let mut templates = Vec::new();

    for (step, due) in [(0, hours(1)), (1, hours(24)), (2, hours(72))] {
        let cart = harness.cart().await.value;
        assert_eq!(cart.next_due_at, Some(at(due)), "step {}", step + 1);
        let outcome = harness
            .wake_at(at(due), &wake(step, cart.generation))
            .await
            .expect("handled");
        match outcome {
            Outcome::Sent { template, .. } => templates.push(template),
            other => panic!("step {}: {other:?}", step + 1),
        }
    }

    assert_eq!(templates, ["reminder", "reassure", "offer"]);
    let cart = harness.cart().await.value;
    assert_eq!(cart.next_due_at, None);
    assert_eq!(cart.stop_reason, Some(StopReason::SequenceComplete));
    assert_eq!(harness.outbox().len(), 3);
}

/// A mail service that fails the first calls with the given errors, then delivers.
struct FlakyMailer {
    inner: MemoryMailer,
    /// Popped from the end: the last one is the first failure.
    failures: Mutex<Vec<PortError>>,
    attempts: AtomicUsize,
}

impl FlakyMailer {
    fn failing_with(error: PortError) -> Self {
        Self {
            inner: MemoryMailer::default(),
            failures: Mutex::new(vec![error]),
            attempts: AtomicUsize::new(0),
        }
    }
}

impl Mailer for FlakyMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, PortError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let failure = self.failures.lock().expect("not poisoned").pop();
        match failure {
            Some(error) => Err(error),
            None => self.inner.send_email(email).await,
        }
    }
}

#[tokio::test]
async fn a_throttled_mail_error_defers_the_step_seconds_later_and_it_goes_out_once() {
    let harness = Harness::with_mailer(FlakyMailer::failing_with(PortError::retryable(
        "ses",
        "TooManyRequestsException",
    )));
    harness.checkout().await;

    let first = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("a throttled send is an outcome, not a failed invocation");

    let Outcome::Deferred {
        step: 0,
        until,
        reason: DeferReason::Throttled,
    } = first
    else {
        panic!("{first:?}");
    };
    assert!(until > at(hours(1)) && until <= at(hours(1)) + SignedDuration::from_secs(3));
    let cart = harness.cart().await.value;
    assert_eq!(cart.claimed_step, None, "the claim is released");
    assert!(cart.sent.is_empty());
    assert_eq!(cart.stop_reason, None, "never stopped");
    assert_eq!(cart.next_due_at, Some(until));
    assert_eq!(cart.generation, 2, "a new schedule");

    let again = harness.wake_at(until, &wake(0, 2)).await.expect("handled");
    let late_copy = harness
        .wake_at(until + mins(1), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(sent_step(&again), Some(0));
    assert_eq!(late_copy, Outcome::Stale(Stale::Generation));
    assert_eq!(harness.deps.mailer.inner.outbox().len(), 1);
    assert_eq!(harness.deps.mailer.attempts.load(Ordering::SeqCst), 2);
    let deferred: Vec<String> = harness
        .deps
        .metrics
        .emitted()
        .iter()
        .filter(|m| m.value_of("SendsDeferred").is_some())
        .map(|m| {
            serde_json::from_str::<serde_json::Value>(&m.to_line()).expect("JSON")["Reason"]
                .to_string()
        })
        .collect();
    assert_eq!(deferred, ["\"throttled\""]);
}

#[tokio::test]
async fn an_account_side_refusal_defers_the_step_with_a_growing_delay_and_never_stops_the_cart() {
    let refused = || {
        PortError::account_side(
            "sesv2",
            "SendEmail: MessageRejected: Email address is not verified. The following identities failed the check: shop@kuura.example",
        )
    };
    let mailer = FlakyMailer::failing_with(refused());
    mailer
        .failures
        .lock()
        .expect("not poisoned")
        .extend([refused(), refused()]);
    let harness = Harness::with_mailer(mailer);
    harness.checkout().await;

    let mut now = at(hours(1));
    let mut generation = 1;
    let mut delays = Vec::new();
    for _ in 0..3 {
        let outcome = harness
            .wake_at(now, &wake(0, generation))
            .await
            .expect("an outcome");
        let Outcome::Deferred {
            until,
            reason: DeferReason::Account,
            ..
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        let cart = harness.cart().await.value;
        assert_eq!((cart.stop_reason, cart.claimed_step), (None, None));
        delays.push(until.duration_since(now));
        generation = cart.generation;
        now = until;
    }
    assert!(delays[0] >= mins(15) && delays[0] < mins(17), "{delays:?}");
    assert!(delays[2] >= mins(30), "the delay grows: {delays:?}");

    // The operator verified the identity: the next wake-up sends.
    let fixed = harness
        .wake_at(now, &wake(0, generation))
        .await
        .expect("handled");
    assert_eq!(sent_step(&fixed), Some(0));
    assert_eq!(harness.deps.mailer.inner.outbox().len(), 1);
    let account: usize = harness
        .deps
        .metrics
        .emitted()
        .iter()
        .filter(|m| m.value_of("SendsDeferred").is_some())
        .filter(|m| m.to_line().contains("\"Reason\":\"account\""))
        .count();
    assert_eq!(account, 3, "each refusal is counted for the alarm");
}

/// A mailer whose first send goes out but whose answer is lost (a timeout after SES took it).
struct LostAnswerMailer {
    inner: MemoryMailer,
    lost: AtomicUsize,
}

impl Mailer for LostAnswerMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, PortError> {
        let sent = self.inner.send_email(email).await?;
        if self.lost.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(PortError::outcome_unknown(
                "sesv2",
                "SendEmail: timeout: no answer within 3s",
            ));
        }
        Ok(sent)
    }
}

#[tokio::test]
async fn a_send_whose_answer_is_lost_is_recorded_as_unconfirmed_and_never_sent_again() {
    let harness = Harness::with_mailer(LostAnswerMailer {
        inner: MemoryMailer::default(),
        lost: AtomicUsize::new(0),
    });
    harness.checkout().await;

    let first = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("an outcome, not a failed invocation");

    let Outcome::Sent {
        step: 0,
        confirmed: false,
        ref message_id,
        ..
    } = first
    else {
        panic!("{first:?}");
    };
    assert_eq!(message_id, "");
    let cart = harness.cart().await.value;
    assert_eq!(cart.claimed_step, None);
    assert!(
        cart.sent[0].unconfirmed && cart.sent[0].is_sent(),
        "{:?}",
        cart.sent
    );
    assert_eq!(cart.next_step, 1, "the sequence goes on");
    assert_eq!(harness.deps.mailer.inner.outbox().len(), 1, "it did go out");

    // A duplicate of the wake-up finds the step done.
    let again = harness
        .wake_at(at(hours(1)) + CLAIM_EXPIRY + mins(1), &wake(0, 1))
        .await
        .expect("handled");
    assert_eq!(again, Outcome::Stale(Stale::Generation));
    assert_eq!(
        harness.deps.mailer.inner.outbox().len(),
        1,
        "never a second copy"
    );
    let unconfirmed = harness
        .deps
        .metrics
        .emitted()
        .iter()
        .filter(|m| m.value_of("SendsUnconfirmed").is_some())
        .count();
    assert_eq!(unconfirmed, 1);
}

/// The table, counting (and refusing) every write of a person's contact record.
#[derive(Clone)]
struct ContactWritesFail(MemoryStore, Arc<AtomicUsize>);

impl CartStore for ContactWritesFail {
    async fn cart(
        &self,
        shop: &ShopId,
        cart: &CartId,
    ) -> Result<Option<Versioned<CartRecord>>, PortError> {
        self.0.cart(shop, cart).await
    }

    async fn contact(
        &self,
        shop: &ShopId,
        key: &cartback_core::model::ids::ContactKey,
    ) -> Result<Option<Versioned<cartback_core::model::cart::ContactRecord>>, PortError> {
        self.0.contact(shop, key).await
    }

    async fn delivery_seen(
        &self,
        shop: &ShopId,
        id: &cartback_core::model::ids::DeliveryId,
    ) -> Result<bool, PortError> {
        self.0.delivery_seen(shop, id).await
    }

    async fn write(&self, puts: Vec<Put>) -> Result<cartback_core::ports::WriteOutcome, PortError> {
        if puts.iter().any(|p| matches!(p, Put::Contact { .. })) {
            self.1.fetch_add(1, Ordering::SeqCst);
            return Err(PortError::retryable("dynamodb", "ThrottlingException"));
        }
        self.0.write(puts).await
    }
}

#[tokio::test]
async fn a_send_is_counted_on_the_cart_and_writes_nothing_to_the_persons_item() {
    let contact_writes = Arc::new(AtomicUsize::new(0));
    let harness = Harness::with_store(MemoryMailer::default(), |s| {
        ContactWritesFail(s.clone(), contact_writes.clone())
    });
    harness.checkout().await;

    let outcome = harness.wake_at(at(hours(1)), &wake(0, 1)).await;

    // The frequency cap counts the message where it is recorded, on the cart: no second
    // write per message, and none that could fail after the message is out.
    assert_eq!(sent_step(&outcome.expect("handled")), Some(0));
    assert_eq!(harness.deps.mailer.outbox().len(), 1);
    assert_eq!(contact_writes.load(Ordering::SeqCst), 0);
    let cart = harness.cart().await.value;
    assert_eq!(cart.sent.len(), 1);
    assert_eq!(cart.next_step, 1);
    assert_eq!(cart.send_times().count(), 1);
}

#[tokio::test]
async fn every_outcome_is_counted_by_shop_and_no_person_is_in_a_metric() {
    let harness = Harness::with_mailer(FlakyMailer::failing_with(PortError::retryable(
        "ses",
        "TooManyRequestsException",
    )));
    harness.checkout().await;

    let _ = harness.wake_at(at(hours(1)), &wake(0, 1)).await;
    let _ = harness.wake_at(at(hours(1) + mins(1)), &wake(0, 2)).await;
    let _ = harness.wake_at(at(hours(1) + mins(2)), &wake(0, 1)).await;

    let emitted = harness.deps.metrics.emitted();
    let counted: Vec<(String, serde_json::Value)> = emitted
        .iter()
        .map(|m| {
            let line: serde_json::Value = serde_json::from_str(&m.to_line()).expect("JSON");
            let name = line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                .as_str()
                .expect("a metric name")
                .to_owned();
            (name, line)
        })
        .collect();
    let names: Vec<&str> = counted.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["SendsDeferred", "Deferred", "MessagesSent", "StaleWakeUps"]
    );
    // The stack-wide count the throttling alarm reads; the shop's own count beside it.
    assert_eq!(
        counted[0].1["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Reason"]])
    );
    assert_eq!(counted[1].1["Reason"], "throttled");
    assert_eq!(counted[2].1["Channel"], "email");
    assert_eq!(counted[2].1["Step"], "1");
    assert_eq!(
        counted[2].1["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Shop", "Sequence", "Step", "Channel"]])
    );
    for (name, line) in &counted {
        if name != "SendsDeferred" {
            assert_eq!(line["Shop"], SHOP);
        }
        let text = line.to_string();
        assert!(
            !text.contains("ada@example.com") && !text.contains("Ada"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_recipient_refused_for_good_stops_the_cart_with_send_failed() {
    let harness = Harness::with_mailer(FlakyMailer::failing_with(PortError::permanent(
        "ses",
        "BadRequestException: Illegal address",
    )));
    harness.checkout().await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("a permanent error is an outcome, not a retry");

    assert_eq!(
        outcome,
        Outcome::Stopped {
            reason: StopReason::SendFailed,
            step: 0
        }
    );
    let cart = harness.cart().await.value;
    assert_eq!(cart.stop_reason, Some(StopReason::SendFailed));
    assert_eq!(cart.next_due_at, None);
    assert_eq!(cart.claimed_step, None);
    assert!(cart.sent.is_empty());
    let again = harness
        .wake_at(at(hours(1) + mins(1)), &wake(0, 1))
        .await
        .expect("handled");
    assert!(sent_step(&again).is_none(), "{again:?}");
    assert!(harness.deps.mailer.inner.outbox().is_empty());
    assert_eq!(harness.deps.mailer.attempts.load(Ordering::SeqCst), 1);
}

fn html_unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn the_sent_message_has_the_items_and_the_link_back_to_the_cart() {
    let harness = Harness::new();
    harness.checkout().await;

    harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    let outbox = harness.outbox();
    assert_eq!(outbox.len(), 1);
    let email = &outbox[0];
    assert_eq!(email.to.as_str(), "ada@example.com");
    let message = mail_parser::MessageParser::default()
        .parse(&email.raw)
        .expect("a MIME message");
    assert_eq!(message.subject(), Some("Ada, did you forget something?"));
    let to = message
        .to()
        .and_then(|to| to.first())
        .and_then(|addr| addr.address())
        .expect("a To address");
    assert_eq!(to, "ada@example.com");
    let text = message.body_text(0).expect("a text part").into_owned();
    let html = html_unescape(&message.body_html(0).expect("an HTML part"));
    for body in [&text, &html] {
        assert!(body.contains("Merino Wool Beanie"), "{body}");
        assert!(body.contains("Organic Cotton Tote"), "{body}");
        assert!(body.contains(RECOVERY_URL), "{body}");
    }
    assert!(text.contains("Total: €49.90"), "{text}");
    // Tags identify the message without personal data.
    assert!(
        email
            .tags
            .iter()
            .all(|(k, v)| !k.contains('@') && !v.contains('@'))
    );
    assert!(email.tags.contains(&("step".to_owned(), "1".to_owned())));
}

#[tokio::test]
async fn a_wake_up_while_another_invocation_holds_the_claim_sends_nothing_and_asks_to_be_retried() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    // Another invocation claimed the step a few seconds ago and may still be sending.
    harness
        .put(claim(
            &cart,
            0,
            Channel::Email,
            at(hours(1)) - SignedDuration::from_secs(5),
        ))
        .await;

    let outcome = harness.wake_at(at(hours(1)), &wake(0, 1)).await;

    assert!(matches!(outcome, Err(SendError::ClaimHeld)), "{outcome:?}");
    assert!(harness.outbox().is_empty());
    let cart = harness.cart().await.value;
    assert_eq!(
        cart.claimed_step,
        Some(0),
        "the claim is the other invocation's"
    );
    assert!(cart.sent.is_empty());
}

#[tokio::test]
async fn a_claim_left_by_a_crashed_sender_is_skipped_as_crash_after_claim_and_never_sent() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    // The sender claimed step 1 at 1 h and died before (or while) sending.
    harness
        .put(claim(&cart, 0, Channel::Email, at(hours(1))))
        .await;

    // Lambda's retry of the same wake-up, a minute later: the claim has expired.
    let retry = harness
        .wake_at(at(hours(1)) + CLAIM_EXPIRY, &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(
        retry,
        Outcome::Skipped {
            step: 0,
            channel: Channel::Email,
            reason: SkipReason::CrashAfterClaim,
            variant: None,
        }
    );
    assert!(harness.outbox().is_empty(), "at most once: not sent again");
    let cart = harness.cart().await.value;
    assert_eq!(cart.claimed_step, None);
    assert_eq!(cart.sent.len(), 1);
    assert_eq!(cart.sent[0].skipped, Some(SkipReason::CrashAfterClaim));
    assert_eq!(cart.next_step, 1, "the sequence goes on");
    assert_eq!(cart.next_due_at, Some(at(hours(24))));
    let skipped = harness
        .deps
        .metrics
        .emitted()
        .iter()
        .filter(|m| m.value_of("Skipped").is_some())
        .map(|m| {
            serde_json::from_str::<serde_json::Value>(&m.to_line()).expect("JSON")["Reason"].clone()
        })
        .collect::<Vec<_>>();
    assert_eq!(skipped, ["crash_after_claim"]);

    // A second copy of that retry finds the step done.
    let again = harness
        .wake_at(at(hours(1)) + CLAIM_EXPIRY + mins(1), &wake(0, 1))
        .await
        .expect("handled");
    assert_eq!(again, Outcome::Stale(Stale::Generation));
    assert!(harness.outbox().is_empty());
}

/// A table whose answer to the first claim write is lost: the write goes through, the
/// client retries it, and the retry fails its version check (which the first try moved on),
/// so the caller sees a conflict — what `DynamoCartStore` reports after the SDK's retry.
#[derive(Clone)]
struct LostClaimAnswerStore {
    inner: MemoryStore,
    lost: std::sync::Arc<AtomicUsize>,
    /// After the lost answer, the store's retries were refused (throttled) rather than
    /// failing their condition: the caller gets an error.
    then_refused: bool,
}

impl CartStore for LostClaimAnswerStore {
    async fn cart(
        &self,
        shop: &ShopId,
        cart: &CartId,
    ) -> Result<Option<Versioned<CartRecord>>, PortError> {
        self.inner.cart(shop, cart).await
    }

    async fn contact(
        &self,
        shop: &ShopId,
        key: &cartback_core::model::ids::ContactKey,
    ) -> Result<Option<Versioned<cartback_core::model::cart::ContactRecord>>, PortError> {
        self.inner.contact(shop, key).await
    }

    async fn delivery_seen(
        &self,
        shop: &ShopId,
        id: &cartback_core::model::ids::DeliveryId,
    ) -> Result<bool, PortError> {
        self.inner.delivery_seen(shop, id).await
    }

    async fn write(&self, puts: Vec<Put>) -> Result<cartback_core::ports::WriteOutcome, PortError> {
        let is_claim = puts
            .iter()
            .any(|p| matches!(p, Put::Cart { record, .. } if record.claimed_step.is_some()));
        let outcome = self.inner.write(puts).await?;
        if is_claim
            && outcome == cartback_core::ports::WriteOutcome::Written
            && self.lost.fetch_add(1, Ordering::SeqCst) == 0
        {
            if self.then_refused {
                return Err(PortError::retryable(
                    "dynamodb",
                    "PutItem: ThrottlingException: Rate exceeded",
                ));
            }
            return Ok(cartback_core::ports::WriteOutcome::Conflict);
        }
        Ok(outcome)
    }
}

/// Both ways a lost answer to the claim write comes back: the retry's conflict, or an error.
#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_recognised_as_its_own_and_the_step_is_sent_once() {
    for then_refused in [false, true] {
        let harness = Harness::new();
        harness.checkout().await;
        let store = LostClaimAnswerStore {
            inner: harness.store.clone(),
            lost: std::sync::Arc::new(AtomicUsize::new(0)),
            then_refused,
        };
        let deps = Bundle {
            store: store.clone(),
            mailer: MemoryMailer::default(),
            sms: MemorySms::default(),
            schedules: Absent,
            shops: LocalShops::defaults(),
            secrets: Absent,
            store_api: Absent,
            clock: harness.clock.clone(),
            offer_codes: MemoryOfferCodes::default(),
            erasures: cartback_app::Absent,
            metrics: Metrics::memory(),
            messaging: Messaging::default(),
        };
        harness.clock.advance_to(at(hours(1)));

        let outcome = handle(&wake(0, 1), &deps).await.expect("handled");

        assert_eq!(sent_step(&outcome), Some(0), "{then_refused}: {outcome:?}");
        assert_eq!(
            store.lost.load(Ordering::SeqCst),
            1,
            "one claim, its answer lost"
        );
        assert_eq!(deps.mailer.outbox().len(), 1, "sent once");
        let cart = harness.cart().await.value;
        assert_eq!(cart.claimed_step, None);
        assert_eq!(cart.claim_id, None, "the claim is settled");
        assert_eq!(cart.sent.len(), 1);
        assert_eq!(
            cart.sent[0].skipped, None,
            "sent, not skipped as crash_after_claim"
        );

        // The same wake-up again (Lambda's retry after a lost answer of its own) sends nothing.
        let again = handle(&wake(0, 1), &deps).await.expect("handled");
        assert_eq!(again, Outcome::Stale(Stale::Generation));
        assert_eq!(deps.mailer.outbox().len(), 1);
    }
}

#[tokio::test]
async fn a_claim_held_by_another_invocation_is_not_taken_for_ones_own() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    harness
        .put(cartback_core::rules::lifecycle::claim_as(
            &cart,
            0,
            Channel::Email,
            at(hours(1)),
            "another-invocation",
        ))
        .await;

    let outcome = harness.wake_at(at(hours(1)), &wake(0, 1)).await;

    assert!(matches!(outcome, Err(SendError::ClaimHeld)), "{outcome:?}");
    assert!(harness.outbox().is_empty());
}

#[tokio::test]
async fn a_checkout_without_a_link_back_stops_with_no_recovery_link_and_sends_nothing() {
    let harness = Harness::new();
    let body = edited(CHECKOUT, |checkout| {
        checkout["abandoned_checkout_url"] = serde_json::Value::Null;
    });
    harness.checkout_of(&body).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(
        outcome,
        Outcome::Stopped {
            reason: StopReason::NoRecoveryLink,
            step: 0
        }
    );
    assert!(harness.outbox().is_empty());
}

#[tokio::test]
async fn without_marketing_consent_the_email_does_not_use_the_first_name() {
    // Email without marketing consent only goes out where the shop lifted the requirement.
    let mut harness = Harness::new();
    let mut settings = ShopSettings::defaults_for(&shop());
    settings.rules.email_consent = EmailConsent::NotRequired;
    harness.deps.shops = LocalShops::defaults().with_settings(shop(), settings);
    let body = edited(CHECKOUT, |checkout| {
        checkout["buyer_accepts_marketing"] = serde_json::Value::Bool(false);
    });
    harness.checkout_of(&body).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    let Outcome::Sent { subject, .. } = outcome else {
        panic!("expected a send, got {outcome:?}");
    };
    assert!(!subject.contains("Ada"), "{subject}");
    let outbox = harness.outbox();
    let message = mail_parser::MessageParser::default()
        .parse(&outbox[0].raw)
        .expect("a MIME message");
    let text = message.body_text(0).expect("a text part");
    assert!(text.contains("Hi there,"), "{text}");
    assert!(!text.contains("Ada"), "{text}");
    let html = message.body_html(0).expect("an HTML part");
    assert!(!html.contains("Ada"), "{html}");
}

// ---------------------------------------------------------------------------------------------
// The full recovery flow: segments, SMS, quiet hours, the cap, one sequence per person

const ADA_PHONE: &str = "+358401234567";

fn new_visitor() -> Sequence {
    Sequence::builtin("new-visitor").expect("shipped")
}

fn cart_of(token: &str) -> CartId {
    CartId::parse(token).expect("valid cart id")
}

/// The fixture checkout (Finnish address) with Ada's phone and the given consents.
fn checkout_with(email: bool, email_consent: bool, phone: bool, sms_consent: bool) -> Vec<u8> {
    edited(CHECKOUT, |checkout| {
        if !email {
            checkout["email"] = serde_json::Value::Null;
            checkout["customer"]["email"] = serde_json::Value::Null;
        }
        checkout["buyer_accepts_marketing"] = serde_json::Value::Bool(email_consent);
        if phone {
            checkout["phone"] = serde_json::Value::String(ADA_PHONE.into());
        }
        checkout["buyer_accepts_sms_marketing"] = serde_json::Value::Bool(sms_consent);
    })
}

fn phone() -> cartback_core::model::contact::Phone {
    cartback_core::model::contact::Phone::parse(ADA_PHONE, None).expect("valid phone")
}

impl<M: Mailer> Harness<M> {
    /// A checkout as cart `token`, last active at `at`, started on `sequence`.
    async fn checkout_on(
        &self,
        token: &str,
        body: &[u8],
        sequence: &Sequence,
        at: Timestamp,
    ) -> CartRecord {
        let mut activity = activity(body, at);
        activity.cart = cart_of(token);
        let record = changed(apply_activity(
            None,
            &shop(),
            Platform::Shopify,
            &activity,
            sequence,
            at,
        ));
        self.put(record.clone()).await;
        record
    }

    async fn cart_named(&self, token: &str) -> CartRecord {
        self.store
            .cart(&shop(), &cart_of(token))
            .await
            .expect("reads")
            .expect("stored")
            .value
    }

    /// Fires the cart's schedules (as the planner would create them) until none is due
    /// by `until`; returns each wake-up's time and outcome.
    async fn run(&self, token: &str, until: Timestamp) -> Vec<(Timestamp, Outcome)> {
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            let cart = self.cart_named(token).await;
            let Some(due) = cart.next_due_at.filter(|due| *due <= until) else {
                break;
            };
            let wake_up = WakeUp {
                shop: shop(),
                cart: cart.cart.clone(),
                step: cart.next_step,
                generation: cart.generation,
            };
            let outcome = self.wake_at(due, &wake_up).await.expect("handled");
            outcomes.push((due, outcome));
        }
        outcomes
    }
}

/// What each wake-up led to, in short: "sent email 1", "deferred quiet_hours", ...
fn summary(outcomes: &[(Timestamp, Outcome)]) -> Vec<(Timestamp, String)> {
    outcomes
        .iter()
        .filter_map(|(at, outcome)| {
            let text = match outcome {
                Outcome::Sent { step, channel, .. } => {
                    format!("sent {} {}", channel.as_str(), step + 1)
                }
                Outcome::Skipped { step, reason, .. } => {
                    format!("skipped {} {}", step + 1, reason.as_str())
                }
                Outcome::Deferred { step, reason, .. } => {
                    format!("deferred {} {}", step + 1, reason.as_str())
                }
                Outcome::Stopped { reason, .. } => format!("stopped {}", reason.as_str()),
                Outcome::Rearmed { .. } => return None,
                other => format!("{other:?}"),
            };
            Some((*at, text))
        })
        .collect()
}

#[tokio::test]
async fn a_new_visitor_who_did_not_open_gets_step_2_by_sms_at_nine_in_the_morning_helsinki() {
    let harness = Harness::new();
    // Last active 10:00 Helsinki (08:00 UTC), a Finnish address, both consents.
    harness
        .checkout_on(
            TOKEN,
            &checkout_with(true, true, true, true),
            &new_visitor(),
            t0(),
        )
        .await;

    let outcomes = harness.run(TOKEN, at(hours(24 * 5))).await;

    // Step 2 is due 10 h after step 1: 21:00 Helsinki, quiet. It goes at 09:00 Helsinki.
    let next_morning = ts("2026-11-03T07:00:00Z");
    assert_eq!(
        summary(&outcomes),
        vec![
            (at(hours(1)), "sent email 1".to_owned()),
            (at(hours(11)), "deferred 2 quiet_hours".to_owned()),
            (next_morning, "sent sms 2".to_owned()),
            (
                next_morning.checked_add(hours(48)).expect("range"),
                "sent email 3".to_owned()
            ),
        ]
    );
    let deferred = outcomes
        .iter()
        .find_map(|(_, o)| match o {
            Outcome::Deferred { until, .. } => Some(*until),
            _ => None,
        })
        .expect("a deferral");
    assert_eq!(deferred, next_morning);

    let sms = harness.deps.sms.outbox();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].to.as_str(), ADA_PHONE);
    assert!(sms[0].text.contains(RECOVERY_URL), "{}", sms[0].text);
    assert!(sms[0].text.contains("STOP"), "{}", sms[0].text);
    let Some((
        _,
        Outcome::Sent {
            channel: Channel::Sms,
            template,
            sequence,
            to,
            subject,
            segments,
            ..
        },
    )) = outcomes.iter().find(|(at, _)| *at == next_morning)
    else {
        panic!("the SMS outcome: {outcomes:?}");
    };
    assert_eq!(template, "reassure");
    assert_eq!(sequence, "new-visitor");
    assert_eq!(to, ADA_PHONE);
    assert_eq!(subject, &sms[0].text, "an SMS outcome carries its text");
    assert_eq!(
        *segments,
        cartback_core::messages::sms::length(&sms[0].text).segments
    );
    assert!(*segments >= 1);
    assert_eq!(harness.outbox().len(), 2, "steps 1 and 3 by email");
    let cart = harness.cart().await.value;
    assert_eq!(cart.stop_reason, Some(StopReason::SequenceComplete));
    assert_eq!(
        cart.sent.iter().map(|s| s.channel).collect::<Vec<_>>(),
        vec![Channel::Email, Channel::Sms, Channel::Email]
    );
}

#[tokio::test]
async fn a_number_that_opted_out_gets_step_2_by_email_instead() {
    let harness = Harness::new();
    harness.deps.sms.opt_out(&phone());
    // Last active 04:00 UTC, so step 2 (10 h after step 1) falls at 17:00 Helsinki.
    let start = at(hours(20));
    harness
        .checkout_on(
            TOKEN,
            &checkout_with(true, true, true, true),
            &new_visitor(),
            start,
        )
        .await;

    let outcomes = harness.run(TOKEN, at(hours(44))).await;

    assert_eq!(
        summary(&outcomes),
        vec![
            (at(hours(21)), "sent email 1".to_owned()),
            (at(hours(31)), "sent email 2".to_owned()),
        ]
    );
    assert!(harness.deps.sms.outbox().is_empty());
}

#[tokio::test]
async fn the_shops_sms_sender_id_goes_with_the_sms() {
    let mut harness = Harness::new();
    let mut settings = ShopSettings::defaults_for(&shop());
    settings.sms_sender_id = Some("DemoShop".into());
    harness.deps.shops = LocalShops::defaults().with_settings(shop(), settings);
    let start = at(hours(20));
    harness
        .checkout_on(
            TOKEN,
            &checkout_with(true, true, true, true),
            &new_visitor(),
            start,
        )
        .await;

    harness.run(TOKEN, at(hours(44))).await;

    let sms = harness.deps.sms.outbox();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].sender_id.as_deref(), Some("DemoShop"));
}

#[tokio::test]
async fn without_email_consent_step_1_is_skipped_and_recorded_and_sms_carries_on() {
    let harness = Harness::new();
    let start = at(hours(20));
    harness
        .checkout_on(
            TOKEN,
            &checkout_with(true, false, true, true),
            &new_visitor(),
            start,
        )
        .await;

    let outcomes = harness.run(TOKEN, at(hours(24 * 5))).await;

    assert_eq!(
        summary(&outcomes),
        vec![
            (at(hours(21)), "skipped 1 no_email_consent".to_owned()),
            (at(hours(31)), "sent sms 2".to_owned()),
            // Step 3 is email only: at its wake-up (2 days later: the SMS was not clicked)
            // nothing left may reach her, so the cart stops.
            (at(hours(31 + 48)), "stopped no_consent".to_owned()),
        ]
    );
    assert!(harness.outbox().is_empty());
    let cart = harness.cart().await.value;
    assert_eq!(cart.sent[0].skipped, Some(SkipReason::NoEmailConsent));
    assert_eq!(cart.sent[0].message_id, "");
    assert!(cart.sent[1].is_sent());
}

#[tokio::test]
async fn without_email_consent_and_without_sms_nothing_is_sent() {
    let harness = Harness::new();
    harness
        .checkout_on(
            TOKEN,
            &checkout_with(true, false, false, false),
            &new_visitor(),
            t0(),
        )
        .await;

    let outcomes = harness.run(TOKEN, at(hours(24 * 5))).await;

    assert_eq!(
        summary(&outcomes),
        vec![(at(hours(1)), "stopped no_consent".to_owned())]
    );
    assert!(harness.outbox().is_empty());
    assert!(harness.deps.sms.outbox().is_empty());
}

#[tokio::test]
async fn a_third_message_in_a_week_waits_until_the_oldest_leaves_the_window() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    let key = cart.contact.clone().expect("a contact");
    // Three messages to Ada from other carts in the past days.
    let oldest = at(hours(-24 * 5));
    let mut contact = None;
    for sent_at in [oldest, at(hours(-24 * 2)), at(hours(-3))] {
        contact = Some(cartback_core::rules::lifecycle::contact_sent(
            contact.as_ref(),
            &shop(),
            &key,
            sent_at,
        ));
    }
    harness.store_contact(contact.expect("written")).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    let free = oldest.checked_add(hours(24 * 7)).expect("range");
    assert_eq!(
        outcome,
        Outcome::Deferred {
            step: 0,
            until: free,
            reason: cartback_core::rules::decide::DeferReason::FrequencyCap
        }
    );
    assert!(harness.outbox().is_empty());
    let cart = harness.cart().await.value;
    assert_eq!(cart.next_due_at, Some(free));
    assert_eq!(cart.generation, 2);
    assert_eq!(cart.fired, Some(1), "the fired schedule deleted itself");
    // At that time it goes out, and counts against the cap on the cart itself: the person's
    // item is not written for it (a write per message).
    let before = harness.store.contact(&shop(), &key).await.expect("reads");
    let outcome = harness.wake_at(free, &wake(0, 2)).await.expect("handled");
    assert_eq!(sent_step(&outcome), Some(0));
    let cart = harness.cart().await.value;
    assert_eq!(cart.send_times().collect::<Vec<_>>(), vec![free]);
    assert_eq!(
        harness.store.contact(&shop(), &key).await.expect("reads"),
        before
    );
}

#[tokio::test]
async fn a_newer_cart_of_the_same_person_stops_this_one_as_superseded() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    let key = cart.contact.clone().expect("a contact");
    let newer = cartback_core::rules::lifecycle::contact_latest_cart(
        None,
        &shop(),
        &key,
        &cart_of("a-newer-cart"),
        at(mins(30)),
    )
    .expect("a change");
    harness.store_contact(newer).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(
        outcome,
        Outcome::Stopped {
            reason: StopReason::Superseded,
            step: 0
        }
    );
    assert!(harness.outbox().is_empty());
}

#[tokio::test]
async fn an_sms_unsubscribe_under_the_phone_sends_sms_or_email_steps_by_email() {
    let harness = Harness::new();
    let start = at(hours(20));
    harness
        .checkout_on(
            TOKEN,
            &checkout_with(true, true, true, true),
            &new_visitor(),
            start,
        )
        .await;
    let opted_out = contact_suppressed(
        None,
        &shop(),
        &phone().key(),
        Channel::Sms,
        SuppressionReason::Unsubscribed,
        start,
    )
    .expect("a change");
    harness.store_contact(opted_out).await;

    let outcomes = harness.run(TOKEN, at(hours(44))).await;

    assert_eq!(
        summary(&outcomes),
        vec![
            (at(hours(21)), "sent email 1".to_owned()),
            (at(hours(31)), "sent email 2".to_owned()),
        ]
    );
}

#[tokio::test]
async fn the_cap_counts_the_persons_messages_whichever_key_a_later_cart_knows_them_by() {
    let harness = Harness::new();
    // Cart A: email and phone, email consent only: three emails within 59 h.
    harness
        .checkout_on(
            "cart-a",
            &checkout_with(true, true, true, false),
            &new_visitor(),
            t0(),
        )
        .await;
    let a = harness.run("cart-a", at(hours(24 * 3))).await;
    assert_eq!(
        summary(&a)
            .iter()
            .filter(|(_, s)| s.starts_with("sent"))
            .count(),
        3,
        "{a:?}"
    );
    // Cart B, a day later: the same person on their phone only, SMS consent. The webhook
    // makes B the latest cart under the phone and carries A's messages onto it.
    let b_start = at(hours(60));
    harness
        .checkout_on(
            "cart-b",
            &checkout_with(false, false, true, true),
            &new_visitor(),
            b_start,
        )
        .await;
    let latest = cartback_core::rules::lifecycle::contact_latest_cart(
        None,
        &shop(),
        &phone().key(),
        &cart_of("cart-b"),
        b_start,
    )
    .expect("B is the newest");
    let cart_a = harness.cart_named("cart-a").await;
    harness
        .store_contact(cartback_core::rules::lifecycle::carry_sends(
            latest, &cart_a, b_start,
        ))
        .await;

    let b = harness.run("cart-b", at(hours(24 * 6))).await;

    // Four messages in a week would be one too many: the SMS must wait for the first email
    // to leave the window (t0 + 1 h + 7 days).
    let sent_in_week: Vec<Timestamp> = a
        .iter()
        .chain(&b)
        .filter(|(_, o)| matches!(o, Outcome::Sent { .. }))
        .map(|(at, _)| *at)
        .collect();
    assert!(
        sent_in_week
            .windows(4)
            .all(|w| w[3].duration_since(w[0]) >= hours(24 * 7)),
        "{:?}",
        summary(&b)
    );
}

// ---------------------------------------------------------------------------------------------
// Offers with single-use codes drawn from the shop's pool

const POOL_SEQUENCE: &str = "name = \"pool-offer\"\n\
    [[step]]\ntemplate = \"offer\"\ndelay = \"1h\"\n\
    offer = { description = \"10 % off your cart\", pool = \"winter10\", valid_for = \"24h\" }\n";

fn winter10() -> cartback_core::model::ids::PoolName {
    cartback_core::model::ids::PoolName::parse("winter10").expect("valid pool name")
}

fn offer_codes(names: &[&str]) -> Vec<cartback_core::model::offer_codes::OfferCode> {
    names
        .iter()
        .map(|c| cartback_core::model::offer_codes::OfferCode::parse(*c).expect("valid code"))
        .collect()
}

impl<M: Mailer> Harness<M> {
    /// The shop sends `POOL_SEQUENCE` (an offer from pool `winter10` 1 h after the last
    /// activity), warns below `low_water`; the pool holds `codes`.
    fn with_pool(mut self, codes: &[&str], low_water: u64) -> Self {
        let mut settings = ShopSettings::defaults_for(&shop());
        settings.sequence_toml = Some(POOL_SEQUENCE.to_owned());
        settings.offer_pool_low_water = low_water;
        self.deps.shops = LocalShops::defaults().with_settings(shop(), settings);
        self.deps
            .offer_codes
            .seed(&shop(), &winter10(), &offer_codes(codes));
        self
    }

    /// A checkout as cart `token` on the pool sequence, last active at t0.
    async fn pool_checkout(&self, token: &str) {
        let sequence = Sequence::parse("pool.toml", POOL_SEQUENCE).expect("valid sequence");
        self.checkout_on(token, CHECKOUT, &sequence, t0()).await;
    }

    fn available(&self) -> u64 {
        self.deps.offer_codes.available(&shop(), &winter10())
    }

    /// The first EMF object carrying metric `name`, as the JSON line Lambda would print.
    fn metric_line(&self, name: &str) -> serde_json::Value {
        let emitted = self.deps.metrics.emitted();
        let emf = emitted
            .iter()
            .find(|m| m.value_of(name).is_some())
            .expect("the metric was emitted");
        serde_json::from_str(&emf.to_line()).expect("one JSON object")
    }

    fn metric_values(&self, name: &str) -> Vec<f64> {
        self.deps
            .metrics
            .emitted()
            .iter()
            .filter_map(|m| m.value_of(name))
            .collect()
    }
}

fn offer_code_of(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Sent { offer_code, .. } => offer_code.clone(),
        _ => None,
    }
}

/// The text part of an email in the outbox.
fn text_of(email: &cartback_local::SentEmail) -> String {
    mail_parser::MessageParser::default()
        .parse(&email.raw)
        .expect("a MIME message")
        .body_text(0)
        .expect("a text part")
        .into_owned()
}

#[tokio::test]
async fn an_offer_from_a_pool_shows_the_code_drawn_for_the_cart() {
    let harness = Harness::new().with_pool(&["WINTER-A1", "WINTER-B2", "WINTER-C3"], 1);
    harness.pool_checkout(TOKEN).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    let code = offer_code_of(&outcome).expect("the offer shows a code");
    assert!(code.starts_with("WINTER-"), "{code}");
    assert_eq!(
        harness.deps.offer_codes.claimed_by(
            &shop(),
            &winter10(),
            &cartback_core::model::offer_codes::OfferCode::parse(code.as_str()).expect("valid")
        ),
        Some((cart_id(), 0)),
        "claimed for this cart's step"
    );
    assert_eq!(harness.available(), 2);
    let outbox = harness.outbox();
    assert_eq!(outbox.len(), 1);
    let text = text_of(&outbox[0]);
    assert!(
        text.contains(&format!("Use this code at checkout: {code}")),
        "{text}"
    );
    assert!(text.contains("10 % off your cart"), "{text}");
    let message = mail_parser::MessageParser::default()
        .parse(&outbox[0].raw)
        .expect("a MIME message");
    let html = message.body_html(0).expect("an HTML part");
    assert!(html.contains(code.as_str()), "{html}");
    assert!(
        harness.metric_values("OfferCodesRemaining").is_empty(),
        "2 left is not below 1"
    );
}

#[tokio::test]
async fn a_fixed_offer_code_is_reported_with_the_send() {
    let harness = Harness::new();
    harness
        .checkout_on(
            TOKEN,
            CHECKOUT,
            &Sequence::builtin("returning-customer").expect("shipped"),
            t0(),
        )
        .await;

    let outcomes = harness.run(TOKEN, at(hours(24 * 5))).await;

    let codes: Vec<Option<String>> = outcomes.iter().map(|(_, o)| offer_code_of(o)).collect();
    assert_eq!(codes, [None, None, Some("COMEBACK10".to_owned())]);
}

#[tokio::test]
async fn a_retry_after_a_failed_send_shows_the_same_code_and_takes_no_other() {
    let harness = Harness::with_mailer(FlakyMailer::failing_with(PortError::retryable(
        "ses",
        "TooManyRequestsException",
    )))
    .with_pool(&["WINTER-A1", "WINTER-B2", "WINTER-C3"], 1);
    harness.pool_checkout(TOKEN).await;

    let first = harness.wake_at(at(hours(1)), &wake(0, 1)).await;
    assert!(matches!(first, Ok(Outcome::Deferred { .. })), "{first:?}");
    assert_eq!(harness.available(), 2, "the code stays with the cart step");
    let retry = harness
        .wake_at(at(hours(1) + mins(1)), &wake(0, 2))
        .await
        .expect("handled");

    let code = offer_code_of(&retry).expect("a code");
    assert_eq!(harness.available(), 2, "no second code taken");
    let outbox = harness.deps.mailer.inner.outbox();
    assert_eq!(outbox.len(), 1);
    assert!(text_of(&outbox[0]).contains(&code));
    assert_eq!(
        harness.deps.offer_codes.claimed_by(
            &shop(),
            &winter10(),
            &cartback_core::model::offer_codes::OfferCode::parse(code.as_str()).expect("valid")
        ),
        Some((cart_id(), 0))
    );
}

#[tokio::test]
async fn an_empty_pool_sends_the_step_without_the_offer_and_counts_it() {
    let harness = Harness::new().with_pool(&[], 50);
    harness.pool_checkout(TOKEN).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(sent_step(&outcome), Some(0), "{outcome:?}");
    assert_eq!(offer_code_of(&outcome), None);
    let text = text_of(&harness.outbox()[0]);
    assert!(!text.contains("Use this code"), "{text}");
    assert!(!text.contains("10 % off"), "{text}");
    assert!(
        text.contains("still in your cart"),
        "the no-offer wording: {text}"
    );
    assert_eq!(harness.metric_values("OfferPoolEmpty"), [1.0]);
    let line = harness.metric_line("OfferPoolEmpty");
    assert_eq!(line["Pool"], "winter10");
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "cartback"
    );
    let cart = harness.cart().await.value;
    assert_eq!(cart.sent.len(), 1, "the step is done");
}

#[tokio::test]
async fn a_claim_that_leaves_the_pool_below_its_low_water_mark_emits_the_remaining_count() {
    let harness = Harness::new().with_pool(&["WINTER-A1", "WINTER-B2", "WINTER-C3"], 2);
    harness.pool_checkout("cart-a").await;
    harness.pool_checkout("cart-b").await;

    harness.run("cart-a", at(hours(2))).await;
    assert!(
        harness.metric_values("OfferCodesRemaining").is_empty(),
        "2 left is not below 2"
    );
    harness.run("cart-b", at(hours(2))).await;

    assert_eq!(harness.metric_values("OfferCodesRemaining"), [1.0]);
    let line = harness.metric_line("OfferCodesRemaining");
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0],
        serde_json::json!({
            "Namespace": "cartback",
            "Dimensions": [["Pool"]],
            "Metrics": [{ "Name": "OfferCodesRemaining", "Unit": "Count" }],
        })
    );
    assert_eq!(line["Pool"], "winter10");
    assert_eq!(
        line["shop_hash"],
        cartback_core::model::ids::log_hash(&[SHOP]),
        "the shop by its hash"
    );
    assert!(!line.to_string().contains('@'));
}

#[tokio::test]
async fn a_transient_error_drawing_the_code_releases_the_step_and_fails_so_a_retry_sends() {
    let harness = Harness::new().with_pool(&["WINTER-A1"], 1);
    harness.pool_checkout(TOKEN).await;
    harness
        .deps
        .offer_codes
        .fail_next_claim(PortError::retryable("dynamodb", "ThrottlingException"));

    let first = harness.wake_at(at(hours(1)), &wake(0, 1)).await;

    assert!(matches!(first, Err(SendError::Retryable(_))), "{first:?}");
    assert!(harness.outbox().is_empty(), "nothing sent without its code");
    let cart = harness.cart().await.value;
    assert_eq!(cart.claimed_step, None, "the step claim is released");
    assert!(cart.sent.is_empty());
    assert_eq!(cart.next_due_at, Some(at(hours(1))));
    assert_eq!(harness.available(), 1);

    let retry = harness
        .wake_at(at(hours(1) + mins(1)), &wake(0, 1))
        .await
        .expect("handled");
    assert_eq!(offer_code_of(&retry).as_deref(), Some("WINTER-A1"));
    assert_eq!(harness.outbox().len(), 1);
}

#[tokio::test]
async fn a_permanent_pool_error_releases_the_step_and_fails_the_invocation() {
    let harness = Harness::new().with_pool(&["WINTER-A1"], 1);
    harness.pool_checkout(TOKEN).await;
    harness
        .deps
        .offer_codes
        .fail_next_claim(PortError::permanent(
            "dynamodb",
            "AccessDeniedException: not authorized to perform dynamodb:Query",
        ));

    let first = harness.wake_at(at(hours(1)), &wake(0, 1)).await;

    assert!(matches!(first, Err(SendError::OfferCodes(_))), "{first:?}");
    assert!(harness.outbox().is_empty());
    let cart = harness.cart().await.value;
    assert_eq!(cart.claimed_step, None);
    assert_eq!(cart.stop_reason, None, "the cart is not given up on");
}

/// In demo-shop's 10 % holdout: SHA-256 of ("holdout", shop, cart) puts it at 0.013.
const HELD_OUT: &str = "held0000000000000000000000000024";

#[tokio::test]
async fn a_held_out_cart_is_stopped_at_its_first_wake_up_and_sent_nothing_ever() {
    let harness = Harness::new();
    let sequence = Sequence::default_sequence();
    harness
        .checkout_on(HELD_OUT, CHECKOUT, &sequence, t0())
        .await;

    let outcomes = harness.run(HELD_OUT, at(hours(24 * 10))).await;

    assert_eq!(
        outcomes,
        [(at(hours(1)), Outcome::HeldOut { step: 0 })],
        "one decision, at the first step"
    );
    assert!(harness.outbox().is_empty());
    let counted: Vec<(Option<f64>, Option<f64>)> = harness
        .deps
        .metrics
        .emitted()
        .iter()
        .map(|m| (m.value_of("MessagesSent"), m.value_of("Skipped")))
        .collect();
    assert_eq!(
        counted,
        [(None, Some(1.0))],
        "nothing sent; counted once as skipped for the holdout"
    );
    let cart = harness.cart_named(HELD_OUT).await;
    assert_eq!(
        cart.arm,
        Some(cartback_core::model::experiment::Arm::Holdout)
    );
    assert_eq!(cart.stop_reason, Some(StopReason::Holdout));
    assert_eq!(cart.next_due_at, None);
    assert!(cart.sent.is_empty());
    // Ada's cart, on the same shop, is treated: sent and enrolled.
    harness.checkout().await;
    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");
    assert_eq!(sent_step(&outcome), Some(0));
    assert_eq!(
        harness.cart().await.value.arm,
        Some(cartback_core::model::experiment::Arm::Treatment)
    );
}

/// Step 1 split evenly: the control keeps the template's subject, `question` has its own.
/// SHA-256 of ("variant", shop, Ada's cart, "subject-test", "0") puts Ada at 0.67: `question`.
const SUBJECT_TEST: &str = r#"name = "subject-test"
[[step]]
template = "reminder"
delay = "1h"
[[step.variant]]
name = "question"
subject = { en = "{{ customer.first_name }}, still deciding?", fi = "Vieläkö mietit, {{ customer.first_name }}?" }
"#;

#[tokio::test]
async fn a_split_step_sends_the_cart_its_variant_records_tags_and_counts_it() {
    let mut harness = Harness::new();
    let mut settings = ShopSettings::defaults_for(&shop());
    settings.sequence_toml = Some(SUBJECT_TEST.to_owned());
    harness.deps.shops = LocalShops::defaults().with_settings(shop(), settings);
    let sequence = Sequence::parse("subject-test.toml", SUBJECT_TEST).expect("valid");
    assert_eq!(
        sequence.steps[0].assigned_variant(&shop(), &cart_id(), "subject-test", 0),
        Some("question")
    );
    harness.checkout_on(TOKEN, CHECKOUT, &sequence, t0()).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    let Outcome::Sent {
        subject, variant, ..
    } = &outcome
    else {
        panic!("sent: {outcome:?}");
    };
    assert_eq!(subject, "Ada, still deciding?");
    assert_eq!(variant.as_deref(), Some("question"));
    let email = &harness.outbox()[0];
    assert!(
        email
            .tags
            .contains(&("variant".to_owned(), "question".to_owned())),
        "{:?}",
        email.tags
    );
    let raw = String::from_utf8_lossy(&email.raw);
    assert!(raw.contains("Subject: Ada, still deciding?"), "{raw}");
    let cart = harness.cart().await.value;
    assert_eq!(cart.sent[0].variant.as_deref(), Some("question"));
    let sent = harness
        .deps
        .metrics
        .emitted()
        .into_iter()
        .find(|m| m.value_of("MessagesSent").is_some())
        .expect("a MessagesSent metric")
        .to_json();
    assert_eq!(sent["Variant"], "question");
    assert_eq!(sent["Step"], "1");
    assert_eq!(sent["Sequence"], "subject-test");
    assert_eq!(
        sent["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Shop", "Sequence", "Step", "Channel", "Variant"]])
    );
    assert!(!sent.to_string().contains("ada@"), "no person in metrics");
}

#[tokio::test]
async fn a_language_the_variants_subject_lacks_gets_the_templates_subject() {
    let mut harness = Harness::new();
    let mut settings = ShopSettings::defaults_for(&shop());
    settings.sequence_toml = Some(SUBJECT_TEST.to_owned());
    harness.deps.shops = LocalShops::defaults().with_settings(shop(), settings);
    let sequence = Sequence::parse("subject-test.toml", SUBJECT_TEST).expect("valid");
    let polish = edited(CHECKOUT, |v| v["customer_locale"] = serde_json::json!("pl"));
    harness.checkout_on(TOKEN, &polish, &sequence, t0()).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    let Outcome::Sent {
        subject, variant, ..
    } = &outcome
    else {
        panic!("sent: {outcome:?}");
    };
    assert_eq!(variant.as_deref(), Some("question"));
    assert!(!subject.contains("still deciding"), "{subject}");
    assert!(
        subject.contains("Ada"),
        "the Polish template's subject: {subject}"
    );
}

/// An SQS batch as Lambda's event source mapping delivers it from the send queue.
fn sqs_batch(bodies: &[(&str, String)]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("AQEB{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1793523600000",
                    "SenderId": "AROAEXAMPLE:scheduler",
                    "ApproximateFirstReceiveTimestamp": "1793523600100"
                },
                "messageAttributes": {},
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-north-1:123456789012:cartback-SendQueue",
                "awsRegion": "eu-north-1"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event")
}

#[tokio::test]
async fn a_batch_from_the_send_queue_returns_only_what_must_be_tried_again() {
    let harness = Harness::new();
    harness.checkout().await;
    harness.clock.advance_to(at(hours(1)));
    let body = |w: &WakeUp| serde_json::to_string(w).expect("JSON");

    let first = sqs_batch(&[
        ("m-1", body(&wake(0, 1))),
        // The same wake-up delivered twice (at least once): stale, not an error.
        ("m-2", body(&wake(0, 1))),
        ("m-3", "{\"not\": \"a wake-up\"}".to_owned()),
    ]);
    let response = cartback_sender::queue::handle_batch(&first, &harness.deps, None).await;

    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        ["m-3"],
        "only the body that is no wake-up comes back"
    );
    assert_eq!(harness.outbox().len(), 1, "sent once");
    let stale = harness
        .deps
        .metrics
        .emitted()
        .iter()
        .filter(|m| m.value_of("StaleWakeUps").is_some())
        .count();
    assert_eq!(stale, 1);
}

#[tokio::test]
async fn a_cart_whose_person_was_erased_is_stopped_and_emptied_of_them() {
    let harness = Harness::new();
    let cart = harness.checkout().await;
    // Her erasure left a tombstone; this cart was written by a webhook that raced it.
    let key = cart.contact.clone().expect("a contact key");
    let tombstone =
        cartback_core::rules::erase::tombstone(None, &shop(), &key, t0()).expect("a tombstone");
    harness.store_contact(tombstone).await;

    let outcome = harness
        .wake_at(at(hours(1)), &wake(0, 1))
        .await
        .expect("handled");

    assert_eq!(
        outcome,
        Outcome::Stopped {
            reason: StopReason::Erased,
            step: 0
        }
    );
    let stored = harness.cart().await.value;
    assert_eq!(stored.snapshot, None, "no address, items or name remain");
    assert_eq!(stored.contact, None);
    assert!(harness.outbox().is_empty());
}
