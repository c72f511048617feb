//! From a rule's fields (Kibana's JSON shape) to a validated [`Rule`], with every problem found.

use std::collections::HashMap;
use std::ops::Range;

use ecs::date::DateMath;
use serde_json::{Map, Value};

use crate::actions::Action;
use crate::diagnostic::{Diagnostic, Level, Problem, Snippet, Source};
use crate::duration::Interval;
use crate::model::{Origin, Rule, RuleId, RuleType, Severity};
use crate::query_filter::QueryFilter;
use crate::threat::Threat;

/// The keys of `[rule]` in Elastic's schema (and Kibana's rule API).
const RULE_KEYS: &[&str] = &[
    "actions",
    "alert_suppression",
    "anomaly_threshold",
    "author",
    "building_block_type",
    "concurrent_searches",
    "data_view_id",
    "description",
    "enabled",
    "event_category_override",
    "exceptions_list",
    "false_positives",
    "filters",
    "from",
    "history_window_start",
    "id",
    "index",
    "interval",
    "investigation_fields",
    "items_per_search",
    "language",
    "license",
    "machine_learning_job_id",
    "max_signals",
    "meta",
    "name",
    "namespace",
    "new_terms_fields",
    "new_terms",
    "note",
    "output_index",
    "query",
    "references",
    "related_integrations",
    "required_fields",
    "response_actions",
    "risk_score",
    "risk_score_mapping",
    "rule_id",
    "rule_name_override",
    "saved_id",
    "setup",
    "severity",
    "severity_mapping",
    "tags",
    "threat",
    "threat_filters",
    "threat_index",
    "threat_indicator_path",
    "threat_language",
    "threat_mapping",
    "threat_query",
    "threshold",
    "throttle",
    "tiebreaker_field",
    "timeline_id",
    "timeline_title",
    "timestamp_field",
    "timestamp_override",
    "timestamp_override_fallback_disabled",
    "to",
    "type",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "immutable",
    "rule_source",
    "revision",
    "execution_summary",
    "outcome",
    "alias_target_id",
    "alias_purpose",
];

/// The keys of `[metadata]` in detection-rules files.
pub(crate) const METADATA_KEYS: &[&str] = &[
    "bypass_bbr_timing",
    "comments",
    "creation_date",
    "deprecated_reason",
    "deprecation_date",
    "integration",
    "maturity",
    "min_stack_comments",
    "min_stack_version",
    "promotion",
    "query_schema_validation",
    "updated_date",
];

/// Where each field of a rule is in its file.
pub(crate) enum Spans {
    /// TOML: byte ranges of each key and value, by dotted path (`rule.threat.0.tactic.id`).
    Toml(HashMap<String, (Range<usize>, Range<usize>)>),
    /// NDJSON: the whole rule is one line.
    Line(Range<usize>),
}

impl Spans {
    pub(crate) fn value(&self, path: &str) -> Option<Range<usize>> {
        match self {
            Spans::Toml(map) => map.get(path).map(|(_, value)| value.clone()),
            Spans::Line(line) => Some(line.start..line.start),
        }
    }

    pub(crate) fn key(&self, path: &str) -> Option<Range<usize>> {
        match self {
            Spans::Toml(map) => map.get(path).map(|(key, _)| key.clone()),
            Spans::Line(line) => Some(line.start..line.start),
        }
    }
}

