//! How the in-memory table holds people's items. A year of a big shop's carts means about a
//! million people, and a `ContactRecord` with its strings, under a key of two more strings,
//! takes about 900 bytes; held here, one takes about 150: the shop as a number, the key as
//! its 32 bytes, the rest of the record as compact JSON.

use std::collections::HashMap;

use cartback_core::model::cart::{ContactRecord, LatestCart, Suppression, Versioned};
use cartback_core::model::ids::{ContactKey, ShopId};
use cartback_core::model::time::millis_opt;
use cartback_core::ports::PortError;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A person's item as held: its version, its size as the DynamoDB adapter stores it (what
/// reads and writes of it are billed by), its TTL, and the rest of the record, packed.
#[derive(Debug)]
pub(crate) struct Person {
    pub version: u64,
    pub size: usize,
    /// Epoch seconds; 0 never expires.
    pub expires_at: i64,
    body: Box<[u8]>,
}

/// Everything of a `ContactRecord` but its shop, key and TTL, which the table holds apart.
#[derive(Serialize, Deserialize)]
struct Body {
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    last_order_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_suppressed: Option<Suppression>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sms_suppressed: Option<Suppression>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    recent_sends: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latest_cart: Option<LatestCart>,
}

fn packing_error(error: serde_json::Error) -> PortError {
    PortError::permanent("memory", format!("packing a person's item: {error}"))
}

impl Person {
    pub fn pack(record: ContactRecord, version: u64, size: usize) -> Result<Self, PortError> {
        // Every field named: a field added to `ContactRecord` does not compile until it is
        // packed too.
        let ContactRecord {
            shop: _,
            key: _,
            last_order_at,
            email_suppressed,
            sms_suppressed,
            recent_sends,
            latest_cart,
            expires_at,
        } = record;
        let body = serde_json::to_vec(&Body {
            last_order_at,
            email_suppressed,
            sms_suppressed,
            recent_sends,
            latest_cart,
        })
        .map_err(packing_error)?;
        Ok(Self {
            version,
            size,
            expires_at,
            body: body.into_boxed_slice(),
        })
    }

    /// The record held for `shop` and `key`.
    pub fn unpack(
        &self,
        shop: &ShopId,
        key: &ContactKey,
    ) -> Result<Versioned<ContactRecord>, PortError> {
        let Body {
            last_order_at,
            email_suppressed,
            sms_suppressed,
            recent_sends,
            latest_cart,
        } = serde_json::from_slice(&self.body).map_err(packing_error)?;
        Ok(Versioned {
            value: ContactRecord {
                shop: shop.clone(),
                key: key.clone(),
                last_order_at,
                email_suppressed,
                sms_suppressed,
                recent_sends,
                latest_cart,
                expires_at: self.expires_at,
            },
            version: self.version,
        })
    }
}

/// Where a person's item is held: the shop's number and the key's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Slot {
    shop: u32,
    key: [u8; 32],
}

/// The key's 32 bytes, when it is the 64 lowercase hex digits every key we make is (the
/// only keys whose bytes give them back); checked without encoding the bytes again, as
/// every read of a person asks.
fn key_bytes(key: &ContactKey) -> Option<[u8; 32]> {
    let text = key.as_str();
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    (text.len() == 64 && text.bytes().all(lower_hex)).then(|| key.to_bytes())
}

/// Every person's item, by shop and key.
#[derive(Debug, Default)]
pub(crate) struct People {
    shop_numbers: HashMap<ShopId, u32>,
    shops: Vec<ShopId>,
    held: HashMap<Slot, Person>,
}

impl People {
    fn slot(&self, shop: &ShopId, key: &ContactKey) -> Option<Slot> {
        Some(Slot {
            shop: *self.shop_numbers.get(shop)?,
            key: key_bytes(key)?,
        })
    }

    pub fn get(&self, shop: &ShopId, key: &ContactKey) -> Option<&Person> {
        self.held.get(&self.slot(shop, key)?)
    }

