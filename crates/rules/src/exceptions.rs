//! Exception lists and value lists, as Kibana keeps them: the model, Kibana's export NDJSON and
//! vigil's TOML form (both read with `file:line:column` diagnostics, both written back), and the
//! references rules make to lists (`exceptions_list`).
//!
//! A list's items are OR'ed, the entries of an item AND'ed; an event that an item matches is not
//! a candidate of the rules that use the list (Kibana puts the items in the search's `must_not`).
//! How an entry matches is the engine's (`engine::exceptions`); this module only reads, checks
//! and writes them.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ecs::date::Timestamp;
use ecs::{Catalog, FieldType};
use serde_json::{Map, Value, json};

use crate::diagnostic::{Diagnostic, Level, Problem, Source};

/// Who may see a list: one Kibana space (`single`) or every space (`agnostic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamespaceType {
    /// One space.
    Single,
    /// Every space.
    Agnostic,
}

impl NamespaceType {
    /// `single` or `agnostic`.
    pub fn as_str(self) -> &'static str {
        match self {
            NamespaceType::Single => "single",
            NamespaceType::Agnostic => "agnostic",
        }
    }

    /// Reads `single` or `agnostic`.
    pub fn parse(text: &str) -> Option<NamespaceType> {
        match text {
            "single" => Some(NamespaceType::Single),
            "agnostic" => Some(NamespaceType::Agnostic),
            _ => None,
        }
    }
}

/// Whether an entry's condition must hold (`included`) or must not (`excluded`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// "is", "is one of", "matches", "exists", "is in list".
    Included,
    /// "is not", "is not one of", "does not match", "does not exist", "is not in list".
    Excluded,
}

impl Operator {
    /// `included` or `excluded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Included => "included",
            Operator::Excluded => "excluded",
        }
    }
}

/// What an entry tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// `match`: the field is this value (Elasticsearch's `match_phrase`).
    Match {
        /// The value.
        value: String,
        /// vigil's addition: letter case is ignored.
        case_insensitive: bool,
    },
    /// `match_any`: the field is one of these values.
    MatchAny {
        /// The values.
        values: Vec<String>,
        /// vigil's addition: letter case is ignored.
        case_insensitive: bool,
    },
    /// `wildcard`: a value of the field matches the pattern (`*` any run, `?` one character).
    Wildcard {
        /// The pattern.
        value: String,
        /// vigil's addition: letter case is ignored.
        case_insensitive: bool,
    },
    /// `exists`: the field has a value.
    Exists,
    /// `list`: a value of the field is in a value list.
    List {
        /// The value list's id.
        id: String,
        /// Its type: `keyword`, `ip`, `ip_range`, `text`...
        kind: ValueListType,
    },
    /// `nested`: entries about the objects of a nested field, all true of one of them.
    Nested {
        /// The entries, their fields relative to the nested field.
        entries: Vec<Entry>,
    },
}

/// One condition of an exception item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The field, dotted (relative to its parent inside a `nested` entry).
    pub field: String,
    /// `included` or `excluded` (a `nested` entry has none of its own).
    pub operator: Operator,
    /// What it tests.
    pub kind: EntryKind,
}

/// A comment on an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// The text.
    pub comment: String,
    /// Who wrote it, when known.
    pub created_by: Option<String>,
    /// When, when known.
    pub created_at: Option<String>,
}

/// One exception: its entries AND'ed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionItem {
    /// Kibana's saved-object id, when it has one.
    pub id: Option<String>,
    /// The item's own id, unique in its list.
    pub item_id: String,
    /// A name for people.
    pub name: String,
    /// Why it exists.
    pub description: String,
    /// The conditions, all of which must hold.
    pub entries: Vec<Entry>,
    /// After this the item no longer applies.
    pub expire_time: Option<Timestamp>,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// `windows`, `linux`, `macos`: the item applies to hosts of these systems only.
    pub os_types: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
}

impl ExceptionItem {
    /// Whether the item applies at `now` (it has not expired).
    pub fn applies_at(&self, now: Timestamp) -> bool {
        self.expire_time.is_none_or(|t| t > now)
    }
}

/// An exception list: its items OR'ed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionList {
    /// Kibana's saved-object id, when it has one.
    pub id: Option<String>,
    /// The list's own id, which rules refer to.
    pub list_id: String,
    /// Its namespace.
    pub namespace_type: NamespaceType,
    /// `detection` (shared), `rule_default` (one rule's own), `endpoint`...
    pub kind: String,
    /// A name for people.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Kept as Kibana has it.
    pub os_types: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// The exceptions.
    pub items: Vec<ExceptionItem>,
    /// vigil's addition: rule ids the list applies to besides the rules whose `exceptions_list`
    /// names it (so that a rule file, built-in rules among them, need not change). Kept in the
    /// TOML form; Kibana's export has no place for it.
    pub rules: Vec<String>,
    /// Where it was read from (`file:line`).
    pub origin: String,
}

impl ExceptionList {
    /// Whether the list applies to rule `rule_id`, which names `refs` in its `exceptions_list`.
    pub fn applies_to(&self, rule_id: &str, refs: &[ListRef]) -> bool {
        self.rules.iter().any(|r| r == rule_id)
            || refs.iter().any(|r| r.list_id == self.list_id && r.namespace_type == self.namespace_type)
    }
}

/// A rule's reference to an exception list (one element of its `exceptions_list`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRef {
    /// The list's saved-object id.
    pub id: String,
    /// The list's `list_id`.
    pub list_id: String,
    /// Its namespace.
    pub namespace_type: NamespaceType,
    /// Its type.
    pub kind: String,
}

impl fmt::Display for ListRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.list_id, self.namespace_type.as_str())
    }
}

