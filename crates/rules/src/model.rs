//! The rule model: what a detection rule says, typed, with every original field kept.

use std::fmt;
use std::path::PathBuf;

use ecs::date::DateMath;
use serde_json::Value;

use crate::duration::Interval;
use crate::query_filter::QueryFilter;
use crate::threat::Threat;

/// A rule's stable identity (`rule_id`), the same in every version and every Kibana space.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId(pub String);

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How severe a rule's alerts are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
    /// `critical`
    Critical,
}

impl Severity {
    /// Reads `low`, `medium`, `high` or `critical`.
    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    /// The name Kibana uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of rule (`type`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RuleType {
    /// `query`: a KQL or Lucene query.
    Query,
    /// `eql`: an event query language sequence or query.
    Eql,
    /// `esql`: an ES|QL query.
    Esql,
    /// `threshold`: a query with a count threshold.
    Threshold,
    /// `new_terms`: values not seen before.
    NewTerms,
    /// `threat_match`: indicator match.
    ThreatMatch,
    /// `machine_learning`: an anomaly detection job.
    MachineLearning,
    /// `saved_query` and any other type.
    Other(String),
}

impl RuleType {
    /// Reads the `type` field.
    pub fn parse(text: &str) -> RuleType {
        match text {
            "query" => RuleType::Query,
            "eql" => RuleType::Eql,
            "esql" => RuleType::Esql,
            "threshold" => RuleType::Threshold,
            "new_terms" => RuleType::NewTerms,
            "threat_match" => RuleType::ThreatMatch,
            "machine_learning" => RuleType::MachineLearning,
            other => RuleType::Other(other.to_owned()),
        }
    }

    /// The `type` as Kibana writes it.
    pub fn as_str(&self) -> &str {
        match self {
            RuleType::Query => "query",
            RuleType::Eql => "eql",
            RuleType::Esql => "esql",
            RuleType::Threshold => "threshold",
            RuleType::NewTerms => "new_terms",
            RuleType::ThreatMatch => "threat_match",
            RuleType::MachineLearning => "machine_learning",
            RuleType::Other(other) => other,
        }
    }
}

impl fmt::Display for RuleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a rule was loaded from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A file (TOML, or one line of a Kibana NDJSON export).
    File {
        /// The file.
        path: PathBuf,
        /// The 1-based line the rule starts on.
        line: usize,
    },
    /// The pack compiled into vigil, by file name.
    Builtin(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Builtin(name) => write!(f, "built-in:{name}"),
        }
    }
}

/// Rule fields that change what a rule alerts on, or how its alerts look, that vigil does not
/// apply yet (issue 17), and what ignoring each means.
const IGNORED: &[(&str, &str)] = &[
    ("saved_id", "the saved query it names is not read; only its own query runs"),
    ("data_view_id", "the data view's indices are not read; only its `index` patterns are searched"),
];

/// Where EQL reads an event's category unless a rule says otherwise.
pub const EVENT_CATEGORY: &str = "event.category";

/// A validated detection rule.
///
/// The typed fields are what vigil reads; [`Rule::fields`] keeps every field of the rule as
/// Kibana's rule API shapes it (`[rule]` of a TOML file), so alerts can copy any of them.
#[derive(Clone, Debug)]
pub struct Rule {
    /// `rule_id`.
    pub id: RuleId,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `type`.
    pub kind: RuleType,
    /// `language` (`kuery` when a query rule gives none, as Kibana defaults it).
    pub language: Option<String>,
    /// `query`.
    pub query: Option<String>,
    /// `index` patterns (`filebeat-*`, `logs-o365*`).
    pub index: Vec<String>,
    /// `interval` (default 5m).
    pub interval: Interval,
    /// `from`, as written (default `now-6m`), and parsed.
    pub from: (String, DateMath),
    /// `to`, as written (default `now`), and parsed.
    pub to: (String, DateMath),
    /// `max_signals`: alerts per execution at most (default 100).
    pub max_signals: u32,
    /// `severity`.
    pub severity: Severity,
    /// `risk_score`, 0 to 100.
    pub risk_score: u8,
    /// `threat`: the MITRE ATT&CK mapping.
    pub threat: Vec<Threat>,
    /// `timestamp_override`: the field that dates events instead of `@timestamp`.
    pub timestamp_override: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `version` (default 1).
    pub version: u64,
    /// `enabled` (default true).
    pub enabled: bool,
    /// `filters` (Kibana's query filters), each enabled one as vigil runs it, or why vigil
    /// cannot run them (then the rule does not run).
    pub filters: Result<Vec<QueryFilter>, String>,
    /// `actions`: who is told when it alerts, and how (with the legacy `throttle` applied).
    pub actions: Vec<crate::actions::Action>,
    /// A threshold rule's `threshold`.
    pub threshold: Option<crate::terms::Threshold>,
    /// A new terms rule's fields and history window.
    pub new_terms: Option<crate::terms::NewTerms>,
    /// Every field of the rule, in Kibana's JSON shape.
    pub fields: Value,
    /// `[metadata]` of a detection-rules TOML file (empty for Kibana exports).
    pub metadata: Value,
    /// Where it came from.
    pub origin: Origin,
}