/// Collects problems for one rule.
pub(crate) struct Checker<'a> {
    pub(crate) source: &'a Source<'a>,
    pub(crate) spans: &'a Spans,
    /// `rule.` for TOML paths, `` for NDJSON.
    pub(crate) prefix: &'static str,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// Reports `problem` at the value of `key` (dotted), or of the nearest enclosing key the file
    /// has.
    fn at_value(&mut self, level: Level, key: &str, problem: Problem) {
        let mut path = format!("{}{key}", self.prefix);
        let span = loop {
            if let Some(span) = self.spans.value(&path) {
                break Some(span);
            }
            match path.rfind('.') {
                Some(at) if at > self.prefix.len() => path.truncate(at),
                _ => break None,
            }
        };
        self.diagnostics.push(self.source.diagnostic(level, problem, span));
    }

    fn at_key(&mut self, level: Level, path: &str, problem: Problem) {
        let span = self.spans.key(path);
        self.diagnostics.push(self.source.diagnostic(level, problem, span));
    }

    /// Reports `problem`, about bytes `at` of the string field `key` whose value is `text`: in
    /// the file when the string sits there unescaped, else on the string's own line with the
    /// spot (`described`, with `{line}` and `{column}` filled in).
    fn in_string(&mut self, key: &str, text: &str, at: Range<usize>, problem: Problem, described: &str) {
        let span = self.spans.value(&format!("{}{key}", self.prefix));
        let place = match (self.spans, span.clone()) {
            (Spans::Toml(_), Some(span)) => crate::load::toml_string_start(self.source.text, span),
            _ => StringText::Escaped,
        };
        let diagnostic = match place {
            StringText::At(offset) => {
                self.source.diagnostic(Level::Error, problem, Some(offset + at.start..offset + at.end))
            }
            StringText::Escaped => {
                let before = text.get(..at.start).unwrap_or(text);
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
                let message = described.replace("{line}", &line.to_string()).replace("{column}", &column.to_string());
                let mut diagnostic = self.source.diagnostic(Level::Error, Problem::Invalid(message), span);
                diagnostic.snippet = Some(Snippet {
                    text: text.lines().nth(line - 1).unwrap_or_default().to_owned(),
                    column,
                    width: text.get(at).map_or(1, |s| s.chars().count()).max(1),
                });
                diagnostic
            }
        };
        self.diagnostics.push(diagnostic);
    }

    fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The string at `key`; a missing required one, or a non-string, is an error.
    fn string(&mut self, fields: &Map<String, Value>, key: &'static str, required: bool) -> Option<String> {
        match fields.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.at_value(Level::Error, key, Problem::WrongType { key: key.into(), expected: "a string" });
                None
            }
            None if required => {
                self.missing(key);
                None
            }
            None => None,
        }
    }

    fn missing(&mut self, key: &'static str) {
        let span = self.spans.key(self.prefix.trim_end_matches('.')).or_else(|| self.spans.value(""));
        self.diagnostics.push(self.source.diagnostic(Level::Error, Problem::Missing(key), span));
    }

    fn strings(&mut self, fields: &Map<String, Value>, key: &'static str) -> Vec<String> {
        match fields.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
            }
            Some(_) => {
                self.at_value(Level::Error, key, Problem::WrongType { key: key.into(), expected: "a list of strings" });
                Vec::new()
            }
        }
    }

    fn integer(&mut self, fields: &Map<String, Value>, key: &'static str) -> Option<i64> {
        match fields.get(key) {
            None => None,
            Some(value) => match value.as_i64() {
                Some(n) => Some(n),
                None => {
                    self.at_value(
                        Level::Error,
                        key,
                        Problem::WrongType { key: key.into(), expected: "a whole number" },
                    );
                    None
                }
            },
        }
    }

    fn date_math(
        &mut self,
        fields: &Map<String, Value>,
        key: &'static str,
        default: &str,
    ) -> Option<(String, DateMath)> {
        let text = self.string(fields, key, false).unwrap_or_else(|| default.to_owned());
        match DateMath::parse(&text) {
            Ok(math) => Some((text, math)),
            Err(err) => {
                self.at_value(Level::Error, key, Problem::Invalid(format!("`{key}`: {err}")));
                None
            }
        }
    }
}

/// How a string field's text sits in the file, to place errors inside it (KQL, templates).
pub(crate) enum StringText {
    /// The string's characters start at this byte of the file, unescaped (TOML literal strings,
    /// or basic strings without escapes).
    At(usize),
    /// The string is escaped in the file (JSON, TOML strings with escapes): errors are shown
    /// against the string itself.
    Escaped,
}

