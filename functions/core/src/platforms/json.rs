//! Reading JSON from outside (webhooks, store API answers) with errors that name the field
//! and the kind of problem, never the value.
//!
//! serde quotes the offending value in its error text (``invalid type: integer
//! `4155550123`, expected a string``); a refusal's reason goes into logs, the HTTP answer and
//! the dashboard, so that text must never be passed on for outside input. Every adapter
//! reads through [`from_slice`], [`from_str`] or [`from_value`], or describes a serde error
//! with [`describe_json_error`]: `customer.email: invalid type (found integer, expected a
//! string) at line 1 column 2180`.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::error::Category;
use serde_path_to_error::{Path, Segment};

/// Why JSON from outside could not be read: the field and the kind of problem, never the
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(String);

impl JsonError {
    /// The description alone (as in the error's `Display`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `serde_json::from_slice`, its error described by [`describe_json_error`].
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| JsonError(describe_json_error(e.inner(), Some(e.path()))))?;
    deserializer
        .end()
        .map_err(|e| JsonError(describe_json_error(&e, None)))?;
    Ok(value)
}

/// `serde_json::from_str`, its error described by [`describe_json_error`].
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    from_slice(text.as_bytes())
}

/// A queue message's body (`None`: the message has none), read as [`from_str`] reads.
pub fn from_body<T: DeserializeOwned>(body: Option<&str>) -> Result<T, JsonError> {
    from_str(body.ok_or_else(|| JsonError("the message has no body".to_owned()))?)
}

/// `serde_json::from_value`, its error described by [`describe_json_error`].
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, JsonError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| JsonError(describe_json_error(e.inner(), Some(e.path()))))
}

/// A serde_json error on outside input as `path: problem at line L column C`: the path of
/// the field where known (keys that are not plain names are shown as `?`), the category of
/// the problem and, for a value of the wrong type, the kind found and the type expected.
/// The value itself is never quoted.
pub fn describe_json_error(error: &serde_json::Error, path: Option<&Path>) -> String {
    let problem = match error.classify() {
        Category::Io => "unreadable".to_owned(),
        Category::Eof => "truncated JSON".to_owned(),
        Category::Syntax => syntax_problem(&message_of(error)),
        Category::Data => data_problem(&message_of(error)),
    };
    let mut out = String::new();
    if let Some(path) = path.map(path_text).filter(|p| !p.is_empty()) {
        out.push_str(&path);
        out.push_str(": ");
    }
    out.push_str(&problem);
    if error.line() > 0 {
        out.push_str(&format!(
            " at line {} column {}",
            error.line(),
            error.column()
        ));
    }
    out
}

/// What kind of JSON value `value` is, for a message that must not quote it.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// serde_json's message without its ` at line L column C`.
fn message_of(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// serde_json's own syntax messages (`expected value`, `trailing characters`, ...) never
/// quote the input; anything else is reported as "not JSON".
fn syntax_problem(message: &str) -> String {
    const KNOWN: &[&str] = &[
        "EOF while parsing",
        "expected",
        "invalid escape",
        "invalid number",
        "number out of range",
        "invalid unicode code point",
        "control character",
        "key must be",
        "lone leading surrogate",
        "trailing comma",
        "trailing characters",
        "unexpected end of hex escape",
        "recursion limit exceeded",
        "float key must be finite",
    ];
    if KNOWN.iter().any(|k| message.starts_with(k)) && !quotes_a_value(message) {
        message.to_owned()
    } else {
        "not JSON".to_owned()
    }
}

/// serde's standard data messages, with the value cut out; a custom message (which may say
/// anything, values included) becomes "invalid value".
fn data_problem(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return with_expected("invalid type", rest);
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        return with_expected("invalid value", rest);
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        let (length, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let problem = match length.parse::<usize>() {
            Ok(length) => format!("invalid length {length}"),
            Err(_) => "invalid length".to_owned(),
        };
        return match safe_expected(expected) {
            Some(expected) => format!("{problem} (expected {expected})"),
            None => problem,
        };
    }
    // An unknown field's name comes from the input: repeated only if it is a plain name
    // (as the keys of a path are).
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, _)) = rest.split_once('`')
        && plain_name(name)
    {
        return format!("unknown field `{name}`");
    }
    for kind in ["unknown variant", "unknown field"] {
        if message.starts_with(kind) {
            return match message
                .split_once(", expected ")
                .and_then(|(_, e)| safe_expected(e))
            {
                Some(expected) => format!("{kind} (expected {expected})"),
                None => kind.to_owned(),
            };
        }
    }
    // The field named is one of ours (the type's), not the input's.
    for kind in ["missing field `", "duplicate field `"] {
        if let Some(name) = message.strip_prefix(kind).and_then(|r| r.strip_suffix('`'))
            && plain_name(name)
        {
            return format!("{kind}{name}`");
        }
    }
    "invalid value".to_owned()
}

