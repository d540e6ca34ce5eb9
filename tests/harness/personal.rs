//! The personal-data guard of the end-to-end tests (issue 9): the people in a flow's inputs
//! (webhook bodies, SES events) must not appear in any log line, schedule (name or input)
//! or metric the functions produced.

use serde_json::Value;

/// One personal value found in an input, and what kind it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Personal {
    pub field: String,
    pub value: String,
}

/// Keys whose string values are personal wherever they appear.
const PERSONAL_KEYS: &[&str] = &[
    "email",
    "contact_email",
    "emailAddress",
    "phone",
    "sms_marketing_phone",
    "first_name",
    "last_name",
    "address1",
    "address2",
    "address_1",
    "address_2",
    "city",
    "zip",
    "postcode",
    "customer_ip_address",
    "company",
    "destination",
    "to",
];

/// Every personal value in `json` (a webhook body or an SES event): emails, phones (as sent
/// and as E.164), names, street addresses, cities, postcodes. `name` counts inside
/// addresses and customers only (elsewhere it is a product's or an order's name).
pub fn personal_data(json: &str) -> Vec<Personal> {
    let mut found = Vec::new();
    if let Ok(value) = serde_json::from_str::<Value>(json) {
        walk(&value, "", &mut found);
    }
    found.sort_by(|a, b| a.value.cmp(&b.value));
    found.dedup_by(|a, b| a.value == b.value);
    found
}

fn walk(value: &Value, parent: &str, found: &mut Vec<Personal>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let personal = PERSONAL_KEYS.contains(&key.as_str())
                    || (key == "name" && (parent.contains("address") || parent == "customer"));
                if personal {
                    collect(key, child, found);
                }
                walk(child, key, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| walk(item, parent, found)),
        _ => {}
    }
}

