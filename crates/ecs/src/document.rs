//! Event documents and the paths that find values in them.

use serde_json::Value;

/// An error decoding a JSON document.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON at column {column}: {message}")]
pub struct DocumentError {
    column: usize,
    message: String,
}

impl DocumentError {
    pub(crate) fn new(column: usize, message: String) -> DocumentError {
        DocumentError { column, message }
    }

    pub(crate) fn from_serde(err: &serde_json::Error) -> DocumentError {
        DocumentError { column: err.column(), message: strip_position(&err.to_string()) }
    }

    /// The 1-based column (in characters of the line) where decoding failed.
    pub fn column(&self) -> usize {
        self.column
    }
}

/// `line` as text, or where it stops being UTF-8.
pub(crate) fn utf8(line: &[u8]) -> Result<&str, DocumentError> {
    std::str::from_utf8(line).map_err(|err| {
        let column = String::from_utf8_lossy(&line[..err.valid_up_to()]).chars().count() + 1;
        DocumentError::new(column, "not UTF-8".to_owned())
    })
}

/// One event: a JSON object (or any JSON value) as it would be sent to Elasticsearch.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    root: Value,
}

impl Document {
    /// Decodes one JSON text (an NDJSON line).
    ///
    /// # Errors
    ///
    /// When `text` is not valid JSON, or nests deeper than 128 levels.
    pub fn parse(text: &str) -> Result<Document, DocumentError> {
        serde_json::from_str(text).map(Document::new).map_err(|err| DocumentError::from_serde(&err))
    }

    /// Decodes one NDJSON line given as bytes (which must be UTF-8).
    ///
    /// # Errors
    ///
    /// When the bytes are not UTF-8 or not valid JSON.
    pub fn parse_bytes(line: &[u8]) -> Result<Document, DocumentError> {
        decode(line).map(Document::new)
    }

    /// Wraps an already decoded value.
    pub fn new(root: Value) -> Document {
        Document { root }
    }

    /// The whole document, owned.
    pub fn into_root(self) -> Value {
        self.root
    }

    /// The whole document.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The values at `path`, arrays flattened; objects are yielded too (for `exists` and nested
    /// queries), `null` as well (callers treat it as missing).
    pub fn values<'d>(&'d self, path: &Path) -> impl Iterator<Item = &'d Value> + 'd {
        let mut found = Vec::new();
        path.visit(&self.root, &mut |value| {
            found.push(value);
            false
        });
        found.into_iter()
    }
}

/// Decodes one NDJSON line given as bytes into any `T` (one that borrows its strings from the
/// line, say), with the errors [`Document::parse_bytes`] gives.
///
/// # Errors
///
/// When the bytes are not UTF-8, not valid JSON, or not a `T`.
pub fn decode<'a, T: serde::Deserialize<'a>>(line: &'a [u8]) -> Result<T, DocumentError> {
    serde_json::from_str(utf8(line)?).map_err(|err| DocumentError::from_serde(&err))
}

