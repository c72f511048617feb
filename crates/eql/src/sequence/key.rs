//! Join keys: where a sequence's or sample's key is, and its values as Elasticsearch compares
//! them.
//!
//! Elasticsearch joins on the values it indexed, so a key's values are read as its field is
//! typed (from the catalog): numbers as numbers (`7`, `"7"` and `7.0` are one value of a `long`),
//! dates as instants (`"2022-12-17"` and `"1671235200000"` are one value of a `date`), addresses
//! as addresses (`::ffff:10.0.0.1` is `10.0.0.1`), anything else as its text. A value the type
//! cannot read is kept as its text. Samples also sort by their keys this way.

use std::cmp::Ordering;
use std::net::IpAddr;

use ecs::date::Timestamp;
use ecs::{Catalog, FieldType, Path, Value};

/// One join key of a term.
#[derive(Clone, Debug)]
pub(super) struct JoinKey {
    path: Path,
    /// `?field`: an event without a value has null for it, rather than no part.
    optional: bool,
    kind: KeyKind,
}

/// An event's values of a term's join keys (`None`: an optional key without a value).
pub(super) type Key = Vec<Option<String>>;

/// How a key's values read and compare, by its field's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Number,
    /// A `date` (milliseconds) or `date_nanos` (nanoseconds) field.
    Date {
        nanos: bool,
    },
    Ip,
    Text,
}

impl JoinKey {
    /// The key `name`, typed from `catalog`.
    pub(super) fn new(name: &str, optional: bool, catalog: &Catalog) -> JoinKey {
        let kind = match catalog.type_of(name).map(|t| t.0) {
            Some(FieldType::Long | FieldType::Integer | FieldType::Float) => KeyKind::Number,
            Some(FieldType::Date) => KeyKind::Date { nanos: false },
            Some(FieldType::DateNanos) => KeyKind::Date { nanos: true },
            Some(FieldType::Ip) => KeyKind::Ip,
            _ => KeyKind::Text,
        };
        JoinKey { path: Path::new(name), optional, kind }
    }

    pub(super) fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The event's value for this key: `Some(None)` for an optional key without one, `None`
    /// for a required one without one. Of several values, the first.
    pub(super) fn first(&self, doc: &Value) -> Option<Option<String>> {
        let mut first = None;
        self.path.visit(doc, &mut |v| {
            first = self.kind.text(v);
            first.is_some()
        });
        match first {
            Some(v) => Some(Some(v)),
            None => self.optional.then_some(None),
        }
    }

    /// The event's value for this key, as an explanation says it (`` `host.id` = "h1" ``), or
    /// why it has none.
    pub(super) fn explain(&self, doc: &Value) -> Result<String, String> {
        let path = self.path.as_str();
        match self.first(doc) {
            Some(Some(value)) => Ok(format!("`{path}` = {}", Value::String(value))),
            Some(None) => Ok(format!("`{path}` = null")),
            None => Err(format!("`{path}` has no value")),
        }
    }

    /// Every value of the event for this key (each once); null alone for an optional key
    /// without one, nothing for a required one.
    pub(super) fn all(&self, doc: &Value) -> Vec<Option<String>> {
        let mut values = Vec::new();
        self.path.visit(doc, &mut |v| {
            let text = self.kind.text(v);
            if text.is_some() && !values.contains(&text) {
                values.push(text);
            }
            false
        });
        if values.is_empty() && self.optional {
            values.push(None);
        }
        values
    }
}

impl KeyKind {
    /// A value as this kind's text; `None` for null and objects.
    fn text(self, value: &Value) -> Option<String> {
        let raw = match value {
            Value::Null | Value::Object(_) => return None,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let typed = match self {
            KeyKind::Number => {
                let text = raw.trim();
                // Whole numbers as integers (`7.0` is `7`), exactly.
                text.parse::<i64>().map(|n| n.to_string()).ok().or_else(|| {
                    let n = text.parse::<f64>().ok().filter(|n| n.is_finite())?;
                    Some(if n.fract() == 0.0 && n.abs() < 9.0e15 { format!("{}", n as i64) } else { n.to_string() })
                })
            }
            KeyKind::Date { nanos } => {
                Timestamp::parse(&raw, false).map(|t| if nanos { t.as_nanos() } else { t.as_millis() }.to_string())
            }
            KeyKind::Ip => raw.parse::<IpAddr>().ok().map(|ip| ip.to_canonical().to_string()),
            KeyKind::Text => None,
        };
        Some(typed.unwrap_or(raw))
    }

    /// Compares two values of this kind (as [`KeyKind::text`] wrote them).
    pub(super) fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            KeyKind::Number | KeyKind::Date { .. } => match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => a.cmp(b),
            },
            KeyKind::Ip => match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
                (Ok(x), Ok(y)) => ipv6(x).cmp(&ipv6(y)),
                _ => a.cmp(b),
            },
            KeyKind::Text => a.cmp(b),
        }
    }
}

/// An address as Elasticsearch stores it: IPv4 mapped into IPv6.
fn ipv6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}
