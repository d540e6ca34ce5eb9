//! The capabilities handlers need, as narrow traits in domain types. `functions/aws`
//! implements them on AWS services, `functions/local` in memory.

use jiff::Timestamp;
use std::fmt;
use std::future::Future;

use crate::model::cart::{CartRecord, ContactRecord, Versioned};
use crate::model::contact::Email;
use crate::model::ids::{CartId, ContactKey, DeliveryId, PoolName, ShopId};
use crate::model::offer_codes::{ClaimedCode, ImportReport, OfferCode};
use crate::model::privacy::ErasureJob;
use crate::model::schedule::ScheduleSpec;
use crate::model::shop::{Shop, SignatureCheck};
use crate::platforms::bigcommerce::{Fetch, StoreHash};

/// A storage or service failure. `retryable` says whether trying again may succeed;
/// `outcome_unknown` that the request may have taken effect although no answer came back
/// (a timeout or a connection lost after the request went out); `account_side` that the
/// service refused because of the account or its configuration (an identity not verified,
/// sending paused, access denied, a spend limit reached): not the recipient's fault, and
/// fixed by the operator, not by a quick retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} failed: {message}")]
pub struct PortError {
    pub service: &'static str,
    pub message: String,
    pub retryable: bool,
    pub outcome_unknown: bool,
    pub account_side: bool,
}

fn redacted(message: String) -> String {
    match crate::model::redact::personal_data(&message) {
        std::borrow::Cow::Borrowed(_) => message,
        std::borrow::Cow::Owned(clean) => clean,
    }
}

impl PortError {
    /// A failure worth retrying. Email addresses and phone numbers in `message` (AWS error
    /// texts quote them) are replaced: the message is logged.
    pub fn retryable(service: &'static str, message: impl Into<String>) -> Self {
        Self {
            service,
            message: redacted(message.into()),
            retryable: true,
            outcome_unknown: false,
            account_side: false,
        }
    }

    /// No answer came back: the request may or may not have taken effect. Retrying a read
    /// or a conditional write is safe; retrying a send may send twice, so the sender does not
    /// (at most once). `message` redacted as for [`PortError::retryable`].
    pub fn outcome_unknown(service: &'static str, message: impl Into<String>) -> Self {
        Self {
            service,
            message: redacted(message.into()),
            retryable: true,
            outcome_unknown: true,
            account_side: false,
        }
    }

    /// A failure a retry will not fix; `message` redacted as for [`PortError::retryable`].
    pub fn permanent(service: &'static str, message: impl Into<String>) -> Self {
        Self {
            service,
            message: redacted(message.into()),
            retryable: false,
            outcome_unknown: false,
            account_side: false,
        }
    }

    /// The account or its configuration refused (see the type's notes). Not retryable at
    /// once; a sender defers the message until the operator has fixed it. `message`
    /// redacted as for [`PortError::retryable`].
    pub fn account_side(service: &'static str, message: impl Into<String>) -> Self {
        Self {
            service,
            message: redacted(message.into()),
            retryable: false,
            outcome_unknown: false,
            account_side: true,
        }
    }
}

/// One item of an all-or-nothing write. `expected` is the version read (None = must not exist).
#[derive(Debug, Clone)]
pub enum Put {
    Cart {
        record: Box<CartRecord>,
        expected: Option<u64>,
    },
    Contact {
        record: ContactRecord,
        expected: Option<u64>,
    },
    /// Remembers a webhook delivery id until `expires_at` (epoch seconds).
    Delivery {
        shop: ShopId,
        id: DeliveryId,
        expires_at: i64,
    },
    /// Writes nothing: the person's contact item must still be as it was read (`expected`:
    /// its version, or `None` for absent), so a new cart is not stored for a person erased
    /// meanwhile (the erasure's tombstone changes the item).
    ContactUnchanged {
        shop: ShopId,
        key: ContactKey,
        expected: Option<u64>,
    },
    /// Writes nothing: a cart must still be at the version read (`expected`), so the sends
    /// carried from it onto the person (`lifecycle::carry_sends`) are all of them.
    CartUnchanged {
        shop: ShopId,
        cart: CartId,
        expected: u64,
    },
}

