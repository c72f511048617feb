//! The document being built, addressed by dotted paths as ingest processors address it.

use serde_json::{Map, Value};

/// A dotted path, possibly under a prefix (`o365audit` + `Parameters.User`), so that paths into
/// the raw record need no string of their own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key<'a> {
    prefix: &'a str,
    path: &'a str,
}

impl<'a> Key<'a> {
    /// `prefix.path`.
    pub(crate) fn under(prefix: &'a str, path: &'a str) -> Key<'a> {
        Key { prefix, path }
    }

    fn segments(self) -> impl Iterator<Item = &'a str> {
        self.prefix.split('.').filter(|s| !s.is_empty()).chain(self.path.split('.'))
    }
}

impl<'a> From<&'a str> for Key<'a> {
    fn from(path: &'a str) -> Key<'a> {
        Key { prefix: "", path }
    }
}

/// An ingest document: `ctx` in Elasticsearch's processors.
pub(crate) struct Ctx {
    pub(crate) root: Map<String, Value>,
}

impl Ctx {
    /// The value at `key` (objects only; no arrays on the way).
    pub(crate) fn get<'k>(&self, key: impl Into<Key<'k>>) -> Option<&Value> {
        let mut segments = key.into().segments();
        let mut value = self.root.get(segments.next()?)?;
        for segment in segments {
            value = value.as_object()?.get(segment)?;
        }
        Some(value)
    }

    pub(crate) fn get_str<'k>(&self, key: impl Into<Key<'k>>) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Whether a value is present and not null (Painless's `ctx.a?.b != null`).
    pub(crate) fn has<'k>(&self, key: impl Into<Key<'k>>) -> bool {
        self.get(key).is_some_and(|v| !v.is_null())
    }

    pub(crate) fn is<'k>(&self, key: impl Into<Key<'k>>, text: &str) -> bool {
        self.get_str(key) == Some(text)
    }

    /// Removes and returns the value at `key`.
    pub(crate) fn remove<'k>(&mut self, key: impl Into<Key<'k>>) -> Option<Value> {
        let mut segments = key.into().segments().peekable();
        let mut map = &mut self.root;
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                return map.shift_remove(segment);
            }
            map = map.get_mut(segment)?.as_object_mut()?;
        }
        None
    }

    /// Sets `key` to `value`, creating objects on the way (replacing non-objects).
    pub(crate) fn set<'k>(&mut self, key: impl Into<Key<'k>>, value: Value) {
        let mut segments = key.into().segments().peekable();
        let mut map = &mut self.root;
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                map.insert(segment.to_owned(), value);
                return;
            }
            if !map.get(segment).is_some_and(Value::is_object) {
                map.insert(segment.to_owned(), Value::Object(Map::new()));
            }
            map = map.get_mut(segment).and_then(Value::as_object_mut).expect("made an object above");
        }
    }

    /// The `rename` processor: moves `from` to `to` when `from` is present and `to` is not.
    pub(crate) fn rename<'f, 't>(&mut self, from: impl Into<Key<'f>>, to: impl Into<Key<'t>>) {
        let (from, to) = (from.into(), to.into());
        if self.get(from).is_none() || self.get(to).is_some() {
            return;
        }
        if let Some(value) = self.remove(from) {
            self.set(to, value);
        }
    }

    /// The `set` processor with `copy_from`.
    pub(crate) fn copy<'f, 't>(&mut self, from: impl Into<Key<'f>>, to: impl Into<Key<'t>>) {
        if let Some(value) = self.get(from).cloned() {
            self.set(to, value);
        }
    }

    /// The `append` processor: adds `value` to the array at `key` (making one of a scalar).
    pub(crate) fn append<'k>(&mut self, key: impl Into<Key<'k>>, value: Value, allow_duplicates: bool) {
        let key = key.into();
        let mut list = match self.remove(key) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![other],
        };
        if allow_duplicates || !list.contains(&value) {
            list.push(value);
        }
        self.set(key, Value::Array(list));
    }

    /// The `convert` processor to `string`, in place or to `to`.
    pub(crate) fn convert_to_string<'f, 't>(&mut self, from: impl Into<Key<'f>>, to: impl Into<Key<'t>>) {
        let (from, to) = (from.into(), to.into());
        let Some(value) = self.get(from) else { return };
        let converted = match value {
            Value::String(_) => return self.copy_if_moved(from, to),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            Value::Array(items) => Value::Array(items.iter().map(|v| Value::String(text(v))).collect()),
            other => other.clone(),
        };
        self.set(to, converted);
    }

    /// A string converted to a string: only copied when the target differs.
    fn copy_if_moved(&mut self, from: Key<'_>, to: Key<'_>) {
        if (from.prefix, from.path) != (to.prefix, to.path) {
            self.copy(from, to);
        }
    }
}

/// A value as a string, as Java's `toString` gives it for the values records hold.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
