//! The document being built, addressed by dotted paths as ingest processors address it.

use crate::node::{Node, Object};

/// A dotted path, possibly under a prefix (`o365audit` + `Parameters.User`), so that paths into
/// the raw record need no string of their own. Its text lives as long as the document (paths
/// are the pipeline's own literals), so a key it adds is never copied.
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
pub(crate) struct Ctx<'a> {
    pub(crate) root: Object<'a>,
}

impl<'a> Ctx<'a> {
    /// The value at `key` (objects only; no arrays on the way).
    pub(crate) fn get<'k>(&self, key: impl Into<Key<'k>>) -> Option<&Node<'a>> {
        let mut segments = key.into().segments();
        let mut value = self.root.get(segments.next()?)?;
        for segment in segments {
            value = value.as_object()?.get(segment)?;
        }
        Some(value)
    }

    /// The value at `key`, to change in its place.
    pub(crate) fn get_mut<'k>(&mut self, key: impl Into<Key<'k>>) -> Option<&mut Node<'a>> {
        let mut segments = key.into().segments();
        let mut value = self.root.get_mut(segments.next()?)?;
        for segment in segments {
            value = value.as_object_mut()?.get_mut(segment)?;
        }
        Some(value)
    }

    pub(crate) fn get_str<'k>(&self, key: impl Into<Key<'k>>) -> Option<&str> {
        self.get(key).and_then(Node::as_str)
    }

    /// Whether a value is present and not null (Painless's `ctx.a?.b != null`).
    pub(crate) fn has<'k>(&self, key: impl Into<Key<'k>>) -> bool {
        self.get(key).is_some_and(|v| !v.is_null())
    }

    pub(crate) fn is<'k>(&self, key: impl Into<Key<'k>>, text: &str) -> bool {
        self.get_str(key) == Some(text)
    }

    /// Removes and returns the value at `key`.
    pub(crate) fn remove<'k>(&mut self, key: impl Into<Key<'k>>) -> Option<Node<'a>> {
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
    pub(crate) fn set(&mut self, key: impl Into<Key<'a>>, value: Node<'a>) {
        let mut segments = key.into().segments().peekable();
        let mut map = &mut self.root;
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                map.insert(segment, value);
                return;
            }
            if !map.get(segment).is_some_and(Node::is_object) {
                map.insert(segment, Node::Object(Object::new()));
            }
            map = map.get_mut(segment).and_then(Node::as_object_mut).expect("made an object above");
        }
    }

    /// The `rename` processor: moves `from` to `to` when `from` is present and `to` is not.
    pub(crate) fn rename<'f>(&mut self, from: impl Into<Key<'f>>, to: impl Into<Key<'a>>) {
        let (from, to) = (from.into(), to.into());
        if self.get(from).is_none() || self.get(to).is_some() {
            return;
        }
        if let Some(value) = self.remove(from) {
            self.set(to, value);
        }
    }

    /// The `set` processor with `copy_from`.
    pub(crate) fn copy<'f>(&mut self, from: impl Into<Key<'f>>, to: impl Into<Key<'a>>) {
        if let Some(value) = self.get(from).cloned() {
            self.set(to, value);
        }
    }

    /// The `append` processor: adds `value` to the array at `key` (making one of a scalar).
    pub(crate) fn append(&mut self, key: impl Into<Key<'a>>, value: Node<'a>, allow_duplicates: bool) {
        let key = key.into();
        let mut list = match self.remove(key) {
            Some(Node::Array(items)) => items,
            Some(Node::Null) | None => Vec::new(),
            Some(other) => vec![other],
        };
        if allow_duplicates || !list.contains(&value) {
            list.push(value);
        }
        self.set(key, Node::Array(list));
    }

    /// The `convert` processor to `string`, in place or to `to`.
    pub(crate) fn convert_to_string(&mut self, from: Key<'a>, to: impl Into<Key<'a>>) {
        let to = to.into();
        let Some(value) = self.get(from) else { return };
        let converted = match value {
            Node::String(_) => return self.copy_if_moved(from, to),
            Node::Number(_) | Node::Bool(_) => Node::String(value.text()),
            Node::Array(items) => Node::Array(items.iter().map(|v| Node::String(v.text())).collect()),
            other => other.clone(),
        };
        self.set(to, converted);
    }

    /// A string converted to a string: only copied when the target differs.
    fn copy_if_moved(&mut self, from: Key<'a>, to: Key<'a>) {
        if (from.prefix, from.path) != (to.prefix, to.path) {
            self.copy(from, to);
        }
    }
}