fn collect(field: &str, value: &Value, found: &mut Vec<Personal>) {
    match value {
        Value::String(text) if text.trim().chars().count() >= 3 => {
            let text = text.trim();
            found.push(Personal {
                field: field.to_owned(),
                value: text.to_owned(),
            });
            if field.contains("phone") {
                let e164: String = text
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect();
                found.push(Personal {
                    field: field.to_owned(),
                    value: e164,
                });
            }
            if field.to_lowercase().contains("email") || text.contains('@') {
                found.push(Personal {
                    field: field.to_owned(),
                    value: text.to_lowercase(),
                });
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(field, item, found)),
        _ => {}
    }
}

/// Where `personal` occurs in `text` as a whole token (not inside a longer word or number;
/// a city is not counted inside a time-zone name such as `Europe/Helsinki`). A phone number
/// written nationally (`512 345 678`) also counts at the end of its E.164 form
/// (`+48512345678`).
pub fn occurs_in(personal: &Personal, text: &str) -> bool {
    text.match_indices(personal.value.as_str())
        .any(|(at, _)| whole_token_at(personal, text, at))
}

/// Whether the occurrence of `personal` at byte `at` of `text` is a whole token.
fn whole_token_at(personal: &Personal, text: &str, at: usize) -> bool {
    let needle = personal.value.as_str();
    let city = personal.field == "city";
    let phone = personal.field.contains("phone");
    let before = text.get(..at).and_then(|t| t.chars().next_back());
    let after = text.get(at + needle.len()..).and_then(|t| t.chars().next());
    let joined = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let in_zone_name = city && before == Some('/');
    let after_country_code = phone && before.is_some_and(|c| c.is_ascii_digit());
    !((joined(before) && !after_country_code) || joined(after) || in_zone_name)
}

/// The places a flow wrote to, by name, and the personal values found in each. One pass
/// over each place for all the values (Aho-Corasick), so a soak's thousands of people and
/// megabytes of logs are checked in seconds.
pub fn leaks<'a>(personal: &'a [Personal], places: &[(&str, &str)]) -> Vec<(String, &'a Personal)> {
    let mut leaks = Vec::new();
    let Ok(automaton) = aho_corasick::AhoCorasick::new(personal.iter().map(|p| p.value.as_str()))
    else {
        for (place, text) in places {
            for value in personal {
                if occurs_in(value, text) {
                    leaks.push(((*place).to_owned(), value));
                }
            }
        }
        return leaks;
    };
    for (place, text) in places {
        let mut found = std::collections::BTreeSet::new();
        for hit in automaton.find_overlapping_iter(*text) {
            let index = hit.pattern().as_usize();
            if let Some(value) = personal.get(index)
                && !found.contains(&index)
                && whole_token_at(value, text, hit.start())
            {
                found.insert(index);
            }
        }
        leaks.extend(
            found
                .into_iter()
                .filter_map(|i| personal.get(i))
                .map(|value| ((*place).to_owned(), value)),
        );
    }
    leaks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_people_in_a_shopify_checkout_but_not_the_products() {
        let body =
            include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
        let values: Vec<String> = personal_data(body).into_iter().map(|p| p.value).collect();
        for expected in [
            "ada@example.com",
            "Ada",
            "Example",
            "Example Street 1 A 2",
            "Helsinki",
            "00100",
            "Ada Example",
        ] {
            assert!(
                values.iter().any(|v| v == expected),
                "{expected} missing from {values:?}"
            );
        }
        assert!(
            !values.iter().any(|v| v.starts_with('#')),
            "an order's name is not personal: {values:?}"
        );
    }

    #[test]
    fn finds_the_people_in_a_woocommerce_order() {
        let body = include_str!(
            "../../functions/core/tests/fixtures/woocommerce/order_created_pending.json"
        );
        let values: Vec<String> = personal_data(body).into_iter().map(|p| p.value).collect();
        for expected in [
            "zofia.przykladowa@example.com",
            "Zofia",
            "Przykładowa",
            "ul. Przykładowa 12/4",
            "Kraków",
            "30-001",
            "512 345 678",
            "512345678",
            "203.0.113.24",
        ] {
            assert!(
                values.iter().any(|v| v == expected),
                "{expected} missing from {values:?}"
            );
        }
        assert!(
            !values.iter().any(|v| v.contains("ręcznik")),
            "a product is not personal: {values:?}"
        );
    }

    #[test]
    fn whole_tokens_only_and_zone_names_are_not_cities() {
        let ada = Personal {
            field: "first_name".into(),
            value: "Ada".into(),
        };
        assert!(occurs_in(&ada, r#"{"msg":"hello Ada"}"#));
        assert!(!occurs_in(&ada, r#"{"msg":"Adapter"}"#));
        let city = Personal {
            field: "city".into(),
            value: "Helsinki".into(),
        };
        assert!(!occurs_in(&city, r#"{"zone":"Europe/Helsinki"}"#));
        assert!(occurs_in(&city, r#"{"city":"Helsinki"}"#));
        let zip = Personal {
            field: "zip".into(),
            value: "00100".into(),
        };
        assert!(!occurs_in(&zip, "1793606400100"));
        let national = Personal {
            field: "phone".into(),
            value: "512345678".into(),
        };
        assert!(occurs_in(&national, r#"{"to":"+48512345678"}"#));
        assert!(!occurs_in(&national, r#"{"n":"+485123456789"}"#));
    }

    #[test]
    fn a_leak_names_its_place() {
        let body =
            include_str!("../../functions/core/tests/fixtures/shopify/checkouts_create.json");
        let personal = personal_data(body);
        let clean = r#"{"level":"INFO","message":"sent","cart":"3f0c9a"}"#;
        let leaky = r#"{"level":"INFO","message":"sent to ada@example.com"}"#;
        assert!(leaks(&personal, &[("logs", clean)]).is_empty());
        let found = leaks(&personal, &[("logs", clean), ("a schedule", leaky)]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "a schedule");
        assert_eq!(found[0].1.value, "ada@example.com");
    }
}
