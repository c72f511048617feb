//! What `vigil scan` writes for people (table, timeline, HTML report), the inputs it reads as
//! users have them, and the command line's manners: broken pipes, standard input on a
//! terminal, help. Output forms are snapshot tests (insta) over the samples.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::vigil;

const NOW: &str = "2026-03-03T00:00:00Z";

/// Every sample: ECS documents, raw records, a Purview export.
const SAMPLES: &[&str] = &["samples/o365-ecs.ndjson", "samples/o365-raw.ndjson", "samples/o365-purview.csv"];

fn scan(extra: &[&str]) -> crate::Run {
    let mut args = vec!["scan", "--now", NOW, "-q"];
    args.extend_from_slice(extra);
    args.extend_from_slice(SAMPLES);
    vigil(&args, "")
}

#[test]
fn every_output_form_of_the_samples() {
    for (name, form) in [
        ("table", "table"),
        ("jsonl", "jsonl"),
        ("csv", "csv"),
        ("timeline_csv", "timeline"),
        ("timeline_jsonl", "timeline-jsonl"),
        ("html", "html"),
    ] {
        let run = scan(&["--output", form, "--color", "never"]);
        assert_eq!(run.code, 0, "{form}: {}", run.stderr);
        insta::assert_snapshot!(format!("scan_{name}"), run.stdout);
    }
}

#[test]
fn the_timeline_is_in_time_order_with_the_columns_asked_for() {
    let run = scan(&["--output", "timeline", "--fields", "time,rule_id,user.id,event.action,file,line"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(rows[0], "time,rule_id,user.id,event.action,file,line");
    let times: Vec<&str> = rows[1..].iter().map(|r| r.split(',').next().unwrap_or_default()).collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted);
    assert_eq!(rows.len(), 4, "{}", run.stdout);
    let elsewhere = scan(&["--output", "jsonl", "--fields", "time"]);
    assert_eq!(elsewhere.code, 2, "--fields is the timeline's");
    assert!(elsewhere.stderr.contains("--fields chooses the columns of --output timeline"), "{}", elsewhere.stderr);
}

#[test]
fn rules_and_times_are_left_out_as_asked() {
    let excluded = scan(&["--output", "jsonl", "--exclude-rule", "dkim signing"]);
    assert_eq!(excluded.code, 2, "no rule left: {}", excluded.stderr);
    let by_tag = scan(&["--output", "jsonl", "--exclude-tag", "Tactic: Persistence"]);
    assert_eq!(by_tag.code, 2, "{}", by_tag.stderr);
    let since = vigil(&["scan", "--now", NOW, "--output", "jsonl", "--since", "2026-03-02T09:00:00Z", SAMPLES[0]], "");
    assert_eq!(since.stdout.lines().count(), 1, "{}", since.stdout);
    assert!(since.stderr.contains("1 matching event outside --since/--until left out"), "{}", since.stderr);
    let until = vigil(&["scan", "--now", NOW, "-q", "--output", "jsonl", "--until", "now-14h", SAMPLES[0]], "");
    assert_eq!(until.stdout.lines().count(), 1, "08:14 is before 10:00, 10:45 after: {}", until.stdout);
    let bad = vigil(&["scan", "--since", "yesterday", SAMPLES[0]], "");
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--since yesterday: not a date"), "{}", bad.stderr);
}

#[test]
fn folders_give_their_data_files_and_name_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ecs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-ecs.ndjson")).expect("sample");
    std::fs::write(dir.path().join("audit.ndjson"), &ecs).expect("write");
    std::fs::write(dir.path().join("audit.log"), &ecs).expect("write");
    std::fs::write(dir.path().join("README.txt"), "not events\n").expect("write");
    let path = dir.path().to_string_lossy().into_owned();
    let run = vigil(&["scan", "--output", "csv", &path], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("skipped 2 files in the folders that are not data"), "{}", run.stderr);
    assert!(run.stderr.contains("README.txt") && run.stderr.contains("audit.log"), "{}", run.stderr);
    let all = vigil(&["scan", "--output", "csv", "-q", "--ext", "log", &path], "");
    assert!(all.stdout.lines().skip(1).all(|l| l.contains("audit.log")), "{}", all.stdout);
    assert_eq!(all.stdout.lines().count(), 3, "{}", all.stdout);
}

