//! Real-format records (`../shared/conformance/o365-samples`) all normalize.

#[test]
#[allow(clippy::print_stdout)]
fn every_sample_record_normalizes() {
    let Some(shared) = testkit::shared_dir() else { return };
    let dir = shared.join("conformance/o365-samples");
    let options = o365::Options { agent_fields: true, ..o365::Options::default() };
    let mut count = 0;
    for name in [
        "SYNTHETIC-set-dkimsigningconfig.ndjson",
        "beats-01-exchange-admin.selected.ndjson",
        "huntress2023-rogue-inbox-purview.auditdata.ndjson",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).expect("sample is readable");
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let record: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1));
            assert!(o365::is_raw_record(&record), "{name}:{} is a raw record", i + 1);
            if let Err(err) = o365::normalize(record, &options) {
                panic!("{name}:{}: {err}", i + 1);
            }
            count += 1;
        }
    }
    let csv = std::fs::File::open(dir.join("huntress2023-rogue-inbox-purview.csv")).expect("readable");
    for (row, record) in o365::purview::records(csv).expect("a Purview export") {
        let record = record.unwrap_or_else(|e| panic!("csv row {row}: {e}"));
        o365::normalize(record, &options).unwrap_or_else(|e| panic!("csv row {row}: {e}"));
        count += 1;
    }
    println!("o365 samples: {count} records normalized");
    assert_eq!(count, 5 + 8 + 219 + 219);
}
