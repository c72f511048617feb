//! Loading and validating rules: Elastic's defaults, every problem at its place, one bad rule
//! never stopping the others.

use std::path::Path;

const MINIMAL: &str = r#"[rule]
rule_id = "00000000-0000-0000-0000-000000000001"
name = "Minimal"
description = "A rule with only what is required"
type = "query"
risk_score = 21
severity = "low"
query = "event.action:x"
"#;

fn load(text: &str) -> rules::Loaded {
    rules::load_toml(Path::new("rule.toml"), text)
}

fn messages(loaded: &rules::Loaded) -> Vec<String> {
    loaded.diagnostics.iter().map(ToString::to_string).collect()
}

#[test]
fn defaults_are_elastics() {
    let loaded = load(MINIMAL);
    assert_eq!(messages(&loaded), Vec::<String>::new());
    let rule = &loaded.rules[0];
    assert_eq!((rule.from.0.as_str(), rule.to.0.as_str()), ("now-6m", "now"));
    assert_eq!((rule.interval.to_string(), rule.max_signals, rule.version), ("5m".to_owned(), 100, 1));
    assert_eq!(rule.language.as_deref(), Some("kuery"));
    assert_eq!(rule.time_field(), "@timestamp");
    assert!(rule.enabled && rule.unsupported().is_none());
}

#[test]
fn every_problem_is_reported_at_its_place() {
    let text = r#"[metadata]
maturity = "production"
colour = "blue"

[rule]
rule_id = "00000000-0000-0000-0000-000000000002"
description = "Broken in many ways"
type = "query"
risk_score = 101
severity = "urgent"
interval = "5x"
from = "yesterday"
tags = "not a list"
frobnicate = true
query = '''
event.dataset:o365.audit and
  event.action:(a or b
'''

[[rule.threat]]
framework = "MITRE ATT&CK"
[rule.threat.tactic]
id = "TA0003"
name = "Persistence"
reference = "https://attack.mitre.org/tactics/TA0005/"
"#;
    let loaded = load(text);
    assert!(loaded.rules.is_empty());
    assert_eq!(
        messages(&loaded),
        [
            "rule.toml:3:1: warning: unknown key `colour` in [metadata]",
            "rule.toml:14:1: warning: unknown key `frobnicate` in [rule]",
            "rule.toml:5:2: error: missing required field `name`",
            "rule.toml:10:12: error: severity `urgent` is not one of low, medium, high, critical",
            "rule.toml:9:14: error: risk_score 101 is outside 0 to 100",
            "rule.toml:11:12: error: `5x` is not an interval (expected a number and a unit, like 5m, 30s, 1h or 1d)",
            "rule.toml:12:8: error: `from`: `yesterday` is not a date or date math (expected `now`, a date like 2024-01-31, or `now-1d/d`)",
            "rule.toml:13:8: error: `tags` must be a list of strings",
            "rule.toml:17:23: error: expected `and`, `or` or `)`, found end of query",
            "rule.toml:20:1: error: TA0003 has reference `https://attack.mitre.org/tactics/TA0005/`; expected `https://attack.mitre.org/tactics/TA0003/`",
        ]
    );
    let kql = loaded.diagnostics.iter().find(|d| matches!(d.problem, rules::Problem::Kql(_))).expect("a KQL error");
    let snippet = kql.snippet.as_ref().expect("a snippet");
    assert_eq!((snippet.text.as_str(), snippet.column), ("  event.action:(a or b", 23));
}

#[test]
fn type_errors_in_queries_point_at_the_value() {
    let loaded = load(&MINIMAL.replace("event.action:x", "process.pid:abc"));
    assert_eq!(
        messages(&loaded),
        ["rule.toml:8:22: error: `abc` is not a number, which field `process.pid` (long) needs"]
    );
}

#[test]
fn escaped_queries_are_shown_on_their_own() {
    let loaded = load(&MINIMAL.replace(r#""event.action:x""#, r#""event.action:\"x""#));
    assert_eq!(
        messages(&loaded),
        ["rule.toml:8:9: error: in the query, line 1 column 16: expected a closing `\"`, found end of query"]
    );
}

#[test]
fn a_bad_rule_never_stops_the_others() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("a_good.toml"), MINIMAL).expect("write");
    std::fs::write(dir.path().join("b_bad.toml"), "[rule\nname = 1").expect("write");
    std::fs::create_dir(dir.path().join("c_more")).expect("mkdir");
    std::fs::write(dir.path().join("c_more/d.toml"), MINIMAL.replace("Minimal", "Nested")).expect("write");
    std::fs::create_dir(dir.path().join("c_more/d.tests")).expect("mkdir");
    std::fs::write(dir.path().join("c_more/d.tests/alert.ndjson"), "{}\n").expect("write");
    let loaded = rules::load_path(dir.path());
    let names: Vec<_> = loaded.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Minimal", "Nested"]);
    assert_eq!(loaded.diagnostics.len(), 1, "{:?}", messages(&loaded));
    assert!(messages(&loaded)[0].contains("b_bad.toml:1:"), "{:?}", messages(&loaded));
}