/// A cart as read (if any), and the person's records by key (`None`: no record).
pub type CartAndContacts = (
    Option<Versioned<CartRecord>>,
    Vec<(ContactKey, Option<Versioned<ContactRecord>>)>,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// Someone wrote first (a version moved, or the delivery was already seen): re-read.
    Conflict,
}

pub trait CartStore: Send + Sync {
    fn cart(
        &self,
        shop: &ShopId,
        cart: &CartId,
    ) -> impl Future<Output = Result<Option<Versioned<CartRecord>>, PortError>> + Send;

    fn contact(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> impl Future<Output = Result<Option<Versioned<ContactRecord>>, PortError>> + Send;

    fn delivery_seen(
        &self,
        shop: &ShopId,
        id: &DeliveryId,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// The cart and the person's records under `keys`, each read consistently, in one call
    /// where the store can (DynamoDB's `BatchGetItem`): what a webhook reads before its write.
    fn cart_and_contacts(
        &self,
        shop: &ShopId,
        cart: &CartId,
        keys: &[ContactKey],
    ) -> impl Future<Output = Result<CartAndContacts, PortError>> + Send {
        async move {
            let found = self.cart(shop, cart).await?;
            let mut contacts = Vec::with_capacity(keys.len());
            for key in keys {
                contacts.push((key.clone(), self.contact(shop, key).await?));
            }
            Ok((found, contacts))
        }
    }

    /// Writes every put or none: one conditional write for one put, a transaction for more.
    /// A written item's version becomes `expected + 1` (1 for a new item).
    fn write(&self, puts: Vec<Put>)
    -> impl Future<Output = Result<WriteOutcome, PortError>> + Send;
}

pub trait Schedules: Send + Sync {
    /// Creates the one-shot schedule; one that already exists under that name is success.
    fn create(&self, spec: &ScheduleSpec) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Deletes it; one that is already gone is success.
    fn delete(&self, name: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// A rendered email ready to hand to the mail service.
#[derive(Clone)]
pub struct OutgoingEmail {
    pub to: Email,
    pub from: Email,
    /// Full MIME message (headers, text and HTML parts).
    pub raw: Vec<u8>,
    /// Tags returned with delivery events (ASCII letters, digits, `_`, `-`).
    pub tags: Vec<(String, String)>,
}

impl fmt::Debug for OutgoingEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("to", &self.to)
            .field("bytes", &self.raw.len())
            .field("tags", &self.tags)
            .finish()
    }
}

pub trait Mailer: Send + Sync {
    /// Sends and returns the service's message id.
    fn send_email(
        &self,
        email: &OutgoingEmail,
    ) -> impl Future<Output = Result<String, PortError>> + Send;
}

/// An SMS ready to publish.
#[derive(Clone)]
pub struct OutgoingSms {
    pub to: crate::model::contact::Phone,
    pub text: String,
    /// Sender id where the destination country allows one.
    pub sender_id: Option<String>,
}

impl fmt::Debug for OutgoingSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingSms")
            .field("to", &self.to)
            .field("chars", &self.text.chars().count())
            .finish()
    }
}

pub trait SmsSender: Send + Sync {
    /// Publishes a promotional SMS and returns the service's message id.
    fn send_sms(&self, sms: &OutgoingSms)
    -> impl Future<Output = Result<String, PortError>> + Send;

    /// Whether the number opted out of SMS (replied STOP): checked before every SMS.
    fn is_opted_out(
        &self,
        phone: &crate::model::contact::Phone,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
}

pub trait ShopDirectory: Send + Sync {
    /// The shop's settings and sequence, or `None` for a shop we do not serve.
    fn shop(&self, id: &ShopId) -> impl Future<Output = Result<Option<Shop>, PortError>> + Send;
}

pub trait WebhookSecrets: Send + Sync {
    /// How to check the shop's webhooks, or `None` when the shop has no secret (not connected).
    fn webhook_check(
        &self,
        shop: &ShopId,
    ) -> impl Future<Output = Result<Option<SignatureCheck>, PortError>> + Send;
}

/// The shops' pools of single-use offer codes.
pub trait OfferCodes: Send + Sync {
    /// The code for `cart`'s step `step` (0-based) from the shop's `pool`: the code the step
    /// already holds (a retry or a duplicate wake-up gets the same one), else a free code,
    /// taken atomically so no other cart step ever gets it. `None`: no free code is left
    /// (or the pool was never filled). `at` is recorded with the claim.
    fn claim(
        &self,
        shop: &ShopId,
        pool: &PoolName,
        cart: &CartId,
        step: u32,
        at: jiff::Timestamp,
    ) -> impl Future<Output = Result<Option<ClaimedCode>, PortError>> + Send;

