//! The raw prefilter: a raw Office 365 record is left out before it is normalized only when no
//! rule can match the document it makes. Checked against every Office 365 query rule of the
//! corpus over generated and real-format records (`../shared`), and over random records and
//! queries.

use std::process::Command;

use ecs::{Catalog, Document};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A query's matcher and the literals a raw record must hold for it.
fn compile(query: &str) -> Option<(kql::Matcher<'static>, kql::Literals)> {
    let catalog = Catalog::builtin();
    let parsed = kql::parse(query).ok()?;
    let matcher = parsed.compile(catalog).ok()?;
    Some((matcher, parsed.required_literals_in(catalog, &o365::copied)))
}

fn normalize(record: &Value) -> Option<Document> {
    let options = o365::Options { agent_fields: true, ..o365::Options::default() };
    o365::normalize(record.clone(), &options).ok().map(Document::new)
}

/// Raw records: `count` from the generator (with rule positives), the real-format samples, and
/// the integration's pipeline test inputs.
fn records(shared: &std::path::Path, count: usize) -> Vec<Value> {
    let generated = Command::new("python3")
        .arg(shared.join("tools/gen_o365.py"))
        .args(["--count", &count.to_string(), "--shape", "raw", "--seed", "11"])
        .args(["--positives-every", "40", "--dkim-every", "500"])
        .output()
        .expect("python3 runs the generator");
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let mut out: Vec<Value> =
        generated.stdout.split(|b| *b == b'\n').filter_map(|line| serde_json::from_slice(line).ok()).collect();
    assert_eq!(out.len(), count);
    for entry in std::fs::read_dir(shared.join("conformance/o365-samples")).expect("samples").flatten() {
        if entry.path().extension().is_some_and(|e| e == "ndjson") {
            let text = std::fs::read_to_string(entry.path()).expect("readable");
            out.extend(text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(o365::is_raw_record));
        }
    }
    for entry in std::fs::read_dir(shared.join("conformance/o365")).expect("pipeline tests").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("test-") && name.ends_with(".json") && !name.ends_with("-expected.json") {
            let input: Value = serde_json::from_str(&std::fs::read_to_string(entry.path()).expect("readable"))
                .expect("pipeline test inputs are JSON");
            let events = input["events"].as_array().into_iter().flatten();
            out.extend(events.filter_map(|e| e.get("o365audit").cloned()));
        }
    }
    out
}

const DKIM: &str = "M365 Exchange DKIM Signing Configuration Disabled";

