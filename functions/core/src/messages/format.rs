//! Locale-aware formatting of what a message shows: amounts of money and the offer's expiry,
//! with the CLDR data compiled into ICU4X (no hand-written tables).
//!
//! `fi`: `12,90 €`, `la 14.3.` style dates; `pl`: `12,90 zł`; `ja`: `￥1,290`; `en`: `€12.90`.

use fixed_decimal::Decimal as FixedDecimal;
use icu_datetime::DateTimeFormatter;
use icu_datetime::fieldsets;
use icu_datetime::options::TimePrecision;
use icu_experimental::dimension::currency::CurrencyType;
use icu_experimental::dimension::currency::formatter::CurrencyFormatter;
use icu_locale_core::Locale;
use jiff::civil::DateTime;
use jiff_icu::ConvertFrom;
use writeable::Writeable;

use crate::model::money::Money;

/// The locale messages are written for: the cart's BCP 47 tag when ICU understands it
/// (`fi-FI`, `en-GB`, `pt_BR`), else the template language it falls back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLocale(Locale);

impl MessageLocale {
    /// `tag` from the platform (may be missing or malformed); `fallback` is a template
    /// language such as `en`, always valid.
    pub fn resolve(tag: Option<&str>, fallback: &str) -> Self {
        let parsed = tag
            .map(|t| t.trim().replace('_', "-"))
            .and_then(|t| t.parse::<Locale>().ok())
            // A tag in another language than the templates' would mix two languages in
            // one message: numbers follow the words.
            .filter(|l| l.id.language.as_str() == fallback);
        Self(parsed.unwrap_or_else(|| fallback.parse().unwrap_or(Locale::UNKNOWN)))
    }

    pub fn as_icu(&self) -> &Locale {
        &self.0
    }

    /// The language subtag (`fi` of `fi-FI`).
    pub fn language(&self) -> &str {
        self.0.id.language.as_str()
    }
}

impl std::fmt::Display for MessageLocale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `money` written the way a reader of `locale` expects: symbol, its place, the decimal and
/// grouping separators and the currency's own number of decimals.
pub fn money(money: Money, locale: &MessageLocale) -> String {
    let code = money.currency.code();
    let exponent = i16::try_from(money.currency.exponent()).unwrap_or(0);
    let mut amount = FixedDecimal::from(money.minor);
    amount.multiply_pow10(-exponent);
    let formatter = CurrencyType::try_from_str(code).ok().and_then(|currency| {
        CurrencyFormatter::try_new_symbol(locale.as_icu().into(), currency, Default::default()).ok()
    });
    match formatter {
        Some(formatter) => formatter
            .format_fixed_decimal(&amount)
            .write_to_string()
            .into_owned(),
        // Every ISO 4217 code has CLDR data; should one not, the code is still unambiguous.
        None => format!("{code} {}", amount.write_to_string()),
    }
}

/// The same, shorter, for SMS: `Mar 14, 11:59 PM` (en), `14.3. klo 23.59` (fi),
/// `14 mar, 23:59` (pl), `3月14日 23:59` (ja).
pub fn date_time_short(at: DateTime, locale: &MessageLocale) -> String {
    local_date_time(at, locale, fieldsets::MDT::medium())
}

/// A local date and time as a reader of `locale` writes it in running text, to the minute:
/// `March 14 at 11:59 PM` (en), `14. maaliskuuta klo 23.59` (fi), `14 marca 23:59` (pl),
/// `3月14日 23:59` (ja). No weekday: languages inflect it after "until".
pub fn date_time(at: DateTime, locale: &MessageLocale) -> String {
    local_date_time(at, locale, fieldsets::MDT::long())
}

fn local_date_time(at: DateTime, locale: &MessageLocale, fields: fieldsets::MDT) -> String {
    let fields = fields.with_time_precision(TimePrecision::Minute);
    let value = icu_time::DateTime::<icu_calendar::Iso>::convert_from(at);
    match DateTimeFormatter::try_new(locale.as_icu().into(), fields) {
        Ok(formatter) => formatter.format(&value).write_to_string().into_owned(),
        // Compiled CLDR data covers every locale; the fallback is unambiguous anyway.
        Err(_) => at.strftime("%Y-%m-%d %H:%M").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::money::CurrencyCode;

    fn m(amount: &str, currency: &str) -> Money {
        Money::parse(amount, CurrencyCode::parse(currency).unwrap()).unwrap()
    }

    fn loc(tag: &str) -> MessageLocale {
        let language = tag.split('-').next().unwrap();
        MessageLocale::resolve(Some(tag), language)
    }

    #[test]
    fn money_in_each_template_language() {
        assert_eq!(money(m("12.90", "EUR"), &loc("fi")), "12,90\u{a0}€");
        assert_eq!(money(m("12.90", "PLN"), &loc("pl")), "12,90\u{a0}zł");
        assert_eq!(money(m("1290", "JPY"), &loc("ja")), "￥1,290");
        assert_eq!(money(m("12.90", "EUR"), &loc("en")), "€12.90");
        assert_eq!(money(m("12.9", "EUR"), &loc("en")), "€12.90");
        assert_eq!(money(m("1234.5", "USD"), &loc("en")), "$1,234.50");
        assert_eq!(
            money(m("1234.5", "EUR"), &loc("fi")),
            "1\u{a0}234,50\u{a0}€"
        );
        assert_eq!(money(m("3", "GBP"), &loc("en-GB")), "£3.00");
        assert_eq!(money(m("1290", "JPY"), &loc("en")), "¥1,290");
    }

    #[test]
    fn negative_and_zero_amounts() {
        let refund = Money {
            minor: -250,
            currency: CurrencyCode::parse("EUR").unwrap(),
        };
        assert_eq!(money(refund, &loc("en")), "-€2.50");
        assert_eq!(money(m("0", "PLN"), &loc("pl")), "0,00\u{a0}zł");
    }

    #[test]
    fn expiry_in_each_template_language() {
        let at = jiff::civil::date(2026, 3, 14).at(23, 59, 0, 0);
        assert_eq!(date_time(at, &loc("en")), "March 14 at 11:59\u{202f}PM");
        assert_eq!(date_time(at, &loc("en-GB")), "14 March at 23:59");
        assert_eq!(date_time(at, &loc("fi")), "14. maaliskuuta klo 23.59");
        assert_eq!(date_time(at, &loc("pl")), "14 marca 23:59");
        assert_eq!(date_time(at, &loc("ja")), "3月14日 23:59");
        assert_eq!(date_time_short(at, &loc("en")), "Mar 14, 11:59\u{202f}PM");
        assert_eq!(date_time_short(at, &loc("fi")), "14.3. klo 23.59");
        assert_eq!(date_time_short(at, &loc("pl")), "14 mar, 23:59");
    }

    #[test]
    fn locale_resolution_keeps_regions_and_falls_back() {
        assert_eq!(
            MessageLocale::resolve(Some("fi_FI"), "fi").to_string(),
            "fi-FI"
        );
        assert_eq!(
            MessageLocale::resolve(Some("en-GB"), "en").to_string(),
            "en-GB"
        );
        // A language without templates: the message is English, so are its numbers.
        assert_eq!(
            MessageLocale::resolve(Some("sv-SE"), "en").to_string(),
            "en"
        );
        assert_eq!(
            MessageLocale::resolve(Some("not a tag!"), "pl").to_string(),
            "pl"
        );
        assert_eq!(MessageLocale::resolve(None, "ja").to_string(), "ja");
    }
}
