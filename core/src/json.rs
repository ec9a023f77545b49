//! The config document as a JSON tree, and typed reads of it that name the path of a bad value.
//!
//! ```text
//! text ──serde_json──► Json (keys in document order, copies kept) ──Object / read_*──► typed value
//!                                                                  or ConfigError at its path
//! ```
//!
//! The config is read this way rather than with serde's derive and a path-tracking wrapper: one
//! visitor and a few plain functions are the same work for a fraction of the code, and the filter
//! ships this code in every Envoy worker. The messages keep serde's wording (`unknown field`,
//! `invalid type: …, expected …`, `missing field`), and a key given twice is an error, as it was.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::config::ConfigError;

/// A JSON value. Numbers keep what the config needs: non-negative and negative integers, and
/// that a number had a fraction or exponent.
#[derive(Debug, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Unsigned(u64),
    Negative(i64),
    Float,
    String(String),
    Array(Vec<Json>),
    /// Every key, in order, a repeated one included: [`Object::new`] refuses repeats.
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Unsigned(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(u64::try_from(value).map_or(Json::Negative(value), Json::Unsigned))
    }

    fn visit_f64<E>(self, _value: f64) -> Result<Json, E> {
        Ok(Json::Float)
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Json::Object(entries))
    }
}

fn invalid(path: &str, message: String) -> ConfigError {
    ConfigError::Invalid { path: path.to_owned(), message }
}

/// The path of `field` in the object at `path` (the document itself is `.`).
fn field_path(path: &str, field: &str) -> String {
    if path == "." {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// What a value is, in serde's words, for `invalid type` messages.
fn unexpected(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(value) => format!("boolean `{value}`"),
        Json::Unsigned(value) => format!("integer `{value}`"),
        Json::Negative(value) => format!("integer `{value}`"),
        Json::Float => "floating point number".into(),
        Json::String(value) => format!("string {value:?}"),
        Json::Array(_) => "sequence".into(),
        Json::Object(_) => "map".into(),
    }
}

fn invalid_type(json: &Json, path: &str, expected: &str) -> ConfigError {
    invalid(path, format!("invalid type: {}, expected {expected}", unexpected(json)))
}

/// `` `a`, `b` `` and so on: serde's list of expected names.
fn backquoted(names: &[&str]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

/// An object whose keys are all among the known fields, each at most once.
pub(crate) struct Object<'a> {
    path: &'a str,
    entries: &'a [(String, Json)],
}

impl<'a> Object<'a> {
    /// `json` as an object of these `fields` (at most 64); `expecting` names it in a type error
    /// (`a rule object`).
    pub(crate) fn new(json: &'a Json, path: &'a str, expecting: &str, fields: &[&str]) -> Result<Object<'a>, ConfigError> {
        let Json::Object(entries) = json else { return Err(invalid_type(json, path, expecting)) };
        // One pass, a bit per known field: a hostile document with many keys costs n, not n².
        let mut seen = 0u64;
        for (key, _) in entries {
            let Some(index) = fields.iter().position(|field| field == key) else {
                return Err(invalid(path, format!("unknown field `{key}`, expected one of {}", backquoted(fields))));
            };
            let bit = 1u64 << (index % 64);
            if seen & bit != 0 {
                return Err(invalid(path, format!("duplicate field `{key}`")));
            }
            seen |= bit;
        }
        Ok(Object { path, entries })
    }

    /// `read` applied to the value of `field` and its path (`policy.allow`), `None` when the
    /// field is absent.
    pub(crate) fn read<T>(&self, field: &str, read: impl FnOnce(&Json, &str) -> Result<T, ConfigError>) -> Result<Option<T>, ConfigError> {
        self.get(field).map(|json| read(json, &field_path(self.path, field))).transpose()
    }

    /// [`Self::read`] for a serde `Option` field: `null` is `None` too.
    pub(crate) fn read_optional<T>(
        &self,
        field: &str,
        read: impl FnOnce(&Json, &str) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(field) {
            Some(Json::Null) => Ok(None),
            _ => self.read(field, read),
        }
    }

    /// [`Self::read`] for a field that must be there.
    pub(crate) fn read_required<T>(&self, field: &str, read: impl FnOnce(&Json, &str) -> Result<T, ConfigError>) -> Result<T, ConfigError> {
        self.read(field, read)?.ok_or_else(|| invalid(self.path, format!("missing field `{field}`")))
    }

    fn get(&self, field: &str) -> Option<&'a Json> {
        self.entries.iter().find(|(key, _)| key == field).map(|(_, value)| value)
    }
}

/// Each element of the array at `path`, read by `read` with its own path (`path[i]`).
pub(crate) fn read_list<T>(json: &Json, path: &str, read: impl Fn(&Json, &str) -> Result<T, ConfigError>) -> Result<Vec<T>, ConfigError> {
    read_array(json, path)?.iter().enumerate().map(|(i, item)| read(item, &format!("{path}[{i}]"))).collect()
}

