//! Reading a plugin's JSON config into its serde type.
//!
//! A small JSON reader instead of serde_json: with its float parsing and
//! formatting, serde_json made up about a fifth of every plugin component,
//! and scheduler config (weights, percentages, names, label maps) has no
//! use for floats. Numbers must be integers; a fraction or exponent is an
//! error that says so.

use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, Expected, IntoDeserializer, Unexpected, Visitor};
use serde::forward_to_deserialize_any;
use std::fmt;

/// Why a config did not deserialize, in serde's usual wording.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }

    // Overridden so that serde's `Display for Unexpected`, whose float arm
    // links in all of core's float formatting (~17 KiB), is never used.
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error(format!("invalid type: {}, expected {exp}", describe(unexp)))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error(format!(
            "invalid value: {}, expected {exp}",
            describe(unexp)
        ))
    }
}

fn describe(u: Unexpected<'_>) -> String {
    match u {
        Unexpected::Bool(b) => format!("boolean `{b}`"),
        Unexpected::Unsigned(n) => format!("integer `{n}`"),
        Unexpected::Signed(n) => format!("integer `{n}`"),
        Unexpected::Float(_) => "floating point".to_string(),
        Unexpected::Char(c) => format!("character `{c}`"),
        Unexpected::Str(s) => format!("string \"{s}\""),
        Unexpected::Bytes(_) => "byte array".to_string(),
        Unexpected::Unit => "null".to_string(),
        Unexpected::Option => "Option value".to_string(),
        Unexpected::NewtypeStruct => "newtype struct".to_string(),
        Unexpected::Seq => "sequence".to_string(),
        Unexpected::Map => "map".to_string(),
        Unexpected::Enum => "enum".to_string(),
        Unexpected::UnitVariant => "unit variant".to_string(),
        Unexpected::NewtypeVariant => "newtype variant".to_string(),
        Unexpected::TupleVariant => "tuple variant".to_string(),
        Unexpected::StructVariant => "struct variant".to_string(),
        Unexpected::Other(other) => other.to_string(),
    }
}