#[test]
fn kibana_exports_load_line_by_line() {
    let export = concat!(
        r#"{"rule_id":"r1","name":"One","description":"d","type":"query","language":"kuery","query":"event.action:x","risk_score":50,"severity":"high","index":["logs-*"],"interval":"1m","from":"now-2m","threat":[]}"#,
        "\n",
        r#"{"rule_id":"r2","name":"Two","description":"d","type":"eql","language":"eql","query":"process where true","risk_score":10,"severity":"low"}"#,
        "\n",
        r#"{"rule_id":"r3","name":"Three","description":"d","type":"query","query":"a:(b","risk_score":10,"severity":"low"}"#,
        "\n",
        r#"{"rule_id":"r4","name":"Four","description":"d","type":"eql","language":"eql","query":"sample by length(host.id) [a where true] [b where true]","risk_score":10,"severity":"low"}"#,
        "\n",
        r#"{"rule_id":"r5","name":"Five","description":"d","type":"eql","language":"eql","query":"process where x = 1","risk_score":10,"severity":"low"}"#,
        "\n",
        r#"{"rule_id":"r6","name":"Six","description":"d","type":"eql","language":"eql","query":"process where frob(x)","risk_score":10,"severity":"low"}"#,
        "\n",
        r#"{"exported_count":6,"missing_rules":[],"missing_rules_count":0}"#,
        "\n"
    );
    let loaded = rules::load_ndjson(Path::new("export.ndjson"), export);
    let names: Vec<_> = loaded.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["One", "Two", "Four"]);
    assert_eq!(loaded.rules[1].unsupported(), None);
    assert_eq!(loaded.rules[2].unsupported().as_deref(), Some("join keys other than fields are not supported yet"));
    assert_eq!(
        messages(&loaded),
        [
            "export.ndjson:3:1: error: in the query, line 1 column 5: expected `and`, `or` or `)`, found end of query",
            "export.ndjson:5:1: error: in the query, line 1 column 17: expected `|` or end of query, found `=`",
            "export.ndjson:6:1: error: in the query, line 1 column 15: `frob` is not an EQL function",
        ]
    );
}

#[test]
fn fields_vigil_does_not_apply_are_warned_about_where_they_are() {
    let text = r#"[rule]
rule_id = "r1"
name = "Tuned"
description = "A rule tuned in Kibana"
type = "query"
risk_score = 47
severity = "medium"
query = "event.action:x"
building_block_type = "default"
exceptions_list = [{id = "l1", list_id = "dkim-maintenance", namespace_type = "single", type = "detection"}]
severity_mapping = []
saved_id = "my-saved-query"

[rule.alert_suppression]
group_by = ["user.name"]
"#;
    let loaded = load(text);
    assert_eq!(
        messages(&loaded),
        [
            "rule.toml:12:12: warning: `saved_id` is not applied yet: the saved query it names is not read; only its own query runs"
        ],
        "exception lists, building blocks, mappings and suppression are applied"
    );
    assert_eq!(loaded.rules[0].unsupported(), None, "the rule still runs");
    assert_eq!(loaded.rules[0].ignored().len(), 1);
}

#[test]
fn kibana_filters_are_part_of_the_query() {
    let text = r#"[rule]
rule_id = "r1"
name = "Filtered"
description = "A rule with filters"
type = "query"
risk_score = 47
severity = "medium"
query = "event.action:x"

[[rule.filters]]
meta = {negate = true, disabled = false}
query = {match_phrase = {"user.name" = "svc-backup"}}

[[rule.filters]]
meta = {disabled = true}
query = {match_phrase = {"user.name" = "anyone"}}
"#;
    let loaded = load(text);
    assert_eq!(messages(&loaded), Vec::<String>::new());
    assert_eq!(loaded.rules[0].effective_query(), "(event.action:x) and not (user.name:\"svc-backup\")");
    let cannot = text.replace("match_phrase = {\"user.name\" = \"svc-backup\"}", "query_string = {query = \"a:b\"}");
    let loaded = load(&cannot);
    assert_eq!(
        loaded.rules[0].unsupported().as_deref(),
        Some("its filters cannot run: filter 1: a `query_string` query, which vigil cannot run yet")
    );
    assert!(messages(&loaded)[0].contains("warning: the rule will not run"), "{:?}", messages(&loaded));
}

