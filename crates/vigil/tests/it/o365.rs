//! Raw Office 365 records through `vigil scan` and `vigil o365 normalize`.

use crate::vigil;

fn alerted_ids(csv: &str) -> Vec<String> {
    csv.lines().skip(1).map(|l| l.split(',').nth(7).unwrap_or_default().to_owned()).collect()
}

#[test]
fn raw_records_are_normalized_and_alert_once() {
    let run = vigil(&["scan", "--output", "csv", "-q", "samples/o365-raw.ndjson"], "");
    assert_eq!(run.code, 0);
    assert_eq!(
        alerted_ids(&run.stdout),
        ["7c1e4a90-0d1f-4b6e-9a52-5f3c2b1d0a01"],
        "the record delivered twice alerts once"
    );
    assert_eq!(run.stderr, "samples/o365-raw.ndjson:5: CreationTime `not a date` is not an ISO 8601 date\n");
}

#[test]
fn raw_records_that_cannot_be_read_count_as_invalid() {
    // A good record first, so the input is taken for raw records.
    let sample = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-raw.ndjson"))
        .expect("the raw sample");
    let first = sample.lines().next().expect("a first record");
    // A record a rule may match is normalized, so its problem is reported; one no rule can match
    // (by what its document would copy from it) is left out unread, as ECS lines are.
    let input = format!(
        "{first}\n{{\"CreationTime\": \"2026-03-02T08:14:05\", \"Operation\": \"Set-DkimSigningConfig\", \"Workload\": \"Exchange\", \
         \"Parameters\": [{{\"Name\": \"Enabled\", \"Value\": \"False\"}}], \"ResultStatus\": x}}\n\
         {{\"CreationTime\": \"2026-03-02T08:14:05\", \"Operation\": x}}\n"
    );
    let run = vigil(&["scan", "--output", "table", "-"], &input);
    assert_eq!(run.stderr.lines().next(), Some("<stdin>:2: invalid JSON at column 174: expected value"));
    assert!(run.stdout.contains("3 events read, 1 decoded, 1 invalid."), "{}", run.stdout);
}

#[test]
fn purview_exports_are_read_by_their_audit_data() {
    let run = vigil(&["scan", "--output", "csv", "-q", "samples/o365-purview.csv"], "");
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(alerted_ids(&run.stdout), ["7c1e4a90-0d1f-4b6e-9a52-5f3c2b1d0a01"]);
    assert!(run.stdout.contains(",samples/o365-purview.csv,2,"), "row 2 (after the header): {}", run.stdout);
}

#[test]
fn normalize_prints_ecs_documents() {
    let run = vigil(
        &["o365", "normalize", "--tenant", "B86AB9D4-FCF1-4B11-8A06-7A8F91B47FBD=Fabrikam", "samples/o365-raw.ndjson"],
        "",
    );
    assert_eq!(run.code, 1, "the sample's fifth record cannot be normalized: {}", run.stderr);
    let docs: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(docs.len(), 4);
    let dkim = &docs[0];
    assert_eq!(dkim["event"]["action"], "Set-DkimSigningConfig");
    assert_eq!(dkim["event"]["code"], "ExchangeAdmin");
    assert_eq!(dkim["organization"]["name"], "Fabrikam");
    assert_eq!(dkim["o365"]["audit"]["Parameters"]["Enabled"], "False");
    assert_eq!(dkim["data_stream"]["dataset"], "o365.audit");
    assert_eq!(docs[2]["event"]["code"], "ExchangeItemAggregated");
    assert!(run.stderr.contains("samples/o365-raw.ndjson:5: CreationTime"), "{}", run.stderr);
}

#[test]
fn the_dkim_rule_alerts_on_the_synthetic_records_1_and_5() {
    let Some(shared) = testkit::shared_dir() else { return };
    let file = shared.join("conformance/o365-samples/SYNTHETIC-set-dkimsigningconfig.ndjson");
    let run = vigil(&["scan", "--output", "csv", "-q", &file.to_string_lossy()], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<String> =
        run.stdout.lines().skip(1).map(|l| l.split(',').nth(9).unwrap_or_default().to_owned()).collect();
    assert_eq!(lines, ["1", "5"]);
}

#[test]
fn pull_wants_its_secret_from_a_file_or_the_environment_and_a_window_the_api_keeps() {
    let run = vigil(&["o365", "pull", "--tenant-id", "t1", "--client-id", "app"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("give --client-secret-file FILE, set VIGIL_O365_CLIENT_SECRET"), "{}", run.stderr);
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").expect("write");
    let secret = secret.to_str().expect("utf-8");
    let run = vigil(
        &["o365", "pull", "--tenant-id", "t1", "--client-id", "app", "--client-secret-file", secret, "--since", "8d"],
        "",
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--since 8d: the API keeps content 7 days"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"));
}
