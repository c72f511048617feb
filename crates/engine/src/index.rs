//! Which index an event would be in, and whether a rule's index patterns cover it.

use ecs::{Path, Value};

/// The index patterns of a rule (`filebeat-*`, `logs-o365*`), as Elasticsearch resolves them:
/// `*` matches any characters; a pattern starting with `-` excludes.
#[derive(Clone, Debug)]
pub struct IndexPatterns {
    include: Vec<kql::Wildcard>,
    exclude: Vec<kql::Wildcard>,
}

fn glob(pattern: &str) -> kql::Wildcard {
    kql::Wildcard::new(pattern.split('*').map(str::to_owned).collect())
}

impl IndexPatterns {
    /// Patterns from a rule's `index` list (entries may hold comma-separated patterns). An empty
    /// list covers every index.
    pub fn new(patterns: &[String]) -> IndexPatterns {
        let (mut include, mut exclude) = (Vec::new(), Vec::new());
        for pattern in patterns.iter().flat_map(|p| p.split(',')).map(str::trim).filter(|p| !p.is_empty()) {
            match pattern.strip_prefix('-') {
                Some(excluded) => exclude.push(glob(excluded)),
                None => include.push(glob(pattern)),
            }
        }
        IndexPatterns { include, exclude }
    }

    /// Whether an event of `index` is searched. An event whose index is unknown is searched by
    /// every rule.
    pub fn covers(&self, index: Option<&str>) -> bool {
        let Some(index) = index else { return true };
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(index)))
            && !self.exclude.iter().any(|p| p.matches(index))
    }
}

/// Derives the index an event would have been written to in Elastic: its `data_stream.*` fields
/// (`logs-o365.audit-default`), else its `event.dataset` as a `logs-*` data stream with the
/// `default` namespace; `None` when neither is there.
pub fn event_index(root: &Value) -> Option<String> {
    let text = |path: &str| Path::new(path).first_text(root);
    if let Some(dataset) = text("data_stream.dataset") {
        let kind = text("data_stream.type").unwrap_or_else(|| "logs".to_owned());
        let namespace = text("data_stream.namespace").unwrap_or_else(|| "default".to_owned());
        return Some(format!("{kind}-{dataset}-{namespace}"));
    }
    text("event.dataset").map(|dataset| format!("logs-{dataset}-default"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_streams_name_the_index() {
        let doc = json!({"data_stream": {"type": "logs", "dataset": "o365.audit", "namespace": "prod"}});
        assert_eq!(event_index(&doc).as_deref(), Some("logs-o365.audit-prod"));
        assert_eq!(event_index(&json!({"event.dataset": "o365.audit"})).as_deref(), Some("logs-o365.audit-default"));
        assert_eq!(event_index(&json!({"message": "x"})), None);
    }

    #[test]
    fn patterns_include_and_exclude() {
        let patterns = IndexPatterns::new(&["filebeat-*".into(), "logs-o365*,-logs-o365.test-*".into()]);
        assert!(patterns.covers(Some("logs-o365.audit-default")));
        assert!(patterns.covers(Some("filebeat-8.15.0")));
        assert!(!patterns.covers(Some("logs-o365.test-default")));
        assert!(!patterns.covers(Some("logs-endpoint.events.process-default")));
        assert!(patterns.covers(None));
        assert!(IndexPatterns::new(&[]).covers(Some("anything")));
    }
}