/// The types of value lists, as Kibana's lists plugin has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueListType {
    /// Exact, case-sensitive values.
    Keyword,
    /// IP addresses (a CIDR matches every address in it).
    Ip,
    /// IP ranges: CIDR (`10.0.0.0/8`) or `first-last`.
    IpRange,
    /// Text: a value matches a field holding all its words.
    Text,
}

impl ValueListType {
    /// `keyword`, `ip`, `ip_range`, `text`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueListType::Keyword => "keyword",
            ValueListType::Ip => "ip",
            ValueListType::IpRange => "ip_range",
            ValueListType::Text => "text",
        }
    }

    /// The type `text` names.
    pub fn parse(text: &str) -> Option<ValueListType> {
        match text {
            "keyword" => Some(ValueListType::Keyword),
            "ip" => Some(ValueListType::Ip),
            "ip_range" => Some(ValueListType::IpRange),
            "text" => Some(ValueListType::Text),
            _ => None,
        }
    }

    /// Why `value` cannot be in a list of this type, if it cannot.
    pub fn check(self, value: &str) -> Result<(), String> {
        match self {
            ValueListType::Keyword | ValueListType::Text if value.is_empty() => Err("an empty value".into()),
            ValueListType::Keyword | ValueListType::Text => Ok(()),
            ValueListType::Ip => ip_or_cidr(value),
            ValueListType::IpRange => match value.split_once('-') {
                Some((first, last)) => {
                    let parse = |t: &str| {
                        t.trim().parse::<std::net::IpAddr>().map_err(|_| format!("`{t}` is not an IP address"))
                    };
                    let (first, last) = (parse(first)?, parse(last)?);
                    if first.is_ipv4() != last.is_ipv4() {
                        return Err(format!("`{value}` mixes IPv4 and IPv6"));
                    }
                    Ok(())
                }
                None => ip_or_cidr(value),
            },
        }
    }
}

fn ip_or_cidr(value: &str) -> Result<(), String> {
    let (address, bits) = match value.split_once('/') {
        Some((address, bits)) => (address, Some(bits)),
        None => (value, None),
    };
    let ip: std::net::IpAddr =
        address.trim().parse().map_err(|_| format!("`{value}` is not an IP address or CIDR network"))?;
    if let Some(bits) = bits {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match bits.parse::<u8>() {
            Ok(n) if n <= max => {}
            _ => return Err(format!("`{value}`: the prefix length must be 0 to {max}")),
        }
    }
    Ok(())
}

/// A value list: values an entry of type `list` looks a field's value up in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueList {
    /// Its id, which entries refer to.
    pub id: String,
    /// Its type.
    pub kind: ValueListType,
    /// A name for people.
    pub name: String,
    /// The values, in the order given, without repeats.
    pub values: Vec<String>,
}

impl ValueList {
    /// A list of `kind` from `text`, one value per line (blank lines and surrounding spaces
    /// ignored); a bad value is refused with its line number.
    ///
    /// # Errors
    ///
    /// `line N: why`, for the first value the type cannot hold.
    pub fn from_lines(id: &str, kind: ValueListType, text: &str) -> Result<ValueList, String> {
        let mut seen = std::collections::HashSet::new();
        let mut values = Vec::new();
        for (at, line) in text.lines().enumerate() {
            let value = line.trim();
            if value.is_empty() {
                continue;
            }
            kind.check(value).map_err(|why| format!("line {}: {why}", at + 1))?;
            if seen.insert(value.to_owned()) {
                values.push(value.to_owned());
            }
        }
        Ok(ValueList { id: id.to_owned(), kind, name: id.to_owned(), values })
    }
}

/// Exception lists and value lists, as loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exceptions {
    /// Exception lists.
    pub lists: Vec<ExceptionList>,
    /// Value lists.
    pub value_lists: Vec<ValueList>,
}

impl Exceptions {
    /// The list a rule's reference names: by `list_id` and namespace.
    pub fn find(&self, reference: &ListRef) -> Option<&ExceptionList> {
        self.lists.iter().find(|l| l.list_id == reference.list_id && l.namespace_type == reference.namespace_type)
    }

    /// The value list with this id.
    pub fn value_list(&self, id: &str) -> Option<&ValueList> {
        self.value_lists.iter().find(|l| l.id == id)
    }

    /// Adds `other`; a list (by `list_id` and namespace) or value list (by id) given again
    /// replaces the earlier one, as a second import does in Kibana.
    pub fn extend(&mut self, other: Exceptions) {
        for list in other.lists {
            self.lists.retain(|l| !(l.list_id == list.list_id && l.namespace_type == list.namespace_type));
            self.lists.push(list);
        }
        for list in other.value_lists {
            self.value_lists.retain(|l| l.id != list.id);
            self.value_lists.push(list);
        }
    }
}

/// What loading exception files gave: the lists of every file that had no error, and every
/// problem met.
#[derive(Debug, Default)]
pub struct LoadedExceptions {
    /// The lists.
    pub exceptions: Exceptions,
    /// Problems, in file order; a file with an error contributes nothing.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadedExceptions {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The two forms exception lists are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Kibana's export: NDJSON, a line per list and per item, and the export summary.
    Ndjson,
    /// vigil's TOML: `[[lists]]`, `[[lists.items]]`, `[[value_lists]]`.
    Toml,
}

impl Form {
    /// The form of a file, by its extension (`.toml`, else NDJSON).
    pub fn of(path: &Path) -> Form {
        if path.extension().is_some_and(|e| e == "toml") { Form::Toml } else { Form::Ndjson }
    }
}

