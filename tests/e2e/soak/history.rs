//! Seeded random shopper histories: Shopify checkouts created and updated, some bought at a
//! random point of the sequence, duplicate deliveries (the same `X-Shopify-Webhook-Id`),
//! updates delivered out of order, opens and clicks, bounces, complaints and one-click
//! unsubscribes. Payloads are the compact Shopify shapes `bench/src/carts.rs` generates for
//! `cartback simulate` (only the fields the adapter reads, plus a name and an address so the
//! personal-data guard has something to look for).

use cartback_devstack::SplitMix64;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// The shops the carts are spread over (each connected with its own webhook secret).
pub const SHOPS: [&str; 2] = ["soak-north.myshopify.com", "soak-south.myshopify.com"];

/// When the first cart is created.
pub const START: &str = "2026-11-02T06:00:00Z";

/// Carts are created over this long.
const CREATION_WINDOW_SECS: u64 = 12 * 3600;

pub fn secret_of(shop: &str) -> String {
    format!("soak-secret-{shop}")
}

/// One person's cart.
#[derive(Debug, Clone)]
pub struct Cart {
    pub shop: &'static str,
    pub token: String,
    pub person: usize,
    pub email: String,
}

/// What a recipient does with an email (SES events through SNS to the feedback function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SesKind {
    Open,
    Click,
    Bounce,
    Complaint,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// A Shopify webhook delivery (a duplicate repeats an earlier delivery's id and body).
    Webhook {
        topic: &'static str,
        body: String,
        webhook_id: String,
        /// The checkout's `updated_at` or the order's `created_at`.
        stamped: Timestamp,
        duplicate: bool,
    },
    /// An SES event about the cart's email of `step` (1-based).
    Ses { kind: SesKind, step: u32 },
    /// The recipient clicks the one-click unsubscribe link (RFC 8058) for email.
    Unsubscribe,
}

impl Action {
    pub fn is_order(&self) -> bool {
        matches!(self, Self::Webhook { topic, .. } if *topic == "orders/create")
    }
}

/// Something that happens to a cart from outside, at a time.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: Timestamp,
    pub cart: usize,
    pub action: Action,
}

#[derive(Debug, Clone, Default)]
pub struct History {
    pub carts: Vec<Cart>,
    /// In time order (ties in the order generated).
    pub events: Vec<Event>,
}

impl History {
    pub fn webhooks(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e.action, Action::Webhook { .. }))
            .count()
    }

    /// The webhook bodies and the SES events' recipients, for the personal-data guard.
    pub fn bodies(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match &e.action {
                Action::Webhook { body, .. } => Some(body.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, what: impl Fn(&Action) -> bool) -> usize {
        self.events.iter().filter(|e| what(&e.action)).count()
    }

    /// The carts (and their events) of the people with `person % shards == shard`.
    pub fn shard(&self, shard: usize, shards: usize) -> Self {
        let mut index = std::collections::HashMap::new();
        let mut carts = Vec::new();
        for (i, cart) in self.carts.iter().enumerate() {
            if cart.person % shards.max(1) == shard {
                index.insert(i, carts.len());
                carts.push(cart.clone());
            }
        }
        let events = self
            .events
            .iter()
            .filter_map(|e| index.get(&e.cart).map(|&cart| Event { cart, ..e.clone() }))
            .collect();
        Self { carts, events }
    }
}

fn plus(t: Timestamp, secs: u64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(
        i64::try_from(secs).unwrap_or(i64::MAX),
    ))
    .unwrap_or(t)
}

fn stamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

struct Person {
    index: usize,
    first_name: &'static str,
    locale: &'static str,
    country: &'static str,
    city: &'static str,
    email: String,
    phone: Option<String>,
    email_consent: bool,
    returning: bool,
}

