//! Builders for OTLP attribute lists.

use std::fmt::Display;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};

/// A string attribute.
pub fn str(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

/// An integer attribute.
pub fn int(key: &str, value: impl Into<i64>) -> KeyValue {
    kv(key, Value::IntValue(value.into()))
}

/// A float attribute.
pub fn double(key: &str, value: f64) -> KeyValue {
    kv(key, Value::DoubleValue(value))
}

/// A boolean attribute.
pub fn bool(key: &str, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Where attributes are written: an attribute list built as prost messages, or a log
/// record written straight into protobuf bytes ([`super::proto::LogRecordWriter`]).
pub trait Attributes {
    /// A string attribute.
    fn str(&mut self, key: &str, v: &str);
    /// A string attribute, formatted (without an allocation where the target allows).
    fn display(&mut self, key: &str, v: impl Display);
    /// An integer attribute.
    fn int(&mut self, key: &str, v: i64);
    /// A float attribute.
    fn double(&mut self, key: &str, v: f64);
    /// A boolean attribute.
    fn bool(&mut self, key: &str, v: bool);
    /// An array-of-strings attribute.
    fn str_array(&mut self, key: &str, v: &[String]);
}

impl Attributes for Vec<KeyValue> {
    fn str(&mut self, key: &str, v: &str) {
        self.push(str(key, v));
    }
    fn display(&mut self, key: &str, v: impl Display) {
        self.push(str(key, v.to_string()));
    }
    fn int(&mut self, key: &str, v: i64) {
        self.push(int(key, v));
    }
    fn double(&mut self, key: &str, v: f64) {
        self.push(double(key, v));
    }
    fn bool(&mut self, key: &str, v: bool) {
        self.push(bool(key, v));
    }
    fn str_array(&mut self, key: &str, v: &[String]) {
        let values = v
            .iter()
            .map(|s| AnyValue {
                value: Some(Value::StringValue(s.clone())),
            })
            .collect();
        self.push(kv(key, Value::ArrayValue(ArrayValue { values })));
    }
}