pub(crate) fn read_string(json: &Json, path: &str) -> Result<String, ConfigError> {
    match json {
        Json::String(value) => Ok(value.clone()),
        other => Err(invalid_type(other, path, "a string")),
    }
}

pub(crate) fn read_bool(json: &Json, path: &str) -> Result<bool, ConfigError> {
    match json {
        Json::Bool(value) => Ok(*value),
        other => Err(invalid_type(other, path, "a boolean")),
    }
}

/// An unsigned integer that fits `T` (`type_name`: `u32`, `usize`).
pub(crate) fn read_unsigned<T: TryFrom<u64>>(json: &Json, path: &str, type_name: &str) -> Result<T, ConfigError> {
    let out_of_range = |value: String| invalid(path, format!("invalid value: integer `{value}`, expected {type_name}"));
    match json {
        Json::Unsigned(value) => T::try_from(*value).map_err(|_| out_of_range(value.to_string())),
        Json::Negative(value) => Err(out_of_range(value.to_string())),
        other => Err(invalid_type(other, path, type_name)),
    }
}

fn read_array<'a>(json: &'a Json, path: &str) -> Result<&'a [Json], ConfigError> {
    match json {
        Json::Array(items) => Ok(items),
        other => Err(invalid_type(other, path, "a sequence")),
    }
}

/// One of the `variants` of a string-valued enum, each known by its `name`.
pub(crate) fn read_variant<T: Copy>(json: &Json, path: &str, variants: &[T], name: fn(T) -> &'static str) -> Result<T, ConfigError> {
    let names: Vec<&str> = variants.iter().map(|&variant| name(variant)).collect();
    let Json::String(text) = json else { return Err(invalid_type(json, path, &format!("one of {}", backquoted(&names)))) };
    variants
        .iter()
        .find(|&&variant| name(variant) == text)
        .copied()
        .ok_or_else(|| invalid(path, format!("unknown variant `{text}`, expected one of {}", backquoted(&names))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Json {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn keeps_keys_in_order_with_their_copies() {
        assert_eq!(
            tree(r#"{"b":1,"a":[true,null,-2,1.5,"x"],"b":{}}"#),
            Json::Object(vec![
                ("b".into(), Json::Unsigned(1)),
                (
                    "a".into(),
                    Json::Array(vec![Json::Bool(true), Json::Null, Json::Negative(-2), Json::Float, Json::String("x".into())])
                ),
                ("b".into(), Json::Object(vec![])),
            ])
        );
    }

    #[test]
    fn objects_refuse_unknown_and_repeated_keys() {
        let json = tree(r#"{"a":1,"c":2}"#);
        let error = Object::new(&json, "p", "an object", &["a", "b"]).err().unwrap();
        assert_eq!(error.to_string(), "config p: unknown field `c`, expected one of `a`, `b`");
        let json = tree(r#"{"a":1,"b":2,"a":3}"#);
        let error = Object::new(&json, ".", "an object", &["a", "b"]).err().unwrap();
        assert_eq!(error.to_string(), "config .: duplicate field `a`");
        let json = tree(r#"[1]"#);
        let error = Object::new(&json, "q", "a rule object", &["a"]).err().unwrap();
        assert_eq!(error.to_string(), "config q: invalid type: sequence, expected a rule object");
    }

    #[test]
    fn typed_reads_say_what_they_expected() {
        let error = |result: Result<u32, ConfigError>| result.unwrap_err().to_string();
        assert_eq!(
            read_string(&tree("5"), "s").unwrap_err().to_string(),
            "config s: invalid type: integer `5`, expected a string"
        );
        assert_eq!(
            read_bool(&tree(r#""yes""#), "b").unwrap_err().to_string(),
            r#"config b: invalid type: string "yes", expected a boolean"#
        );
        assert_eq!(read_unsigned::<u32>(&tree("7"), "n", "u32").unwrap(), 7);
        assert_eq!(
            error(read_unsigned(&tree("5000000000"), "n", "u32")),
            "config n: invalid value: integer `5000000000`, expected u32"
        );
        assert_eq!(
            read_unsigned::<usize>(&tree("-1"), "n", "usize").unwrap_err().to_string(),
            "config n: invalid value: integer `-1`, expected usize"
        );
        assert_eq!(
            error(read_unsigned(&tree("1.5"), "n", "u32")),
            "config n: invalid type: floating point number, expected u32"
        );
        let name = |n: u8| ["a", "b"][usize::from(n)];
        assert_eq!(read_variant(&tree(r#""b""#), "v", &[0, 1], name).unwrap(), 1);
        assert_eq!(
            read_variant(&tree(r#""c""#), "v", &[0, 1], name).unwrap_err().to_string(),
            "config v: unknown variant `c`, expected one of `a`, `b`"
        );
    }
}
