//! The document being built, addressed by dotted paths as ingest processors address it.

use crate::node::{Node, Object};

/// A dotted path in the document, possibly under a prefix (`user.target` + `id`), or in the raw
/// record (which the pipeline reads as `o365audit.*`). Its text lives as long as the document
/// (paths are the pipeline's own literals), so a key it adds is never copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key<'a> {
    in_record: bool,
    prefix: &'a str,
    path: &'a str,
}

impl<'a> Key<'a> {
    /// `prefix.path` in the document.
    pub(crate) fn under(prefix: &'a str, path: &'a str) -> Key<'a> {
        Key { in_record: false, prefix, path }
    }

    /// `path` in the raw record.
    pub(crate) fn record(path: &'a str) -> Key<'a> {
        Key { in_record: true, prefix: "", path }
    }

    fn segments(self) -> impl Iterator<Item = &'a str> {
        Segments(Some(self.prefix)).filter(|s| !s.is_empty()).chain(Segments(Some(self.path)))
    }
}

/// The parts of a dotted path.
struct Segments<'a>(Option<&'a str>);

impl<'a> Iterator for Segments<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0?;
        match rest.bytes().position(|b| b == b'.') {
            Some(dot) => {
                self.0 = Some(&rest[dot + 1..]);
                Some(&rest[..dot])
            }
            None => self.0.take(),
        }
    }
}

impl<'a> From<&'a str> for Key<'a> {
    fn from(path: &'a str) -> Key<'a> {
        Key::under("", path)
    }
}

/// An ingest document: `ctx` in Elasticsearch's processors. The raw record, which the
/// integration's pipeline keeps under `o365audit` until its last step renames it `o365.audit`,
/// is kept apart: it is the first key of `ctx` and leaves it last, so the order of the
/// document's other keys does not depend on it.
pub(crate) struct Ctx<'a> {
    pub(crate) root: Object<'a>,
    pub(crate) record: Object<'a>,
}

impl<'a> Ctx<'a> {
    fn base(&self, key: Key<'_>) -> &Object<'a> {
        if key.in_record { &self.record } else { &self.root }
    }

    fn base_mut(&mut self, key: Key<'_>) -> &mut Object<'a> {
        if key.in_record { &mut self.record } else { &mut self.root }
    }

    /// The value at `key` (objects only; no arrays on the way).
    pub(crate) fn get<'k>(&self, key: impl Into<Key<'k>>) -> Option<&Node<'a>> {
        let key = key.into();
        let mut segments = key.segments();
        let mut value = self.base(key).get(segments.next()?)?;
        for segment in segments {
            value = value.as_object()?.get(segment)?;
        }
        Some(value)
    }

    /// The value at `key`, to change in its place.
    pub(crate) fn get_mut<'k>(&mut self, key: impl Into<Key<'k>>) -> Option<&mut Node<'a>> {
        let key = key.into();
        let mut segments = key.segments();
        let mut value = self.base_mut(key).get_mut(segments.next()?)?;
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
        let key = key.into();
        let mut segments = key.segments().peekable();
        let mut map = self.base_mut(key);
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
        let key = key.into();
        let mut segments = key.segments().peekable();
        let mut map = self.base_mut(key);
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
        if from != to {
            self.copy(from, to);
        }
    }
}
