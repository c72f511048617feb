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
    // Every KQL query rule runs, its Kibana filters with it (the corpus's are `wildcard` queries
    // with `?` and `case_insensitive`, which the engine tests beside the KQL).
    let (runnable, held): (Vec<_>, Vec<_>) = kuery_query_rules.partition(|r| r.unsupported().is_none());
    println!("  kuery query rules: {} runnable, {} held back by their filters", runnable.len(), held.len());
    let reasons: Vec<String> =
        held.iter().map(|r| format!("{}: {}", r.name, r.unsupported().unwrap_or_default())).collect();
    assert!(reasons.is_empty(), "{}", reasons.join("\n"));
    let filtered = runnable.iter().filter(|r| r.filters.as_ref().is_ok_and(|f| !f.is_empty())).count();
    assert!(filtered >= 10, "{filtered} rules with filters");
}
