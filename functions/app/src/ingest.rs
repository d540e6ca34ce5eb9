//! Ingesting a shop's webhook: verify, normalise, read what is held, apply the event (pure,
//! `core::rules::lifecycle`), one conditional write. A known cart keeps its sequence, an
//! erased person stays forgotten, the newest cart of a person supersedes their older ones.

use cartback_core::insight::attribution::conversion_metrics;
use cartback_core::insight::metrics::Emf;
use cartback_core::model::cart::{CartEvent, CartRecord, Conversion, Person, Platform, Versioned};
use cartback_core::model::ids::{CartId, ShopId, log_hash};
use cartback_core::model::privacy::ErasureJob;
use cartback_core::model::shop::Shop;
use cartback_core::model::time::Clock;
use cartback_core::platforms::bigcommerce::Fetch;
use cartback_core::platforms::webhook::{
    Headers, MAX_BODY_BYTES, ParsedWebhook, WebhookError, parse_webhook,
};
use cartback_core::ports::{
    CartStore, PersonalData, PortError, Put, ShopDirectory, StoreApi, WebhookSecrets, WriteOutcome,
};
use cartback_core::rules::erase::PrivacyRequest;
use cartback_core::rules::lifecycle::{
    Applied, DELIVERY_RETENTION, apply_activity, apply_conversion, carry_sends,
    contact_latest_cart, contact_ordered, expiry, retain,
};
use serde::Serialize;

use crate::Ports;
use crate::erasure;
use crate::privacy::export_person;

/// How many times a write is retried when another writer moved the item first.
const WRITE_ATTEMPTS: usize = 5;

/// A webhook as it arrived: path parameters, headers and the raw body.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub shop: String,
    pub platform: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// What was done with an accepted webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Accepted {
    /// A new or newer cart snapshot was stored.
    Stored { cart: CartId },
    /// The cart was bought; `stopped_step` is the step that will now never be sent.
    Converted {
        cart: Option<CartId>,
        stopped_step: Option<u32>,
    },
    /// This delivery id was handled before.
    Duplicate,
    /// Older than what we hold.
    Stale { cart: CartId },
    /// The cart was already bought: a conversion is final.
    AlreadyConverted { cart: CartId },
    /// A topic we accept but do not act on.
    Ignored { topic: String },
    /// The store's API says the cart (or its order) does not exist (any more): nothing stored.
    NotFound { cart: CartId },
    /// Activity or an order of a person who was erased: nothing stored.
    Erased,
    /// `customers/redact` or `shop/redact`: the erasure is queued for the erasure worker
    /// (`erasure::work`), which deletes the person's carts and makes their contact items
    /// tombstones, or deletes every item of the shop but its settings.
    ErasureQueued { kind: &'static str },
    /// `customers/data_request`: counted what `cartback export` prints; the operator sends
    /// that export to the merchant.
    DataRequested { carts: usize, contacts: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("unknown shop")]
    UnknownShop,
    #[error("unknown platform")]
    UnknownPlatform,
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("temporarily unavailable, please retry")]
    Unavailable,
    /// The store's API answered something we cannot read (a 502: not the sender's fault).
    #[error("the store's API answered something unexpected")]
    StoreApi,
}

fn unavailable(error: PortError) -> Refused {
    tracing::error!(service = error.service, error = %error.message, retryable = error.retryable, "store unavailable; asking the platform to retry");
    Refused::Unavailable
}

/// `CartsTracked` (namespace `cartback`), by shop and platform: a cart seen for the first time.
fn cart_tracked_metric(shop: &ShopId, platform: Platform, at: jiff::Timestamp) -> Emf {
    Emf::new(cartback_core::insight::metrics::NAMESPACE, at)
        .dimension("Shop", shop.as_str())
        .dimension("Platform", platform.as_str())
        .metric(
            "CartsTracked",
            cartback_core::insight::metrics::Unit::Count,
            1.0,
        )
}