/// Reads `text` in `form`, with diagnostics naming `path`. Text from elsewhere than a file
/// (a request, the store) reads no file: a TOML value list gives its `values`. Use the lists
/// only when no diagnostic is an error.
pub fn parse(path: &Path, text: &str, form: Form) -> (Exceptions, Vec<Diagnostic>) {
    match form {
        Form::Ndjson => parse_ndjson(path, text),
        Form::Toml => parse_toml(path, text, None),
    }
}

/// Loads exception files (`.ndjson`/`.json`: Kibana exports; `.toml`: vigil's form), or every
/// such file below a folder, in path order.
pub fn load_exceptions(path: &Path) -> LoadedExceptions {
    let mut files = Vec::new();
    crate::load::collect_files(path, &mut files);
    if files.is_empty() && !path.is_dir() {
        files.push(path.to_owned());
    }
    let mut loaded = LoadedExceptions::default();
    for file in files {
        let (exceptions, diagnostics) = match std::fs::read_to_string(&file) {
            // A TOML file's value lists may name files beside it.
            Ok(text) if Form::of(&file) == Form::Toml => parse_toml(&file, &text, file.parent()),
            Ok(text) => parse_ndjson(&file, &text),
            Err(err) => {
                let source = Source { path: file.clone(), text: "" };
                (Exceptions::default(), vec![source.diagnostic(Level::Error, Problem::Io(err.to_string()), None)])
            }
        };
        if !diagnostics.iter().any(Diagnostic::is_error) {
            loaded.exceptions.extend(exceptions);
        }
        loaded.diagnostics.extend(diagnostics);
    }
    loaded
}

/// Where problems about one object are put: the bytes of the line (NDJSON) or of each key and
/// value by dotted path (TOML).
struct Place<'a> {
    source: &'a Source<'a>,
    /// Byte ranges by path, for TOML; empty for a line.
    spans: &'a HashMap<String, (Range<usize>, Range<usize>)>,
    /// The line, for NDJSON.
    line: Option<Range<usize>>,
    /// The object's path prefix in the TOML (`lists.0.`).
    prefix: String,
}

impl Place<'_> {
    fn error(&self, path: &str, problem: Problem) -> Diagnostic {
        let span = match &self.line {
            Some(line) => {
                // The key's place in the line, for the caret; else the line's start.
                let key = path.rsplit('.').find(|p| p.parse::<usize>().is_err()).unwrap_or(path);
                let text = self.source.text.get(line.clone()).unwrap_or_default();
                let at = text.find(&format!("\"{key}\"")).map_or(line.start, |at| line.start + at);
                at..at + key.len() + 2
            }
            None => {
                let full = format!("{}{path}", self.prefix);
                let mut probe = full.as_str();
                loop {
                    if let Some((_, value)) = self.spans.get(probe) {
                        break value.clone();
                    }
                    match probe.rsplit_once('.') {
                        Some((parent, _)) => probe = parent,
                        None => break 0..0,
                    }
                }
            }
        };
        self.source.diagnostic(Level::Error, problem, Some(span))
    }
}

/// Reads what a JSON object holds at `key`, with errors at its place.
struct Reader<'a, 'p> {
    object: &'a Map<String, Value>,
    place: &'p Place<'p>,
    /// The object's path below the place's prefix (`items.0.`).
    path: String,
    errors: &'p mut Vec<Diagnostic>,
}

impl Reader<'_, '_> {
    fn at(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }

    fn fail(&mut self, key: &str, problem: Problem) {
        let path = self.at(key);
        self.errors.push(self.place.error(&path, problem));
    }

    fn text(&mut self, key: &'static str, required: bool) -> Option<String> {
        match self.object.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                self.fail(key, Problem::Missing(key));
                None
            }
            Some(_) => {
                self.fail(key, Problem::WrongType { key: key.into(), expected: "a string" });
                None
            }
        }
    }

    fn texts(&mut self, key: &'static str) -> Vec<String> {
        match self.object.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
            }
            Some(_) => {
                self.fail(key, Problem::WrongType { key: key.into(), expected: "a list of strings" });
                Vec::new()
            }
        }
    }

    fn flag(&mut self, key: &'static str) -> bool {
        match self.object.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.fail(key, Problem::WrongType { key: key.into(), expected: "true or false" });
                false
            }
        }
    }

    fn namespace(&mut self) -> NamespaceType {
        match self.text("namespace_type", false) {
            None => NamespaceType::Single,
            Some(text) => NamespaceType::parse(&text).unwrap_or_else(|| {
                self.fail(
                    "namespace_type",
                    Problem::Invalid(format!("namespace_type `{text}`: expected single or agnostic")),
                );
                NamespaceType::Single
            }),
        }
    }
}

/// An item's or list's fields that both hold.
fn list_of(reader: &mut Reader<'_, '_>, origin: String) -> ExceptionList {
    ExceptionList {
        id: reader.text("id", false),
        list_id: reader.text("list_id", true).unwrap_or_default(),
        namespace_type: reader.namespace(),
        kind: reader.text("type", false).unwrap_or_else(|| "detection".into()),
        name: reader.text("name", false).unwrap_or_default(),
        description: reader.text("description", false).unwrap_or_default(),
        os_types: reader.texts("os_types"),
        tags: reader.texts("tags"),
        items: Vec::new(),
        rules: reader.texts("rules"),
        origin,
    }
}

