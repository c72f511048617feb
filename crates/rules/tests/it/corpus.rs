//! Elastic's public rule corpus (`../shared/corpus/detection-rules`) loads: every rule either
//! loads or is reported, and every KQL query rule loads.

use std::collections::BTreeMap;

#[test]
#[allow(clippy::print_stdout)]
fn the_public_corpus_loads() {
    let Some(shared) = testkit::shared_dir() else { return };
    let loaded = rules::load_path(&shared.join("corpus/detection-rules"));
    let errors: Vec<String> = loaded.diagnostics.iter().filter(|d| d.is_error()).map(ToString::to_string).collect();
    let warnings = loaded.diagnostics.len() - errors.len();
    let mut by_type: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for rule in &loaded.rules {
        let entry = by_type.entry(rule.kind.to_string()).or_default();
        entry.0 += 1;
        if rule.unsupported().is_none() {
            entry.1 += 1;
        }
    }
    println!("corpus: {} rules loaded, {} errors, {warnings} warnings", loaded.rules.len(), errors.len());
    for (kind, (count, runnable)) in &by_type {
        println!("  {kind}: {count} loaded, {runnable} runnable");
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(loaded.rules.len(), 2192);
    let kuery_query_rules =
        loaded.rules.iter().filter(|r| r.kind == rules::RuleType::Query && r.language.as_deref() == Some("kuery"));
    assert!(kuery_query_rules.clone().count() >= 500);
    assert!(kuery_query_rules.clone().all(|r| r.unsupported().is_none()));
}
