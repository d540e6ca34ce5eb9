//! Generated abandoned carts for `cartback simulate` at scale: a deterministic mix of
//! shoppers over a week — most abandon and get the whole sequence, some update their cart
//! first, some buy, some open or click, some have SMS consent, some come back with a newer
//! cart — in four locales across ten shops. Payloads carry only the fields a Shopify
//! checkout or order webhook is read for, so 100,000 carts stay around 160 MB of input.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// How many shops the carts are spread over.
pub const SHOPS: u64 = 10;

/// What the generator wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub carts: u64,
    pub lines: u64,
    pub bytes: u64,
    pub orders: u64,
    pub recipient_events: u64,
}

impl Written {
    /// Writes `value` as one JSON line to `out` and counts it.
    fn line(&mut self, out: &mut dyn Write, value: Value) -> io::Result<()> {
        self.text(out, &value.to_string())
    }

    fn text(&mut self, out: &mut dyn Write, text: &str) -> io::Result<()> {
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")?;
        self.lines += 1;
        self.bytes += text.len() as u64 + 1;
        Ok(())
    }
}

/// Lines held back until no cart made later can come before them, so that the file comes
/// out in time order (which `simulate` reads as it runs, without holding the file). Lines
/// of the same second keep the order they were made in, as `simulate`'s own sort would.
#[derive(Default)]
struct InOrder {
    held: BinaryHeap<Reverse<(i64, u64, String)>>,
    made: u64,
}

impl InOrder {
    fn push(&mut self, at: Timestamp, value: &Value) {
        self.made += 1;
        self.held
            .push(Reverse((at.as_second(), self.made, value.to_string())));
    }

    /// Writes every held line of second `until` or earlier.
    fn release(
        &mut self,
        out: &mut dyn Write,
        written: &mut Written,
        until: i64,
    ) -> io::Result<()> {
        while let Some(Reverse((second, _, _))) = self.held.peek() {
            if *second > until {
                break;
            }
            if let Some(Reverse((_, _, text))) = self.held.pop() {
                written.text(out, &text)?;
            }
        }
        Ok(())
    }
}

/// splitmix64: small, fast, deterministic; good enough to pick a mix.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn at(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn plus(t: Timestamp, secs: u64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs as i64))
        .unwrap_or(t)
}

struct Shopper {
    shop: String,
    token: String,
    email: String,
    phone: Option<String>,
    first_name: &'static str,
    locale: &'static str,
    country: &'static str,
    email_consent: bool,
    returning: bool,
}

fn checkout(s: &Shopper, updated_at: Timestamp, quantity: u64) -> Value {
    let beanie = 2490 * quantity;
    let total = beanie + 2500;
    let money = |cents: u64| format!("{}.{:02}", cents / 100, cents % 100);
    json!({
        "token": s.token,
        "email": s.email,
        "phone": s.phone,
        "sms_marketing_phone": s.phone,
        "buyer_accepts_marketing": s.email_consent,
        "buyer_accepts_sms_marketing": s.phone.is_some(),
        "customer_locale": s.locale,
        "currency": "EUR",
        "presentment_currency": "EUR",
        "total_price": money(total),
        "updated_at": at(updated_at),
        "completed_at": null,
        "abandoned_checkout_url": format!("https://{}/90123456789/checkouts/{}/recover?key=k{}", s.shop, s.token, &s.token[..8]),
        "line_items": [
            { "title": "Merino Wool Beanie", "variant_title": "Charcoal", "quantity": quantity, "price": "24.90" },
            { "title": "Organic Cotton Tote", "variant_title": "Natural", "quantity": 2, "price": "12.50" }
        ],
        "shipping_address": { "country_code": s.country, "province_code": null },
        "customer": { "first_name": s.first_name, "email": s.email, "phone": s.phone, "orders_count": u64::from(s.returning) * 2 }
    })
}

fn order(s: &Shopper, number: u64, created_at: Timestamp) -> Value {
    json!({
        "id": 6_000_000_000_000_u64 + number,
        "checkout_token": s.token,
        "email": s.email,
        "phone": s.phone,
        "total_price": "49.90",
        "currency": "EUR",
        "created_at": at(created_at),
        "processed_at": at(created_at),
        "cancelled_at": null
    })
}

/// Writes `carts` generated carts over one week, one JSON line per input event, in time
/// order.
pub fn write(out: &mut impl Write, carts: u64, seed: u64) -> io::Result<Written> {
    write_over(out, carts, 7, seed)
}

