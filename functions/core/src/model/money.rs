//! Amounts of money in a currency, held in minor units (cents, yen) so sums are exact.

use std::fmt;
use std::str::FromStr;

use iso_currency::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not an ISO 4217 currency code")]
    Currency(String),
    #[error("`{0}` is not a decimal amount")]
    Amount(String),
    #[error("`{amount}` has more decimals than {currency} allows")]
    Precision { amount: String, currency: String },
    #[error("amount out of range")]
    Range,
}

impl MoneyError {
    /// The problem without the value (for input from outside, whose values must not reach
    /// logs: see `platforms::json`).
    pub fn problem(&self) -> &'static str {
        match self {
            Self::Currency(_) => "not an ISO 4217 currency code",
            Self::Amount(_) => "not a decimal amount",
            Self::Precision { .. } => "more decimals than the currency allows",
            Self::Range => "amount out of range",
        }
    }
}

/// An ISO 4217 currency code, checked against the standard's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode(Currency);

impl CurrencyCode {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        Currency::from_code(&code.trim().to_ascii_uppercase())
            .map(Self)
            .ok_or_else(|| MoneyError::Currency(code.to_owned()))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point (2 for EUR, 0 for JPY).
    pub fn exponent(self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(0))
    }

    pub fn symbol(self) -> String {
        self.0.symbol().to_string()
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CurrencyCode> for String {
    fn from(value: CurrencyCode) -> Self {
        value.code().to_owned()
    }
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units: cents for EUR, yen for JPY.
    pub minor: i64,
    pub currency: CurrencyCode,
}

impl Money {
    /// Parses a platform's decimal string ("24.90", "1290") in the given currency.
    pub fn parse(amount: &str, currency: CurrencyCode) -> Result<Self, MoneyError> {
        let decimal = Decimal::from_str(amount.trim())
            .map_err(|_| MoneyError::Amount(amount.to_owned()))?
            .normalize();
        let exponent = currency.exponent();
        if decimal.scale() > exponent {
            return Err(MoneyError::Precision {
                amount: amount.to_owned(),
                currency: currency.code().to_owned(),
            });
        }
        let scaled = decimal
            .checked_mul(Decimal::from(10_i64.pow(exponent)))
            .ok_or(MoneyError::Range)?;
        let minor = i64::try_from(scaled).map_err(|_| MoneyError::Range)?;
        Ok(Self { minor, currency })
    }

    /// The amount as a decimal, e.g. 24.90.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.minor, self.currency.exponent())
    }

    pub fn times(self, quantity: u32) -> Option<Self> {
        self.minor
            .checked_mul(i64::from(quantity))
            .map(|minor| Self { minor, ..self })
    }
}

impl fmt::Display for Money {
    /// English display: symbol first, the currency's own number of decimals ("€24.90", "¥1290").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decimal = self.to_decimal();
        let digits = self.currency.exponent() as usize;
        let sign = if decimal.is_sign_negative() { "-" } else { "" };
        write!(
            f,
            "{sign}{}{:.digits$}",
            self.currency.symbol(),
            decimal.abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> CurrencyCode {
        CurrencyCode::parse("EUR").unwrap()
    }

    #[test]
    fn parses_decimal_strings_into_minor_units() {
        assert_eq!(Money::parse("24.90", eur()).unwrap().minor, 2490);
        assert_eq!(Money::parse("24.9", eur()).unwrap().minor, 2490);
        assert_eq!(Money::parse("24.900", eur()).unwrap().minor, 2490);
        let jpy = CurrencyCode::parse("jpy").unwrap();
        assert_eq!(Money::parse("1290", jpy).unwrap().minor, 1290);
        assert!(matches!(
            Money::parse("12.5", jpy),
            Err(MoneyError::Precision { .. })
        ));
        assert!(Money::parse("abc", eur()).is_err());
        assert!(Money::parse("1e400", eur()).is_err());
    }

    #[test]
    fn rejects_unknown_currencies() {
        assert!(CurrencyCode::parse("XYZ").is_err());
        assert_eq!(CurrencyCode::parse("pln").unwrap().code(), "PLN");
    }

    #[test]
    fn displays_with_symbol_and_decimals() {
        assert_eq!(Money::parse("24.9", eur()).unwrap().to_string(), "€24.90");
        let jpy = CurrencyCode::parse("JPY").unwrap();
        assert_eq!(Money::parse("1290", jpy).unwrap().to_string(), "¥1290");
    }

    #[test]
    fn multiplies_by_quantity_without_overflow_panic() {
        let m = Money::parse("2.50", eur()).unwrap();
        assert_eq!(m.times(3).unwrap().minor, 750);
        let huge = Money {
            minor: i64::MAX,
            currency: eur(),
        };
        assert!(huge.times(2).is_none());
    }
}
