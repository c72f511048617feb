//! The normalizer's documents, byte for byte, against a reference run recorded in
//! `tests/data/normalize-reference.toml`: every real-format sample and Elastic pipeline test
//! input (`../shared/conformance`), this crate's own cases (`tests/data/records.toml`), and
//! 100,000 records of `../shared/tools/gen_o365.py`, each with two sets of options. A source is
//! recorded as the SHA-256 of its input and of its output lines (a document as
//! `serde_json::to_string` writes it, or `error: <message>`); the generated records in blocks of
//! 10,000, so a difference is found to its block. Each record is normalized from its text
//! (`normalize_line`) and decoded (`normalize`), and the two must agree.
//!
//! Record it again (only when a change of output is meant, and say so in the commit) with
//! `VIGIL_RECORD_REFERENCE=1 cargo test -p o365 --test it reference`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

const REFERENCE: &str = "tests/data/normalize-reference.toml";
const GENERATED: usize = 100_000;
const BLOCK: usize = 10_000;

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Recorded {
    input: String,
    output: String,
}

#[derive(Serialize, Deserialize, Default)]
struct Reference {
    source: BTreeMap<String, Recorded>,
}

/// The options a source is normalized with: as `vigil scan` and `vigil o365 normalize` do, and
/// with every setting the integration has.
fn option_sets() -> [(&'static str, o365::Options); 2] {
    let scan = o365::Options { agent_fields: true, ..o365::Options::default() };
    let full = o365::Options {
        tenants: [
            ("b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd".to_owned(), "contoso.onmicrosoft.com".to_owned()),
            ("7b4b1c6f-3e65-4f7e-9d0c-2f4c8e0a1b2c".to_owned(), "fabrikam.example".to_owned()),
        ]
        .into(),
        preserve_original: true,
        agent_fields: true,
        ingested: Some(ecs::date::Timestamp::parse("2026-12-01T10:00:00.123Z", false).expect("a date")),
        tags: vec!["preserve_original_event".to_owned(), "forwarded".to_owned()],
    };
    [("scan", scan), ("full", full)]
}

fn hex(digest: impl AsRef<[u8]>) -> String {
    digest.as_ref().iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The output line of one record, from its text (`o365::normalize_line`); the same as the
/// document `o365::normalize` makes of it decoded, or the test fails.
fn normalized(line: &str, options: &o365::Options) -> Vec<u8> {
    let mut written = Vec::new();
    if let Err(err) = o365::normalize_line(line.as_bytes(), options, &mut written) {
        written = format!("error: {err}").into_bytes();
    }
    let record: Value = serde_json::from_str(line).expect("JSON");
    let decoded = match o365::normalize(record, options) {
        Ok(doc) => serde_json::to_string(&doc).expect("a document serializes"),
        Err(err) => format!("error: {err}"),
    };
    assert_eq!(String::from_utf8_lossy(&written), decoded, "normalize_line and normalize differ on {line}");
    written
}

/// Records every source's digests into `sources` (name -> input, output). `lines` are the
/// records as their source writes them (or as `serde_json` writes a decoded one).
fn run(lines: &[String], name: &str, sources: &mut BTreeMap<String, Recorded>) {
    let records: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let input = hex(Sha256::digest(records.iter().map(|r| format!("{r}\n")).collect::<String>()));
    for (label, options) in option_sets() {
        let mut output = Sha256::new();
        for line in lines {
            output.update(normalized(line, &options));
            output.update(b"\n");
        }
        let recorded = Recorded { input: input.clone(), output: hex(output.finalize()) };
        sources.insert(format!("{name} [{label}]"), recorded);
    }
}

fn ndjson(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

fn lines(records: impl Iterator<Item = Value>) -> Vec<String> {
    records.map(|r| r.to_string()).collect()
}

#[test]
#[allow(clippy::print_stdout)]
fn documents_are_byte_identical_to_the_reference_run() {
    // The reference run is of ../shared's samples and generator (testkit says when it is absent).
    let Some(shared) = testkit::shared_dir() else { return };
    let mut sources = BTreeMap::new();

    let samples = shared.join("conformance/o365-samples");
    for name in [
        "SYNTHETIC-set-dkimsigningconfig.ndjson",
        "beats-01-exchange-admin.selected.ndjson",
        "huntress2023-rogue-inbox-purview.auditdata.ndjson",
    ] {
        run(&ndjson(&samples.join(name)), &format!("o365-samples/{name}"), &mut sources);
    }
    let csv = std::fs::File::open(samples.join("huntress2023-rogue-inbox-purview.csv")).expect("readable");
    let rows = lines(o365::purview::records(csv).expect("a Purview export").map(|(_, r)| r.expect("a row")));
    run(&rows, "o365-samples/huntress2023-rogue-inbox-purview.csv", &mut sources);

    for file in crate::pipeline_test_inputs(&shared.join("conformance/o365")) {
        let input: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("readable")).expect("JSON");
        let records = lines(input["events"].as_array().into_iter().flatten().map(|e| e["o365audit"].clone()));
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        run(&records, &format!("o365/{name}"), &mut sources);
    }

    #[derive(Deserialize)]
    struct Cases {
        case: Vec<Case>,
    }
    #[derive(Deserialize)]
    struct Case {
        record: String,
    }
    let cases: Cases = toml::from_str(include_str!("../data/records.toml")).expect("records.toml is valid");
    let records: Vec<String> = cases.case.iter().map(|c| c.record.clone()).collect();
    run(&records, "tests/data/records.toml", &mut sources);

    let generator = shared.join("tools/gen_o365.py");
    let generated = Command::new("python3")
        .arg(&generator)
        .args(["--count", &GENERATED.to_string(), "--shape", "raw", "--seed", "7"])
        .output()
        .expect("python3 runs the generator");
    assert!(generated.status.success(), "{}: {}", generator.display(), String::from_utf8_lossy(&generated.stderr));
    let records: Vec<String> = String::from_utf8(generated.stdout).expect("UTF-8").lines().map(str::to_owned).collect();
    assert_eq!(records.len(), GENERATED);
    for (i, block) in records.chunks(BLOCK).enumerate() {
        let name = format!("gen_o365.py --seed 7, records {:06}-{:06}", i * BLOCK + 1, (i + 1) * BLOCK);
        run(block, &name, &mut sources);
    }

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE);
    if std::env::var_os("VIGIL_RECORD_REFERENCE").is_some() {
        let count = sources.len();
        let text = toml::to_string(&Reference { source: sources }).expect("serializes");
        let header = "# The normalizer's reference run: SHA-256 of each source's input and output lines\n\
                      # (tests/it/reference.rs). Recorded with VIGIL_RECORD_REFERENCE=1.\n\n";
        std::fs::write(&path, format!("{header}{text}")).expect("the reference is writable");
        println!("recorded {count} sources in {}", path.display());
        return;
    }
    let reference: Reference =
        toml::from_str(&std::fs::read_to_string(&path).expect("the reference is readable")).expect("valid TOML");
    let mut report = String::new();
    for (name, recorded) in &reference.source {
        match sources.get(name) {
            None => {
                let _ = writeln!(report, "  {name}: not run");
            }
            Some(run) if run.input != recorded.input => {
                let _ = writeln!(report, "  {name}: the input changed since the reference was recorded");
            }
            Some(run) if run.output != recorded.output => {
                let _ = writeln!(report, "  {name}: documents differ from the reference run");
            }
            Some(_) => {}
        }
    }
    for name in sources.keys().filter(|n| !reference.source.contains_key(*n)) {
        let _ = writeln!(report, "  {name}: not in the reference");
    }
    println!("o365 reference: {} sources compared", sources.len());
    assert!(report.is_empty(), "the normalizer's output is not the reference run's:\n{report}");
}