/// Writes `carts` generated carts evenly spread over `days` days, one JSON line per input
/// event, in time order.
pub fn write_over(out: &mut impl Write, carts: u64, days: u64, seed: u64) -> io::Result<Written> {
    let mut mix = Mix(seed);
    let start: Timestamp = "2026-11-02T00:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let spacing = (days.max(1) * 24 * 3600 * 1000 / carts.max(1)).max(1);
    let mut written = Written::default();
    let mut in_order = InOrder::default();
    let locales = [
        ("en", "IE", "Ada"),
        ("en", "GB", "Grace"),
        ("fi", "FI", "Aino"),
        ("fi", "FI", "Eino"),
        ("pl", "PL", "Zofia"),
        ("ja", "JP", "Hanako"),
    ];
    for i in 0..carts {
        let created = start
            .checked_add(SignedDuration::from_millis((i * spacing) as i64))
            .unwrap_or(start);
        // Every line still to come is at `created` or later.
        in_order.release(out, &mut written, created.as_second() - 1)?;
        // One in twenty shoppers comes back with a newer cart (the older one is superseded).
        let person = if i > 50 && mix.chance(5) {
            i - 1 - mix.below(50)
        } else {
            i
        };
        let (locale, country, first_name) = locales[(person % locales.len() as u64) as usize];
        let shopper = Shopper {
            shop: format!("shop-{}.myshopify.com", person % SHOPS),
            token: format!("{:032x}", (u128::from(seed) << 64) | (u128::from(i) + 1)),
            email: format!("shopper{person}@example.com"),
            // One in five gave a mobile number with SMS consent.
            phone: (person % 5 == 0).then(|| format!("+35840{:07}", person % 10_000_000)),
            first_name,
            locale,
            country,
            email_consent: person % 7 != 0,
            returning: person % 4 == 0,
        };
        let webhook = |topic: &str, t: Timestamp, payload: Value| json!({ "at": at(t), "shop": shopper.shop, "platform": "shopify", "topic": topic, "payload": payload });
        in_order.push(
            created,
            &webhook("checkouts/create", created, checkout(&shopper, created, 1)),
        );
        // Three in ten update their cart once to three times over the next half hour.
        let mut last = created;
        if mix.chance(30) {
            for u in 0..=mix.below(3) {
                last = plus(last, 60 + mix.below(600));
                in_order.push(
                    last,
                    &webhook("checkouts/update", last, checkout(&shopper, last, 2 + u)),
                );
            }
        }
        // One in ten buys: half before the first reminder, half after it.
        if mix.chance(10) {
            let bought = plus(
                last,
                if mix.chance(50) { 600 } else { 2 * 3600 } + mix.below(1800),
            );
            in_order.push(
                bought,
                &webhook("orders/create", bought, order(&shopper, i, bought)),
            );
            written.orders += 1;
        } else if shopper.email_consent && mix.chance(25) {
            // A quarter of the emailed ones open the first reminder; some of those click.
            let opened = plus(last, 3600 + 600 + mix.below(3600));
            let event = if mix.chance(30) { "click" } else { "open" };
            in_order.push(
                opened,
                &json!({ "at": at(opened), "shop": shopper.shop, "event": event, "cart": shopper.token, "step": 1 }),
            );
            written.recipient_events += 1;
        }
        written.carts += 1;
    }
    in_order.release(out, &mut written, i64::MAX)?;
    Ok(written)
}

/// Writes `carts` carts left within one minute (a flash sale): every shopper gave an email
/// address and marketing consent and none buys, so every cart's first reminder falls due in
/// the same minute (`simulate --send-rate` drains the burst at the account's rate).
pub fn write_burst(out: &mut impl Write, carts: u64, seed: u64) -> io::Result<Written> {
    let start: Timestamp = "2026-11-02T09:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let spacing = (60_000 / carts.max(1)).max(1);
    let mut written = Written::default();
    for i in 0..carts {
        let created = start
            .checked_add(SignedDuration::from_millis(((i * spacing) % 60_000) as i64))
            .unwrap_or(start);
        let shopper = Shopper {
            shop: format!("shop-{}.myshopify.com", i % SHOPS),
            token: format!("{:032x}", (u128::from(seed) << 64) | (u128::from(i) + 1)),
            email: format!("burst{i}@example.com"),
            phone: None,
            first_name: "Ada",
            locale: "en",
            country: "IE",
            email_consent: true,
            returning: false,
        };
        written.line(
            out,
            json!({ "at": at(created), "shop": shopper.shop, "platform": "shopify", "topic": "checkouts/create", "payload": checkout(&shopper, created, 1) }),
        )?;
        written.carts += 1;
    }
    Ok(written)
}

/// The shop of `write_holdout_shop`'s carts.
pub const HOLDOUT_SHOP: &str = "holdout-demo";

/// How often carts convert in each arm, in per mille.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversionRates {
    /// Held-out carts (no messages): the base rate.
    pub holdout: u64,
    /// Treated carts (the sequence).
    pub treatment: u64,
}

impl Default for ConversionRates {
    /// 8 % without messages, 14 % with them.
    fn default() -> Self {
        Self {
            holdout: 80,
            treatment: 140,
        }
    }
}

