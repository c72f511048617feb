//! Integration tests of the `engine` crate, built as one binary.

mod corpus;
mod ingest;
mod pack;
mod raw;
mod replay;
mod scan;
mod terms;

use ecs::date::Timestamp;
use engine::{Hit, RuleSet, Sink};

/// Records what each hit was: (rule name, event id, line).
#[derive(Default)]
pub struct Collect(pub Vec<(String, String, u64)>);

impl Sink for Collect {
    type Error = std::convert::Infallible;
    fn hit(&mut self, hit: &Hit<'_>) -> Result<bool, Self::Error> {
        self.0.push((hit.rule.name.clone(), hit.event_id.to_owned(), hit.position.line));
        Ok(true)
    }
}

/// A query rule from its query and a few settings, as detection-rules TOML.
pub fn rule(name: &str, query: &str, extra: &str) -> rules::Rule {
    typed_rule("query", name, query, extra)
}

/// A rule of type `kind` from its query and a few settings (tables last), as detection-rules
/// TOML.
pub fn typed_rule(kind: &str, name: &str, query: &str, extra: &str) -> rules::Rule {
    let text = format!(
        "[rule]\nrule_id = \"{name}\"\nname = \"{name}\"\ndescription = \"test\"\ntype = \"{kind}\"\nlanguage = \"kuery\"\nrisk_score = 50\nseverity = \"high\"\nquery = '''{query}'''\n{extra}\n"
    );
    let mut loaded = rules::load_toml(std::path::Path::new("test.toml"), &text);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.rules.remove(0)
}

/// Compiles rules against the built-in catalog at a fixed time.
pub fn compile(rules: Vec<rules::Rule>) -> RuleSet<'static> {
    let now = Timestamp::parse("2026-03-02T12:00:00Z", false).expect("valid");
    let (set, skipped) = RuleSet::compile(rules, ecs::Catalog::builtin(), now);
    assert!(skipped.is_empty(), "{skipped:?}");
    set
}