fn item_of(reader: &mut Reader<'_, '_>, catalog: &Catalog) -> ExceptionItem {
    let expire_time = reader.text("expire_time", false).and_then(|t| {
        let parsed = Timestamp::parse(&t, false);
        if parsed.is_none() {
            reader.fail("expire_time", Problem::Invalid(format!("expire_time `{t}` is not an ISO 8601 date")));
        }
        parsed
    });
    let comments = match reader.object.get("comments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|c| match c {
                Value::String(text) => Some(Comment { comment: text.clone(), created_by: None, created_at: None }),
                Value::Object(map) => Some(Comment {
                    comment: map.get("comment").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    created_by: map.get("created_by").and_then(Value::as_str).map(str::to_owned),
                    created_at: map.get("created_at").and_then(Value::as_str).map(str::to_owned),
                }),
                _ => None,
            })
            .collect(),
        Some(_) => {
            reader.fail("comments", Problem::WrongType { key: "comments".into(), expected: "a list" });
            Vec::new()
        }
    };
    let entries = entries_of(reader, "entries", catalog, "", false);
    ExceptionItem {
        id: reader.text("id", false),
        item_id: reader.text("item_id", true).unwrap_or_default(),
        name: reader.text("name", false).unwrap_or_default(),
        description: reader.text("description", false).unwrap_or_default(),
        entries,
        expire_time,
        comments,
        os_types: reader.texts("os_types"),
        tags: reader.texts("tags"),
    }
}

/// The entries under `key`; `parent` is the nested field they are relative to.
fn entries_of(
    reader: &mut Reader<'_, '_>,
    key: &'static str,
    catalog: &Catalog,
    parent: &str,
    nested: bool,
) -> Vec<Entry> {
    let items = match reader.object.get(key) {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            reader.fail(key, Problem::Invalid(format!("`{key}` must hold at least one entry")));
            return Vec::new();
        }
        Some(_) => {
            reader.fail(key, Problem::WrongType { key: key.into(), expected: "a list of entries" });
            return Vec::new();
        }
    };
    let mut entries = Vec::new();
    for (at, item) in items.iter().enumerate() {
        let Value::Object(object) = item else {
            reader.fail(&format!("{key}.{at}"), Problem::WrongType { key: key.into(), expected: "a list of tables" });
            continue;
        };
        let path = format!("{}{key}.{at}.", reader.path);
        let mut inner = Reader { object, place: reader.place, path, errors: reader.errors };
        if let Some(entry) = entry_of(&mut inner, catalog, parent, nested) {
            entries.push(entry);
        }
    }
    entries
}

fn entry_of(reader: &mut Reader<'_, '_>, catalog: &Catalog, parent: &str, nested: bool) -> Option<Entry> {
    let field = reader.text("field", true)?;
    if field.trim().is_empty() {
        reader.fail("field", Problem::Invalid("an entry's `field` is empty".into()));
        return None;
    }
    let kind_name = reader.text("type", true)?;
    let operator = match reader.text("operator", kind_name != "nested").as_deref() {
        None | Some("included") => Operator::Included,
        Some("excluded") => Operator::Excluded,
        Some(other) => {
            reader.fail("operator", Problem::Invalid(format!("operator `{other}`: expected included or excluded")));
            return None;
        }
    };
    let full = if parent.is_empty() { field.clone() } else { format!("{parent}.{field}") };
    let case_insensitive = reader.flag("case_insensitive");
    let kind = match kind_name.as_str() {
        "match" | "wildcard" => {
            let value = reader.text("value", true)?;
            if value.is_empty() {
                reader.fail("value", Problem::Invalid("an entry's `value` is empty".into()));
                return None;
            }
            if kind_name == "match" {
                if let Err(why) = fits(catalog, &full, &value) {
                    reader.fail("value", Problem::Invalid(why));
                    return None;
                }
                EntryKind::Match { value, case_insensitive }
            } else {
                EntryKind::Wildcard { value, case_insensitive }
            }
        }
        "match_any" => {
            let values = reader.texts("value");
            if values.is_empty() || values.iter().any(String::is_empty) {
                reader.fail("value", Problem::Invalid("a match_any entry needs one or more non-empty values".into()));
                return None;
            }
            if let Some(why) = values.iter().find_map(|v| fits(catalog, &full, v).err()) {
                reader.fail("value", Problem::Invalid(why));
                return None;
            }
            EntryKind::MatchAny { values, case_insensitive }
        }
        "exists" => EntryKind::Exists,
        "list" if !nested => {
            let Some(Value::Object(list)) = reader.object.get("list") else {
                reader.fail("list", Problem::Invalid("a list entry needs `list` with its `id` and `type`".into()));
                return None;
            };
            let id = list.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let kind = list.get("type").and_then(Value::as_str).and_then(ValueListType::parse);
            match kind {
                Some(kind) if !id.is_empty() => EntryKind::List { id, kind },
                _ => {
                    let why = "a list entry's `list` needs an `id` and a `type` (keyword, ip, ip_range or text)";
                    reader.fail("list", Problem::Invalid(why.into()));
                    return None;
                }
            }
        }
        "nested" if !nested => {
            let entries = entries_of(reader, "entries", catalog, &full, true);
            if entries.is_empty() {
                return None;
            }
            EntryKind::Nested { entries }
        }
        other => {
            let allowed = if nested {
                "match, match_any or exists"
            } else {
                "match, match_any, wildcard, exists, list or nested"
            };
            reader.fail("type", Problem::Invalid(format!("entry type `{other}`: expected {allowed}")));
            return None;
        }
    };
    Some(Entry { field, operator, kind })
}

/// Why a field of the catalog's type cannot hold `value`, if it cannot (Elasticsearch would
/// refuse the query).
fn fits(catalog: &Catalog, field: &str, value: &str) -> Result<(), String> {
    let Some((ty, _)) = catalog.type_of(field) else { return Ok(()) };
    let bad = |what: &str| Err(format!("`{field}` is {what} field: `{value}` is not {what} value"));
    match ty {
        FieldType::Ip if ip_or_cidr(value).is_err() => bad("an ip"),
        FieldType::Long | FieldType::Integer if value.trim().parse::<i64>().is_err() => bad("an integer"),
        FieldType::Float if value.trim().parse::<f64>().is_err() => bad("a number"),
        FieldType::Boolean if !matches!(value, "true" | "false") => bad("a boolean"),
        FieldType::Date | FieldType::DateNanos if Timestamp::parse(value, false).is_none() => bad("a date"),
        _ => Ok(()),
    }
}

