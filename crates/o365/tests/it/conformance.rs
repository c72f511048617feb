//! Elastic's pipeline tests for the `o365` integration (`../shared/conformance/o365`): vigil's
//! document for each input must equal the expected one, apart from `event.original`, GeoIP
//! (`source.geo`, `source.as`), `event.ingested` and `ecs.version`. Differences kept on purpose
//! are listed in `tests/o365-divergences.toml`, by file, event and field, with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Divergences {
    #[serde(rename = "difference", default)]
    differences: Vec<Divergence>,
}

#[derive(Deserialize)]
struct Divergence {
    file: String,
    event: usize,
    field: String,
    reason: String,
}

/// Every leaf of a document as `dotted.path -> value` (arrays kept whole).
fn leaves(value: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                leaves(child, &path, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

fn ignored(path: &str) -> bool {
    ["event.original", "event.ingested", "ecs.version", "source.geo", "source.as"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}.")))
}

#[test]
#[allow(clippy::print_stdout)]
fn elastic_pipeline_tests() {
    let Some(shared) = testkit::shared_dir() else { return };
    let dir = shared.join("conformance/o365");
    let divergences: Divergences =
        toml::from_str(include_str!("../o365-divergences.toml")).expect("tests/o365-divergences.toml is valid");
    let mut listed: BTreeSet<(String, usize, String)> =
        divergences.differences.iter().map(|d| (d.file.clone(), d.event, d.field.clone())).collect();
    for d in &divergences.differences {
        assert!(!d.reason.trim().is_empty(), "{} {} {}: give a reason", d.file, d.event, d.field);
    }
    let options = o365::Options {
        tenants: [("b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd".to_owned(), "mytenant.onmicrosoft.com".to_owned())].into(),
        tags: vec!["preserve_original_event".to_owned()],
        preserve_original: true,
        ..o365::Options::default()
    };
    let files = crate::pipeline_test_inputs(&dir);
    let (mut total_same, mut total) = (0, 0);
    let mut report = String::new();
    let mut unexpected = 0;
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let input: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("readable")).expect("JSON");
        let expected_path = file.with_file_name(format!("{name}-expected.json"));
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&expected_path).expect("readable")).expect("JSON");
        let events = input["events"].as_array().cloned().unwrap_or_default();
        let wanted = expected["expected"].as_array().cloned().unwrap_or_default();
        let mut same = 0;
        for (i, (event, want)) in events.iter().zip(&wanted).enumerate() {
            let got = match o365::normalize(event["o365audit"].clone(), &options) {
                Ok(doc) => doc,
                Err(err) => {
                    unexpected += 1;
                    let _ = writeln!(report, "  {name} #{i}: {err}");
                    continue;
                }
            };
            let (mut ours, mut theirs) = (BTreeMap::new(), BTreeMap::new());
            leaves(&got, "", &mut ours);
            leaves(want, "", &mut theirs);
            let fields: BTreeSet<&String> = ours.keys().chain(theirs.keys()).filter(|p| !ignored(p)).collect();
            let mut clean = true;
            for field in fields {
                if ours.get(field) == theirs.get(field) {
                    continue;
                }
                clean = false;
                if !listed.remove(&(name.clone(), i, field.clone())) {
                    unexpected += 1;
                    let _ = writeln!(
                        report,
                        "  {name} #{i} {field}: ours {:?}, expected {:?}",
                        ours.get(field),
                        theirs.get(field)
                    );
                }
            }
            same += usize::from(clean);
        }
        println!("o365 conformance: {name}: {same} of {} documents identical", events.len());
        total_same += same;
        total += events.len();
    }
    for (file, event, field) in &listed {
        unexpected += 1;
        let _ = writeln!(report, "  {file} #{event} {field}: listed as a difference, but there is none");
    }
    println!(
        "o365 conformance: {total_same} of {total} documents identical; other differences are listed in tests/o365-divergences.toml"
    );
    print!("{report}");
    assert_eq!(unexpected, 0, "unexpected differences:\n{report}");
}