/// `problem (found KIND, expected TYPE)` from serde's `KIND VALUE, expected TYPE`.
fn with_expected(problem: &str, rest: &str) -> String {
    let (unexpected, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
    let found = found_kind(unexpected);
    match (found, safe_expected(expected)) {
        (Some(found), Some(expected)) => format!("{problem} (found {found}, expected {expected})"),
        (Some(found), None) => format!("{problem} (found {found})"),
        (None, Some(expected)) => format!("{problem} (expected {expected})"),
        (None, None) => problem.to_owned(),
    }
}

/// The kind of an unexpected value as serde names it (`integer` of ``integer `42` ``).
fn found_kind(unexpected: &str) -> Option<&'static str> {
    const KINDS: &[&str] = &[
        "boolean",
        "integer",
        "floating point",
        "number",
        "character",
        "string",
        "byte array",
        "unit value",
        "null",
        "Option value",
        "newtype struct",
        "sequence",
        "map",
        "enum",
        "unit variant",
        "newtype variant",
        "tuple variant",
        "struct variant",
    ];
    KINDS.iter().copied().find(|kind| {
        unexpected == *kind
            || unexpected
                .strip_prefix(kind)
                .is_some_and(|r| r.starts_with(" `") || r.starts_with(" \""))
    })
}

/// The type serde expected, as the deserializing code describes it (`a string`, `u32`,
/// `struct Customer`); dropped if it looks like it could carry a value.
fn safe_expected(expected: &str) -> Option<&str> {
    let expected = expected.trim();
    (!expected.is_empty() && expected.len() <= 120 && !quotes_a_value(expected)).then_some(expected)
}

/// Whether `text` may hold a value from the input: a double quote, an `@`, or a run of
/// five or more digits.
fn quotes_a_value(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        if c == '"' || c == '@' {
            return true;
        }
        digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
        if digits >= 5 {
            return true;
        }
    }
    false
}