/// An item from its JSON (Kibana's shape: `item_id`, `name`, `entries`, ...), checked as an
/// import checks it.
///
/// # Errors
///
/// Every problem, as `item:1:column: error: ...` lines.
pub fn item_from_json(text: &str) -> Result<ExceptionItem, String> {
    let source = Source { path: PathBuf::from("item"), text };
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err("an exception item must be a JSON object".into()),
        Err(err) => return Err(format!("invalid JSON: {err}")),
    };
    let no_spans = HashMap::new();
    let place = Place { source: &source, spans: &no_spans, line: Some(0..text.len()), prefix: String::new() };
    let mut errors = Vec::new();
    let mut reader = Reader { object: &object, place: &place, path: String::new(), errors: &mut errors };
    let item = item_of(&mut reader, Catalog::builtin());
    if errors.is_empty() {
        return Ok(item);
    }
    Err(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
}

/// The JSON of `item` as Kibana shapes it (without its list's fields).
pub fn item_to_json(item: &ExceptionItem) -> Value {
    let list = ExceptionList {
        id: None,
        list_id: String::new(),
        namespace_type: NamespaceType::Single,
        kind: String::new(),
        name: String::new(),
        description: String::new(),
        os_types: Vec::new(),
        tags: Vec::new(),
        items: Vec::new(),
        rules: Vec::new(),
        origin: String::new(),
    };
    Value::Object(item_json(&list, item, false))
}

/// The JSON of `list` as Kibana shapes it, with its items (under `items`) and the rules it
/// names (under `rules`, vigil's addition).
pub fn list_to_json(list: &ExceptionList) -> Value {
    let mut out = list_json(list);
    out.insert("rules".into(), json!(list.rules));
    out.insert(
        "items".into(),
        Value::Array(list.items.iter().map(|i| Value::Object(item_json(list, i, false))).collect()),
    );
    Value::Object(out)
}

/// What one Kibana export line is.
enum Line {
    List(ExceptionList),
    Item(String, NamespaceType, ExceptionItem),
    Summary,
}

/// Reads a Kibana exception list export: lists, their items (after or before them), and the
/// trailing export summary.
fn parse_ndjson(path: &Path, text: &str) -> (Exceptions, Vec<Diagnostic>) {
    let source = Source { path: path.to_owned(), text };
    let catalog = Catalog::builtin();
    let (mut lists, mut items, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    let no_spans = HashMap::new();
    let mut offset = 0;
    for (at, line) in text.split_inclusive('\n').enumerate() {
        let span = offset..offset + line.trim_end().len();
        offset += line.len();
        if line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                let problem = Problem::Syntax("an export line must be a JSON object".into());
                errors.push(source.diagnostic(Level::Error, problem, Some(span)));
                continue;
            }
            Err(err) => {
                let problem = Problem::Syntax(format!("invalid JSON: {err}"));
                let column = line.char_indices().nth(err.column().saturating_sub(1)).map_or(0, |(at, _)| at);
                errors.push(source.diagnostic(
                    Level::Error,
                    problem,
                    Some(span.start + column..span.start + column + 1),
                ));
                continue;
            }
        };
        let place = Place { source: &source, spans: &no_spans, line: Some(span), prefix: String::new() };
        let origin = format!("{}:{}", path.display(), at + 1);
        match line_of(&object, &place, origin, catalog, &mut errors) {
            Some(Line::List(list)) => lists.push((at + 1, list)),
            Some(Line::Item(list_id, namespace, item)) => items.push((at + 1, list_id, namespace, item)),
            Some(Line::Summary) | None => {}
        }
    }
    let mut exceptions = Exceptions::default();
    for (_, list) in lists {
        exceptions.lists.push(list);
    }
    for (line, list_id, namespace, item) in items {
        match exceptions.lists.iter_mut().find(|l| l.list_id == list_id && l.namespace_type == namespace) {
            Some(list) => list.items.push(item),
            None => {
                let problem = Problem::Invalid(format!(
                    "item `{}` belongs to list `{list_id}`, which the file does not hold",
                    item.item_id
                ));
                let start = text.split_inclusive('\n').take(line - 1).map(str::len).sum::<usize>();
                errors.push(source.diagnostic(Level::Error, problem, Some(start..start + 1)));
            }
        }
    }
    check_unique(&exceptions, &source, &mut errors);
    (exceptions, errors)
}

fn line_of(
    object: &Map<String, Value>,
    place: &Place<'_>,
    origin: String,
    catalog: &Catalog,
    errors: &mut Vec<Diagnostic>,
) -> Option<Line> {
    if object.contains_key("exported_exception_list_count") || object.contains_key("exported_count") {
        return Some(Line::Summary);
    }
    let before = errors.len();
    let mut reader = Reader { object, place, path: String::new(), errors };
    let line = if object.contains_key("item_id") || object.contains_key("entries") {
        let list_id = reader.text("list_id", true).unwrap_or_default();
        let namespace = reader.namespace();
        let item = item_of(&mut reader, catalog);
        Line::Item(list_id, namespace, item)
    } else {
        Line::List(list_of(&mut reader, origin))
    };
    (errors.len() == before).then_some(line)
}

