//! What the messages add: a shop's carts by experiment arm, and the lift of the treatment
//! over the holdout. Pure: `cartback report` reads the carts (a simulation's final state or
//! the table) and prints what this returns.
//!
//! The arms hold the carts that reached their first step's wake-up (`Arm` is recorded
//! there, after every reason to stop, so both arms hold only carts that could have been
//! messaged). A variant of a split step holds the treated carts assigned to it — the one
//! recorded when the step was done, else the one the hash assigns — whether or not they
//! lived to that step, so a variant that waits longer is not credited with the carts that
//! bought in the meantime (an intention-to-treat comparison).

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::insight::stats::{Interval, newcombe_difference};
use crate::model::cart::{CartRecord, CartStatus};
use crate::model::experiment::{Arm, HoldoutShare};
use crate::model::ids::ShopId;
use crate::model::money::{CurrencyCode, Money};
use crate::model::sequence::Sequence;
use crate::rules::decide::cart_step;

/// Amounts per currency, in minor units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amounts(BTreeMap<CurrencyCode, i64>);

impl Amounts {
    fn add(&mut self, money: Money) {
        *self.0.entry(money.currency).or_default() += money.minor;
    }

    /// Each currency's amount.
    pub fn iter(&self) -> impl Iterator<Item = Money> + '_ {
        self.0.iter().map(|(currency, minor)| Money {
            minor: *minor,
            currency: *currency,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Amounts {
    /// `{"EUR": "1234.50"}`: exact decimals per currency.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.iter()
                .map(|money| (money.currency.code(), money.to_decimal().to_string())),
        )
    }
}

/// One group of carts and what became of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Group {
    pub carts: u64,
    pub conversions: u64,
    /// Conversions over carts; `None` without carts.
    pub conversion_rate: Option<f64>,
    /// The orders' totals, per currency.
    pub revenue: Amounts,
    /// Orders credited to cartback (`CartRecord::recovered`).
    pub recovered_orders: u64,
    /// Carts per currency (of the cart, else of its order), for revenue per cart.
    #[serde(skip)]
    carts_by_currency: BTreeMap<CurrencyCode, u64>,
}

impl Group {
    fn add(&mut self, cart: &CartRecord) {
        self.carts += 1;
        let currency = cart
            .snapshot
            .as_ref()
            .map(|s| s.total.currency)
            .or(cart.order_total.map(|m| m.currency));
        if let Some(currency) = currency {
            *self.carts_by_currency.entry(currency).or_default() += 1;
        }
        if cart.status == CartStatus::Converted {
            self.conversions += 1;
            if let Some(total) = cart.order_total {
                self.revenue.add(total);
            }
        }
        if cart.recovered {
            self.recovered_orders += 1;
        }
        self.conversion_rate = Some(self.conversions as f64 / self.carts as f64);
    }
}

/// The carts of one variant of one split step (treated carts only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantGroup {
    pub sequence: String,
    /// 1-based.
    pub step: u32,
    pub variant: String,
    #[serde(flatten)]
    pub group: Group,
}

/// The treatment's revenue per cart minus the holdout's, times the treated carts, in one
/// currency; `None` when the holdout has no carts in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incremental {
    pub currency: &'static str,
    #[serde(serialize_with = "decimal_opt")]
    pub amount: Option<Money>,
}

fn decimal_opt<S: Serializer>(money: &Option<Money>, serializer: S) -> Result<S::Ok, S::Error> {
    match money {
        Some(m) => serializer.serialize_str(&m.to_decimal().to_string()),
        None => serializer.serialize_none(),
    }
}

/// The lift of the treatment over the holdout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lift {
    /// Treatment's conversion rate minus the holdout's; `None`: not enough data.
    pub difference: Option<f64>,
    /// Its 95 % interval (Newcombe's hybrid score interval).
    pub ci95: Option<Interval>,
    /// The difference over the holdout's rate; `None` when the holdout converted nothing.
    pub relative: Option<f64>,
    pub incremental_revenue: Vec<Incremental>,
    /// Why a figure is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Everything `cartback report` shows for one shop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiftReport {
    pub shop: String,
    /// The share of carts the shop holds out now (it may have been other before).
    pub holdout_share: f64,
    /// Only carts whose last activity is at or after this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    pub holdout: Group,
    pub treatment: Group,
    pub variants: Vec<VariantGroup>,
    pub lift: Lift,
    /// Carts bought or stopped before their first step (in neither arm).
    pub not_in_experiment: Group,
}

