//! Forgetting a person, or a whole shop, and telling a person what is held about them: the
//! pure rules (`cartback_app::privacy` reads and deletes with them).
//!
//! Erasing a person (a shop and their normalised email or E.164 phone, i.e. contact key):
//! - every cart of theirs in that shop is **deleted** (not kept as an anonymised record:
//!   a deleted item holds nothing to get wrong), after its pending schedule is deleted;
//! - each of their contact items becomes a **tombstone**: the hash key, a suppression with
//!   reason `erased` on every channel, and nothing else (no sends, no latest cart, no order
//!   time), with no `expires_at`, so it never expires and the person stays out if they come
//!   back. The keys tombstoned are the ones asked for and every other key found on the
//!   deleted carts (the phone typed into the same checkout as the email).
//!
//! Every step is idempotent (a tombstone that is already one is left alone, deleting what is
//! gone is success), so a retry after a failure finishes the job. Tombstones are written
//! first: a cart that a webhook or a wake-up races in meanwhile gets nothing
//! (`StopReason::Erased`).
//!
//! Erasing a shop (Shopify `shop/redact`) deletes the pending schedules of all its carts and
//! every item of its partition but its settings (`CONFIG`): carts, contacts (no tombstones),
//! delivery ids, offer code pools and claims.

use jiff::Timestamp;
use serde::Serialize;

use crate::model::cart::{CartRecord, ContactRecord, Suppression, SuppressionReason};
use crate::model::ids::{CartId, ContactKey, ShopId};
use crate::model::schedule::{ScheduleSpec, desired_schedule};
use crate::model::table::CONFIG_SK;

pub use crate::model::privacy::{PrivacyRequest, Subject};

/// Whether `cart` is one of the person's (known by any of `keys`).
pub fn belongs_to(cart: &CartRecord, keys: &[ContactKey]) -> bool {
    cart.contact_keys().iter().any(|key| keys.contains(key))
}

/// The keys to tombstone: those asked for, then every other key on the person's carts.
pub fn person_keys(requested: &[ContactKey], carts: &[CartRecord]) -> Vec<ContactKey> {
    let mut keys = requested.to_vec();
    for key in carts.iter().flat_map(CartRecord::contact_keys) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// The tombstone `existing` should become: the key and an `erased` suppression on every
/// channel, nothing else, never expiring. `None` when it already is exactly that.
pub fn tombstone(
    existing: Option<&ContactRecord>,
    shop: &ShopId,
    key: &ContactKey,
    at: Timestamp,
) -> Option<ContactRecord> {
    let erased_at = existing
        .and_then(|c| {
            [c.email_suppressed, c.sms_suppressed]
                .into_iter()
                .flatten()
                .find(|s| s.reason == SuppressionReason::Erased)
        })
        .map_or(at, |s| s.at);
    let suppression = Some(Suppression {
        reason: SuppressionReason::Erased,
        at: erased_at,
    });
    let mut record = ContactRecord::new(shop, key);
    record.email_suppressed = suppression;
    record.sms_suppressed = suppression;
    record.expires_at = 0;
    (existing != Some(&record)).then_some(record)
}

/// The cart emptied of the person: no snapshot (contact, items, address) and no contact key;
/// only ids, times and what was sent remain until the item expires. For a cart the sender
/// finds erased (written by a webhook that raced the erasure).
pub fn forget(cart: &CartRecord) -> CartRecord {
    let mut record = cart.clone();
    record.snapshot = None;
    record.contact = None;
    record
}

/// Whether shop erasure deletes the item with sort key `sk`: everything but the settings.
pub fn shop_item_erased(sk: &str) -> bool {
    sk != CONFIG_SK
}

/// The schedules the carts still have pending.
pub fn pending_schedules(carts: &[CartRecord]) -> Vec<ScheduleSpec> {
    carts.iter().filter_map(desired_schedule).collect()
}

/// What an erasure did (ids and counts only: printable and loggable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// The carts deleted.
    pub carts: Vec<CartId>,
    /// The pending schedules deleted.
    pub schedules: Vec<String>,
    /// How many contact items are now tombstones (or were already).
    pub tombstones: usize,
}

