//! `vigil kql parse|dsl|match|explain` on the samples the project ships.

use crate::vigil;

const DKIM: &str = r#"event.dataset:o365.audit and event.provider:Exchange and event.category:web and event.action:"Set-DkimSigningConfig" and o365.audit.Parameters.Enabled:False and event.outcome:success"#;

#[test]
fn parse_prints_the_canonical_form() {
    let run = vigil(&["kql", "parse", "user.name : john doe AND NOT event.action:(a OR \"b\")"], "");
    assert_eq!((run.stdout.as_str(), run.code), ("user.name:john doe and not event.action:(a or \"b\")\n", 0));
}

#[test]
fn parse_shows_the_error_under_the_query() {
    let run = vigil(&["kql", "parse", "event.action:(a or b"], "");
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: expected `and`, `or` or `)`, found end of query\n --> query:1:21\n  |\n1 | event.action:(a or b\n  |                     ^ here\n"
    );
}

#[test]
fn compile_errors_point_at_the_value() {
    let run = vigil(&["kql", "match", "process.pid > many", "samples/o365-ecs.ndjson"], "");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("error: `many` is not a number, which field `process.pid` (long) needs\n --> query:1:15\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn dsl_is_what_kibana_sends() {
    let run = vigil(&["kql", "dsl", "event.action:\"Set-DkimSigningConfig\" and not user.name:admin*"], "");
    assert_eq!(run.code, 0);
    let dsl: serde_json::Value = serde_json::from_str(&run.stdout).expect("the DSL is JSON");
    assert_eq!(
        dsl,
        serde_json::json!({"bool": {"filter": [
            {"bool": {"should": [{"match_phrase": {"event.action": "Set-DkimSigningConfig"}}], "minimum_should_match": 1}},
            {"bool": {"must_not": {"bool": {"should": [{"query_string": {"fields": ["user.name"], "query": "admin*"}}], "minimum_should_match": 1}}}}
        ]}})
    );
}

#[test]
fn match_prints_matching_lines_like_grep() {
    let run = vigil(&["kql", "match", DKIM, "samples/o365-ecs.ndjson"], "");
    assert_eq!(run.code, 0);
    let ids: Vec<_> = run.stdout.lines().map(|l| l.split("\"id\":\"").nth(1).map(|s| &s[..36]).unwrap_or(l)).collect();
    assert_eq!(ids.len(), 2, "{}", run.stdout);
    assert!(run.stdout.contains("9a01") && run.stdout.contains("9a05"), "{}", run.stdout);
}

#[test]
fn match_counts_and_reads_stdin() {
    let input =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-ecs.ndjson")).expect("sample");
    let run = vigil(&["kql", "match", "-c", "event.action:Set-DkimSigningConfig"], &input);
    assert_eq!((run.stdout.as_str(), run.code), ("5\n", 0));
}

#[test]
fn bad_lines_are_reported_and_skipped() {
    let input = "{\"event\":{\"action\":\"x\"}}\nnot json\n{\"event\":{\"action\":\"x\"}\n{\"event.action\":\"x\"}\n";
    let run = vigil(&["kql", "match", "-c", "event.action:x"], input);
    assert_eq!((run.stdout.as_str(), run.code), ("2\n", 0));
    assert_eq!(
        run.stderr,
        "<stdin>:2: invalid JSON at column 2: expected ident\n<stdin>:3: invalid JSON at column 23: EOF while parsing an object\n"
    );
}

#[test]
fn no_match_exits_1_and_unreadable_files_exit_2() {
    assert_eq!(vigil(&["kql", "match", "event.action:nothing", "samples/o365-ecs.ndjson"], "").code, 1);
    let run = vigil(&["kql", "match", "event.action:x", "no/such/file.ndjson"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with("error: no/such/file.ndjson: "), "{}", run.stderr);
}

#[test]
fn explain_says_which_clause_failed() {
    let doc = r#"{"event":{"action":"Set-DkimSigningConfig","outcome":"success"},"o365":{"audit":{"Parameters":{"Enabled":"True"}}}}"#;
    let run = vigil(
        &["kql", "explain", r#"event.action:"Set-DkimSigningConfig" and o365.audit.Parameters.Enabled:False"#, doc],
        "",
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout,
        r#"failed event.action:"Set-DkimSigningConfig" and o365.audit.Parameters.Enabled:False
       1 of 2 clauses failed
  held   event.action:"Set-DkimSigningConfig"
         `event.action` is "Set-DkimSigningConfig": passes equals "Set-DkimSigningConfig" (keyword: exact, case-sensitive)
  failed o365.audit.Parameters.Enabled:False
         `o365.audit.Parameters.Enabled` is "True": fails equals "False" (keyword: exact, case-sensitive)
"#
    );
}