#[test]
fn search_responses_pretty_json_bom_and_utf16_are_read() {
    let ecs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-ecs.ndjson")).expect("sample");
    let docs: Vec<Value> = ecs.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let hits: Vec<Value> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| json!({"_index": ".ds-logs-o365.audit-default-2026.03.02-000001", "_id": format!("hit-{i}"), "_source": d}))
        .collect();
    let response = json!({"took": 4, "timed_out": false, "hits": {"total": {"value": hits.len()}, "hits": hits}});
    let ids = |run: &crate::Run| -> Vec<String> {
        run.stdout.lines().skip(1).map(|l| l.split(',').nth(7).unwrap_or_default().to_owned()).collect()
    };
    let from_search =
        vigil(&["scan", "--output", "csv", "-q", "-"], &serde_json::to_string_pretty(&response).expect("JSON"));
    assert_eq!(from_search.code, 0, "{}", from_search.stderr);
    assert_eq!(ids(&from_search), ["hit-0", "hit-4"], "{}", from_search.stdout);
    let pretty = serde_json::to_string_pretty(&docs[0]).expect("JSON");
    let one = vigil(&["scan", "--output", "csv", "-q", "-"], &pretty);
    assert_eq!(one.stdout.lines().count(), 2, "a pretty-printed document is one event: {}", one.stdout);

    let dir = tempfile::tempdir().expect("tempdir");
    let bom = dir.path().join("bom.ndjson");
    std::fs::write(&bom, format!("\u{feff}{ecs}")).expect("write");
    let utf16 = dir.path().join("powershell.json");
    let text = format!("\u{feff}{ecs}").replace('\n', "\r\n");
    std::fs::write(&utf16, text.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()).expect("write");
    for path in [&bom, &utf16] {
        let run = vigil(&["scan", "--output", "csv", &path.to_string_lossy()], "");
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout.lines().count(), 3, "{}: {}{}", path.display(), run.stdout, run.stderr);
        assert!(!run.stderr.contains("invalid"), "{}", run.stderr);
    }
}

#[test]
fn kql_match_and_explain_read_what_scan_reads() {
    let raw = vigil(
        &[
            "kql",
            "match",
            "-c",
            "event.action:\"Set-DkimSigningConfig\" and o365.audit.Parameters.Enabled:False",
            "samples/o365-raw.ndjson",
            "samples/o365-purview.csv",
        ],
        "",
    );
    assert_eq!(
        raw.stdout.trim(),
        "3",
        "raw records (one delivered twice) and the export's row are normalized first: {}",
        raw.stderr
    );
    let explained =
        vigil(&["kql", "explain", "event.outcome:success and user.name:it-admin", "samples/o365-raw.ndjson"], "");
    assert_eq!(explained.code, 0, "{}", explained.stderr);
    insta::assert_snapshot!("kql_explain_raw_file", explained.stdout);
    let rule = vigil(&["rules", "explain", "dkim", "samples/o365-ecs.ndjson"], "");
    assert_eq!(rule.code, 0, "{}", rule.stderr);
    insta::assert_snapshot!("rules_explain_dkim", rule.stdout);
}

#[test]
fn o365_normalize_says_when_records_failed() {
    let run = vigil(&["o365", "normalize", "samples/o365-raw.ndjson"], "");
    assert_eq!(run.code, 1, "a record could not be normalized: {}", run.stderr);
    assert!(run.stderr.contains("1 of 5 records could not be normalized"), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 4);
    let clean = vigil(&["o365", "normalize", "samples/o365-purview.csv"], "");
    assert_eq!(clean.code, 0, "{}", clean.stderr);
}

