//! Loading rules: detection-rules TOML files, Kibana NDJSON exports, folders, the built-in pack.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, Level, Problem, Source};
use crate::model::{Origin, Rule};
use crate::validate::{Checker, METADATA_KEYS, Spans, StringText, validate};

/// The rules that loaded, and every problem met on the way (errors and warnings).
#[derive(Debug, Default)]
pub struct Loaded {
    /// Rules that passed validation, in file order.
    pub rules: Vec<Rule>,
    /// Problems, in file order; an error means a rule (or file) did not load.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    fn extend(&mut self, other: Loaded) {
        self.rules.extend(other.rules);
        self.diagnostics.extend(other.diagnostics);
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads a rule file (`.toml`, or `.ndjson`/`.json` Kibana export) or every such file below a
/// folder, in path order. A file that fails never stops the others.
pub fn load_path(path: &Path) -> Loaded {
    let mut files = Vec::new();
    collect_files(path, &mut files);
    let mut loaded = Loaded::default();
    if files.is_empty() && !path.is_dir() {
        files.push(path.to_owned());
    }
    for file in files {
        loaded.extend(load_file(&file));
    }
    loaded
}

/// Rule (and exception list) files below `path`, `.toml`, `.ndjson` and `.json`, in path order;
/// `<rule>.tests` folders hold test events, not rules.
pub(crate) fn collect_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        if path.extension().is_some_and(|e| e == "tests") {
            return;
        }
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path).into_iter().flatten().flatten().map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            collect_files(&entry, out);
        }
    } else if path.extension().is_some_and(|e| e == "toml" || e == "ndjson" || e == "json") {
        out.push(path.to_owned());
    }
}

/// Loads one file, by its extension: `.toml` is a detection-rules file, anything else a Kibana
/// rule export (one rule per line).
pub fn load_file(path: &Path) -> Loaded {
    match std::fs::read_to_string(path) {
        Ok(text) if path.extension().is_some_and(|e| e == "toml") => load_toml(path, &text),
        Ok(text) => load_ndjson(path, &text),
        Err(err) => {
            let source = Source { path: path.to_owned(), text: "" };
            Loaded {
                rules: vec![],
                diagnostics: vec![source.diagnostic(Level::Error, Problem::Io(err.to_string()), None)],
            }
        }
    }
}

/// Loads a detection-rules TOML file (`[metadata]`, `[rule]`, `[[rule.threat]]`, `[transform]`).
pub fn load_toml(path: &Path, text: &str) -> Loaded {
    load_toml_from(Origin::File { path: path.to_owned(), line: 1 }, path.to_owned(), text)
}

fn load_toml_from(origin: Origin, path: PathBuf, text: &str) -> Loaded {
    let source = Source { path, text };
    let table = match DeTable::parse(text) {
        Ok(table) => table,
        Err(err) => {
            let problem = Problem::Syntax(err.message().trim_end().to_owned());
            return Loaded { rules: vec![], diagnostics: vec![source.diagnostic(Level::Error, problem, err.span())] };
        }
    };
    let mut spans = HashMap::new();
    let document = to_json(table.get_ref(), "", &mut spans);
    let Value::Object(mut document) = document else { unreachable!("a TOML document is a table") };
    let spans = Spans::Toml(spans);
    let mut checker = Checker { source: &source, spans: &spans, prefix: "rule.", diagnostics: Vec::new() };
    let Some(Value::Object(fields)) = document.remove("rule") else {
        let diagnostic = source.diagnostic(Level::Error, Problem::NotARule, None);
        return Loaded { rules: vec![], diagnostics: vec![diagnostic] };
    };
    let mut metadata = match document.remove("metadata") {
        Some(Value::Object(metadata)) => metadata,
        _ => Map::new(),
    };
    for key in metadata.keys() {
        if !METADATA_KEYS.contains(&key.as_str()) {
            let span = spans.key(&format!("metadata.{key}"));
            let problem = Problem::UnknownKey { table: "metadata".into(), key: key.clone() };
            checker.diagnostics.push(source.diagnostic(Level::Warning, problem, span));
        }
    }
    if let Some(transform) = document.remove("transform") {
        metadata.insert("transform".into(), transform);
    }
    for key in document.keys() {
        let problem = Problem::UnknownKey { table: "top level".into(), key: key.clone() };
        checker.diagnostics.push(source.diagnostic(Level::Warning, problem, spans.key(key)));
    }
    let (rule, diagnostics) = validate(checker, fields, Value::Object(metadata), origin);
    Loaded { rules: rule.into_iter().collect(), diagnostics }
}