pub async fn ingest<P: Ports>(request: &WebhookRequest, ports: &P) -> Result<Accepted, Refused>
where
    P::Store: PersonalData,
{
    let shop_id = ShopId::parse(request.shop.as_str()).map_err(|_| Refused::UnknownShop)?;
    let platform = Platform::parse(&request.platform).ok_or(Refused::UnknownPlatform)?;
    if request.body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge.into());
    }
    let shop = ports
        .shops()
        .shop(&shop_id)
        .await
        .map_err(unavailable)?
        .ok_or(Refused::UnknownShop)?;
    if shop
        .removed
        .is_some_and(|removal| removal.expired(ports.clock().now()))
    {
        tracing::info!("the shop was removed and its tombstone has run out");
        return Err(Refused::UnknownShop);
    }
    let check = ports
        .secrets()
        .webhook_check(&shop_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            tracing::warn!("shop has no webhook secret configured");
            Refused::UnknownShop
        })?;
    let mut parsed = parse_webhook(
        platform,
        &request.headers,
        &request.body,
        &check,
        ports.clock().now(),
    )?;
    tracing::info!(topic = %parsed.topic, "webhook verified");
    if shop.removed.is_some() && !matches!(parsed.event, Some(CartEvent::Privacy(_))) {
        // Kept only so its privacy requests (`shop/redact` after an uninstall) still work.
        tracing::info!(topic = %parsed.topic, "the shop was removed: only its privacy webhooks are handled");
        return Ok(Accepted::Ignored {
            topic: parsed.topic,
        });
    }
    // Whether the loop below must check the delivery id before its first write.
    let mut check_delivery = true;
    if let Some(fetch) = parsed.fetch.clone() {
        // A redelivery costs no API call.
        if already_delivered(&parsed, &shop_id, ports.store()).await? {
            return Ok(Accepted::Duplicate);
        }
        // Checked just now: a copy delivered during the fetch makes the first write a
        // conflict (the delivery marker is written only if absent), and the retry checks.
        check_delivery = false;
        match fetched_event(&fetch, &shop, ports).await? {
            Some(event) => parsed.event = Some(event),
            None => {
                return Ok(Accepted::NotFound {
                    cart: fetch.cart().clone(),
                });
            }
        }
    }
    // Checked first, and again after a conflict (a concurrent delivery of the same id).
    for _ in 0..WRITE_ATTEMPTS {
        if check_delivery && already_delivered(&parsed, &shop_id, ports.store()).await? {
            return Ok(Accepted::Duplicate);
        }
        check_delivery = true;
        if let Attempt::Done(accepted) =
            attempt(&parsed, &shop, ports).await.map_err(unavailable)?
        {
            return Ok(accepted);
        }
    }
    tracing::error!("gave up after repeated write conflicts");
    Err(Refused::Unavailable)
}

/// A purchase whose order the store API would not give: the cart converted now, its revenue
/// unknown.
fn order_of_unknown_revenue<P: Ports>(cart: &CartId, order: u64, ports: &P) -> CartEvent {
    CartEvent::Conversion(Conversion {
        cart: Some(cart.clone()),
        order_id: Some(order.to_string()),
        email: None,
        phone: None,
        total: None,
        at: ports.clock().now(),
    })
}