fn checkout(
    person: &Person,
    shop: &str,
    token: &str,
    updated_at: Timestamp,
    quantity: u64,
) -> Value {
    let total = 2490 * quantity + 2500;
    let money = |cents: u64| format!("{}.{:02}", cents / 100, cents % 100);
    json!({
        "token": token,
        "email": person.email,
        "phone": person.phone,
        "sms_marketing_phone": person.phone,
        "buyer_accepts_marketing": person.email_consent,
        "buyer_accepts_sms_marketing": person.phone.is_some(),
        "customer_locale": person.locale,
        "currency": "EUR",
        "presentment_currency": "EUR",
        "total_price": money(total),
        "updated_at": stamp(updated_at),
        "completed_at": null,
        "abandoned_checkout_url": format!("https://{shop}/90123456789/checkouts/{token}/recover?key=k{}", &token[..8]),
        "line_items": [
            { "title": "Merino Wool Beanie", "variant_title": "Charcoal", "quantity": quantity, "price": "24.90" },
            { "title": "Organic Cotton Tote", "variant_title": "Natural", "quantity": 2, "price": "12.50" }
        ],
        "shipping_address": {
            "first_name": person.first_name,
            "last_name": format!("Soakson{}", person.index),
            "address1": format!("Testikatu {} B", person.index + 1),
            "city": person.city,
            "zip": format!("{:05}", 10_000 + person.index % 80_000),
            "country_code": person.country,
            "province_code": null
        },
        "customer": {
            "first_name": person.first_name,
            "last_name": format!("Soakson{}", person.index),
            "email": person.email,
            "phone": person.phone,
            "orders_count": u64::from(person.returning) * 2
        }
    })
}

fn order(person: &Person, token: &str, number: u64, created_at: Timestamp) -> Value {
    json!({
        "id": 6_100_000_000_000_u64 + number,
        "checkout_token": token,
        "email": person.email,
        "phone": person.phone,
        "total_price": "49.90",
        "currency": "EUR",
        "created_at": stamp(created_at),
        "processed_at": stamp(created_at),
        "cancelled_at": null
    })
}

const NAMES: [(&str, &str, &str, &str); 6] = [
    ("Ada", "en", "IE", "Dublin"),
    ("Grace", "en", "GB", "Leeds"),
    ("Aino", "fi", "FI", "Tampere"),
    ("Eino", "fi", "FI", "Oulu"),
    ("Zofia", "pl", "PL", "Krakow"),
    ("Hanako", "ja", "JP", "Osaka"),
];

/// `carts` carts of seeded random people (one in ten people leaves a second cart later).
pub fn generate(seed: u64, carts: usize) -> History {
    let mut rng = SplitMix64::new(seed);
    let start: Timestamp = START.parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let mut history = History::default();
    let mut person_index = 0;
    let mut order_number = 0;
    while history.carts.len() < carts {
        let (first_name, locale, country, city) = NAMES[rng.below(NAMES.len() as u64) as usize];
        let person = Person {
            index: person_index,
            first_name,
            locale,
            country,
            city,
            email: format!("soak{person_index}.s{seed}@example.com"),
            // Three in ten give a mobile number with SMS consent.
            phone: rng
                .chance(0.3)
                .then(|| format!("+35840{:07}", 1_000_000 + person_index)),
            email_consent: rng.chance(0.9),
            returning: rng.chance(0.25),
        };
        person_index += 1;
        let shop = SHOPS[rng.below(SHOPS.len() as u64) as usize];
        let cart_count = if rng.chance(0.1) && history.carts.len() + 1 < carts {
            2
        } else {
            1
        };
        let mut created = plus(start, rng.below(CREATION_WINDOW_SECS));
        for _ in 0..cart_count {
            let index = history.carts.len();
            let token = format!("{:016x}{:016x}", seed, index as u64 + 1);
            history.carts.push(Cart {
                shop,
                token: token.clone(),
                person: person.index,
                email: person.email.clone(),
            });
            let mut events = cart_events(
                &mut rng,
                &person,
                shop,
                &token,
                index,
                created,
                &mut order_number,
            );
            history.events.append(&mut events);
            // The second cart comes 1 to 20 hours later.
            created = plus(created, 3600 + rng.below(19 * 3600));
        }
    }
    // Stable: events at the same instant keep the order they were generated in.
    history.events.sort_by_key(|e| e.at);
    history
}

