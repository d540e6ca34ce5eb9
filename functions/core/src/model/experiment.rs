//! Experiments: the holdout group (a share of carts that gets no messages, so the lift of
//! sending them can be measured) and A/B variants of a step.
//!
//! Every assignment is a pure function of ids: SHA-256 of the parts (NUL-separated, with a
//! purpose tag so the holdout and each step's split are independent), its first 8 bytes
//! read as a number and mapped to [0, 1). The same cart lands in the same arm on every
//! machine, in every release and in every function — never Rust's `DefaultHasher`, whose
//! output is not stable across releases.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::ids::{CartId, ShopId};

/// A stable position in [0, 1) for `parts`: SHA-256 of the parts, NUL-separated, the first
/// 53 bits of its first 8 bytes over 2^53 (every value exactly representable in an `f64`).
pub fn position(parts: &[&str]) -> f64 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let bits = u64::from_be_bytes(first) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// The share of a shop's carts held out of every message: 0 (off) to 0.5. Kept in parts
/// per million, so settings compare exactly.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct HoldoutShare(u32);

/// Why a holdout share was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "holdout `{0}` is not a share of carts between 0 and 0.5: write e.g. `holdout = 0.1` (10 % of carts get no messages) or `holdout = 0` (off)"
)]
pub struct HoldoutError(String);

impl HoldoutShare {
    /// The default: one cart in ten gets no messages.
    pub const DEFAULT: Self = Self(100_000);
    /// No holdout: every cart gets the sequence.
    pub const OFF: Self = Self(0);
    /// The largest share allowed: a holdout larger than the treatment costs more than it tells.
    pub const MAX: Self = Self(500_000);

    pub fn new(share: f64) -> Result<Self, HoldoutError> {
        if !share.is_finite() || !(0.0..=0.5).contains(&share) {
            return Err(HoldoutError(share.to_string()));
        }
        // In range, so the product fits a u32 comfortably.
        Ok(Self((share * 1_000_000.0).round() as u32))
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 1_000_000.0
    }

    pub fn is_off(self) -> bool {
        self.0 == 0
    }

    /// `10 %`, `2.5 %`.
    pub fn percent(self) -> String {
        let tenths = (f64::from(self.0) / 1_000.0).round() as u64;
        if tenths.is_multiple_of(10) {
            format!("{} %", tenths / 10)
        } else {
            format!("{}.{} %", tenths / 10, tenths % 10)
        }
    }
}

impl Default for HoldoutShare {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Debug for HoldoutShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HoldoutShare({})", self.as_f64())
    }
}

impl TryFrom<f64> for HoldoutShare {
    type Error = HoldoutError;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<HoldoutShare> for f64 {
    fn from(value: HoldoutShare) -> Self {
        value.as_f64()
    }
}

/// The arm of the experiment a cart is in, recorded on the cart at its first step's
/// wake-up (carts bought or stopped before then are in neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// Gets no messages; its conversions are the baseline.
    Holdout,
    /// Gets the sequence.
    Treatment,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Holdout => "holdout",
            Self::Treatment => "treatment",
        }
    }
}

/// The arm `cart` of `shop` falls in with `share` held out: SHA-256 of
/// (`holdout`, shop, cart) mapped to [0, 1), held out below `share`.
pub fn arm_for(shop: &ShopId, cart: &CartId, share: HoldoutShare) -> Arm {
    if position(&["holdout", shop.as_str(), cart.as_str()]) < share.as_f64() {
        Arm::Holdout
    } else {
        Arm::Treatment
    }
}