/// Parses `text` as JSON and deserializes it into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let value = p.value().map_err(|e| format!("{e} at byte {}", p.pos))?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(format!("trailing characters at byte {}", p.pos));
    }
    T::deserialize(value).map_err(|e| e.to_string())
}

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{}'", b as char))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err("invalid literal".to_string())
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        match self.peek() {
            None => Err("unexpected end of input".to_string()),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        _ => break,
                    }
                }
                self.expect(b']')?;
                Ok(Json::Array(items))
            }
            Some(b'{') => {
                self.pos += 1;
                let mut fields = Vec::new();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(fields));
                }
                loop {
                    if self.peek() != Some(b'"') {
                        return Err("expected a string key".to_string());
                    }
                    let key = self.string()?;
                    self.expect(b':')?;
                    fields.push((key, self.value()?));
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        _ => break,
                    }
                }
                self.expect(b'}')?;
                Ok(Json::Object(fields))
            }
            Some(b'-' | b'0'..=b'9') => self.integer(),
            Some(other) => Err(format!("unexpected character '{}'", other as char)),
        }
    }

    fn integer(&mut self) -> Result<Json, String> {
        let start = self.pos;
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes.get(self.pos) {
            return Err(
                "plugin config numbers must be integers (write a fraction as a string)".to_string(),
            );
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).map_err(|e| e.to_string())?;
        text.parse::<i64>()
            .map(Json::Int)
            .map_err(|_| format!("number {text} is not a 64-bit integer"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let rest = &self.bytes[self.pos..];
            // Copy the run up to the next quote or escape in one go.
            let run = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
                .ok_or("unterminated string")?;
            out.push_str(std::str::from_utf8(&rest[..run]).map_err(|e| e.to_string())?);
            self.pos += run + 1;
            if rest[run] == b'"' {
                return Ok(out);
            }
            let esc = *self.bytes.get(self.pos).ok_or("unterminated escape")?;
            self.pos += 1;
            match esc {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let first = self.hex4()?;
                    let code = if (0xD800..0xDC00).contains(&first) {
                        // A surrogate pair: the low half must follow as another \u escape.
                        if !self.bytes[self.pos..].starts_with(b"\\u") {
                            return Err("unpaired surrogate in \\u escape".to_string());
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        0x10000 + ((first - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF)
                    } else {
                        first
                    };
                    out.push(char::from_u32(code).ok_or("invalid \\u escape")?);
                }
                _ => return Err("invalid escape".to_string()),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or("short \\u escape")?;
        self.pos += 4;
        let text = std::str::from_utf8(digits).map_err(|e| e.to_string())?;
        u32::from_str_radix(text, 16).map_err(|_| "invalid \\u escape".to_string())
    }
}

impl<'de> IntoDeserializer<'de, Error> for Json {
    type Deserializer = Json;

    fn into_deserializer(self) -> Json {
        self
    }
}

impl<'de> de::Deserializer<'de> for Json {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Json::Null => visitor.visit_unit(),
            Json::Bool(b) => visitor.visit_bool(b),
            Json::Int(i) => visitor.visit_i64(i),
            Json::Str(s) => visitor.visit_string(s),
            Json::Array(items) => visitor.visit_seq(SeqDeserializer::new(items.into_iter())),
            Json::Object(fields) => visitor.visit_map(MapDeserializer::new(fields.into_iter())),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Json::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            // A unit variant as a string, or `{"Variant": payload}`.
            Json::Str(s) => visitor.visit_enum(s.into_deserializer()),
            Json::Object(fields) if fields.len() == 1 => visitor.visit_enum(
                MapAccessDeserializer::new(MapDeserializer::new(fields.into_iter())),
            ),
            other => other.deserialize_any(visitor),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Config {
        name: String,
        weight: i64,
        ratio: Option<u32>,
        enabled: bool,
        kind: Kind,
        labels: BTreeMap<String, Vec<String>>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        LeastAllocated,
        MostAllocated,
    }

    #[test]
    fn reads_nested_config_with_enums_options_and_escapes() {
        let c: Config = from_str(
            r#" {"name": "a\"b\u00e9\ud83d\ude00", "weight": -3, "ratio": null, "enabled": true,
                 "kind": "MostAllocated", "labels": {"zone": ["a", "b"], "empty": []}} "#,
        )
        .unwrap();
        assert_eq!(c.name, "a\"bé😀");
        assert_eq!((c.weight, c.ratio, c.enabled), (-3, None, true));
        assert_eq!(c.kind, Kind::MostAllocated);
        assert_eq!(c.labels["zone"], ["a", "b"]);
        assert!(c.labels["empty"].is_empty());
    }

    #[test]
    fn unknown_fields_and_bad_types_are_named() {
        let unknown = from_str::<BTreeMap<String, i64>>(r#"{"a": "x"}"#).unwrap_err();
        assert!(unknown.contains("invalid type: string \"x\""), "{unknown}");
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            a: i64,
        }
        let err = from_str::<Strict>(r#"{"a": 1, "b": 2}"#).unwrap_err();
        assert!(err.contains("unknown field `b`"), "{err}");
    }

    #[test]
    fn rejects_floats_trailing_garbage_and_broken_json() {
        assert!(from_str::<i64>("1.5").unwrap_err().contains("integers"));
        assert!(from_str::<i64>("1 2").unwrap_err().contains("trailing"));
        assert!(from_str::<Vec<i64>>("[1,").is_err());
        assert!(
            from_str::<String>("\"open")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            from_str::<i64>("99999999999999999999")
                .unwrap_err()
                .contains("64-bit")
        );
        assert_eq!(from_str::<()>("null"), Ok(()));
    }
}
