//! JSON values that borrow their text from the record: decoded once, moved (not copied) by the
//! pipeline, and written out directly.
//!
//! Objects keep their keys in order, as `serde_json::Map` with `preserve_order` does (a key
//! inserted again keeps its place, a removed key closes the gap), so a document is written with
//! the same bytes as the `serde_json::Value` it stands for.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// A JSON value.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Node<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Object<'a>),
}

/// A JSON object: keys in order, each once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Object<'a> {
    entries: Vec<(Cow<'a, str>, Node<'a>)>,
    /// A bit for each key ever inserted ([`bit`]): most lookups are of keys a record does not
    /// have, and this answers them without a search.
    seen: u64,
    /// Where each key is, once there are more than [`INDEXED`] (a record with thousands of
    /// keys, or a `Parameters` list with thousands of names, would otherwise take quadratic
    /// time).
    index: Option<HashMap<Cow<'a, str>, usize>>,
}

impl PartialEq for Object<'_> {
    fn eq(&self, other: &Object<'_>) -> bool {
        self.entries == other.entries
    }
}

/// The bit of [`Object::seen`] that stands for `key`.
fn bit(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let (first, last) = (bytes.first().copied().unwrap_or(0), bytes.last().copied().unwrap_or(0));
    1 << ((bytes.len() * 7 + usize::from(first) * 3 + usize::from(last)) & 63)
}

/// Key equality, with the cheap tests first (a lookup mostly meets keys it is not).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// Past this many keys an object finds its keys through an index (records have 20 to 50).
const INDEXED: usize = 64;

impl<'a> Object<'a> {
    pub(crate) fn new() -> Object<'a> {
        Object::default()
    }

    /// An object of distinct keys.
    fn from_entries(entries: Vec<(Cow<'a, str>, Node<'a>)>) -> Object<'a> {
        let seen = entries.iter().fold(0, |seen, (k, _)| seen | bit(k));
        let mut object = Object { entries, seen, index: None };
        object.reindex();
        object
    }

    fn reindex(&mut self) {
        self.index = (self.entries.len() > INDEXED)
            .then(|| self.entries.iter().enumerate().map(|(at, (k, _))| (k.clone(), at)).collect());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        if self.seen & bit(key) == 0 {
            return None;
        }
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| same(k, key)),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Node<'a>> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    /// Sets `key`: in its place when present, else last.
    pub(crate) fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: Node<'a>) {
        let key = key.into();
        match self.position(&key) {
            Some(i) => self.entries[i].1 = value,
            None => {
                self.seen |= bit(&key);
                if let Some(index) = &mut self.index {
                    index.insert(key.clone(), self.entries.len());
                }
                self.entries.push((key, value));
                if self.index.is_none() && self.entries.len() > INDEXED {
                    self.reindex();
                }
            }
        }
    }

    /// Takes the value of `key` out, leaving null in its place.
    pub(crate) fn take(&mut self, key: &str) -> Option<Node<'a>> {
        self.get_mut(key).map(std::mem::take)
    }

    /// Removes `key`, keeping the order of the others.
    pub(crate) fn shift_remove(&mut self, key: &str) -> Option<Node<'a>> {
        let at = self.position(key)?;
        let (_, value) = self.entries.remove(at);
        if self.index.is_some() {
            self.reindex();
        }
        Some(value)
    }
}

impl<'a> Node<'a> {
    pub(crate) fn str(text: impl Into<Cow<'a, str>>) -> Node<'a> {
        Node::String(text.into())
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Node::Object(o) => Some(o),
            _ => None,
        }
    }

    pub(crate) fn as_object_mut(&mut self) -> Option<&mut Object<'a>> {
        match self {
            Node::Object(o) => Some(o),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&Vec<Node<'a>>> {
        match self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    pub(crate) fn is_string(&self) -> bool {
        matches!(self, Node::String(_))
    }

    pub(crate) fn is_object(&self) -> bool {
        matches!(self, Node::Object(_))
    }

    /// A member of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.as_object().and_then(|o| o.get(key))
    }

    /// The value as a string, as Java's `toString` gives it for the values records hold.
    pub(crate) fn text(&self) -> Cow<'a, str> {
        match self {
            Node::String(s) => s.clone(),
            Node::Number(n) => Cow::Owned(n.to_string()),
            Node::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            other => Cow::Owned(other.to_string()),
        }
    }

    /// What kind of value this is, for messages (`an array`).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::Array(_) => "an array",
            Node::Object(_) => "an object",
        }
    }

    /// The JSON value in a string (one a record holds as text, as `Data`), borrowing from it
    /// when it can.
    pub(crate) fn parse(text: Cow<'a, str>) -> serde_json::Result<Node<'a>> {
        match text {
            Cow::Borrowed(text) => serde_json::from_str(text),
            Cow::Owned(text) => serde_json::from_str::<Node<'_>>(&text).map(Node::into_owned),
        }
    }

    /// This value with every string its own.
    pub(crate) fn into_owned(self) -> Node<'static> {
        match self {
            Node::Null => Node::Null,
            Node::Bool(b) => Node::Bool(b),
            Node::Number(n) => Node::Number(n),
            Node::String(s) => Node::String(Cow::Owned(s.into_owned())),
            Node::Array(items) => Node::Array(items.into_iter().map(Node::into_owned).collect()),
            Node::Object(object) => Node::Object(Object::from_entries(
                object.entries.into_iter().map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned())).collect(),
            )),
        }
    }

    /// A value of a `serde_json::Value` document, borrowing its strings.
    pub(crate) fn borrow(value: &'a Value) -> Node<'a> {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::String(Cow::Borrowed(s)),
            Value::Array(items) => Node::Array(items.iter().map(Node::borrow).collect()),
            Value::Object(map) => Node::Object(Object::from_entries(
                map.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::borrow(v))).collect(),
            )),
        }
    }

    /// The `serde_json::Value` this stands for.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Number(n) => Value::Number(n),
            Node::String(s) => Value::String(s.into_owned()),
            Node::Array(items) => Value::Array(items.into_iter().map(Node::into_value).collect()),
            Node::Object(object) => {
                Value::Object(object.entries.into_iter().map(|(k, v)| (k.into_owned(), v.into_value())).collect())
            }
        }
    }
}

