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

/// The data stream a backing index belongs to (`.ds-logs-o365.audit-default-2026.03.02-000001`
/// → `logs-o365.audit-default`; also the failure store's `.fs-` indices and the names before
/// Elasticsearch 7.11, without a date); any other name as it is.
///
/// Search hits from a data stream name their backing index, and rules name the stream
/// (`logs-o365*`): Elasticsearch matches index patterns against data stream names, never against
/// the hidden backing indices, so this is the name patterns are tested on.
pub fn resolve_backing(index: &str) -> &str {
    let Some(rest) = index.strip_prefix(".ds-").or_else(|| index.strip_prefix(".fs-")) else { return index };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // The generation: at least six digits, zero-padded.
    let Some((stream, generation)) = rest.rsplit_once('-') else { return index };
    if generation.len() < 6 || !digits(generation) {
        return index;
    }
    // The rollover date, `yyyy.MM.dd`, since 7.11.
    let stream = match stream.rsplit_once('-') {
        Some((name, date))
            if !name.is_empty()
                && date.len() == 10
                && date.split('.').map(str::len).eq([4, 2, 2])
                && digits(&date.replace('.', "")) =>
        {
            name
        }
        _ => stream,
    };
    if stream.is_empty() { index } else { stream }
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
    fn backing_indices_resolve_to_their_data_stream() {
        for (backing, stream) in [
            (".ds-logs-o365.audit-default-2026.03.02-000001", "logs-o365.audit-default"),
            (".ds-logs-o365.audit-default-000012", "logs-o365.audit-default"),
            (".fs-logs-o365.audit-default-2026.03.02-000002", "logs-o365.audit-default"),
            (".ds-my-stream-2026.03.02-1000000", "my-stream"),
            // Not backing indices: names kept as they are.
            ("logs-o365.audit-default", "logs-o365.audit-default"),
            (".ds-logs-x-12", ".ds-logs-x-12"),
            (".ds-000001", ".ds-000001"),
            (".kibana_1", ".kibana_1"),
        ] {
            assert_eq!(resolve_backing(backing), stream, "{backing}");
        }
        let patterns = IndexPatterns::new(&["filebeat-*".into(), "logs-o365*".into()]);
        assert!(patterns.covers(Some(resolve_backing(".ds-logs-o365.audit-default-2026.03.02-000001"))));
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
