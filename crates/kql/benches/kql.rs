//! Micro-benchmarks of the KQL engine: parse, compile, match, prefilter.
//!
//! `cargo bench -p kql`. The data is generated here: the DKIM rule's query, a few queries shaped
//! like Elastic's rules, and an Office 365 event in ECS form (about 1.3 KB).

use criterion::{Criterion, Throughput, criterion_main};
use ecs::{Catalog, Document};
use std::hint::black_box;

const DKIM: &str = r#"event.dataset:o365.audit and event.provider:Exchange and event.category:web and event.action:"Set-DkimSigningConfig" and o365.audit.Parameters.Enabled:False and event.outcome:success"#;

const QUERIES: &[&str] = &[
    DKIM,
    r#"event.dataset:o365.audit and event.provider:Exchange and event.action:("New-InboxRule" or "Set-InboxRule") and o365.audit.Parameters.ForwardTo:* and event.outcome:success"#,
    r#"event.category:process and host.os.type:windows and process.name:(cmd.exe or powershell.exe or pwsh.exe) and process.args:(*-enc* or *-EncodedCommand* or *FromBase64String*) and not user.name:(SYSTEM or "LOCAL SERVICE")"#,
    r#"event.category:network and network.direction:(outbound or egress) and destination.port:(22 or 3389 or 5900) and not destination.ip:(10.0.0.0/8 or 172.16.0.0/12 or 192.168.0.0/16) and @timestamp >= now-1d"#,
    r#"email.attachments:{ file.extension:(exe or js or vbs) and file.size > 1000 } and email.direction:inbound"#,
];

fn event(action: &str, enabled: &str) -> String {
    format!(
        r#"{{"@timestamp":"2026-11-01T00:08:20.000Z","data_stream":{{"type":"logs","dataset":"o365.audit","namespace":"default"}},"ecs":{{"version":"8.11.0"}},"event":{{"dataset":"o365.audit","module":"o365","kind":"event","category":["web"],"type":["info"],"id":"93a55687-e94e-4e00-aa64-a0a479b3d1b4","provider":"Exchange","action":"{action}","code":"ExchangeAdmin","outcome":"success","ingested":"2026-11-01T01:23:20.000Z"}},"organization":{{"id":"b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd","name":"contoso.onmicrosoft.com"}},"user":{{"id":"admin2@contoso.onmicrosoft.com","email":"admin2@contoso.onmicrosoft.com","name":"admin2","domain":"contoso.onmicrosoft.com"}},"client":{{"address":"20.207.0.4","ip":"20.207.0.4"}},"source":{{"ip":"20.207.0.4"}},"related":{{"ip":["20.207.0.4"],"user":["admin2"]}},"host":{{"id":"b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd","name":"contoso.onmicrosoft.com"}},"o365":{{"audit":{{"UserKey":"1003AD9389DE7BEB","UserId":"admin2@contoso.onmicrosoft.com","Version":"1","RecordType":"1","UserType":"2","ResultStatus":"True","ObjectId":"contoso.com","ExternalAccess":false,"OriginatingServer":"DM6PR11MB6584 (15.20.8466.031)","AppId":"fb78d390-0c51-40cd-8e17-fdbfab77341b","ClientAppId":"","SessionId":"c42fa999-c2b1-440f-aea2-ae95ede06728","Parameters":{{"Identity":"contoso.com","Enabled":"{enabled}"}}}}}}}}"#
    )
}

/// The `kuery` queries of `../shared/corpus/detection-rules`, if present.
fn corpus_queries() -> Option<Vec<String>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "toml")
                && let Some(rule) = std::fs::read_to_string(&path).ok().and_then(|t| t.parse::<toml::Table>().ok())
                && let Some(rule) = rule.get("rule").and_then(|r| r.as_table())
                && rule.get("language").and_then(|l| l.as_str()) == Some("kuery")
                && let Some(query) = rule.get("query").and_then(|q| q.as_str())
            {
                out.push(query.to_owned());
            }
        }
    }
    let mut queries = Vec::new();
    walk(&testkit::shared_dir()?.join("corpus/detection-rules"), &mut queries);
    Some(queries)
}

fn bench(c: &mut Criterion) {
    let catalog = Catalog::builtin();
    let mut group = c.benchmark_group("kql");

    group.throughput(Throughput::Elements(QUERIES.len() as u64));
    group.bench_function("parse (queries)", |b| {
        b.iter(|| QUERIES.iter().filter(|q| kql::parse(black_box(q)).is_ok()).count())
    });
    let parsed: Vec<_> = QUERIES.iter().map(|q| kql::parse(q).expect("bench queries parse")).collect();
    group.bench_function("compile (queries)", |b| {
        b.iter(|| parsed.iter().filter(|q| q.compile(black_box(catalog)).is_ok()).count())
    });

    let matcher = kql::parse(DKIM).and_then(|q| q.compile(catalog)).expect("DKIM compiles");
    let hit = event("Set-DkimSigningConfig", "False");
    let miss = event("MailItemsAccessed", "True");
    let hit_doc = Document::parse(&hit).expect("valid event");
    let miss_doc = Document::parse(&miss).expect("valid event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("match DKIM, decoded event that matches", |b| b.iter(|| matcher.matches(black_box(&hit_doc))));
    group.bench_function("match DKIM, decoded event that does not", |b| {
        b.iter(|| matcher.matches(black_box(&miss_doc)))
    });

    // The whole public rule corpus, when the shared reference data is there.
    if let Some(queries) = corpus_queries() {
        group.throughput(Throughput::Elements(queries.len() as u64));
        group.bench_function("parse and compile the rule corpus (queries)", |b| {
            b.iter(|| queries.iter().filter(|q| kql::parse(q).and_then(|q| q.compile(catalog)).is_ok()).count())
        });
    }

    group.throughput(Throughput::Bytes(miss.len() as u64));
    group.bench_function("decode and match DKIM (bytes of one event)", |b| {
        b.iter(|| Document::parse(black_box(&miss)).map(|d| matcher.matches(&d)).unwrap_or(false))
    });
    let literals = kql::parse(DKIM).expect("DKIM parses").required_literals(catalog);
    group.bench_function("prefilter DKIM (bytes of one event)", |b| {
        b.iter(|| literals.may_match(black_box(miss.as_bytes())))
    });
    group.finish();
}

// criterion's macros define undocumented items.
#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(harness::benches);
