//! Choosing rules: by severity, tag, id, type and tactic.

use crate::model::{Rule, Severity};

/// Which rules to keep. Empty lists accept everything; within a list any entry may match;
/// across lists all must.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Keep rules at least this severe.
    pub min_severity: Option<Severity>,
    /// Keep rules with one of these tags (case-insensitive).
    pub tags: Vec<String>,
    /// Keep rules with one of these `rule_id`s.
    pub ids: Vec<String>,
    /// Keep rules of one of these types (`query`, `eql`, ...).
    pub kinds: Vec<String>,
    /// Keep rules mapped to one of these tactics, by id (`TA0003`) or name (`persistence`).
    pub tactics: Vec<String>,
    /// Leave out rules with one of these `rule_id`s, or whose name holds one of them (any case).
    pub exclude_rules: Vec<String>,
    /// Leave out rules with one of these tags (case-insensitive).
    pub exclude_tags: Vec<String>,
}

impl Filter {
    /// Whether `rule` is kept.
    pub fn accepts(&self, rule: &Rule) -> bool {
        let any = |wanted: &[String], has: &dyn Fn(&str) -> bool| wanted.is_empty() || wanted.iter().any(|w| has(w));
        self.min_severity.is_none_or(|min| rule.severity >= min)
            && any(&self.tags, &|t| rule.tags.iter().any(|tag| tag.eq_ignore_ascii_case(t)))
            && any(&self.ids, &|id| rule.id.0 == id)
            && any(&self.kinds, &|kind| rule.kind.as_str().eq_ignore_ascii_case(kind))
            && any(&self.tactics, &|tactic| {
                rule.threat
                    .iter()
                    .any(|t| t.tactic.id.eq_ignore_ascii_case(tactic) || t.tactic.name.eq_ignore_ascii_case(tactic))
            })
            && !self.exclude_rules.iter().any(|r| rule.id.0 == *r || contains_ignoring_case(&rule.name, r))
            && !self.exclude_tags.iter().any(|t| rule.tags.iter().any(|tag| tag.eq_ignore_ascii_case(t)))
    }
}

fn contains_ignoring_case(text: &str, part: &str) -> bool {
    text.to_lowercase().contains(&part.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine() {
        let dkim = &crate::builtin().rules[0];
        let accepts = |filter: Filter| filter.accepts(dkim);
        assert!(accepts(Filter::default()));
        assert!(accepts(Filter { min_severity: Some(Severity::Medium), ..Filter::default() }));
        assert!(!accepts(Filter { min_severity: Some(Severity::High), ..Filter::default() }));
        assert!(accepts(Filter { tags: vec!["data source: microsoft 365".into()], ..Filter::default() }));
        assert!(!accepts(Filter { exclude_tags: vec!["Data Source: Microsoft 365".into()], ..Filter::default() }));
        assert!(!accepts(Filter { exclude_rules: vec!["dkim signing".into()], ..Filter::default() }));
        assert!(!accepts(Filter { exclude_rules: vec![dkim.id.0.clone()], ..Filter::default() }));
        assert!(accepts(Filter { exclude_rules: vec!["mailbox".into()], ..Filter::default() }));
        assert!(accepts(Filter {
            tactics: vec!["persistence".into()],
            kinds: vec!["query".into()],
            ..Filter::default()
        }));
        assert!(!accepts(Filter { tactics: vec!["TA0005".into()], ..Filter::default() }));
    }
}
