//! `vigil rules list|show|validate|test`.

use crate::vigil;

#[test]
fn list_shows_the_pack() {
    let run = vigil(&["rules", "list"], "");
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "medium    47  query            514121ce-c7b6-474a-8237-68ff71672379  Microsoft 365 Exchange DKIM Signing Configuration Disabled\n"
    );
    assert_eq!(vigil(&["rules", "list", "--tactic", "TA0005"], "").code, 1);
}

#[test]
fn show_renders_the_investigation_guide() {
    let run = vigil(&["rules", "show", "514121ce-c7b6-474a-8237-68ff71672379"], "");
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.starts_with("Microsoft 365 Exchange DKIM Signing Configuration Disabled\nrule_id       514121ce"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("schedule      every 5m, now-30m to now, at most 100 alerts per execution\n"));
    assert!(
        run.stdout.contains("MITRE ATT&CK  TA0003 Persistence\n                T1556 Modify Authentication Process\n")
    );
    assert!(run.stdout.contains("\nInvestigation guide\nTriage and analysis\n"), "{}", run.stdout);
    assert!(run.stdout.contains("• Who made the change?"));
}

#[test]
fn validate_reports_problems_and_fails() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rule = "[rule]\nrule_id = \"x\"\nname = \"Broken\"\ndescription = \"d\"\ntype = \"query\"\nrisk_score = 10\nseverity = \"low\"\nquery = '''event.action:(a or'''\n";
    std::fs::write(dir.path().join("broken.toml"), rule).expect("write");
    let path = dir.path().to_string_lossy().into_owned();
    let run = vigil(&["rules", "validate", &path], "");
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "0 rules loaded, 1 error, 0 warnings\n");
    let expected_head = format!("{path}/broken.toml:8:30: error: expected `and`, `or` or `)`, found end of query\n");
    assert!(run.stderr.starts_with(&expected_head), "{}", run.stderr);
    assert!(
        run.stderr.contains("8 | query = '''event.action:(a or'''\n  |                              ^\n"),
        "{}",
        run.stderr
    );
    let pack = vigil(&["rules", "validate"], "");
    assert_eq!(
        (pack.code, pack.stdout.as_str()),
        (0, "1 rule loaded, 0 errors, 0 warnings\n  query                 1  (all run)\n")
    );
}

#[test]
fn validate_never_says_all_run_plainly_for_a_rule_run_without_some_of_its_fields() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rule = "[rule]\nrule_id = \"x\"\nname = \"Tuned\"\ndescription = \"d\"\ntype = \"query\"\nrisk_score = 10\nseverity = \"low\"\nquery = 'event.action:x'\nsaved_id = \"my-saved-query\"\n";
    std::fs::write(dir.path().join("tuned.toml"), rule).expect("write");
    let run = vigil(&["rules", "validate", &dir.path().to_string_lossy()], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "1 rule loaded, 0 errors, 1 warning\n  query                 1  (all run, 1 without fields vigil does not apply yet: see the warnings)\n"
    );
    assert!(run.stderr.contains("warning: `saved_id` is not applied yet"), "{}", run.stderr);
}

#[test]
fn test_runs_the_example_events() {
    let run = vigil(&["rules", "test"], "");
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "ok   Microsoft 365 Exchange DKIM Signing Configuration Disabled (3 alert, 8 no-alert events)\n1 passed, 0 failed, 0 rules without test events\n"
    );
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rule = "[rule]\nrule_id = \"x\"\nname = \"Mine\"\ndescription = \"d\"\ntype = \"query\"\nrisk_score = 10\nseverity = \"low\"\nquery = 'event.action:x'\n";
    std::fs::write(dir.path().join("mine.toml"), rule).expect("write");
    std::fs::create_dir(dir.path().join("mine.tests")).expect("mkdir");
    std::fs::write(
        dir.path().join("mine.tests/alert.ndjson"),
        "{\"event\":{\"action\":\"x\"}}\n{\"event\":{\"action\":\"y\"}}\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("mine.tests/no-alert.ndjson"), "{\"event\":{\"action\":\"z\"}}\n").expect("write");
    let path = dir.path().to_string_lossy().into_owned();
    let run = vigil(&["rules", "test", &path], "");
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout,
        format!(
            "FAIL Mine (2 alert, 1 no-alert events)\n     {path}/mine.tests/alert.ndjson:2: did not alert\n0 passed, 1 failed, 0 rules without test events\n"
        )
    );
}

#[test]
fn threshold_and_new_terms_parameters_are_checked_and_shown() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let head = "[rule]\nrule_id = \"x\"\nname = \"Counting\"\ndescription = \"d\"\nrisk_score = 10\nseverity = \"low\"\nlanguage = \"kuery\"\nquery = 'event.action:x'\n";
    let threshold = format!("{head}type = \"threshold\"\n\n[rule.threshold]\nfield = [\"source.ip\"]\nvalue = 0\n");
    std::fs::write(dir.path().join("threshold.toml"), threshold).expect("write");
    let path = dir.path().join("threshold.toml").to_string_lossy().into_owned();
    let run = vigil(&["rules", "validate", &path], "");
    assert_eq!(run.code, 1);
    let expected = format!("{path}:13:9: error: `threshold.value` must be a whole number of at least 1");
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);

    let new_terms = format!(
        "{head}type = \"new_terms\"\n\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"user.id\", \"source.ip\"]\n\
         [[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now-14d\"\n"
    );
    std::fs::write(dir.path().join("new_terms.toml"), &new_terms).expect("write");
    let path = dir.path().join("new_terms.toml").to_string_lossy().into_owned();
    let shown = vigil(&["rules", "show", "x", "--rules", &path], "");
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("new terms     values of user.id + source.ip not seen since now-14d"),
        "{}",
        shown.stdout
    );
    std::fs::write(dir.path().join("new_terms.toml"), new_terms.replace("now-14d", "now-14x")).expect("write");
    let run = vigil(&["rules", "validate", &path], "");
    let expected = format!("{path}:16:9: error: `history_window_start`: unknown date-math unit");
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
}