/// vigil's TOML form: `[[lists]]` with `[[lists.items]]` and their `entries`, and
/// `[[value_lists]]` with `values`, or a `file` of one value per line in `folder` (when the text
/// came from a file; else a `file` is refused).
fn parse_toml(path: &Path, text: &str, folder: Option<&Path>) -> (Exceptions, Vec<Diagnostic>) {
    let source = Source { path: path.to_owned(), text };
    let table = match toml::de::DeTable::parse(text) {
        Ok(table) => table,
        Err(err) => {
            let problem = Problem::Syntax(err.message().to_owned());
            return (Exceptions::default(), vec![source.diagnostic(Level::Error, problem, err.span())]);
        }
    };
    let mut spans = HashMap::new();
    let document = crate::load::to_json(table.get_ref(), "", &mut spans);
    let catalog = Catalog::builtin();
    let mut errors = Vec::new();
    let mut exceptions = Exceptions::default();
    let root = Place { source: &source, spans: &spans, line: None, prefix: String::new() };
    for key in document.as_object().into_iter().flat_map(|m| m.keys()) {
        if key != "lists" && key != "value_lists" {
            let problem = Problem::UnknownKey { table: "exceptions".into(), key: key.clone() };
            let span = spans.get(key.as_str()).map(|(k, _)| k.clone());
            errors.push(source.diagnostic(Level::Error, problem, span));
        }
    }
    let tables = |key: &str| document.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    for (at, list) in tables("lists").iter().enumerate() {
        let Value::Object(object) = list else {
            errors.push(
                root.error(&format!("lists.{at}"), Problem::WrongType { key: "lists".into(), expected: "tables" }),
            );
            continue;
        };
        let place = Place { source: &source, spans: &spans, line: None, prefix: format!("lists.{at}.") };
        let line = spans
            .get(&format!("lists.{at}"))
            .map_or(0, |(span, _)| text.get(..span.start).unwrap_or(text).lines().count() + 1);
        let mut reader = Reader { object, place: &place, path: String::new(), errors: &mut errors };
        let mut parsed = list_of(&mut reader, format!("{}:{line}", path.display()));
        let items = object.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        for (n, item) in items.iter().enumerate() {
            let Value::Object(item) = item else { continue };
            let mut reader = Reader { object: item, place: &place, path: format!("items.{n}."), errors: &mut errors };
            parsed.items.push(item_of(&mut reader, catalog));
        }
        exceptions.lists.push(parsed);
    }
    for (at, list) in tables("value_lists").iter().enumerate() {
        let Value::Object(object) = list else { continue };
        let place = Place { source: &source, spans: &spans, line: None, prefix: format!("value_lists.{at}.") };
        let mut reader = Reader { object, place: &place, path: String::new(), errors: &mut errors };
        let id = reader.text("id", true).unwrap_or_default();
        let kind_name = reader.text("type", true).unwrap_or_default();
        let name = reader.text("name", false).unwrap_or_else(|| id.clone());
        let Some(kind) = ValueListType::parse(&kind_name) else {
            let why = format!("value list type `{kind_name}`: expected keyword, ip, ip_range or text");
            reader.fail("type", Problem::Invalid(why));
            continue;
        };
        let lines = match (reader.object.get("values"), reader.text("file", false)) {
            (Some(Value::Array(values)), None) => values
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("\n"),
            (None, Some(file)) => {
                let Some(folder) = folder else {
                    let why = "a value list sent here gives its `values`, not a `file`";
                    reader.fail("file", Problem::Invalid(why.into()));
                    continue;
                };
                match std::fs::read_to_string(folder.join(&file)) {
                    Ok(text) => text,
                    Err(err) => {
                        reader.fail("file", Problem::Io(format!("{file}: {err}")));
                        continue;
                    }
                }
            }
            _ => {
                reader.fail("values", Problem::Invalid("a value list needs `values` or a `file`, not both".into()));
                continue;
            }
        };
        match ValueList::from_lines(&id, kind, &lines) {
            Ok(mut list) => {
                list.name = name;
                exceptions.value_lists.push(list);
            }
            Err(why) => reader.fail("values", Problem::Invalid(format!("value list `{id}`: {why}"))),
        }
    }
    check_unique(&exceptions, &source, &mut errors);
    (exceptions, errors)
}

/// Two lists with one `list_id` and namespace, or two items with one `item_id` in a list.
fn check_unique(exceptions: &Exceptions, source: &Source<'_>, errors: &mut Vec<Diagnostic>) {
    let mut lists = std::collections::HashSet::new();
    for list in &exceptions.lists {
        if !lists.insert((&list.list_id, list.namespace_type)) {
            let problem = Problem::Invalid(format!("list `{}` is given twice", list.list_id));
            errors.push(source.diagnostic(Level::Error, problem, None));
        }
        let mut items = std::collections::HashSet::new();
        for item in &list.items {
            if !items.insert(&item.item_id) {
                let problem =
                    Problem::Invalid(format!("list `{}`: item `{}` is given twice", list.list_id, item.item_id));
                errors.push(source.diagnostic(Level::Error, problem, None));
            }
        }
    }
}

/// A rule's `exceptions_list` references.
///
/// # Errors
///
/// Says which reference is malformed.
pub fn list_refs(rule_fields: &Value) -> Result<Vec<ListRef>, String> {
    let Some(refs) = rule_fields.get("exceptions_list") else { return Ok(Vec::new()) };
    let Value::Array(refs) = refs else { return Err("`exceptions_list` must be a list".into()) };
    refs.iter()
        .enumerate()
        .map(|(at, r)| {
            let text = |key: &str| r.get(key).and_then(Value::as_str).map(str::to_owned);
            let list_id = text("list_id").ok_or_else(|| format!("exceptions_list {}: no `list_id`", at + 1))?;
            let namespace = text("namespace_type").unwrap_or_else(|| "single".into());
            Ok(ListRef {
                id: text("id").unwrap_or_else(|| list_id.clone()),
                namespace_type: NamespaceType::parse(&namespace)
                    .ok_or_else(|| format!("exceptions_list {}: namespace_type `{namespace}`", at + 1))?,
                kind: text("type").unwrap_or_else(|| "detection".into()),
                list_id,
            })
        })
        .collect()
}