/// Validates one rule: `fields` is the `[rule]` table (or one Kibana export object).
pub(crate) fn validate(
    mut checker: Checker<'_>,
    fields: Map<String, Value>,
    metadata: Value,
    origin: Origin,
) -> (Option<Rule>, Vec<Diagnostic>) {
    for key in fields.keys() {
        if !RULE_KEYS.contains(&key.as_str()) {
            let path = format!("{}{key}", checker.prefix);
            let table = if checker.prefix.is_empty() { "rule object" } else { "rule" };
            checker.at_key(Level::Warning, &path, Problem::UnknownKey { table: table.into(), key: key.clone() });
        }
    }
    let id = checker.string(&fields, "rule_id", true);
    let name = checker.string(&fields, "name", true);
    let description = checker.string(&fields, "description", true);
    let kind = checker.string(&fields, "type", true).map(|t| RuleType::parse(&t));
    let severity = checker.string(&fields, "severity", true).and_then(|s| {
        let parsed = Severity::parse(&s);
        if parsed.is_none() {
            checker.at_value(
                Level::Error,
                "severity",
                Problem::Invalid(format!("severity `{s}` is not one of low, medium, high, critical")),
            );
        }
        parsed
    });
    let risk_score = match checker.integer(&fields, "risk_score") {
        Some(n @ 0..=100) => u8::try_from(n).ok(),
        Some(n) => {
            checker.at_value(
                Level::Error,
                "risk_score",
                Problem::Invalid(format!("risk_score {n} is outside 0 to 100")),
            );
            None
        }
        None => {
            if !fields.contains_key("risk_score") {
                checker.missing("risk_score");
            }
            None
        }
    };
    let interval = checker.string(&fields, "interval", false).map_or(Some(Interval::from_seconds(300)), |text| {
        Interval::parse(&text)
            .map_err(|err| checker.at_value(Level::Error, "interval", Problem::Invalid(err.to_string())))
            .ok()
    });
    let from = checker.date_math(&fields, "from", "now-6m");
    let to = checker.date_math(&fields, "to", "now");
    let max_signals = match checker.integer(&fields, "max_signals") {
        None => Some(100),
        Some(n) if n >= 1 => u32::try_from(n).ok(),
        Some(n) => {
            checker.at_value(
                Level::Error,
                "max_signals",
                Problem::Invalid(format!("max_signals {n} must be at least 1")),
            );
            None
        }
    };
    let version = checker.integer(&fields, "version").map_or(1, |v| v.max(0) as u64);
    let enabled = fields.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    let index = checker.strings(&fields, "index");
    let tags = checker.strings(&fields, "tags");
    let timestamp_override = checker.string(&fields, "timestamp_override", false);
    let query = checker.string(&fields, "query", false);
    let is_query_rule = kind == Some(RuleType::Query);
    let language = checker.string(&fields, "language", false).or_else(|| is_query_rule.then(|| "kuery".to_owned()));
    if is_query_rule && query.is_none() && fields.get("query").is_none() {
        checker.missing("query");
    }
    match (language.as_deref(), &query) {
        (Some("kuery"), Some(query)) => check_kql(&mut checker, query),
        (Some("eql"), Some(query)) => {
            let category = fields.get("event_category_override").and_then(Value::as_str);
            check_eql(&mut checker, query, category.unwrap_or(crate::model::EVENT_CATEGORY));
        }
        _ => {}
    }
    let actions = check_actions(&mut checker, &fields);
    let threshold = (kind == Some(RuleType::Threshold))
        .then(|| crate::terms::threshold(fields.get("threshold")))
        .and_then(|read| {
            read.map_err(|(path, message)| checker.at_value(Level::Error, &path, Problem::Invalid(message))).ok()
        });
    let new_terms = (kind == Some(RuleType::NewTerms)).then(|| crate::terms::new_terms(&fields)).and_then(|read| {
        read.map_err(|(path, message)| checker.at_value(Level::Error, &path, Problem::Invalid(message))).ok()
    });
    let threat = match fields.get("threat") {
        None => Vec::new(),
        Some(value @ Value::Array(_)) => Threat::from_json(value),
        Some(_) => {
            checker.at_value(
                Level::Error,
                "threat",
                Problem::WrongType { key: "threat".into(), expected: "a list of tables" },
            );
            Vec::new()
        }
    };
    for (i, t) in threat.iter().enumerate() {
        for problem in t.problems() {
            let span = checker
                .spans
                .value(&format!("{}threat.{i}", checker.prefix))
                .or_else(|| checker.spans.value(&format!("{}threat", checker.prefix)));
            checker.diagnostics.push(checker.source.diagnostic(Level::Error, Problem::Invalid(problem), span));
        }
    }
    let filters = match fields.get("filters") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(filters) => crate::query_filter::to_filters(filters).and_then(|filters| {
            for filter in &filters {
                match filter {
                    // vigil's own KQL; one that does not compile is a filter vigil cannot run (a
                    // range on a field type KQL refuses, say).
                    QueryFilter::Kql(clause) => kql::parse(clause)
                        .and_then(|q| q.compile(ecs::Catalog::builtin()).map(|_| ()))
                        .map_err(|err| format!("`{clause}`: {err}"))?,
                    // A wildcard query on text matches words, which the engine does not do.
                    QueryFilter::Wildcard { field, .. } => {
                        if ecs::Catalog::builtin().get(field).is_some_and(|f| f.ty().is_text()) {
                            return Err(format!("a wildcard filter on the text field `{field}`"));
                        }
                    }
                }
            }
            Ok(filters)
        }),
    };
    if let Err(why) = &filters {
        let message = format!("the rule will not run: its filters cannot run: {why}");
        checker.at_value(Level::Warning, "filters", Problem::Invalid(message));
    }
    let rule = match (id, name, description, kind, severity, risk_score, interval, from, to, max_signals) {
        (
            Some(id),
            Some(name),
            Some(description),
            Some(kind),
            Some(severity),
            Some(risk_score),
            Some(interval),
            Some(from),
            Some(to),
            Some(max_signals),
        ) if !checker.has_errors() => Some(Rule {
            id: RuleId(id),
            name,
            description,
            kind,
            language,
            query,
            index,
            interval,
            from,
            to,
            max_signals,
            severity,
            risk_score,
            threat,
            timestamp_override,
            tags,
            version,
            enabled,
            filters,
            actions,
            threshold,
            new_terms,
            fields: Value::Object(fields),
            metadata,
            origin,
        }),
        _ => None,
    };
    // Said per field, where the field is: vigil runs the rule, but not as Kibana would.
    if let Some(rule) = &rule {
        for (key, message) in rule.ignored() {
            checker.at_value(Level::Warning, key, Problem::Invalid(message));
        }
    }
    (rule, checker.diagnostics)
}