/// A part of a string, borrowed from the same text when the string is.
pub(crate) fn slice<'a>(text: &Cow<'a, str>, range: impl std::slice::SliceIndex<str, Output = str>) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(&text[range]),
        Cow::Owned(text) => Cow::Owned(text[range].to_owned()),
    }
}

impl fmt::Display for Node<'_> {
    /// Compact JSON, as `serde_json::Value` displays.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        self.write(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

impl Node<'_> {
    /// Writes this value as compact JSON: the bytes `serde_json` writes for the `Value` it
    /// stands for.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            Node::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Node::String(s) => write_str(s, out),
            Node::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Node::Object(object) => object.write(out),
        }
    }
}

impl Object<'_> {
    /// Writes this object as compact JSON.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(key, out);
            out.push(b':');
            value.write(out);
        }
        out.push(b'}');
    }
}

/// A JSON string: as it is when nothing in it needs escaping (most strings), else escaped by
/// `serde_json`.
fn write_str(text: &str, out: &mut Vec<u8>) {
    if plain(text.as_bytes()) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, text).expect("a string written to memory");
    }
}

/// Whether no byte of `text` needs escaping in a JSON string (a control character, a quote or a
/// backslash), tested eight bytes at a time.
fn plain(text: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Nonzero when a byte of `word` is below `n` (n <= 128), or equal to `n`.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH;
    let equal = |word: u64, n: u8| below(word ^ (ONES * u64::from(n)), 1);
    let needs_escape = |word: u64| (below(word, 0x20) | equal(word, b'"') | equal(word, b'\\')) != 0;
    let mut words = text.chunks_exact(8);
    for word in words.by_ref() {
        if needs_escape(u64::from_le_bytes(word.try_into().unwrap_or([0; 8]))) {
            return false;
        }
    }
    let mut last = [b' '; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    !needs_escape(u64::from_le_bytes(last))
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node<'de>, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(n.into()))
    }

    /// As `serde_json::Value`: a number too large for a double is null.
    fn visit_f64<E>(self, n: f64) -> Result<Node<'de>, E> {
        Ok(Number::from_f64(n).map_or(Node::Null, Node::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    /// Keys in order; a repeated key keeps its first place and takes its last value.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut object = Object::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Node::Object(object))
    }
}

/// An object's key, borrowed from the text when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character that needs escaping, and some that do not, at every place in strings of
    /// up to 20 bytes: written as `serde_json` writes them.
    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let specials: Vec<char> = (0..0x80u8).map(char::from).chain(['\u{7f}', 'é', 'Ö', '€', '\u{1f600}']).collect();
        for len in 0..20 {
            for at in 0..=len {
                for &special in &specials {
                    let text: String = (0..len).map(|i| if i == at { special } else { 'a' }).collect();
                    let mut ours = Vec::new();
                    write_str(&text, &mut ours);
                    assert_eq!(String::from_utf8(ours).expect("UTF-8"), serde_json::to_string(&text).expect("JSON"));
                }
            }
        }
    }

    /// Repeated keys keep their first place and take their last value; numbers, nulls and
    /// escapes come out as `serde_json::Value` writes them.
    #[test]
    fn records_are_read_and_written_as_serde_json_does() {
        for text in [
            r#"{"a":1,"b":{"c":[1,2.5,-3,1e3,null,true]},"a":"x\"y\u00e9\/"}"#,
            r#"{"n":18446744073709551616,"m":-0,"f":1.50,"s":"\t\u0001"}"#,
        ] {
            let node: Node<'_> = serde_json::from_str(text).expect("JSON");
            let value: Value = serde_json::from_str(text).expect("JSON");
            assert_eq!(node.to_string(), value.to_string(), "{text}");
            assert_eq!(node.into_value(), value);
        }
        // Past INDEXED keys, with removals in between (the pipeline's renames).
        let mut object = Object::new();
        for i in 0..300 {
            object.insert(format!("k{}", i % 200), Node::Number(i.into()));
            if i % 7 == 0 {
                object.shift_remove(&format!("k{}", i / 2));
            }
        }
        let mut value = serde_json::Map::new();
        for i in 0..300 {
            value.insert(format!("k{}", i % 200), Value::from(i));
            if i % 7 == 0 {
                value.shift_remove(&format!("k{}", i / 2));
            }
        }
        assert_eq!(Node::Object(object).to_string(), Value::Object(value).to_string());
        let wide: String =
            format!("{{{}}}", (0..300).map(|i| format!(r#""k{}":{i}"#, i % 150)).collect::<Vec<_>>().join(","));
        let node: Node<'_> = serde_json::from_str(&wide).expect("JSON");
        let value: Value = serde_json::from_str(&wide).expect("JSON");
        assert_eq!(node.to_string(), value.to_string());
    }
}