/// Reads what a BigCommerce webhook names from the shop's store API and parses it. `None`:
/// the store says the cart does not exist (logged; the webhook gets a 200 and nothing is
/// stored). An order that cannot be read for good is still a purchase, of unknown revenue;
/// a transient failure is answered 5xx so BigCommerce delivers it again.
async fn fetched_event<P: Ports>(
    fetch: &Fetch,
    shop: &Shop,
    ports: &P,
) -> Result<Option<CartEvent>, Refused> {
    let log_id = log_hash(&[shop.id.as_str(), fetch.cart().as_str()]);
    let Some(store) = &shop.settings.bigcommerce_store_hash else {
        // Answered 5xx so BigCommerce delivers it again once the shop is set up.
        tracing::error!(cart = %log_id, "BigCommerce webhook for a shop without bigcommerce_store_hash; asking the platform to retry");
        return Err(Refused::Unavailable);
    };
    let answer = ports.store_api().bigcommerce(&shop.id, store, fetch).await;
    let body = match (answer, fetch) {
        (Ok(Some(body)), _) => body,
        // The webhook is authenticated and says an order was placed: that is a purchase even
        // when the order cannot be read for good (no later reminder), of unknown revenue.
        (Ok(None), Fetch::Order { cart, order }) => {
            tracing::warn!(cart = %log_id, "the store API has no such order (404); recorded as a purchase of unknown revenue");
            return Ok(Some(order_of_unknown_revenue(cart, *order, ports)));
        }
        (Err(error), Fetch::Order { cart, order }) if !error.retryable => {
            tracing::error!(cart = %log_id, service = error.service, error = %error.message, "the order could not be read for good; recorded as a purchase of unknown revenue");
            return Ok(Some(order_of_unknown_revenue(cart, *order, ports)));
        }
        (Ok(None), Fetch::Cart(_)) => {
            tracing::info!(cart = %log_id, "the store API has no such cart (404); nothing stored");
            return Ok(None);
        }
        (Err(error), _) => {
            tracing::error!(cart = %log_id, service = error.service, error = %error.message, retryable = error.retryable, "store API failed; asking the platform to retry");
            return Err(Refused::Unavailable);
        }
    };
    match (fetch.event(&body), fetch) {
        (Ok(event), _) => Ok(Some(event)),
        (Err(error), Fetch::Order { cart, order }) => {
            tracing::error!(cart = %log_id, error = %error, "order answer not understood; recorded as a purchase of unknown revenue");
            Ok(Some(order_of_unknown_revenue(cart, *order, ports)))
        }
        (Err(error), Fetch::Cart(_)) => {
            tracing::error!(cart = %log_id, error = %error, "store API answer not understood");
            Err(Refused::StoreApi)
        }
    }
}

async fn already_delivered<S: CartStore>(
    parsed: &ParsedWebhook,
    shop: &ShopId,
    store: &S,
) -> Result<bool, Refused> {
    match &parsed.delivery {
        Some(delivery) => store
            .delivery_seen(shop, delivery)
            .await
            .map_err(unavailable),
        None => Ok(false),
    }
}

enum Attempt {
    Done(Accepted),
    Conflict,
}

fn delivery_put(parsed: &ParsedWebhook, shop: &Shop, now: jiff::Timestamp) -> Option<Put> {
    parsed.delivery.as_ref().map(|id| Put::Delivery {
        shop: shop.id.clone(),
        id: id.clone(),
        expires_at: expiry(now, DELIVERY_RETENTION),
    })
}