/// Where a TOML string's characters start, when they are written unescaped: always for literal
/// strings (`'...'`, `'''...'''`), for basic strings only without backslashes.
pub(crate) fn toml_string_start(text: &str, span: Range<usize>) -> StringText {
    let raw = text.get(span.clone()).unwrap_or_default();
    let (quote_len, literal) = if raw.starts_with("'''") {
        (3, true)
    } else if raw.starts_with("\"\"\"") {
        (3, false)
    } else if raw.starts_with('\'') {
        (1, true)
    } else {
        (1, false)
    };
    if !literal && raw.contains('\\') {
        return StringText::Escaped;
    }
    // A newline right after an opening triple quote is not part of the string.
    let after = &raw[quote_len.min(raw.len())..];
    let skip = if quote_len == 3 {
        if after.starts_with("\r\n") { 2 } else { usize::from(after.starts_with('\n')) }
    } else {
        0
    };
    StringText::At(span.start + quote_len + skip)
}

/// Converts TOML into JSON, recording the key and value span of every path (`rule.threat.0.tactic`).
pub(crate) fn to_json(
    table: &DeTable<'_>,
    prefix: &str,
    spans: &mut HashMap<String, (Range<usize>, Range<usize>)>,
) -> Value {
    let mut map = Map::new();
    for (key, value) in table {
        let path = format!("{prefix}{}", key.get_ref());
        spans.insert(path.clone(), (key.span(), value.span()));
        map.insert(key.get_ref().to_string(), value_to_json(value.get_ref(), &path, spans));
    }
    Value::Object(map)
}

fn value_to_json(value: &DeValue<'_>, path: &str, spans: &mut HashMap<String, (Range<usize>, Range<usize>)>) -> Value {
    match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            let (negative, digits) = match digits.strip_prefix('-') {
                Some(rest) => (true, rest.to_owned()),
                None => (false, digits.trim_start_matches('+').to_owned()),
            };
            let digits = digits.trim_start_matches("0x").trim_start_matches("0o").trim_start_matches("0b");
            match i64::from_str_radix(digits, i.radix()) {
                Ok(n) => Value::from(if negative { -n } else { n }),
                Err(_) => Value::String(i.as_str().to_owned()),
            }
        }
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = format!("{path}.{i}");
                    spans.insert(item_path.clone(), (item.span(), item.span()));
                    value_to_json(item.get_ref(), &item_path, spans)
                })
                .collect(),
        ),
        DeValue::Table(table) => to_json(table, &format!("{path}."), spans),
    }
}

/// Loads a Kibana rule export: one rule object per line; the export summary line
/// (`exported_count`) and blank lines are skipped.
pub fn load_ndjson(path: &Path, text: &str) -> Loaded {
    let source = Source { path: path.to_owned(), text };
    let mut loaded = Loaded::default();
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let span = offset..offset + line.trim_end().len();
        offset += line.len();
        if line.trim().is_empty() {
            continue;
        }
        let fields = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => {
                let problem = Problem::Syntax("a rule export line must be a JSON object".into());
                loaded.diagnostics.push(source.diagnostic(Level::Error, problem, Some(span)));
                continue;
            }
            Err(err) => {
                let problem = Problem::Syntax(format!("invalid JSON: {err}"));
                let at = span.start + line.char_indices().nth(err.column().saturating_sub(1)).map_or(0, |(at, _)| at);
                loaded.diagnostics.push(source.diagnostic(Level::Error, problem, Some(at..at + 1)));
                continue;
            }
        };
        if fields.contains_key("exported_count") {
            continue;
        }
        let spans = Spans::Line(span);
        let checker = Checker { source: &source, spans: &spans, prefix: "", diagnostics: Vec::new() };
        let origin = Origin::File { path: path.to_owned(), line: i + 1 };
        let (rule, diagnostics) = validate(checker, fields, Value::Object(Map::new()), origin);
        loaded.rules.extend(rule);
        loaded.diagnostics.extend(diagnostics);
    }
    loaded
}

/// The rules compiled into vigil (their test events are in [`PACK`](crate::PACK)).
pub fn builtin() -> Loaded {
    let mut loaded = Loaded::default();
    for rule in crate::pack::PACK {
        loaded.extend(load_toml_from(
            Origin::Builtin(rule.file),
            PathBuf::from(format!("built-in:{}", rule.file)),
            rule.toml,
        ));
    }
    loaded
}
