//! The threshold and new terms rules of Elastic's public corpus (`../shared/corpus`) compile, and
//! each Office 365 one passes the scenarios written for it here (`tests/fixtures/o365/<rule
//! file>/`): first seen vs seen within and before the history, combinations, arrays, groups
//! with and without enough distinct values.

use std::path::{Path, PathBuf};

use ecs::date::Timestamp;
use engine::{RuleSet, run_examples};
use rules::RuleType;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/o365")
}

#[test]
fn corpus_counting_rules_compile_and_office_365_ones_pass_their_scenarios() {
    let Some(shared) = testkit::shared_dir() else { return };
    let loaded = rules::load_path(&shared.join("corpus/detection-rules"));
    let counting: Vec<_> =
        loaded.rules.iter().filter(|r| matches!(r.kind, RuleType::Threshold | RuleType::NewTerms)).cloned().collect();
    let (set, skipped) = RuleSet::compile(counting.clone(), ecs::Catalog::builtin(), Timestamp::now());
    let reasons: Vec<String> = skipped
        .iter()
        .filter(|s| s.rule.language.as_deref() == Some("kuery"))
        .map(|s| format!("{}: {}", s.rule.name, s.reason))
        .collect();
    assert!(reasons.is_empty(), "{}", reasons.join("\n"));
    assert!(set.len() >= 240, "{} threshold and new terms rules run", set.len());

    let office: Vec<_> = counting.iter().filter(|r| r.index.iter().any(|i| i.contains("o365"))).collect();
    let mut tested = 0;
    for rule in &office {
        let rules::Origin::File { path, .. } = &rule.origin else { continue };
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let dir = fixtures().join(stem);
        assert!(dir.is_dir(), "{}: no scenarios in {}", rule.name, dir.display());
        let (set, skipped) = RuleSet::compile(vec![(*rule).clone()], ecs::Catalog::builtin(), Timestamp::now());
        assert!(skipped.is_empty(), "{}: {skipped:?}", rule.name);
        for (file, expected) in [("alert.ndjson", true), ("no-alert.ndjson", false)] {
            let text = std::fs::read_to_string(dir.join(file)).expect("scenarios");
            let verdicts = run_examples(&set, &text);
            assert!(verdicts.len() >= 2, "{stem}/{file}: at least two scenarios");
            for verdict in verdicts {
                assert_eq!(
                    verdict.alerted,
                    Ok(expected),
                    "{}: {stem}/{file} scenario ending line {}",
                    rule.name,
                    verdict.line
                );
            }
        }
        tested += 1;
    }
    assert_eq!(tested, 12, "the 10 new terms and 2 threshold rules on Office 365 (one deprecated)");
}