/// The report for `shop` over `carts` (other shops' carts are left out). `sequence_named`
/// finds a cart's sequence by name (for the variants of its split steps).
pub fn report(
    shop: &ShopId,
    holdout_share: HoldoutShare,
    carts: &[CartRecord],
    sequence_named: impl Fn(&str) -> Option<Sequence>,
    since: Option<Timestamp>,
) -> LiftReport {
    let mut holdout = Group::default();
    let mut treatment = Group::default();
    let mut outside = Group::default();
    let mut sequences: HashMap<String, Option<Sequence>> = HashMap::new();
    let mut variants: BTreeMap<(String, u32, usize), VariantGroup> = BTreeMap::new();
    for cart in carts
        .iter()
        .filter(|c| c.shop == *shop)
        .filter(|c| since.is_none_or(|since| c.last_activity_at >= since))
    {
        match cart.arm {
            Some(Arm::Holdout) => holdout.add(cart),
            None => outside.add(cart),
            Some(Arm::Treatment) => {
                treatment.add(cart);
                let sequence = sequences
                    .entry(cart.sequence.clone())
                    .or_insert_with(|| sequence_named(&cart.sequence));
                let Some(sequence) = sequence.as_ref() else {
                    continue;
                };
                for (index, spec) in sequence.steps.iter().enumerate() {
                    let names = spec.variant_names();
                    let step = u32::try_from(index).unwrap_or(u32::MAX);
                    let Some(name) = cart_step(cart, sequence, step).and_then(|(_, v)| v.name)
                    else {
                        continue;
                    };
                    let order = names.iter().position(|n| *n == name).unwrap_or(usize::MAX);
                    variants
                        .entry((sequence.name.clone(), step, order))
                        .or_insert_with(|| VariantGroup {
                            sequence: sequence.name.clone(),
                            step: step.saturating_add(1),
                            variant: name.to_owned(),
                            group: Group::default(),
                        })
                        .group
                        .add(cart);
                }
            }
        }
    }
    let lift = lift(&holdout, &treatment, holdout_share);
    LiftReport {
        shop: shop.to_string(),
        holdout_share: holdout_share.as_f64(),
        since,
        holdout,
        treatment,
        variants: variants.into_values().collect(),
        lift,
        not_in_experiment: outside,
    }
}

fn lift(holdout: &Group, treatment: &Group, share: HoldoutShare) -> Lift {
    let mut currencies: Vec<CurrencyCode> = treatment
        .carts_by_currency
        .keys()
        .chain(holdout.carts_by_currency.keys())
        .copied()
        .collect();
    currencies.sort();
    currencies.dedup();
    let incremental_revenue = currencies
        .into_iter()
        .map(|currency| Incremental {
            currency: currency.code(),
            amount: incremental(holdout, treatment, currency),
        })
        .collect();
    let note = match (holdout.carts, treatment.carts) {
        (0, 0) => Some("not enough data: no cart has reached its first step yet".to_owned()),
        (0, _) if share.is_off() => Some(
            "not enough data: no cart in the holdout (the shop's `holdout` is 0: set it to e.g. 0.1)"
                .to_owned(),
        ),
        (0, _) => Some("not enough data: no cart in the holdout yet".to_owned()),
        (_, 0) => Some("not enough data: no cart in the treatment".to_owned()),
        _ if holdout.conversions == 0 => Some(
            "the holdout converted nothing yet: no relative lift (the interval still holds)"
                .to_owned(),
        ),
        _ => None,
    };
    let ci95 = newcombe_difference(
        treatment.conversions,
        treatment.carts,
        holdout.conversions,
        holdout.carts,
    );
    let difference = treatment
        .conversion_rate
        .zip(holdout.conversion_rate)
        .map(|(t, h)| t - h);
    let relative = difference
        .zip(holdout.conversion_rate)
        .filter(|(_, h)| *h > 0.0)
        .map(|(d, h)| d / h);
    Lift {
        difference,
        ci95,
        relative,
        incremental_revenue,
        note,
    }
}