/// Reads, applies the event (pure), writes everything in one conditional write.
async fn attempt<P: Ports>(
    parsed: &ParsedWebhook,
    shop: &Shop,
    ports: &P,
) -> Result<Attempt, PortError>
where
    P::Store: PersonalData,
{
    let now = ports.clock().now();
    let Some(event) = &parsed.event else {
        return Ok(Attempt::Done(Accepted::Ignored {
            topic: parsed.topic.clone(),
        }));
    };
    let mut puts = Vec::new();
    // Printed once the write went through.
    let mut metrics = Vec::new();
    let accepted = match event {
        CartEvent::Activity(activity) => {
            // The cart and the person behind it, in one read.
            let (existing, contacts) = ports
                .store()
                .cart_and_contacts(&shop.id, &activity.cart, &activity.snapshot.contact_keys())
                .await?;
            let log_id = log_hash(&[shop.id.as_str(), activity.cart.as_str()]);
            // A known cart keeps the sequence it started with; a new one gets its segment's.
            let sequence = existing
                .as_ref()
                .and_then(|v| shop.sequence_named(&v.value.sequence))
                .unwrap_or_else(|| shop.sequence_for(&activity.snapshot).clone());
            match apply_activity(
                existing.as_ref().map(|v| &v.value),
                &shop.id,
                parsed.platform,
                activity,
                &sequence,
                now,
            ) {
                Applied::Changed(mut record) => {
                    retain(&mut record, shop.settings.cart_retention_days.duration());
                    tracing::info!(cart = %log_id, new = existing.is_none(), sequence = %record.sequence, "cart activity stored");
                    if existing.is_none() {
                        metrics.push(cart_tracked_metric(&shop.id, parsed.platform, now));
                    }
                    // An erased person stays forgotten: nothing of theirs is stored again.
                    if contacts
                        .iter()
                        .any(|(_, c)| c.as_ref().is_some_and(|c| c.value.is_erased()))
                    {
                        tracing::info!(cart = %log_id, "the person was erased; nothing stored");
                        return Ok(Attempt::Done(Accepted::Erased));
                    }
                    // The newest cart of a person supersedes their older ones, and takes
                    // over the count of their messages (the frequency cap).
                    let mut previous_carts: Vec<Versioned<CartRecord>> = Vec::new();
                    for (key, contact) in contacts {
                        if let Some(mut latest) = contact_latest_cart(
                            contact.as_ref().map(|v| &v.value),
                            &shop.id,
                            &key,
                            &activity.cart,
                            record.last_activity_at,
                        ) {
                            let previous = contact
                                .as_ref()
                                .and_then(|c| c.value.latest_cart.as_ref())
                                .map(|latest| latest.cart.clone());
                            if let Some(previous) = previous {
                                if !previous_carts.iter().any(|c| c.value.cart == previous)
                                    && let Some(cart) =
                                        ports.store().cart(&shop.id, &previous).await?
                                {
                                    previous_carts.push(cart);
                                }
                                if let Some(cart) =
                                    previous_carts.iter().find(|c| c.value.cart == previous)
                                {
                                    latest = carry_sends(latest, &cart.value, now);
                                }
                            }
                            puts.push(Put::Contact {
                                record: latest,
                                expected: contact.map(|v| v.version),
                            });
                        } else if existing.is_none() {
                            // A new cart is stored only if the person was not erased since
                            // their records were read (an existing cart's own version
                            // condition already fails once an erasure deleted it).
                            puts.push(Put::ContactUnchanged {
                                shop: shop.id.clone(),
                                key,
                                expected: contact.map(|v| v.version),
                            });
                        }
                    }
                    // A message the previous cart sends meanwhile changes it: the write
                    // then conflicts and is tried again with that message counted.
                    puts.extend(previous_carts.into_iter().map(|cart| Put::CartUnchanged {
                        shop: shop.id.clone(),
                        cart: cart.value.cart,
                        expected: cart.version,
                    }));
                    puts.push(Put::Cart {
                        record,
                        expected: existing.map(|v| v.version),
                    });
                    Accepted::Stored {
                        cart: activity.cart.clone(),
                    }
                }
                Applied::Stale => {
                    tracing::info!(cart = %log_id, "older than the stored cart; ignored");
                    Accepted::Stale {
                        cart: activity.cart.clone(),
                    }
                }
                Applied::AlreadyConverted => Accepted::AlreadyConverted {
                    cart: activity.cart.clone(),
                },
            }
        }
        CartEvent::Conversion(conversion) => {
            let (accepted, emf) =
                conversion_puts(conversion, shop, parsed.platform, now, ports, &mut puts).await?;
            metrics = emf;
            accepted
        }
        CartEvent::Privacy(request) => privacy(request, shop, now, ports).await?,
    };
    puts.extend(delivery_put(parsed, shop, now));
    if puts.is_empty() {
        return Ok(Attempt::Done(accepted));
    }
    Ok(match ports.store().write(puts).await? {
        WriteOutcome::Written => {
            for emf in metrics {
                ports.metrics().emit(emf);
            }
            Attempt::Done(accepted)
        }
        WriteOutcome::Conflict => Attempt::Conflict,
    })
}

