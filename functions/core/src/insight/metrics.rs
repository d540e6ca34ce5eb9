//! CloudWatch metrics in the Embedded Metric Format (EMF): one JSON object that a Lambda
//! writes as one line on stdout; CloudWatch Logs turns it into metrics, no API call needed.
//! This module builds the object (pure); `cartback_app::Metrics` is where a function sends it
//! (stdout in Lambda, memory in local runs and tests).
//!
//! ```json
//! {"_aws":{"Timestamp":1793610000000,"CloudWatchMetrics":[{"Namespace":"cartback",
//!   "Dimensions":[["Pool"]],"Metrics":[{"Name":"OfferCodesRemaining","Unit":"Count"}]}]},
//!  "Pool":"winter10","OfferCodesRemaining":12,"shop_hash":"3f0c…"}
//! ```

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// cartback's metric namespace.
pub const NAMESPACE: &str = "cartback";

/// A metric's unit (the CloudWatch names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::None => "None",
        }
    }
}

/// One EMF object: metrics sharing one set of dimensions, plus searchable properties that
/// are not dimensions (never personal data).
#[derive(Debug, Clone, PartialEq)]
pub struct Emf {
    namespace: String,
    at: Timestamp,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, Unit, f64)>,
    properties: Vec<(String, Value)>,
}

impl Emf {
    pub fn new(namespace: &str, at: Timestamp) -> Self {
        Self {
            namespace: namespace.to_owned(),
            at,
            dimensions: Vec::new(),
            metrics: Vec::new(),
            properties: Vec::new(),
        }
    }

    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn metric(mut self, name: &str, unit: Unit, value: f64) -> Self {
        self.metrics.push((name.to_owned(), unit, value));
        self
    }

    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.push((name.to_owned(), value.into()));
        self
    }

    /// The EMF object. Properties come first, so a dimension or metric of the same name wins.
    pub fn to_json(&self) -> Value {
        let mut root = Map::new();
        for (name, value) in &self.properties {
            root.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for (name, _, value) in &self.metrics {
            root.insert(name.clone(), json!(value));
        }
        let names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit.as_str() }))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.at.as_millisecond(),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [names],
                    "Metrics": metrics,
                }],
            }),
        );
        Value::Object(root)
    }

    /// The object as the one line a function prints.
    pub fn to_line(&self) -> String {
        self.to_json().to_string()
    }

    /// The value of metric `name`, if this object carries it.
    pub fn value_of(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_object_declares_its_metric_and_carries_values_at_the_top_level() {
        let at: Timestamp = "2026-11-02T09:00:00Z".parse().expect("valid");
        let emf = Emf::new(NAMESPACE, at)
            .dimension("Pool", "winter10")
            .metric("OfferCodesRemaining", Unit::Count, 12.0)
            .property("shop_hash", "3f0c");
        let value = emf.to_json();
        assert_eq!(
            value["_aws"],
            json!({
                "Timestamp": at.as_millisecond(),
                "CloudWatchMetrics": [{
                    "Namespace": "cartback",
                    "Dimensions": [["Pool"]],
                    "Metrics": [{ "Name": "OfferCodesRemaining", "Unit": "Count" }],
                }],
            })
        );
        assert_eq!(value["Pool"], "winter10");
        assert_eq!(value["OfferCodesRemaining"], 12.0);
        assert_eq!(value["shop_hash"], "3f0c");
        let line = emf.to_line();
        assert!(!line.contains('\n'));
        assert_eq!(
            serde_json::from_str::<Value>(&line).expect("one JSON object"),
            value
        );
        assert_eq!(emf.value_of("OfferCodesRemaining"), Some(12.0));
        assert_eq!(emf.value_of("Other"), None);
    }
}