    /// Holds `person` for `shop` and `key`, in place of what was held.
    pub fn insert(
        &mut self,
        shop: &ShopId,
        key: &ContactKey,
        person: Person,
    ) -> Result<(), PortError> {
        let key = key_bytes(key).ok_or_else(|| {
            PortError::permanent("memory", "a person's key that is not 64 hex digits")
        })?;
        let shop = match self.shop_numbers.get(shop) {
            Some(number) => *number,
            None => {
                let number = u32::try_from(self.shops.len())
                    .map_err(|_| PortError::permanent("memory", "too many shops"))?;
                self.shops.push(shop.clone());
                self.shop_numbers.insert(shop.clone(), number);
                number
            }
        };
        self.held.insert(Slot { shop, key }, person);
        Ok(())
    }

    pub fn remove(&mut self, shop: &ShopId, key: &ContactKey) -> Option<Person> {
        let slot = self.slot(shop, key)?;
        self.held.remove(&slot)
    }

    /// Keeps only the people `keep` says to keep.
    pub fn retain(&mut self, mut keep: impl FnMut(&Person) -> bool) {
        self.held.retain(|_, person| keep(person));
    }

    /// Every person held: shop, key and item.
    pub fn iter(&self) -> impl Iterator<Item = (&ShopId, ContactKey, &Person)> {
        self.held.iter().filter_map(|(slot, person)| {
            let shop = self.shops.get(slot.shop as usize)?;
            Some((shop, ContactKey::from_bytes(slot.key), person))
        })
    }
}

#[cfg(test)]
mod tests {
    use cartback_core::model::cart::SuppressionReason;
    use cartback_core::model::contact::Email;
    use cartback_core::model::ids::CartId;

    use super::*;

    #[test]
    fn only_a_key_of_64_lowercase_hex_digits_has_a_slot() {
        let made = Email::parse("ada@example.com").expect("an address").key();
        assert_eq!(key_bytes(&made), Some(made.to_bytes()));
        let read = |text: &str| -> ContactKey {
            serde_json::from_value(serde_json::Value::String(text.to_owned())).expect("a key")
        };
        let upper = read(&made.as_str().to_uppercase());
        assert_eq!(
            key_bytes(&upper),
            None,
            "uppercase does not come back from bytes"
        );
        assert_eq!(key_bytes(&read(&made.as_str()[..62])), None, "too short");
        assert_eq!(key_bytes(&read(&"g".repeat(64))), None, "not hex");
    }

    #[test]
    fn a_person_comes_back_as_it_was_held() {
        let shop = ShopId::parse("kuura-knitwear").expect("a shop");
        let key = Email::parse("ada@example.com").expect("an address").key();
        let at: Timestamp = "2026-11-02T08:00:00Z".parse().expect("a time");
        let record = ContactRecord {
            last_order_at: Some(at),
            email_suppressed: Some(Suppression {
                reason: SuppressionReason::Unsubscribed,
                at,
            }),
            recent_sends: vec![at.as_millisecond(), at.as_millisecond() + 1],
            latest_cart: Some(LatestCart {
                cart: CartId::parse("c-1").expect("a cart"),
                activity_at: at,
            }),
            expires_at: 1_800_000_000,
            ..ContactRecord::new(&shop, &key)
        };
        let mut people = People::default();
        people
            .insert(
                &shop,
                &key,
                Person::pack(record.clone(), 7, 321).expect("packed"),
            )
            .expect("held");

        let held = people.get(&shop, &key).expect("held");
        assert_eq!((held.version, held.size), (7, 321));
        let back = held.unpack(&shop, &key).expect("unpacked");
        assert_eq!(back.value, record);
        assert_eq!(back.version, 7);
        let listed: Vec<_> = people.iter().map(|(s, k, _)| (s.clone(), k)).collect();
        assert_eq!(listed, [(shop.clone(), key.clone())]);
        let other = ShopId::parse("other-shop").expect("a shop");
        assert!(people.get(&other, &key).is_none(), "another shop's person");
    }
}
