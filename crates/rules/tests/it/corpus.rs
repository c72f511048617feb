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
    // Every KQL query rule runs, but those whose Kibana filters hold a query vigil cannot
    // translate yet (the corpus has ES `wildcard` filters with `?` and `case_insensitive`): they
    // are reported as not runnable rather than run without their filters.
    let (runnable, filtered): (Vec<_>, Vec<_>) = kuery_query_rules.partition(|r| r.unsupported().is_none());
    println!("  kuery query rules: {} runnable, {} held back by their filters", runnable.len(), filtered.len());
    for rule in &filtered {
        let reason = rule.unsupported().unwrap_or_default();
        assert!(reason.starts_with("its filters cannot run: "), "{}: {reason}", rule.name);
        assert!(reason.contains("`wildcard` query"), "{}: {reason}", rule.name);
    }
    assert!(filtered.len() < 30, "{} rules held back by their filters", filtered.len());
}