#[test]
fn the_raw_prefilter_keeps_every_record_a_corpus_rule_matches() {
    let Some(shared) = testkit::shared_dir() else { return };
    let loaded = rules::load_path(&shared.join("corpus/detection-rules"));
    let office: Vec<(String, kql::Matcher<'static>, kql::Literals)> = loaded
        .rules
        .iter()
        .filter(|r| r.language.as_deref() == Some("kuery") && r.index.iter().any(|i| i.contains("o365")))
        .filter_map(|r| compile(&r.effective_query()).map(|(m, l)| (r.name.clone(), m, l)))
        .collect();
    assert!(office.len() >= 40, "{} Office 365 KQL rules", office.len());
    let records = records(&shared, 10_000);
    let mut matched = 0;
    // Records the DKIM rule's raw literals leave out.
    let mut left_out = 0;
    for record in &records {
        let line = serde_json::to_vec(record).expect("serializable");
        let Some(document) = normalize(record) else { continue };
        for (name, matcher, literals) in &office {
            let may = literals.may_match(&line);
            left_out += usize::from(!may && name == DKIM);
            if matcher.matches(&document) {
                matched += 1;
                assert!(may, "{name} matches the document of {record} but the raw prefilter drops the record");
            }
        }
    }
    // The generator's positives match (so this can fail), and the DKIM rule's literals leave
    // out all but its own.
    assert!(matched >= 200, "{matched} matches");
    assert!(left_out * 100 > records.len() * 99, "{left_out} of {} records left out", records.len());
}

/// Values records and queries share, so that random queries often match.
const WORDS: &[&str] = &[
    "Set-DkimSigningConfig",
    "Add user.",
    "added-user-account",
    "TeamCreated",
    "MemberAdded",
    "added-users-to-group",
    "Delete user.",
    "Exchange",
    "AzureActiveDirectory",
    "MicrosoftTeams",
    "False",
    "True",
    "success",
    "failure",
    "Succeeded",
    "Failed",
    "Enabled",
    "Identity",
    "contoso.com",
    "1",
    "Mozilla/5.0",
    "admin@contoso.com",
];

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

/// A raw record with the fields the normalizer moves, converts or works out, of the record types
/// whose actions it renames (Entra ID 8, Teams 25) and others.
fn record() -> impl Strategy<Value = Value> {
    let named = || prop::collection::vec((word(), word()), 0..3);
    let kind = prop::sample::select(&[1u32, 8, 15, 25][..]);
    let fields = (word(), word(), word(), named(), named(), word(), word(), prop::option::of(word()), 0u32..8);
    (fields, kind).prop_map(
        |((operation, workload, status, parameters, modified, agent, user, extra, platform), kind)| {
            let parameters: Vec<Value> = parameters.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect();
            let modified: Vec<Value> =
                modified.iter().map(|(n, v)| json!({"Name": n, "NewValue": v, "OldValue": "x"})).collect();
            let mut record = json!({"CreationTime": "2026-03-02T09:00:00", "Id": "r1", "Operation": operation,
                "Workload": workload, "RecordType": kind, "ResultStatus": status, "UserId": user, "UserAgent": agent,
                "Parameters": parameters, "ModifiedProperties": modified, "Platform": platform,
                "ExtendedProperties": [{"Name": "UserAgent", "Value": agent}],
                "OperationProperties": format!("[{{\"Name\":\"x\",\"Value\":\"{agent}\"}}]"),
                "Data": format!("{{\"at\":\"2026-03-02T09:00:00\",\"ti\":\"{user}\"}}"),
                "ExceptionInfo": status});
            if let Some(extra) = extra {
                record["Extra"] = json!(extra);
            }
            record
        },
    )
}

const FIELDS: &[&str] = &[
    "event.action",
    "event.provider",
    "event.outcome",
    "event.category",
    "event.type",
    "event.id",
    "user.id",
    "user.name",
    "user_agent.original",
    "o365.audit.Parameters.Enabled",
    "o365.audit.Parameters.Identity",
    "o365.audit.ModifiedProperties.Enabled.NewValue",
    "o365.audit.Platform",
    "o365.audit.OperationProperties.Value",
    "o365.audit.Data.ti",
    "o365.audit.ExceptionInfo.Reason",
    "o365.audit.Extra",
    "o365.audit.ResultStatus",
];

fn clause() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        word().prop_map(|w| format!("\"{w}\"")),
        word().prop_map(|w| format!("*{}*", &w[..w.len().min(4)].replace(['.', ' ', '/', '@', '-'], "?"))),
    ];
    (prop::sample::select(FIELDS), value, any::<bool>())
        .prop_map(|(field, value, negated)| format!("{}{field}:{value}", if negated { "not " } else { "" }))
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec((clause(), any::<bool>()), 1..4).prop_map(|clauses| {
        let mut out = String::new();
        for (i, (clause, or)) in clauses.iter().enumerate() {
            if i > 0 {
                out.push_str(if *or { " or " } else { " and " });
            }
            out.push_str(clause);
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_raw_prefilter_never_drops_a_record_whose_document_matches(query in query(), record in record()) {
        let Some((matcher, literals)) = compile(&query) else { return Ok(()) };
        let Some(document) = normalize(&record) else { return Ok(()) };
        if matcher.matches(&document) {
            let line = serde_json::to_vec(&record).expect("serializable");
            prop_assert!(literals.may_match(&line), "{query} matches the document of {record} but the raw prefilter drops it");
        }
    }
}

/// Each way the normalizer writes a value the record does not hold as it is: the document
/// matches, and the raw prefilter keeps the record.
#[test]
fn values_the_normalizer_writes_itself_require_nothing_of_the_record() {
    let base = json!({"CreationTime": "2026-03-02T09:00:00", "Id": "r1", "Workload": "AzureActiveDirectory",
        "RecordType": 8, "ResultStatus": "Succeeded", "UserId": "admin@contoso.com"});
    let with = |extra: Value| {
        let mut record = base.clone();
        record.as_object_mut().expect("an object").extend(extra.as_object().expect("an object").clone());
        record
    };
    let cases = [
        ("event.action:added-user-account", with(json!({"Operation": "Add user."}))),
        ("event.action:*user-acc*", with(json!({"Operation": "Update user."}))),
        ("event.action:added-users-to-group", with(json!({"Operation": "MemberAdded", "RecordType": 25}))),
        ("event.outcome:success", with(json!({"Operation": "x"}))),
        ("o365.audit.Platform:*Windows*", with(json!({"Operation": "x", "Platform": 1}))),
        (
            "o365.audit.Data.at:\"2026-03-02T09:00:00.000Z\"",
            with(json!({"Operation": "x", "Data": "{\"at\":\"2026-03-02T09:00:00\"}"})),
        ),
        (
            "o365.audit.OperationProperties.Value:\"a\\\"b\"",
            with(json!({"Operation": "x", "OperationProperties": "[{\"Name\":\"n\",\"Value\":\"a\\\"b\"}]"})),
        ),
        (
            "o365.audit.ExceptionInfo.Reason:* and o365.audit.ExceptionInfo.Reason:override",
            with(json!({"Operation": "x", "RecordType": 11, "ExceptionInfo": "override"})),
        ),
        ("o365.audit.Parameters._raw:*", with(json!({"Operation": "x", "Parameters": "not a list"}))),
        ("user.name:admin", with(json!({"Operation": "x"}))),
    ];
    for (query, record) in cases {
        let (matcher, literals) = compile(query).expect("compiles");
        let document = normalize(&record).expect("normalizes");
        assert!(matcher.matches(&document), "{query} should match the document of {record}");
        let line = serde_json::to_vec(&record).expect("serializable");
        assert!(literals.may_match(&line), "{query}: the raw prefilter drops {record}");
    }
}
