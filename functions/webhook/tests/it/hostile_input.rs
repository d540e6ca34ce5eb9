//! Hostile input for the webhook's property tests: values that break naive parsers, and a
//! fixture body with some of its values replaced or its bytes mangled.

use proptest::prelude::*;
use serde_json::Value;

/// Values that break naive parsers: huge and odd numbers, wrong types, long and strange text.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(serde_json::json!(1e308)),
        Just(serde_json::json!(-1e308)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(i64::MIN)),
        Just(serde_json::json!(-0.0)),
        Just(serde_json::json!(true)),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!("")),
        Just(serde_json::json!("NaN")),
        Just(serde_json::json!("1e400")),
        Just(serde_json::json!("\u{0}\u{202e}\u{feff}<script>")),
        Just(Value::String("x".repeat(70_000))),
        Just(nested(100)),
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
    ]
}

/// `depth` arrays inside each other (serde_json refuses more than 128 levels).
fn nested(depth: usize) -> Value {
    (0..depth).fold(serde_json::json!(1), |inner, _| Value::Array(vec![inner]))
}

/// Every path to a value in `value` (object keys and array indices).
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(PathStep::Key(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at_path<'v>(value: &'v mut Value, path: &[PathStep]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        PathStep::Key(k) => v.get_mut(k.as_str()),
        PathStep::Index(i) => v.get_mut(*i),
    })
}

/// The fixture body with `count` of its values replaced by hostile ones (or removed).
pub fn mutated_json(body: &str) -> impl Strategy<Value = String> {
    let original: Value = serde_json::from_str(body).expect("fixture body is JSON");
    let mut all = Vec::new();
    paths(&original, &mut Vec::new(), &mut all);
    let n = all.len();
    prop::collection::vec((0..n, hostile_value(), any::<bool>()), 1..6).prop_map(move |changes| {
        let mut value = original.clone();
        for (index, replacement, remove) in changes {
            let path = &all[index];
            if remove && let Some((PathStep::Key(key), parent)) = path.split_last() {
                if let Some(Value::Object(map)) = at_path(&mut value, parent) {
                    map.remove(key);
                }
            } else if let Some(slot) = at_path(&mut value, path) {
                *slot = replacement;
            }
        }
        value.to_string()
    })
}

/// The fixture body with random bytes flipped, cut or inserted (often invalid UTF-8).
pub fn mutated_bytes(body: &str) -> impl Strategy<Value = Vec<u8>> {
    let original = body.as_bytes().to_vec();
    let len = original.len();
    prop::collection::vec((0..len, any::<u8>(), 0..3u8), 1..8).prop_map(move |edits| {
        let mut bytes = original.clone();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let at = at.min(bytes.len() - 1);
            match kind {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.truncate(at);
                }
            }
        }
        bytes
    })
}