/// (treatment revenue / treatment carts − holdout revenue / holdout carts) × treatment
/// carts, in `currency`'s minor units, rounded half away from zero.
fn incremental(holdout: &Group, treatment: &Group, currency: CurrencyCode) -> Option<Money> {
    let carts = |g: &Group| g.carts_by_currency.get(&currency).copied().unwrap_or(0);
    let revenue = |g: &Group| g.revenue.0.get(&currency).copied().unwrap_or(0);
    let (treated, held) = (carts(treatment), carts(holdout));
    if treated == 0 || held == 0 {
        return None;
    }
    let treated = Decimal::from(treated);
    let per_held_cart = Decimal::from(revenue(holdout)).checked_div(Decimal::from(held))?;
    let amount = Decimal::from(revenue(treatment)) - per_held_cart.checked_mul(treated)?;
    let minor = i64::try_from(amount.round()).ok()?;
    Some(Money { minor, currency })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> CurrencyCode {
        CurrencyCode::parse("EUR").expect("EUR")
    }

    fn group(carts: u64, conversions: u64, revenue_minor: i64) -> Group {
        let mut g = Group {
            carts,
            conversions,
            conversion_rate: (carts > 0).then(|| conversions as f64 / carts as f64),
            ..Group::default()
        };
        if carts > 0 {
            g.carts_by_currency.insert(eur(), carts);
        }
        if revenue_minor != 0 {
            g.revenue.0.insert(eur(), revenue_minor);
        }
        g
    }

    #[test]
    fn incremental_revenue_is_revenue_per_cart_difference_times_treated_carts() {
        // Holdout: 100 carts, €400.00; treatment: 900 carts, €7,200.00.
        // (8.00 − 4.00) × 900 = €3,600.00.
        let amount = incremental(&group(100, 5, 40_000), &group(900, 90, 720_000), eur());
        assert_eq!(amount.map(|m| m.minor), Some(360_000));
        // Rounded to the cent: holdout €1.00 over 3 carts, treatment €1.00 over 1 cart.
        let amount = incremental(&group(3, 1, 100), &group(1, 1, 100), eur());
        assert_eq!(amount.map(|m| m.minor), Some(67));
        // No holdout carts in the currency: no estimate.
        assert_eq!(
            incremental(&group(0, 0, 0), &group(10, 1, 100), eur()),
            None
        );
    }

    #[test]
    fn the_lift_is_the_rate_difference_with_its_interval_and_relative_change() {
        let lift = lift(&group(80, 48, 0), &group(70, 56, 0), HoldoutShare::DEFAULT);
        let difference = lift.difference.expect("a difference");
        assert!((difference - 0.2).abs() < 1e-12);
        let ci = lift.ci95.expect("an interval");
        assert_eq!(
            ((ci.low * 1e4).round() / 1e4, (ci.high * 1e4).round() / 1e4),
            (0.0524, 0.3339),
            "Newcombe's example (a)"
        );
        assert!((lift.relative.expect("relative") - 0.2 / 0.6).abs() < 1e-12);
        assert_eq!(lift.note, None);
    }

    #[test]
    fn an_empty_group_says_not_enough_data_instead_of_an_interval() {
        let lift = lift(&group(0, 0, 0), &group(50, 5, 1000), HoldoutShare::DEFAULT);
        assert_eq!(lift.difference, None);
        assert_eq!(lift.ci95, None);
        assert_eq!(lift.relative, None);
        assert!(
            lift.note
                .as_deref()
                .is_some_and(|n| n.starts_with("not enough data"))
        );
        assert_eq!(
            lift.incremental_revenue,
            [Incremental {
                currency: "EUR",
                amount: None
            }]
        );
        let nothing = super::lift(&Group::default(), &Group::default(), HoldoutShare::DEFAULT);
        assert!(
            nothing
                .note
                .as_deref()
                .is_some_and(|n| n.starts_with("not enough data"))
        );
        let off = super::lift(&group(0, 0, 0), &group(50, 5, 1000), HoldoutShare::OFF);
        assert!(
            off.note
                .as_deref()
                .is_some_and(|n| n.contains("`holdout` is 0")),
            "{off:?}"
        );
    }
}