fn entry_json(entry: &Entry) -> Value {
    let mut out = Map::new();
    out.insert("field".into(), json!(entry.field));
    let (kind, case_insensitive) = match &entry.kind {
        EntryKind::Match { value, case_insensitive } => {
            out.insert("value".into(), json!(value));
            ("match", *case_insensitive)
        }
        EntryKind::MatchAny { values, case_insensitive } => {
            out.insert("value".into(), json!(values));
            ("match_any", *case_insensitive)
        }
        EntryKind::Wildcard { value, case_insensitive } => {
            out.insert("value".into(), json!(value));
            ("wildcard", *case_insensitive)
        }
        EntryKind::Exists => ("exists", false),
        EntryKind::List { id, kind } => {
            out.insert("list".into(), json!({"id": id, "type": kind.as_str()}));
            ("list", false)
        }
        EntryKind::Nested { entries } => {
            out.insert("entries".into(), Value::Array(entries.iter().map(entry_json).collect()));
            ("nested", false)
        }
    };
    out.insert("type".into(), json!(kind));
    if !matches!(entry.kind, EntryKind::Nested { .. }) {
        out.insert("operator".into(), json!(entry.operator.as_str()));
    }
    if case_insensitive {
        out.insert("case_insensitive".into(), json!(true));
    }
    Value::Object(out)
}

fn list_json(list: &ExceptionList) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(id) = &list.id {
        out.insert("id".into(), json!(id));
    }
    out.insert("list_id".into(), json!(list.list_id));
    out.insert("name".into(), json!(list.name));
    out.insert("description".into(), json!(list.description));
    out.insert("type".into(), json!(list.kind));
    out.insert("namespace_type".into(), json!(list.namespace_type.as_str()));
    out.insert("os_types".into(), json!(list.os_types));
    out.insert("tags".into(), json!(list.tags));
    out
}

fn item_json(list: &ExceptionList, item: &ExceptionItem, with_list: bool) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(id) = &item.id {
        out.insert("id".into(), json!(id));
    }
    out.insert("item_id".into(), json!(item.item_id));
    if with_list {
        out.insert("list_id".into(), json!(list.list_id));
        out.insert("namespace_type".into(), json!(list.namespace_type.as_str()));
        out.insert("type".into(), json!("simple"));
    }
    out.insert("name".into(), json!(item.name));
    out.insert("description".into(), json!(item.description));
    out.insert("entries".into(), Value::Array(item.entries.iter().map(entry_json).collect()));
    let comments: Vec<Value> = item
        .comments
        .iter()
        .map(|c| {
            let mut comment = Map::new();
            comment.insert("comment".into(), json!(c.comment));
            if let Some(by) = &c.created_by {
                comment.insert("created_by".into(), json!(by));
            }
            if let Some(at) = &c.created_at {
                comment.insert("created_at".into(), json!(at));
            }
            Value::Object(comment)
        })
        .collect();
    out.insert("comments".into(), Value::Array(comments));
    if let Some(expire) = item.expire_time {
        out.insert("expire_time".into(), json!(expire.to_string()));
    }
    out.insert("os_types".into(), json!(item.os_types));
    out.insert("tags".into(), json!(item.tags));
    out
}

/// Kibana's export of `lists`: each list, then its items, then the export summary.
pub fn to_ndjson(lists: &[ExceptionList]) -> String {
    let mut out = String::new();
    let mut items = 0;
    for list in lists {
        out.push_str(&Value::Object(list_json(list)).to_string());
        out.push('\n');
        for item in &list.items {
            out.push_str(&Value::Object(item_json(list, item, true)).to_string());
            out.push('\n');
            items += 1;
        }
    }
    let summary = json!({
        "exported_exception_list_count": lists.len(),
        "exported_exception_list_item_count": items,
        "missing_exception_list_item_count": 0,
        "missing_exception_list_items": [],
        "missing_exception_lists": [],
        "missing_exception_lists_count": 0
    });
    out.push_str(&summary.to_string());
    out.push('\n');
    out
}