async fn conversion_puts<P: Ports>(
    conversion: &Conversion,
    shop: &Shop,
    platform: Platform,
    now: jiff::Timestamp,
    ports: &P,
    puts: &mut Vec<Put>,
) -> Result<(Accepted, Vec<Emf>), PortError>
where
    P::Store: PersonalData,
{
    // The person as known before this order (whom cartback messaged lately: attribution),
    // and the order's cart, in one read.
    let (existing, contacts) = match &conversion.cart {
        Some(cart) => {
            ports
                .store()
                .cart_and_contacts(&shop.id, cart, &conversion.contact_keys())
                .await?
        }
        None => {
            let mut contacts = Vec::new();
            for key in conversion.contact_keys() {
                let contact = ports.store().contact(&shop.id, &key).await?;
                contacts.push((key, contact));
            }
            (None, contacts)
        }
    };
    let mut known = Vec::new();
    for (key, contact) in contacts {
        if contact.as_ref().is_some_and(|c| c.value.is_erased()) {
            tracing::info!("order of an erased person; nothing stored");
            puts.clear();
            return Ok((Accepted::Erased, Vec::new()));
        }
        known.extend(contact.as_ref().map(|v| v.value.clone()));
        if let Some(record) = contact_ordered(
            contact.as_ref().map(|v| &v.value),
            &shop.id,
            &key,
            conversion.at.min(now),
        ) {
            puts.push(Put::Contact {
                record,
                expected: contact.map(|v| v.version),
            });
        }
    }
    let Some(cart) = &conversion.cart else {
        tracing::info!("order without a checkout; the person's other carts stop");
        return Ok((
            Accepted::Converted {
                cart: None,
                stopped_step: None,
            },
            Vec::new(),
        ));
    };
    let log_id = log_hash(&[shop.id.as_str(), cart.as_str()]);
    let mut person = Person::merge(&known);
    if existing
        .as_ref()
        .is_none_or(|c| c.value.send_times().next().is_none())
    {
        // Credit for an order whose own cart was sent nothing rests on the messages to the
        // person: those of their latest cart are on that cart.
        let mut latest_carts: Vec<CartId> = known
            .iter()
            .filter_map(|c| c.latest_cart.as_ref().map(|latest| latest.cart.clone()))
            .filter(|latest| latest != cart)
            .collect();
        latest_carts.sort();
        latest_carts.dedup();
        for latest in latest_carts {
            if let Some(other) = ports.store().cart(&shop.id, &latest).await? {
                person.recent_sends.extend(other.value.send_times());
            }
        }
        person.recent_sends.sort();
        person.recent_sends.dedup();
    }
    let pending: Option<u32> = existing
        .as_ref()
        .map(|v| &v.value)
        .filter(|record: &&CartRecord| record.is_open() && record.next_due_at.is_some())
        .map(|record| record.next_step);
    Ok(
        match apply_conversion(
            existing.as_ref().map(|v| &v.value),
            &shop.id,
            platform,
            conversion,
            cart,
            &person,
            now,
        ) {
            Applied::Changed(mut record) => {
                retain(&mut record, shop.settings.cart_retention_days.duration());
                tracing::info!(cart = %log_id, stopped_step = pending.map(|step| step + 1), recovered = record.recovered, arm = record.arm.map_or("none", |a| a.as_str()), "cart converted");
                let emf = conversion_metrics(&record, now);
                puts.push(Put::Cart {
                    record,
                    expected: existing.map(|v| v.version),
                });
                (
                    Accepted::Converted {
                        cart: Some(cart.clone()),
                        stopped_step: pending,
                    },
                    emf,
                )
            }
            Applied::AlreadyConverted | Applied::Stale => (
                Accepted::AlreadyConverted { cart: cart.clone() },
                Vec::new(),
            ),
        },
    )
}

/// Carries out a platform's privacy request (`core::erase`). An erasure is queued for the
/// erasure worker and the platform answered at once (Shopify waits 5 seconds; a large shop's
/// erasure takes minutes); a data request is answered here (a few index queries). Any error
/// is returned, so the platform delivers again.
async fn privacy<P: Ports>(
    request: &PrivacyRequest,
    shop: &Shop,
    now: jiff::Timestamp,
    ports: &P,
) -> Result<Accepted, PortError>
where
    P::Store: PersonalData,
{
    let job = match request {
        PrivacyRequest::ErasePerson(subject) => ErasureJob::Person {
            shop: shop.id.clone(),
            keys: subject.keys(),
            requested_at: now,
        },
        PrivacyRequest::EraseShop => ErasureJob::Shop {
            shop: shop.id.clone(),
            requested_at: now,
            after: None,
            deleted: 0,
            chunks: 0,
        },
        PrivacyRequest::DataRequest(subject) => {
            let export = export_person(ports.store(), &shop.id, &subject.keys()).await?;
            tracing::info!(person = %subject.log_id(&shop.id), carts = export.carts.len(), contacts = export.contacts.len(), sends = export.sends.len(), "data request: run `cartback export` for this person and send the merchant its output");
            return Ok(Accepted::DataRequested {
                carts: export.carts.len(),
                contacts: export.contacts.len(),
            });
        }
    };
    erasure::request(ports, &job).await?;
    Ok(Accepted::ErasureQueued { kind: job.kind() })
}
