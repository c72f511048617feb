//! What the pipeline makes of records of every workload, pinned as data (`tests/data/records.toml`).

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    record: String,
    expect: toml::Table,
}

fn at<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(doc, |v, key| v.get(key))
}

#[test]
fn records_become_the_documents_elastic_indexes() {
    let cases: Cases = toml::from_str(include_str!("../data/records.toml")).expect("records.toml is valid");
    let options = o365::Options { agent_fields: true, ..o365::Options::default() };
    let mut failures = Vec::new();
    for case in &cases.case {
        let record: Value = serde_json::from_str(&case.record).expect("test records are JSON");
        let doc = match o365::normalize(record, &options) {
            Ok(doc) => doc,
            Err(err) => {
                failures.push(format!("{}: {err}", case.name));
                continue;
            }
        };
        for (path, want) in &case.expect {
            let want: Value = serde_json::to_value(want).expect("TOML values are JSON");
            let got = at(&doc, path);
            let ok = if want == "<absent>" { got.is_none() } else { got == Some(&want) };
            if !ok {
                failures.push(format!("{}: {path} is {got:?}, expected {want}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_record_twice_is_the_same_event() {
    let record: Value =
        serde_json::from_str(r#"{"CreationTime":"2026-03-02T08:14:05","Id":"abc","Operation":"X","RecordType":1}"#)
            .expect("JSON");
    let options = o365::Options { agent_fields: true, ..o365::Options::default() };
    let first = o365::normalize(record.clone(), &options).expect("normalizes");
    let second = o365::normalize(record, &options).expect("normalizes");
    assert_eq!(first, second);
    assert_eq!(first["event"]["id"], "abc");
}

#[test]
fn malformed_records_say_what_is_wrong() {
    let options = o365::Options::default();
    assert_eq!(
        o365::normalize(serde_json::json!([1]), &options).unwrap_err().to_string(),
        "an audit record must be a JSON object, found an array"
    );
    let bad_time = serde_json::json!({"CreationTime": "yesterday", "Operation": "X", "RecordType": 1});
    assert_eq!(
        o365::normalize(bad_time, &options).unwrap_err().to_string(),
        "CreationTime `yesterday` is not an ISO 8601 date"
    );
}
