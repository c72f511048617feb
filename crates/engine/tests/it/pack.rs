//! The built-in rules alert on their `alert.ndjson` events and on none of their `no-alert.ndjson`.

use ecs::date::Timestamp;
use engine::{RuleSet, run_examples};

#[test]
fn built_in_rules_pass_their_examples() {
    let loaded = rules::builtin();
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert_eq!(loaded.rules.len(), rules::PACK.len());
    for (rule, pack) in loaded.rules.into_iter().zip(rules::PACK) {
        let name = rule.name.clone();
        let (set, skipped) = RuleSet::compile(vec![rule], ecs::Catalog::builtin(), Timestamp::now());
        assert!(skipped.is_empty(), "{name}: {skipped:?}");
        for verdict in run_examples(&set, pack.alert) {
            assert_eq!(verdict.alerted, Ok(true), "{name}: alert.ndjson line {} must alert", verdict.line);
        }
        for verdict in run_examples(&set, pack.no_alert) {
            assert_eq!(verdict.alerted, Ok(false), "{name}: no-alert.ndjson line {} must not alert", verdict.line);
        }
    }
}