#[test]
fn a_closed_pipe_ends_quietly() {
    for args in [
        &["kql", "dsl", "event.action:x"][..],
        &["rules", "show", "dkim"],
        &["rules", "list"],
        &["scan", "--output", "jsonl", "samples/o365-ecs.ndjson"],
        &["scan", "--output", "html", "samples/o365-ecs.ndjson"],
        &["kql", "match", "event.action:*", "samples/o365-ecs.ndjson"],
        &["--help"],
    ] {
        // Standard output is a pipe whose reader is gone before vigil writes a byte.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("vigil runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn scan_on_a_terminal_says_it_reads_standard_input() {
    // `script` gives vigil a terminal, which never ends: `timeout` stops both after 3 s.
    let command = format!("{} scan -q", env!("CARGO_BIN_EXE_vigil"));
    let out = Command::new("timeout")
        .args(["3", "script", "-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("reading records from standard input (end with Ctrl-D)"), "{text}");
}

#[test]
fn the_html_report_renders_in_a_browser_and_runs_nothing_from_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dkim = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-raw.ndjson"))
        .expect("samples");
    let first: Value = serde_json::from_str(dkim.lines().next().expect("a record")).expect("JSON");
    let mut evil = first.clone();
    evil["Id"] = json!("0d0d0d0d-0000-4000-8000-000000000666");
    evil["UserId"] = json!("<script>window.__xss=1</script>@contoso.com");
    evil["ClientIP"] = json!("203.0.113.66");
    evil["ObjectId"] =
        json!("\"><img src=x onerror=\"window.__xss=2\"><link rel=stylesheet href=https://example.com/x.css>");
    let input = dir.path().join("audit.ndjson");
    std::fs::write(&input, format!("{dkim}{evil}\n")).expect("write");
    let report = dir.path().join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["scan", "--now", NOW, "-q", "--output", "html"])
        .arg(&input)
        .stdout(std::fs::File::create(&report).expect("the report file"))
        .output()
        .expect("vigil runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&report).expect("the report");
    assert!(!html.contains("<script"), "no script element at all, escaped or not");
    assert!(html.contains("&#60;script&#62;window.__xss=1&#60;/script&#62;"), "the payload is escaped");
    assert!(html.contains("Content-Security-Policy"), "what escaping missed could still not run or load");

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let browser = testkit::browser::Browser::start().await;
        browser.client.goto(&format!("file://{}", report.display())).await.expect("the report opens");
        assert!(browser.client.title().await.expect("a title").starts_with("vigil scan report"));
        let count = |js: &'static str| {
            let client = browser.client.clone();
            async move { client.execute(js, vec![]).await.expect("a script") }
        };
        assert_eq!(count("return document.querySelectorAll('#timeline-table tr.alert').length;").await, json!(2));
        assert_eq!(count("return document.scripts.length;").await, json!(0));
        assert_eq!(count("return performance.getEntriesByType('resource').length;").await, json!(0), "nothing loaded");
        assert_eq!(browser.xss().await, Value::Null, "no payload ran");
        let severity = browser.text("#by-severity").await.to_lowercase();
        assert!(severity.contains("medium") && severity.contains('2'), "{severity}");
        assert!(browser.text("#by-user").await.contains("<script>window.__xss=1</script>"), "shown as text");
        assert!(browser.text("#by-ip").await.contains("203.0.113.66"));
        let attack = browser.text(".tactic[data-tactic=TA0003]").await;
        assert!(attack.contains("T1556 Modify Authentication Process · 2"), "{attack}");
        assert!(browser.text("#guides").await.contains("Rules and investigation guides"));
        browser.screenshot("scan-report").await;
        let _ = browser.client.clone().close().await;
    });
}

#[test]
fn every_command_has_examples_and_exit_codes_in_its_help() {
    let leaves = [
        "scan",
        "serve",
        "status",
        "rules list",
        "rules show",
        "rules validate",
        "rules test",
        "rules explain",
        "rules run",
        "rules enable",
        "rules disable",
        "rules executions",
        "kql parse",
        "kql dsl",
        "kql match",
        "kql explain",
        "o365 normalize",
        "o365 pull",
        "alerts list",
        "alerts show",
        "alerts ack",
        "alerts close",
        "alerts reopen",
        "events search",
        "keys create",
        "keys list",
        "keys revoke",
        "exceptions list",
        "exceptions show",
        "exceptions import",
        "exceptions export",
        "exceptions add",
        "exceptions remove",
        "exceptions test",
        "exceptions values",
        "connectors list",
        "connectors test",
    ];
    for leaf in leaves {
        let mut args: Vec<&str> = leaf.split(' ').collect();
        args.push("--help");
        let run = vigil(&args, "");
        assert_eq!(run.code, 0, "{leaf}: {}", run.stderr);
        assert!(
            run.stdout.contains("Examples:\n  ") && run.stdout.contains(" vigil "),
            "{leaf} has no examples:\n{}",
            run.stdout
        );
        assert!(run.stdout.contains("Exit codes:"), "{leaf} has no exit codes");
    }
}