/// Everything stored about a person in a shop, as `cartback export` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Export {
    pub shop: ShopId,
    /// Their carts as held (snapshot, steps sent, engagement, order).
    pub carts: Vec<CartRecord>,
    /// Their contact items (keyed by the hash of the email or phone asked about).
    pub contacts: Vec<ContactRecord>,
    /// Every message sent to them, from their carts.
    pub sends: Vec<ExportedSend>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedSend {
    pub cart: CartId,
    pub step: u32,
    pub channel: &'static str,
    pub template: String,
    pub sent_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clicked_at: Option<Timestamp>,
}

/// The sends recorded on `carts` (sent steps only, not skipped ones), oldest first.
pub fn sends(carts: &[CartRecord]) -> Vec<ExportedSend> {
    let mut sends: Vec<ExportedSend> = carts
        .iter()
        .flat_map(|cart| {
            cart.sent
                .iter()
                .filter(|s| s.is_sent())
                .map(|s| ExportedSend {
                    cart: cart.cart.clone(),
                    step: s.step,
                    channel: s.channel.as_str(),
                    template: s.template.clone(),
                    sent_at: s.sent_at,
                    opened_at: s.opened_at,
                    clicked_at: s.clicked_at,
                })
        })
        .collect();
    sends.sort_by_key(|s| s.sent_at);
    sends
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cart::{CartSnapshot, Consent, Platform, SentStep};
    use crate::model::contact::{Email, Phone};
    use crate::model::money::Money;
    use crate::model::reason::SkipReason;
    use crate::model::sequence::Channel;

    fn shop() -> ShopId {
        ShopId::parse("kuura").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cart(id: &str, email: Option<&str>, phone: Option<&str>) -> CartRecord {
        let snapshot = CartSnapshot {
            email: email.map(|e| Email::parse(e).unwrap()),
            phone: phone.map(|p| Phone::parse(p, None).unwrap()),
            first_name: Some("Ada".into()),
            orders_count: 0,
            consent: Consent::default(),
            locale: None,
            items: Vec::new(),
            total: Money::parse(
                "10.00",
                crate::model::money::CurrencyCode::parse("EUR").unwrap(),
            )
            .unwrap(),
            recovery_url: None,
            time_zone: None,
            country: None,
            region: None,
        };
        CartRecord {
            contact: snapshot.contact_key(),
            snapshot: Some(snapshot),
            sequence: "default".into(),
            next_due_at: Some(at("2026-01-01T11:00:00Z")),
            generation: 1,
            expires_at: 1,
            ..CartRecord::new(
                shop(),
                CartId::parse(id).unwrap(),
                Platform::Shopify,
                at("2026-01-01T10:00:00Z"),
            )
        }
    }

    fn email_key(e: &str) -> ContactKey {
        Email::parse(e).unwrap().key()
    }

    #[test]
    fn a_cart_belongs_to_the_person_by_email_or_by_phone() {
        let both = cart("c1", Some("ada@example.com"), Some("+358401234567"));
        let phone = Phone::parse("+358401234567", None).unwrap().key();
        assert!(belongs_to(&both, &[email_key("ada@example.com")]));
        assert!(belongs_to(&both, &[phone]), "found by the phone too");
        assert!(!belongs_to(&both, &[email_key("bob@example.com")]));
    }

    #[test]
    fn every_key_on_the_persons_carts_is_tombstoned() {
        let carts = [cart("c1", Some("ada@example.com"), Some("+358401234567"))];
        let keys = person_keys(&[email_key("ada@example.com")], &carts);
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], email_key("ada@example.com"));
    }

    #[test]
    fn a_tombstone_keeps_nothing_but_the_erased_suppression_and_never_expires() {
        let key = email_key("ada@example.com");
        let mut existing = ContactRecord::new(&shop(), &key);
        existing.recent_sends = vec![1, 2];
        existing.last_order_at = Some(at("2026-01-01T00:00:00Z"));
        existing.expires_at = 99;
        existing.email_suppressed = Some(Suppression {
            reason: SuppressionReason::Unsubscribed,
            at: at("2025-12-01T00:00:00Z"),
        });
        let now = at("2026-02-01T00:00:00Z");
        let t = tombstone(Some(&existing), &shop(), &key, now).unwrap();
        assert!(t.is_erased());
        assert_eq!(
            t.email_suppressed.unwrap().reason,
            SuppressionReason::Erased
        );
        assert_eq!(t.sms_suppressed.unwrap().reason, SuppressionReason::Erased);
        assert!(t.recent_sends.is_empty() && t.last_order_at.is_none());
        assert!(t.latest_cart.is_none());
        assert_eq!(t.expires_at, 0);
        let json = serde_json::to_value(&t).unwrap();
        assert!(json.get("expires_at").is_none(), "no TTL attribute: {json}");
        // Idempotent: a tombstone stays as it is (and keeps its time).
        assert_eq!(
            tombstone(Some(&t), &shop(), &key, at("2027-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn a_tombstone_is_not_given_a_ttl_again_by_later_activity() {
        let key = email_key("ada@example.com");
        let t = tombstone(None, &shop(), &key, at("2026-02-01T00:00:00Z")).unwrap();
        let now = at("2026-03-01T00:00:00Z");
        let sent = crate::rules::lifecycle::contact_sent(Some(&t), &shop(), &key, now);
        assert_eq!(sent, t, "a tombstone records no sends");
        assert_eq!(
            crate::rules::lifecycle::contact_ordered(Some(&t), &shop(), &key, now),
            None
        );
        let cart = CartId::parse("c9").unwrap();
        assert_eq!(
            crate::rules::lifecycle::contact_latest_cart(Some(&t), &shop(), &key, &cart, now),
            None
        );
        assert_eq!(
            crate::rules::lifecycle::contact_suppressed(
                Some(&t),
                &shop(),
                &key,
                Channel::Email,
                SuppressionReason::Unsubscribed,
                now
            ),
            None
        );
    }

    #[test]
    fn shop_erasure_keeps_only_the_settings() {
        assert!(!shop_item_erased("CONFIG"));
        for sk in [
            "CART#a",
            "CONTACT#ab",
            "DELIVERY#x",
            "POOL#p#USED#C",
            "POOL#p",
        ] {
            assert!(shop_item_erased(sk), "{sk}");
        }
    }

    #[test]
    fn pending_schedules_are_those_of_open_armed_carts() {
        let open = cart("c1", Some("ada@example.com"), None);
        let mut done = cart("c2", Some("ada@example.com"), None);
        done.next_due_at = None;
        let pending = pending_schedules(&[open, done]);
        assert_eq!(pending.len(), 1);
        assert!(pending[0].name.ends_with("-s0-g1"));
    }

    #[test]
    fn sends_list_only_sent_steps_oldest_first() {
        let mut c = cart("c1", Some("ada@example.com"), None);
        let step = |n: u32, t: &str, skipped: Option<SkipReason>| SentStep {
            step: n,
            channel: Channel::Email,
            template: format!("t{n}"),
            message_id: String::new(),
            sent_at: at(t),
            skipped,
            unconfirmed: false,
            opened_at: None,
            clicked_at: None,
            variant: None,
        };
        c.sent = vec![
            step(1, "2026-01-02T00:00:00Z", None),
            step(0, "2026-01-01T00:00:00Z", None),
            step(2, "2026-01-03T00:00:00Z", Some(SkipReason::NoEmailConsent)),
        ];
        let s = sends(&[c]);
        assert_eq!(s.iter().map(|s| s.step).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn the_subject_log_id_is_a_hash() {
        let subject = Subject {
            email: Some(Email::parse("ada@example.com").unwrap()),
            phone: None,
        };
        let id = subject.log_id(&shop());
        assert!(!id.contains("ada"));
        assert_eq!(subject.keys().len(), 1);
    }
}
