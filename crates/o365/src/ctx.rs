//! The document being built, addressed by dotted paths as ingest processors address it.

use serde_json::{Map, Value};

/// An ingest document: `ctx` in Elasticsearch's processors.
pub(crate) struct Ctx {
    pub(crate) root: Map<String, Value>,
}

impl Ctx {
    /// The value at `path` (objects only; no arrays on the way).
    pub(crate) fn get(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut value = self.root.get(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }

    pub(crate) fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// Whether a value is present and not null (Painless's `ctx.a?.b != null`).
    pub(crate) fn has(&self, path: &str) -> bool {
        self.get(path).is_some_and(|v| !v.is_null())
    }

    pub(crate) fn is(&self, path: &str, text: &str) -> bool {
        self.get_str(path) == Some(text)
    }

    /// Removes and returns the value at `path`.
    pub(crate) fn remove(&mut self, path: &str) -> Option<Value> {
        let (parents, last) = path.rsplit_once('.').map_or(("", path), |(p, l)| (p, l));
        let mut map = &mut self.root;
        for part in parents.split('.').filter(|p| !p.is_empty()) {
            map = map.get_mut(part)?.as_object_mut()?;
        }
        map.shift_remove(last)
    }

    /// Sets `path` to `value`, creating objects on the way (replacing non-objects).
    pub(crate) fn set(&mut self, path: &str, value: Value) {
        let (parents, last) = path.rsplit_once('.').map_or(("", path), |(p, l)| (p, l));
        let mut map = &mut self.root;
        for part in parents.split('.').filter(|p| !p.is_empty()) {
            if !map.contains_key(part) {
                map.insert(part.to_owned(), Value::Object(Map::new()));
            }
            let entry = map.get_mut(part).expect("inserted above");
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            map = entry.as_object_mut().expect("made an object above");
        }
        map.insert(last.to_string(), value);
    }

    /// The `rename` processor: moves `from` to `to` when `from` is present and `to` is not.
    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        if self.get(from).is_none() || self.get(to).is_some() {
            return;
        }
        if let Some(value) = self.remove(from) {
            self.set(to, value);
        }
    }

    /// The `set` processor with `copy_from`.
    pub(crate) fn copy(&mut self, from: &str, to: &str) {
        if let Some(value) = self.get(from).cloned() {
            self.set(to, value);
        }
    }

    /// The `append` processor: adds `value` to the array at `path` (making one of a scalar).
    pub(crate) fn append(&mut self, path: &str, value: Value, allow_duplicates: bool) {
        let mut list = match self.remove(path) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![other],
        };
        if allow_duplicates || !list.contains(&value) {
            list.push(value);
        }
        self.set(path, Value::Array(list));
    }

    /// The `convert` processor to `string`, in place or to `to`.
    pub(crate) fn convert_to_string(&mut self, from: &str, to: &str) {
        let Some(value) = self.get(from) else { return };
        let converted = match value {
            Value::String(s) => Value::String(s.clone()),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            Value::Array(items) => Value::Array(items.iter().map(|v| Value::String(text(v))).collect()),
            other => other.clone(),
        };
        self.set(to, converted);
    }
}

/// A value as a string, as Java's `toString` gives it for the values records hold.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