fn cart_events(
    rng: &mut SplitMix64,
    person: &Person,
    shop: &'static str,
    token: &str,
    cart: usize,
    created: Timestamp,
    order_number: &mut u64,
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut deliveries = 0;
    let mut next_id = || {
        deliveries += 1;
        format!("soak-{token}-{deliveries}")
    };
    // (delivery time, topic, body, id, stamped)
    let mut webhooks: Vec<(Timestamp, &'static str, String, String, Timestamp)> = Vec::new();
    let quantity = 1 + rng.below(3);
    webhooks.push((
        plus(created, rng.below(20)),
        "checkouts/create",
        checkout(person, shop, token, created, quantity).to_string(),
        next_id(),
        created,
    ));
    let updates = match rng.below(100) {
        0..45 => 0,
        45..75 => 1,
        75..90 => 2,
        _ => 3,
    };
    let mut last = created;
    for u in 0..updates {
        last = plus(last, 60 + rng.below(840));
        webhooks.push((
            plus(last, rng.below(20)),
            "checkouts/update",
            checkout(person, shop, token, last, quantity + 1 + u).to_string(),
            next_id(),
            last,
        ));
    }
    // One in six carts with updates gets one delivered late: after the next one.
    if webhooks.len() >= 2 && rng.chance(0.17) {
        let j = rng.below(webhooks.len() as u64 - 1) as usize;
        let later = plus(webhooks[j + 1].0, 5 + rng.below(300));
        webhooks[j].0 = later;
    }
    // A third of the carts are bought: before the first reminder, between reminders, or late.
    if rng.chance(0.33) {
        let after = match rng.below(4) {
            0 => 300 + rng.below(3000),
            1 => 3900 + rng.below(5 * 3600),
            2 => 7 * 3600 + rng.below(24 * 3600),
            _ => 2 * 86_400 + rng.below(2 * 86_400),
        };
        let bought = plus(last, after);
        *order_number += 1;
        webhooks.push((
            plus(bought, rng.below(30)),
            "orders/create",
            order(person, token, *order_number, bought).to_string(),
            next_id(),
            bought,
        ));
    }
    for (at, topic, body, webhook_id, stamped) in webhooks {
        // Shopify delivers at least once: one in twelve deliveries comes twice.
        if rng.chance(0.08) {
            events.push(Event {
                at: plus(at, 1 + rng.below(600)),
                cart,
                action: Action::Webhook {
                    topic,
                    body: body.clone(),
                    webhook_id: webhook_id.clone(),
                    stamped,
                    duplicate: true,
                },
            });
        }
        events.push(Event {
            at,
            cart,
            action: Action::Webhook {
                topic,
                body,
                webhook_id,
                stamped,
                duplicate: false,
            },
        });
    }
    // What the recipient does with the emails (if they come).
    let first_email = plus(last, 3600);
    if person.email_consent {
        if rng.chance(0.3) {
            let opened = plus(first_email, 300 + rng.below(3 * 3600));
            events.push(Event {
                at: opened,
                cart,
                action: Action::Ses {
                    kind: SesKind::Open,
                    step: 1,
                },
            });
            if rng.chance(0.3) {
                events.push(Event {
                    at: plus(opened, 60 + rng.below(1800)),
                    cart,
                    action: Action::Ses {
                        kind: SesKind::Click,
                        step: 1,
                    },
                });
            }
        }
        if rng.chance(0.1) {
            events.push(Event {
                at: plus(first_email, 10 * 3600 + rng.below(10 * 3600)),
                cart,
                action: Action::Ses {
                    kind: SesKind::Open,
                    step: 2,
                },
            });
        }
        match rng.below(100) {
            0..2 => events.push(Event {
                at: plus(first_email, 60 + rng.below(900)),
                cart,
                action: Action::Ses {
                    kind: SesKind::Bounce,
                    step: 1,
                },
            }),
            2..3 => events.push(Event {
                at: plus(first_email, 3600 + rng.below(4 * 3600)),
                cart,
                action: Action::Ses {
                    kind: SesKind::Complaint,
                    step: 1,
                },
            }),
            3..6 => events.push(Event {
                at: plus(first_email, 600 + rng.below(10 * 3600)),
                cart,
                action: Action::Unsubscribe,
            }),
            _ => {}
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_history() {
        let a = generate(3, 200);
        let b = generate(3, 200);
        assert_eq!(a.carts.len(), 200);
        assert_eq!(a.events.len(), b.events.len());
        assert!(a.webhooks() > 300);
        assert!(a.count(Action::is_order) > 30);
    }
}