/// Writes `carts` abandoned carts of one shop (`HOLDOUT_SHOP`, on the default 10 % holdout)
/// whose conversion depends on their arm: each cart's arm comes from the same assignment
/// cartback makes (`experiment::arm_for`), and it converts with that arm's rate, 2 to 48
/// hours after it was abandoned (after its first reminder, so every cart is in an arm).
/// Every shopper has an email address and marketing consent; carts spread over a week.
/// Lines are as short as the Shopify adapter allows, so a few thousand carts stay small.
pub fn write_holdout_shop(
    out: &mut impl Write,
    carts: u64,
    seed: u64,
    rates: ConversionRates,
) -> io::Result<Written> {
    use cartback_core::model::experiment::{Arm, HoldoutShare, arm_for};
    use cartback_core::model::ids::{CartId, ShopId};
    let mut mix = Mix(seed);
    let start: Timestamp = "2026-11-02T00:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let spacing = (7 * 24 * 3600 * 1000 / carts.max(1)).max(1);
    let shop = ShopId::parse(HOLDOUT_SHOP).map_err(io::Error::other)?;
    let names = ["Ada", "Grace", "Aino", "Eino", "Zofia", "Hanako"];
    let mut written = Written::default();
    let money = |cents: u64| format!("{}.{:02}", cents / 100, cents % 100);
    let mut orders = 0;
    for i in 0..carts {
        let at_ = start
            .checked_add(SignedDuration::from_millis((i * spacing) as i64))
            .unwrap_or(start);
        let token = format!("{:032x}", (u128::from(seed) << 64) | (u128::from(i) + 1));
        let cart = CartId::parse(token.as_str()).map_err(io::Error::other)?;
        let quantity = 1 + mix.below(3);
        let total = money(2490 * quantity);
        let email = format!("s{i}@example.com");
        let checkout = json!({
            "token": token,
            "email": email,
            "buyer_accepts_marketing": true,
            "currency": "EUR",
            "total_price": total,
            "updated_at": at(at_),
            "abandoned_checkout_url": format!("https://{HOLDOUT_SHOP}.example/checkouts/{token}/recover"),
            "line_items": [{ "title": "Merino Wool Beanie", "quantity": quantity, "price": "24.90" }],
            "customer": { "first_name": names[(i % names.len() as u64) as usize] }
        });
        written.line(
            out,
            json!({ "at": at(at_), "shop": HOLDOUT_SHOP, "platform": "shopify", "topic": "checkouts/create", "payload": checkout }),
        )?;
        let rate = match arm_for(&shop, &cart, HoldoutShare::DEFAULT) {
            Arm::Holdout => rates.holdout,
            Arm::Treatment => rates.treatment,
        };
        if mix.next() % 1000 < rate {
            let bought = plus(at_, 2 * 3600 + mix.below(46 * 3600));
            let order = json!({
                "id": 7_000_000_000_000_u64 + i,
                "checkout_token": token,
                "email": email,
                "total_price": total,
                "currency": "EUR",
                "created_at": at(bought),
            });
            written.line(
                out,
                json!({ "at": at(bought), "shop": HOLDOUT_SHOP, "platform": "shopify", "topic": "orders/create", "payload": order }),
            )?;
            orders += 1;
        }
    }
    written.carts = carts;
    written.orders = orders;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_carts() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let wa = write(&mut a, 200, 7).ok();
        let wb = write(&mut b, 200, 7).ok();
        assert_eq!(wa, wb);
        assert_eq!(a, b);
        let w = wa.unwrap_or_default();
        assert_eq!(w.carts, 200);
        assert!(w.orders > 0 && w.recipient_events > 0, "{w:?}");
        assert!(w.bytes / w.lines < 1500, "compact lines: {w:?}");
    }

    #[test]
    fn the_holdout_shop_converts_treated_carts_more_often_and_stays_small() {
        use cartback_core::model::experiment::{Arm, HoldoutShare, arm_for};
        use cartback_core::model::ids::{CartId, ShopId};
        let mut out = Vec::new();
        let rates = ConversionRates {
            holdout: 0,
            treatment: 1000,
        };
        let w = write_holdout_shop(&mut out, 400, 3, rates).expect("written");
        assert_eq!(w.carts, 400);
        let text = String::from_utf8(out).expect("UTF-8");
        let shop = ShopId::parse(HOLDOUT_SHOP).expect("valid");
        // With these rates exactly the treated carts buy.
        let mut held = 0;
        for line in text.lines() {
            let value: Value = serde_json::from_str(line).expect("JSON");
            if value["topic"] == "checkouts/create" {
                let token = value["payload"]["token"].as_str().expect("token");
                let cart = CartId::parse(token).expect("valid");
                let bought = text.contains(&format!("\"checkout_token\":\"{token}\""));
                let arm = arm_for(&shop, &cart, HoldoutShare::DEFAULT);
                assert_eq!(bought, arm == Arm::Treatment, "{token}");
                held += u64::from(arm == Arm::Holdout);
            }
        }
        assert_eq!(w.orders, 400 - held);
        assert!(held > 20 && held < 60, "about a tenth held out: {held}");
        assert!(w.bytes / w.lines < 450, "short lines: {w:?}");
    }
}