/// The index (into `weights`) of the variant of step `step` (0-based) of `sequence` that
/// `cart` of `shop` gets: SHA-256 of (`variant`, shop, cart, sequence, step) mapped to
/// [0, 1) and laid over the weights in order, so each variant gets its weight's share.
/// `None` when there are no weights or they sum to 0.
pub fn variant_index(
    shop: &ShopId,
    cart: &CartId,
    sequence: &str,
    step: u32,
    weights: &[u32],
) -> Option<usize> {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let step = step.to_string();
    let at = position(&["variant", shop.as_str(), cart.as_str(), sequence, &step]) * total as f64;
    let mut upto = 0u64;
    for (index, weight) in weights.iter().enumerate() {
        upto += u64::from(*weight);
        if at < upto as f64 {
            return Some(index);
        }
    }
    // Only reachable through rounding at the very top of the range.
    weights.iter().rposition(|w| *w > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> ShopId {
        ShopId::parse("demo-shop.myshopify.com").expect("valid")
    }

    fn cart(i: u32) -> CartId {
        CartId::parse(format!("{i:032x}")).expect("valid")
    }

    #[test]
    fn positions_are_stable_sha256_values_in_the_unit_interval() {
        // SHA-256("holdout\0a\0b\0") starts with these 8 bytes; pinned so a change of the
        // mapping (which would reshuffle every shop's arms) fails here first.
        let p = position(&["holdout", "a", "b"]);
        let mut hasher = Sha256::new();
        hasher.update(b"holdout\0a\0b\0");
        let digest = hasher.finalize();
        let expected = (u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) >> 11) as f64
            / 9_007_199_254_740_992.0;
        assert_eq!(p, expected);
        assert!((0.0..1.0).contains(&p));
        assert_eq!(p, position(&["holdout", "a", "b"]));
        // The separator keeps ("ab", "") and ("a", "b") apart.
        assert_ne!(position(&["ab", ""]), position(&["a", "b"]));
    }

    #[test]
    fn about_a_tenth_of_carts_are_held_out_by_default_and_always_the_same_ones() {
        let n = 20_000;
        let held: Vec<u32> = (0..n)
            .filter(|i| arm_for(&shop(), &cart(*i), HoldoutShare::DEFAULT) == Arm::Holdout)
            .collect();
        let share = held.len() as f64 / f64::from(n);
        // Binomial(20000, 0.1): sd 0.0021; four of them either side.
        assert!((share - 0.10).abs() < 0.0085, "held out {share}");
        let again: Vec<u32> = (0..n)
            .filter(|i| arm_for(&shop(), &cart(*i), HoldoutShare::DEFAULT) == Arm::Holdout)
            .collect();
        assert_eq!(held, again);
        // Off holds out nothing; a larger share holds out a superset.
        assert!((0..n).all(|i| arm_for(&shop(), &cart(i), HoldoutShare::OFF) == Arm::Treatment));
        let quarter = HoldoutShare::new(0.25).expect("valid");
        assert!(
            held.iter()
                .all(|i| arm_for(&shop(), &cart(*i), quarter) == Arm::Holdout)
        );
        // Another shop's carts of the same ids fall differently.
        let other = ShopId::parse("other-shop").expect("valid");
        let held_there: Vec<u32> = (0..n)
            .filter(|i| arm_for(&other, &cart(*i), HoldoutShare::DEFAULT) == Arm::Holdout)
            .collect();
        assert_ne!(held, held_there);
    }

    #[test]
    fn holdout_shares_are_checked() {
        assert_eq!(HoldoutShare::new(0.1), Ok(HoldoutShare::DEFAULT));
        assert_eq!(HoldoutShare::new(0.0), Ok(HoldoutShare::OFF));
        assert_eq!(HoldoutShare::new(0.5), Ok(HoldoutShare::MAX));
        for bad in [0.51, -0.01, 1.0, 10.0, f64::NAN, f64::INFINITY] {
            let error = HoldoutShare::new(bad).expect_err("out of range");
            assert!(error.to_string().contains("between 0 and 0.5"), "{error}");
        }
        assert_eq!(HoldoutShare::DEFAULT.percent(), "10 %");
        assert_eq!(HoldoutShare::new(0.025).expect("valid").percent(), "2.5 %");
        // As the settings hold it: a number, 0 (an integer in TOML) included.
        #[derive(Deserialize)]
        struct Settings {
            holdout: HoldoutShare,
        }
        let parsed: Settings = toml::from_str("holdout = 0").expect("an integer 0 is off");
        assert!(parsed.holdout.is_off());
        let parsed: Settings = toml::from_str("holdout = 0.2").expect("valid");
        assert_eq!(parsed.holdout.as_f64(), 0.2);
        let error = toml::from_str::<Settings>("holdout = 0.7")
            .err()
            .expect("refused");
        assert!(error.to_string().contains("between 0 and 0.5"), "{error}");
    }

    #[test]
    fn variants_get_their_weights_share_independently_of_the_holdout() {
        let n = 20_000u32;
        let mut counts = [0u32; 3];
        for i in 0..n {
            let index =
                variant_index(&shop(), &cart(i), "new-visitor", 0, &[1, 1, 2]).expect("weights");
            counts[index] += 1;
            assert_eq!(
                Some(index),
                variant_index(&shop(), &cart(i), "new-visitor", 0, &[1, 1, 2])
            );
        }
        let shares: Vec<f64> = counts
            .iter()
            .map(|c| f64::from(*c) / f64::from(n))
            .collect();
        for (share, expected) in shares.iter().zip([0.25, 0.25, 0.5]) {
            assert!((share - expected).abs() < 0.015, "{shares:?}");
        }
        // Another step splits the same carts independently.
        let first: Vec<usize> = (0..200)
            .filter_map(|i| variant_index(&shop(), &cart(i), "new-visitor", 0, &[1, 1]))
            .collect();
        let second: Vec<usize> = (0..200)
            .filter_map(|i| variant_index(&shop(), &cart(i), "new-visitor", 1, &[1, 1]))
            .collect();
        assert_ne!(first, second);
        // Held-out and treated carts are split alike (independent hashes).
        let treated_b = (0..n)
            .filter(|i| arm_for(&shop(), &cart(*i), HoldoutShare::DEFAULT) == Arm::Treatment)
            .filter(|i| variant_index(&shop(), &cart(*i), "s", 0, &[1, 1]) == Some(1))
            .count() as f64;
        let treated = (0..n)
            .filter(|i| arm_for(&shop(), &cart(*i), HoldoutShare::DEFAULT) == Arm::Treatment)
            .count() as f64;
        assert!((treated_b / treated - 0.5).abs() < 0.02);
        assert_eq!(variant_index(&shop(), &cart(1), "s", 0, &[]), None);
        assert_eq!(variant_index(&shop(), &cart(1), "s", 0, &[0, 0]), None);
        assert_eq!(variant_index(&shop(), &cart(1), "s", 0, &[0, 3]), Some(1));
    }
}