    /// Makes the codes the pool has never seen available (`codes` holds each code once). A
    /// code that is free, or was ever claimed, is counted as already present and left as it is.
    fn import(
        &self,
        shop: &ShopId,
        pool: &PoolName,
        codes: &[OfferCode],
    ) -> impl Future<Output = Result<ImportReport, PortError>> + Send;
}

/// A shop's store API, for platforms whose webhooks carry only ids (BigCommerce): one GET
/// with the shop's API token, answering the raw JSON body for core to parse
/// (`bigcommerce::Fetch::event`). `Ok(None)`: the store says the cart or order does not
/// exist (404). A 429, a 5xx, a timeout or no token is an error (`retryable` when trying
/// again later may help): the webhook then answers 5xx, so the platform delivers it again.
pub trait StoreApi: Send + Sync {
    fn bigcommerce(
        &self,
        shop: &ShopId,
        store: &StoreHash,
        fetch: &Fetch,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, PortError>> + Send;
}

/// No store API: for deployments and tests that take no BigCommerce shop. Every fetch fails
/// (permanently), so a BigCommerce webhook answers 5xx and nothing is lost.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStoreApi;

impl StoreApi for NoStoreApi {
    async fn bigcommerce(
        &self,
        _shop: &ShopId,
        _store: &StoreHash,
        _fetch: &Fetch,
    ) -> Result<Option<Vec<u8>>, PortError> {
        Err(PortError::permanent(
            "store-api",
            "no store API is configured here",
        ))
    }
}

/// What the sweeper needs beyond `CartStore`: the open carts by due time (the sparse `due`
/// index on DynamoDB), to find those nothing will wake (`rules::heal`).
pub trait DueIndex: Send + Sync {
    /// Up to `limit` open carts whose `next_due_at` is before `before`, as keys only: the
    /// caller reads each cart and decides with `rules::heal::stranded`.
    fn overdue(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(ShopId, CartId)>, PortError>> + Send;
}

/// One page of a shop's item keys: the sort keys a keys-only `Query` on the shop's partition
/// returns for one page (DynamoDB reads up to 1 MB of items per page), and where the next
/// page starts (`None`: this was the last).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    pub sort_keys: Vec<String>,
    pub next: Option<String>,
}

/// What erasure and export need beyond `CartStore` (`core::erase`): finding a person's carts
/// by key, reading and deleting items in batches, and paging through a shop's keys. Deleting
/// an item that is already gone is success, so a retried erasure finishes the job.
pub trait PersonalData: Send + Sync {
    /// The carts that carry `key` as one of their first two contact keys (the sparse
    /// keys-only `person` and `person_alt` indexes; never a read of the shop's partition).
    fn carts_with_key(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> impl Future<Output = Result<Vec<CartId>, PortError>> + Send;

    /// The carts as held, by id (`BatchGetItem`, 100 keys a call); those gone are left out.
    fn carts_by_id(
        &self,
        shop: &ShopId,
        carts: &[CartId],
    ) -> impl Future<Output = Result<Vec<CartRecord>, PortError>> + Send;

    /// One page of the sort keys of `shop`'s items, from just after `after` (the start for
    /// `None`).
    fn shop_keys(
        &self,
        shop: &ShopId,
        after: Option<&str>,
    ) -> impl Future<Output = Result<KeyPage, PortError>> + Send;

    /// Deletes `shop`'s items with these sort keys (`BatchWriteItem`, 25 a call, unprocessed
    /// items retried).
    fn delete_items(
        &self,
        shop: &ShopId,
        sort_keys: &[String],
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes one cart.
    fn delete_cart(
        &self,
        shop: &ShopId,
        cart: &CartId,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        let keys = [crate::model::table::cart_sk(cart)];
        async move { self.delete_items(shop, &keys).await }
    }
}

/// Where erasure jobs wait for the background worker (an SQS queue): the webhook answers a
/// privacy request at once and the worker erases, chunk by chunk.
pub trait ErasureQueue: Send + Sync {
    fn enqueue(&self, job: &ErasureJob) -> impl Future<Output = Result<(), PortError>> + Send;
}