#[test]
fn actions_are_read_and_their_templates_checked_at_their_place() {
    let good = format!(
        "{MINIMAL}throttle = \"1h\"\n\n[[rule.actions]]\nid = \"soc-slack\"\naction_type_id = \".slack\"\nparams = {{ message = \"{{{{context.rule.name}}}}\" }}\n\n[[rule.actions]]\nid = \"mail\"\nparams = {{ subject = \"x\" }}\nfrequency = {{ summary = false, notifyWhen = \"onActiveAlert\" }}\n"
    );
    let loaded = load(&good);
    assert_eq!(messages(&loaded), Vec::<String>::new());
    let actions = &loaded.rules[0].actions;
    assert_eq!(actions.len(), 2);
    assert_eq!((actions[0].connector.as_str(), actions[0].action_type_id.as_deref()), ("soc-slack", Some(".slack")));
    // No frequency: the rule's legacy throttle, a summary at most hourly.
    assert_eq!(actions[0].frequency.throttle.map(|t| t.to_string()).as_deref(), Some("1h"));
    assert!(actions[0].frequency.summary && !actions[1].frequency.summary);
    assert_eq!(actions[1].frequency.notify_when, rules::actions::NotifyWhen::OnActiveAlert);

    let bad = format!(
        "{MINIMAL}\n[[rule.actions]]\nid = \"soc-slack\"\nparams = {{ message = 'Rule {{{{context.rule.name' }}\n"
    );
    let loaded = load(&bad);
    let line = bad.lines().position(|l| l.starts_with("params")).expect("params line") + 1;
    let column = bad.lines().nth(line - 1).and_then(|l| l.find("{{")).expect("tag") + 1;
    assert_eq!(
        messages(&loaded),
        vec![format!(
            "rule.toml:{line}:{column}: error: `actions.0.params.message` is not a valid template: a tag opened with `{{{{` is not closed with `}}}}`"
        )]
    );
    assert!(loaded.rules.is_empty());

    // A Kibana export: the template is escaped in JSON, so the place is given inside it.
    let export = r#"{"rule_id":"r1","name":"N","description":"D","type":"query","risk_score":1,"severity":"low","query":"a:b","actions":[{"id":"hook","group":"default","action_type_id":".webhook","params":{"body":"{\"a\":\"x\"}\n{{#context.alerts}}"},"frequency":{"summary":true,"notifyWhen":"onThrottleInterval","throttle":"1d"}}]}"#;
    let loaded = rules::load_ndjson(Path::new("export.ndjson"), export);
    assert_eq!(
        messages(&loaded),
        vec!["export.ndjson:1:1: error: in the template `actions.0.params.body`, line 2 column 1: section `{{#context.alerts}}` is not closed: add `{{/context.alerts}}`".to_owned()]
    );
    let fixed = export.replace(r"\n{{#context.alerts}}", "{{#context.alerts}}{{/context.alerts}}");
    let loaded = rules::load_ndjson(Path::new("export.ndjson"), &fixed);
    assert_eq!(messages(&loaded), Vec::<String>::new());
    assert_eq!(loaded.rules[0].actions[0].frequency.notify_when, rules::actions::NotifyWhen::OnThrottleInterval);
}

#[test]
fn counting_rule_parameters_are_checked_where_they_are_written() {
    let head = "[rule]\nrule_id = \"t\"\nname = \"T\"\ndescription = \"d\"\nlanguage = \"kuery\"\nquery = \"event.action:x\"\nrisk_score = 10\nseverity = \"low\"\n";
    let cases = [
        (
            "type = \"threshold\"\n\n[rule.threshold]\nfield = [\"user.name\"]\nvalue = 0\n",
            "test.toml:13:9: error: `threshold.value` must be a whole number of at least 1",
        ),
        (
            "type = \"threshold\"\n\n[rule.threshold]\nfield = []\nvalue = 5\n[[rule.threshold.cardinality]]\nfield = \"message\"\nvalue = 2\n",
            "test.toml:15:9: error: Elasticsearch cannot count the distinct values of `message`: it is a text field (analyzed into words, not aggregatable)",
        ),
        (
            "type = \"new_terms\"\n\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"a\", \"b\", \"c\", \"d\"]\n[[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now-14x\"\n",
            "test.toml:13:9: error: a new terms rule needs 1 to 3 field names in `new_terms_fields`",
        ),
        (
            "type = \"new_terms\"\n\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"user.name\"]\n",
            "test.toml:11:1: error: a new terms rule needs `history_window_start` (date math such as now-14d)",
        ),
    ];
    for (tail, expected) in cases {
        let loaded = rules::load_toml(Path::new("test.toml"), &format!("{head}{tail}"));
        assert!(loaded.rules.is_empty(), "{tail}");
        assert_eq!(messages(&loaded), [expected], "{tail}");
        assert!(loaded.diagnostics[0].snippet.is_some(), "the line is shown, with a caret: {tail}");
    }
}