/// Parses and compiles the query against the built-in catalog; errors point into the file when
/// the query's text sits there unescaped, else at the query itself.
fn check_kql(checker: &mut Checker<'_>, query: &str) {
    let result = kql::parse(query).and_then(|q| q.compile(ecs::Catalog::builtin()).map(|_| ()));
    let Err(err) = result else { return };
    let span = err.span();
    let described = format!("in the query, line {{line}} column {{column}}: {err}");
    checker.in_string("query", query, span.start as usize..span.end as usize, Problem::Kql(err), &described);
}

/// Parses the EQL query and compiles each of its event filters against the built-in catalog
/// (what Elasticsearch checks before it runs one); errors point into the file as for KQL.
fn check_eql(checker: &mut Checker<'_>, query: &str, category_field: &str) {
    let result = eql::parse(query).and_then(|q| {
        q.filters().into_iter().try_for_each(|f| f.compile(ecs::Catalog::builtin(), category_field).map(|_| ()))
    });
    let Err(err) = result else { return };
    let span = err.span();
    let described = format!("in the query, line {{line}} column {{column}}: {err}");
    checker.in_string("query", query, span.start as usize..span.end as usize, Problem::Eql(err), &described);
}

/// Reads the rule's actions; a malformed one, or a param that is not a valid template, is an
/// error at its place (inside the template when the file holds it unescaped).
fn check_actions(checker: &mut Checker<'_>, fields: &Map<String, Value>) -> Vec<Action> {
    let (actions, problems) = crate::actions::from_fields(fields.get("actions"), fields.get("throttle"));
    for (path, message) in problems {
        checker.at_value(Level::Error, &path, Problem::Invalid(message));
    }
    for (i, action) in actions.iter().enumerate() {
        for (path, text) in crate::actions::templates(&action.params) {
            let Err(err) = template::Template::parse(text) else { continue };
            let key = format!("actions.{i}.{path}");
            let direct = Problem::Invalid(format!("`{key}` is not a valid template: {err}"));
            let described = format!("in the template `{key}`, line {{line}} column {{column}}: {err}");
            checker.in_string(&key, text, err.offset..err.offset + 2, direct, &described);
        }
    }
    actions
}