/// A field name as a schema spells it: letters, digits, `_` and `-`, not starting with a
/// digit, at most 40 characters.
fn plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 40
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `customer.email`, `line_items[0].price`; a key that is not a plain name shows as `?`
/// (keys come from the input too).
fn path_text(path: &Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if plain_name(key) { key } else { "?" });
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Checkout {
        token: String,
        customer: Option<Customer>,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Customer {
        email: Option<String>,
        first_name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        quantity: u32,
        kind: Kind,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Physical,
        Digital,
    }

    fn error(body: &str) -> String {
        from_str::<Checkout>(body).expect_err("refused").to_string()
    }

    const PERSONAL: &[&str] = &["4155550123", "ada@example.com", "Ada", "Lovelace", "41555"];

    fn assert_no_value(message: &str) {
        for value in PERSONAL {
            assert!(!message.contains(value), "{value} in {message}");
        }
    }

    #[test]
    fn a_number_where_an_email_goes_names_the_field_not_the_number() {
        let message = error(r#"{"token":"t","customer":{"email":4155550123}}"#);
        assert_eq!(
            message,
            "customer.email: invalid type (found integer, expected a string) at line 1 column 43"
        );
        assert_no_value(&message);
    }

    #[test]
    fn strings_maps_and_lists_in_the_wrong_place_are_named_by_kind() {
        for (body, expected) in [
            (
                r#"{"token":"t","customer":"ada@example.com"}"#,
                "customer: invalid type (found string, expected struct Customer)",
            ),
            (
                r#"{"token":"t","customer":{"first_name":{"name":"Ada Lovelace"}}}"#,
                "customer.first_name: invalid type (found map, expected a string)",
            ),
            (
                r#"{"token":"t","items":[{"quantity":"4155550123","kind":"physical"}]}"#,
                "items[0].quantity: invalid type (found string, expected u32)",
            ),
            (
                r#"{"token":"t","items":[{"quantity":41555501230,"kind":"physical"}]}"#,
                "items[0].quantity: invalid value (found integer, expected u32)",
            ),
            (
                r#"{"token":"t","items":[{"quantity":1,"kind":"Ada Lovelace"}]}"#,
                "items[0].kind: unknown variant (expected `physical` or `digital`)",
            ),
            (r#"{"customer":null}"#, "missing field `token`"),
        ] {
            let message = error(body);
            assert!(message.starts_with(expected), "{message}");
            assert_no_value(&message);
        }
    }

    #[test]
    fn broken_json_says_where_never_what() {
        for body in [
            r#"{"token":"t","customer":{"email":"ada@example.com"#,
            r#"{"token":"t","customer":{"email":"ada@example.com"}} "Ada Lovelace""#,
            r#"{"token":"t","customer":{"first_name":"Ada\q"}}"#,
            r#"{"token":"t","customer":{"first_name":Ada}}"#,
            r#"{"Ada Lovelace": [4155550123, "#,
        ] {
            let message = error(body);
            assert!(message.contains("at line 1 column"), "{message}");
            assert_no_value(&message);
        }
    }

    #[test]
    fn keys_from_the_input_that_are_not_names_are_not_repeated() {
        let message = from_str::<std::collections::HashMap<String, u32>>(
            r#"{"ada@example.com": "x", "ok": 1}"#,
        )
        .expect_err("refused")
        .to_string();
        assert!(message.starts_with("?: invalid type"), "{message}");
        assert_no_value(&message);
    }

    #[test]
    fn a_custom_message_is_not_passed_on() {
        #[derive(Debug)]
        struct Picky;
        impl<'de> Deserialize<'de> for Picky {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Err(serde::de::Error::custom(format!("{s} is not allowed")))
            }
        }
        let message = from_str::<Picky>(r#""Ada Lovelace""#)
            .expect_err("refused")
            .to_string();
        assert!(message.starts_with("invalid value"), "{message}");
        assert_no_value(&message);
    }

    #[test]
    fn values_are_read_the_same_way() {
        let value = serde_json::json!({ "token": "t", "customer": { "email": 4155550123u64 } });
        let message = from_value::<Checkout>(value)
            .expect_err("refused")
            .to_string();
        assert_eq!(
            message,
            "customer.email: invalid type (found integer, expected a string)"
        );
    }

    #[test]
    fn kinds_of_values() {
        assert_eq!(kind_of(&serde_json::json!(4155550123u64)), "a number");
        assert_eq!(kind_of(&serde_json::json!({ "a": 1 })), "an object");
    }

    #[test]
    fn a_message_without_a_body_is_an_error_like_a_bad_one() {
        let missing = from_body::<Checkout>(None).expect_err("no body");
        assert_eq!(missing.as_str(), "the message has no body");
        let bad = from_body::<Checkout>(Some(r#"{"token": 4155550123}"#)).expect_err("bad");
        assert!(bad.as_str().starts_with("token:"), "{bad}");
        assert!(!bad.as_str().contains("4155550123"), "{bad}");
        assert!(from_body::<Checkout>(Some(r#"{"token": "t"}"#)).is_ok());
    }
}
