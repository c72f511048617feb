//! Decoding only the fields a rule set reads.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::document::{Document, DocumentError, utf8};

/// The fields worth decoding: a tree of dotted paths. Values on the way to a path, and whole
/// values where a path ends, are decoded; everything else is skipped without allocating.
/// Matching on the projection gives the same answers as on the whole document, as long as every
/// field a query reads is in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    children: BTreeMap<String, Projection>,
    /// A path ends here: keep the whole value.
    whole: bool,
}

/// What to do with the value under a key.
enum Take<'p> {
    Skip,
    Whole,
    Descend(&'p Projection),
}

impl Projection {
    /// A projection of the given dotted paths.
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Projection {
        let mut root = Projection::default();
        for path in paths {
            let mut node = &mut root;
            for segment in path.split('.') {
                node = node.children.entry(segment.to_owned()).or_default();
            }
            node.whole = true;
        }
        root
    }

    /// What a key (which may hold dots: `{"event.action": ..}`) leads to from this node.
    fn take(&self, key: &str) -> Take<'_> {
        let mut node = self;
        for segment in key.split('.') {
            if node.whole {
                return Take::Whole;
            }
            match node.children.get(segment) {
                Some(child) => node = child,
                None => return Take::Skip,
            }
        }
        if node.whole { Take::Whole } else { Take::Descend(node) }
    }
}

impl Document {
    /// Decodes only what `projection` names (see [`Projection`]).
    ///
    /// # Errors
    ///
    /// When the line is not UTF-8 or not valid JSON (skipped parts are still checked).
    pub fn parse_projected(line: &[u8], projection: &Projection) -> Result<Document, DocumentError> {
        let mut de = serde_json::Deserializer::from_str(utf8(line)?);
        let value = Seed(projection).deserialize(&mut de).and_then(|v| de.end().map(|()| v));
        value.map(Document::new).map_err(|err| DocumentError::from_serde(&err))
    }
}

struct Seed<'p>(&'p Projection);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.0.take(&key) {
                Take::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
                Take::Whole => {
                    out.insert(key.into_owned(), map.next_value::<Value>()?);
                }
                Take::Descend(node) => {
                    out.insert(key.into_owned(), map.next_value_seed(Seed(node))?);
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_named_fields_are_decoded() {
        let projection = Projection::new(["event.action", "o365.audit.Parameters.Enabled", "user"]);
        let line = br#"{"event":{"action":"x","kind":"event"},"o365.audit":{"Parameters":{"Enabled":"False","Identity":"y"}},"user":{"name":"a","id":[1]},"message":"long text","event.category":["web"]}"#;
        let doc = Document::parse_projected(line, &projection).expect("valid");
        assert_eq!(
            doc.root(),
            &json!({"event":{"action":"x"},"o365.audit":{"Parameters":{"Enabled":"False"}},"user":{"name":"a","id":[1]}})
        );
    }

    #[test]
    fn arrays_and_leaves_on_the_way_are_kept() {
        let projection = Projection::new(["a.b.c", "user.name.text"]);
        let doc =
            Document::parse_projected(br#"{"a":[{"b":{"c":1,"d":2}},{"x":1}],"user":{"name":"John"}}"#, &projection)
                .expect("valid");
        assert_eq!(doc.root(), &json!({"a":[{"b":{"c":1}},{}],"user":{"name":"John"}}));
    }

    #[test]
    fn skipped_parts_are_still_validated() {
        let projection = Projection::new(["a"]);
        assert!(Document::parse_projected(br#"{"a":1,"b":[1,}"#, &projection).is_err());
        assert!(Document::parse_projected(br#"{"a":1} x"#, &projection).is_err());
    }
}