/// Whether a line looks like a whole JSON document: it starts with `{` or `[` and ends with the
/// matching bracket. Scanners skip lines they know cannot match without decoding them; this cheap
/// check still catches garbled and cut-short lines among those, so they are reported.
pub fn looks_whole(line: &[u8]) -> bool {
    let text = line.trim_ascii();
    matches!((text.first(), text.last()), (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')))
}

/// serde_json appends " at line L column C" to its messages; we report the column ourselves.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A dotted field path (`o365.audit.Parameters.Enabled`), split once so lookups don't re-parse it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    text: String,
    /// Byte offsets of the dots in `text`, then `text.len()`.
    ends: Vec<usize>,
}

impl Path {
    /// A path from its dotted name.
    pub fn new(text: &str) -> Path {
        let ends = text.match_indices('.').map(|(at, _)| at).chain([text.len()]).collect();
        Path { text: text.to_owned(), ends }
    }

    /// The dotted name.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Calls `found` with every value at this path below `root`, as Elasticsearch resolves a field
    /// name: each object level may hold the next segment as a key of its own or several segments
    /// joined by dots (`{"event.action": ..}`, `{"event": {"action": ..}}`, or mixed), and arrays
    /// are flattened at every level. `found` returns `true` to stop; `visit` then returns `true`.
    pub fn visit<'v>(&self, root: &'v Value, found: &mut dyn FnMut(&'v Value) -> bool) -> bool {
        if self.text.is_empty() {
            return flatten(root, found);
        }
        self.visit_from(root, 0, found)
    }

    /// The first string or number at this path below `root`, as text (how a keyword field reads
    /// it); `None` when there is neither.
    pub fn first_text(&self, root: &Value) -> Option<String> {
        let mut found = None;
        self.visit(root, &mut |v| {
            found = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            found.is_some()
        });
        found
    }

    /// Visits the values below `value` for the path suffix that starts at byte `start`.
    fn visit_from<'v>(&self, value: &'v Value, start: usize, found: &mut dyn FnMut(&'v Value) -> bool) -> bool {
        match value {
            Value::Array(items) => items.iter().any(|item| self.visit_from(item, start, found)),
            Value::Object(map) => {
                for &end in self.ends.iter().filter(|&&end| end > start) {
                    if let Some(child) = map.get(&self.text[start..end]) {
                        let stop = if end == self.text.len() {
                            flatten(child, found)
                        } else {
                            self.visit_from(child, end + 1, found)
                        };
                        if stop {
                            return true;
                        }
                    }
                }
                false
            }
            _ => false,
        }
    }
}

fn flatten<'v>(value: &'v Value, found: &mut dyn FnMut(&'v Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| flatten(item, found)),
        other => found(other),
    }
}

/// Calls `found` with the full dotted path and value of every leaf (non-object, non-array value)
/// below `root`, arrays flattened. `found` returns `true` to stop; `walk_leaves` then returns `true`.
pub fn walk_leaves<'v>(root: &'v Value, found: &mut dyn FnMut(&str, &'v Value) -> bool) -> bool {
    fn walk<'v>(value: &'v Value, path: &mut String, found: &mut dyn FnMut(&str, &'v Value) -> bool) -> bool {
        match value {
            Value::Array(items) => items.iter().any(|item| walk(item, path, found)),
            Value::Object(map) => map.iter().any(|(key, child)| {
                let len = path.len();
                if len > 0 {
                    path.push('.');
                }
                path.push_str(key);
                let stop = walk(child, path, found);
                path.truncate(len);
                stop
            }),
            leaf => found(path, leaf),
        }
    }
    walk(root, &mut String::new(), found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(doc: Value, path: &str) -> Vec<Value> {
        Document::new(doc).values(&Path::new(path)).cloned().collect()
    }

    #[test]
    fn nested_dotted_and_mixed_keys_resolve_alike() {
        assert_eq!(values(json!({"a": {"b": {"c": 1}}}), "a.b.c"), [json!(1)]);
        assert_eq!(values(json!({"a.b.c": 1}), "a.b.c"), [json!(1)]);
        assert_eq!(values(json!({"a": {"b.c": 1}}), "a.b.c"), [json!(1)]);
        assert_eq!(values(json!({"a.b": {"c": 1}, "a": {"b": {"c": 2}}}), "a.b.c").len(), 2);
    }

    #[test]
    fn arrays_flatten_at_every_level() {
        assert_eq!(values(json!({"a": [{"b": [{"c": [1, [2]]}]}]}), "a.b.c"), [json!(1), json!(2)]);
        assert_eq!(values(json!({"s": []}), "s"), Vec::<Value>::new());
    }

    #[test]
    fn objects_are_values_too() {
        assert_eq!(values(json!({"a": {"b": {"c": 1}}}), "a.b"), [json!({"c": 1})]);
    }

    #[test]
    fn leaves_carry_their_full_path() {
        let doc = json!({"a": {"b": [1, {"c": "x"}]}, "d.e": true});
        let mut seen = Vec::new();
        walk_leaves(&doc, &mut |path, value| {
            seen.push((path.to_owned(), value.clone()));
            false
        });
        assert_eq!(seen, [("a.b".into(), json!(1)), ("a.b.c".into(), json!("x")), ("d.e".into(), json!(true))]);
    }

    #[test]
    fn bad_json_reports_its_column() {
        let err = Document::parse(r#"{"a": tru}"#).unwrap_err();
        assert_eq!(err.column(), 10);
        assert!(err.to_string().starts_with("invalid JSON at column 10: "));
    }
}