impl Rule {
    /// A text field of the rule (`note`, `setup`, `author`...), if it is a string.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// A list-of-strings field of the rule (`references`, `author`, `false_positives`...).
    pub fn texts(&self, key: &str) -> Vec<&str> {
        self.fields.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
    }

    /// The field that holds an event's category for an EQL rule: `event_category_override`,
    /// else `event.category`.
    pub fn event_category_field(&self) -> &str {
        self.text("event_category_override").unwrap_or(EVENT_CATEGORY)
    }

    /// Why vigil cannot run this rule yet, or `None` when it can (KQL query, threshold and new
    /// terms rules; EQL event queries).
    pub fn unsupported(&self) -> Option<String> {
        if let Err(why) = &self.filters {
            return Some(format!("its filters cannot run: {why}"));
        }
        if self.kind == RuleType::Eql {
            return self.eql_unsupported();
        }
        match (&self.kind, self.language.as_deref()) {
            (RuleType::Query | RuleType::Threshold | RuleType::NewTerms, Some("kuery")) => None,
            (RuleType::Query | RuleType::Threshold | RuleType::NewTerms, Some(language)) => {
                Some(format!("{language} queries are not supported yet"))
            }
            (kind @ (RuleType::Query | RuleType::Threshold | RuleType::NewTerms), None) => {
                Some(format!("{kind} rules without a language are not supported"))
            }
            (RuleType::MachineLearning, _) => {
                Some("machine_learning rules need Elastic's anomaly detection jobs".into())
            }
            (kind, _) => Some(format!("{kind} rules are not supported yet")),
        }
    }

    /// Whether this is an EQL rule whose query is a sequence or a sample: its executions find
    /// groups of events (which Elasticsearch answers alike, as `hits.sequences`).
    pub fn is_eql_sequence(&self) -> bool {
        self.kind == RuleType::Eql
            && eql::parse(self.query.as_deref().unwrap_or_default())
                .is_ok_and(|q| !matches!(q.kind, eql::QueryKind::Event(_)))
    }

    fn eql_unsupported(&self) -> Option<String> {
        if !self.filters.as_deref().unwrap_or_default().is_empty() {
            return Some("filters on eql rules are not supported yet".into());
        }
        let query = match eql::parse(self.query.as_deref().unwrap_or_default()) {
            Ok(query) => query,
            Err(err) => return Some(format!("its query does not parse: {err}")),
        };
        match (&query.kind, query.pipes.first()) {
            (eql::QueryKind::Event(_), Some(pipe)) => {
                Some(format!("the eql pipe `{}` is not supported yet on event queries", pipe.name))
            }
            (eql::QueryKind::Event(_), None) => None,
            _ => query
                .sequence_matcher(ecs::Catalog::builtin(), self.event_category_field())
                .err()
                .map(|e| e.to_string()),
        }
    }

    /// The KQL the rule searches with: its `query`, AND'ed with its filters that are KQL
    /// clauses (the others, [`QueryFilter::Wildcard`], the engine tests beside it).
    pub fn effective_query(&self) -> String {
        let query = self.query.as_deref().unwrap_or_default();
        let clauses: Vec<&str> = self
            .filters
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|f| match f {
                QueryFilter::Kql(clause) => Some(clause.as_str()),
                QueryFilter::Wildcard { .. } => None,
            })
            .collect();
        if clauses.is_empty() {
            return query.to_owned();
        }
        let query = (!query.trim().is_empty()).then(|| format!("({query})"));
        query.into_iter().chain(clauses.into_iter().map(str::to_owned)).collect::<Vec<_>>().join(" and ")
    }

    /// Fields of the rule that change what its alerts are, which vigil does not apply yet: each
    /// key with what ignoring it means. The rule runs, but not quite as Kibana runs it.
    pub fn ignored(&self) -> Vec<(&'static str, String)> {
        let present = |key: &str| match self.fields.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::String(text)) => !text.is_empty(),
            Some(Value::Object(map)) => !map.is_empty(),
            Some(_) => true,
        };
        IGNORED
            .iter()
            .filter(|(key, _)| present(key))
            .map(|(key, what)| (*key, format!("`{key}` is not applied yet: {what}")))
            .collect()
    }

    /// The field that dates this rule's events: `timestamp_override`, else `@timestamp`.
    pub fn time_field(&self) -> &str {
        self.timestamp_override.as_deref().unwrap_or("@timestamp")
    }
}
