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
    use proptest::prelude::*;
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

    #[test]
    fn whitespace_escapes_and_brackets_in_strings_are_read_as_json() {
        let projection = Projection::new(["key.x", "event.action"]);
        let line = "{ \"skip\" : \"a \\\"}] b\\\\\" ,\n\t\"k\\u0065y\" : { \"x\" : [ 1 , { \"y\" : \"\\\\\" } ] } ,\r\n \"event.action\":\"x\" }";
        let doc = Document::parse_projected(line.as_bytes(), &projection).expect("valid");
        assert_eq!(doc.root(), &json!({"key": {"x": [1, {"y": "\\"}]}, "event.action": "x"}));
    }

    /// What a projection keeps, computed on the whole document.
    fn keep(value: &Value, node: &Projection) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter_map(|(key, value)| match node.take(key) {
                        Take::Skip => None,
                        Take::Whole => Some((key.clone(), value.clone())),
                        Take::Descend(child) => Some((key.clone(), keep(value, child))),
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|item| keep(item, node)).collect()),
            other => other.clone(),
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec!["a", "b", "a.b", "c", "b.c", "é\""]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn a_projection_keeps_what_the_whole_document_has(value in json_value(), pretty in any::<bool>()) {
            let line = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) };
            let line = line.expect("serializable");
            let whole: Value = serde_json::from_str(&line).expect("valid JSON");
            for paths in [&["a"][..], &["a.b", "c"], &["b.c.a", "a.b.c"], &[]] {
                let projection = Projection::new(paths.iter().copied());
                let doc = Document::parse_projected(line.as_bytes(), &projection).expect("valid JSON");
                prop_assert_eq!(doc.root(), &keep(&whole, &projection));
            }
        }

        #[test]
        fn no_line_makes_it_panic(line in prop::collection::vec(prop::sample::select(b"{}[]\",:\\ u0a1.e-tn".to_vec()), 0..40)) {
            let _ = Document::parse_projected(&line, &Projection::new(["a", "b.c"]));
        }
    }
}