#[test]
fn explain_says_why_an_eql_rule_matched_and_which_sequences_formed() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rule = |id: &str, query: &str| {
        format!(
            "[rule]\nrule_id = \"{id}\"\nname = \"{id}\"\ndescription = \"d\"\ntype = \"eql\"\nlanguage = \"eql\"\nrisk_score = 10\nseverity = \"low\"\nquery = '''{query}'''\n"
        )
    };
    std::fs::write(
        dir.path().join("event.toml"),
        rule("event", r#"process where process.name : "cmd*" and length(process.args) > 2"#),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("sequence.toml"),
        rule("sequence", "sequence by user.name [authentication where true] [process where true]"),
    )
    .expect("write");
    let events = dir.path().join("events.ndjson");
    std::fs::write(
        &events,
        concat!(
            r#"{"@timestamp":"2026-03-02T08:00:00Z","event":{"category":"authentication"},"user":{"name":"alice"}}"#,
            "\n",
            r#"{"@timestamp":"2026-03-02T08:01:00Z","event":{"category":"process"},"process":{"name":"CMD.EXE","args":["/c","x"]},"user":{"name":"alice"}}"#,
            "\n",
            r#"{"@timestamp":"2026-03-02T08:02:00Z","event":{"category":"process"},"process":{"name":"bash"}}"#,
            "\n"
        ),
    )
    .expect("write");
    let (rules, events) = (dir.path().to_string_lossy().into_owned(), events.to_string_lossy().into_owned());
    let run = vigil(&["rules", "explain", "event", &events, "--rules", &rules], "");
    assert_eq!(run.code, 1, "no event matched: {}", run.stderr);
    for line in [
        "events.ndjson:2: does not match (2026-03-02T08:01:00Z)",
        "    held   category process\n           `event.category` is \"process\": passes is the category \"process\"",
        "      held   process.name : \"cmd*\"\n             `process.name` is \"CMD.EXE\": passes matches \"cmd*\" (in any case)",
        "      failed length(process.args) > 2\n             `process.args` is \"/c\", \"x\": it is not true (false, or null where a value is missing)",
        "events.ndjson:3: does not match",
        "      failed process.name : \"cmd*\"\n             `process.name` is \"bash\": fails matches \"cmd*\" (in any case)",
        "0 of 3 events matched",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in\n{}", run.stdout);
    }
    let run = vigil(&["rules", "explain", "sequence", &events, "--rules", &rules], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "  held   term 1\n         its filter held; join keys `user.name` = \"alice\"",
        "  failed term 2\n         its filter held, but `user.name` has no value",
        "1 sequence over the whole input as one window (an execution sees its own window only):\n  lines 1, 2\n",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in\n{}", run.stdout);
    }
}

/// Elastic's Office 365 EQL rules (from `../shared`: four event queries and a sequence), each
/// with our own events that must and must not alert (`tests/data/eql-o365/<rule>.tests/`; the
/// sequence's as scenarios), pass `vigil rules test`.
#[test]
fn office_365_eql_rules_pass_their_fixtures() {
    let Some(shared) = testkit::shared_dir() else { return };
    let corpus = shared.join("corpus/detection-rules/rules/integrations");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eql-o365");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rules = [
        ("azure", "discovery_bloodhound_user_agents_detected", 3, 4),
        ("o365", "discovery_sharepoint_sensitive_term_search", 3, 5),
        ("o365", "defense_evasion_mfa_notification_email_deleted", 3, 4),
        ("o365", "collection_exchange_new_inbox_rule", 3, 4),
        ("o365", "credential_access_entra_id_device_reg_via_oauth_redirection", 6, 12),
    ];
    let mut expected = String::new();
    for (folder, stem, alert, no_alert) in rules {
        let toml = std::fs::read_to_string(corpus.join(folder).join(format!("{stem}.toml"))).expect("the corpus rule");
        std::fs::write(dir.path().join(format!("{stem}.toml")), &toml).expect("write");
        let tests = dir.path().join(format!("{stem}.tests"));
        std::fs::create_dir(&tests).expect("mkdir");
        for file in ["alert.ndjson", "no-alert.ndjson"] {
            std::fs::copy(fixtures.join(format!("{stem}.tests")).join(file), tests.join(file)).expect("copy");
        }
        let name = toml.lines().find_map(|l| l.strip_prefix("name = \"")).expect("a name").trim_end_matches('"');
        expected.push_str(&format!("ok   {name} ({alert} alert, {no_alert} no-alert events)\n"));
    }
    let run = vigil(&["rules", "test", &dir.path().to_string_lossy()], "");
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    let summary = lines.pop();
    lines.sort_unstable();
    let mut wanted: Vec<&str> = expected.lines().collect();
    wanted.sort_unstable();
    assert_eq!(
        (run.code, lines, summary),
        (0, wanted, Some("5 passed, 0 failed, 0 rules without test events")),
        "{}",
        run.stderr
    );
}