/// vigil's TOML form of `exceptions`, for git.
pub fn to_toml(exceptions: &Exceptions) -> String {
    let lists: Vec<Value> = exceptions
        .lists
        .iter()
        .map(|list| {
            let mut out = list_json(list);
            if !list.rules.is_empty() {
                out.insert("rules".into(), json!(list.rules));
            }
            let items = list.items.iter().map(|item| Value::Object(item_json(list, item, false))).collect();
            out.insert("items".into(), Value::Array(items));
            Value::Object(out)
        })
        .collect();
    let value_lists: Vec<Value> = exceptions
        .value_lists
        .iter()
        .map(|l| json!({"id": l.id, "type": l.kind.as_str(), "name": l.name, "values": l.values}))
        .collect();
    let mut root = Map::new();
    if !lists.is_empty() {
        root.insert("lists".into(), Value::Array(lists));
    }
    if !value_lists.is_empty() {
        root.insert("value_lists".into(), Value::Array(value_lists));
    }
    toml::to_string_pretty(&Value::Object(root)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: &str = r#"{"id":"9e1c","list_id":"dkim-maintenance","name":"DKIM maintenance","description":"Planned DKIM work","type":"detection","namespace_type":"single","os_types":[],"tags":["o365"]}
{"id":"a1","item_id":"test-tenant","list_id":"dkim-maintenance","namespace_type":"single","type":"simple","name":"Test tenant","description":"","entries":[{"field":"organization.id","operator":"included","type":"match","value":"t-test"}],"comments":[{"comment":"approved by the mail team","created_by":"alice"}],"os_types":[],"tags":[]}
{"id":"a2","item_id":"rotation","list_id":"dkim-maintenance","namespace_type":"single","type":"simple","name":"Key rotation account","description":"","entries":[{"field":"user.name","operator":"included","type":"match_any","value":["svc-dkim","svc-mail"]},{"field":"source.ip","operator":"excluded","type":"list","list":{"id":"office-ips","type":"ip_range"}}],"expire_time":"2027-01-01T00:00:00.000Z","comments":[],"os_types":[],"tags":[]}
{"exported_exception_list_count":1,"exported_exception_list_item_count":2,"missing_exception_list_item_count":0,"missing_exception_list_items":[],"missing_exception_lists":[],"missing_exception_lists_count":0}
"#;

    #[test]
    fn kibana_exports_read_and_write_back() {
        let (exceptions, errors) = parse_ndjson(Path::new("export.ndjson"), EXPORT);
        assert!(errors.is_empty(), "{errors:?}");
        let list = &exceptions.lists[0];
        assert_eq!(
            (list.list_id.as_str(), list.namespace_type, list.items.len()),
            ("dkim-maintenance", NamespaceType::Single, 2)
        );
        let rotation = &list.items[1];
        assert_eq!(rotation.entries[1].operator, Operator::Excluded);
        assert_eq!(rotation.entries[1].kind, EntryKind::List { id: "office-ips".into(), kind: ValueListType::IpRange });
        assert!(rotation.applies_at(Timestamp::parse("2026-12-03T00:00:00Z", false).expect("a date")));
        assert!(!rotation.applies_at(Timestamp::parse("2027-02-01T00:00:00Z", false).expect("a date")));
        assert_eq!(list.items[0].comments[0].created_by.as_deref(), Some("alice"));
        // Written back, it reads the same; the summary counts what was written.
        let again = to_ndjson(&exceptions.lists);
        assert!(again.lines().last().is_some_and(|l| l.contains(r#""exported_exception_list_item_count":2"#)));
        let (reread, errors) = parse_ndjson(Path::new("again.ndjson"), &again);
        assert!(errors.is_empty(), "{errors:?}");
        let strip = |mut e: Exceptions| {
            e.lists.iter_mut().for_each(|l| l.origin.clear());
            e
        };
        assert_eq!(strip(reread), strip(exceptions.clone()));
        // And so does the TOML form.
        let toml = to_toml(&exceptions);
        let (from_toml, errors) = parse_toml(Path::new("lists.toml"), &toml, None);
        assert!(errors.is_empty(), "{errors:?}\n{toml}");
        assert_eq!(strip(from_toml), strip(exceptions));
    }

    #[test]
    fn bad_entries_are_refused_with_their_place() {
        let toml = "[[lists]]\nlist_id = \"l\"\n\n[[lists.items]]\nitem_id = \"i\"\nentries = [\n  { field = \"source.ip\", type = \"match\", operator = \"included\", value = \"not-an-ip\" },\n]\n";
        let (_, errors) = parse_toml(Path::new("bad.toml"), toml, None);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = errors[0].to_string();
        assert!(text.starts_with("bad.toml:7:"), "{text}");
        assert!(text.contains("`source.ip` is an ip field: `not-an-ip` is not an ip value"), "{text}");
        let line = r#"{"item_id":"i","list_id":"l","entries":[{"field":"a","operator":"sometimes","type":"match","value":"x"}]}"#;
        let (_, errors) = parse_ndjson(Path::new("bad.ndjson"), line);
        assert!(errors[0].to_string().starts_with("bad.ndjson:1:"), "{errors:?}");
        assert!(errors[0].to_string().contains("operator `sometimes`"));
        let (_, errors) = parse_ndjson(
            Path::new("orphan.ndjson"),
            r#"{"item_id":"i","list_id":"none","entries":[{"field":"a","type":"exists","operator":"included"}]}"#,
        );
        assert!(errors[0].to_string().contains("which the file does not hold"), "{errors:?}");
        let (_, errors) = parse_toml(Path::new("syntax.toml"), "[[lists]\n", None);
        assert!(errors[0].to_string().starts_with("syntax.toml:1:"), "{errors:?}");
    }

    #[test]
    fn value_lists_refuse_values_their_type_cannot_hold() {
        let list = ValueList::from_lines(
            "office",
            ValueListType::IpRange,
            "10.0.0.0/8\n\n192.168.1.1-192.168.1.9\n10.0.0.0/8\n",
        )
        .expect("valid");
        assert_eq!(list.values, ["10.0.0.0/8", "192.168.1.1-192.168.1.9"]);
        let bad = ValueList::from_lines("office", ValueListType::Ip, "10.0.0.1\nnope\n");
        assert_eq!(bad.err().as_deref(), Some("line 2: `nope` is not an IP address or CIDR network"));
        assert!(ValueListType::IpRange.check("10.0.0.1-::1").is_err());
    }

    #[test]
    fn rules_refer_to_lists_by_list_id_and_namespace() {
        let fields = json!({"exceptions_list": [{"id": "endpoint_list", "list_id": "endpoint_list", "namespace_type": "agnostic", "type": "endpoint"}]});
        let refs = list_refs(&fields).expect("valid");
        assert_eq!((refs[0].list_id.as_str(), refs[0].namespace_type), ("endpoint_list", NamespaceType::Agnostic));
        assert!(list_refs(&json!({"exceptions_list": [{"id": "x"}]})).is_err());
        assert_eq!(list_refs(&json!({})), Ok(Vec::new()));
    }
}
