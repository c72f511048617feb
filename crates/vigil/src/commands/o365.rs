//! `vigil o365 normalize`: raw audit records in, ECS documents out; `vigil o365 pull`: raw
//! records from the Management Activity API.

use std::io::{self, BufWriter, Write};

use engine::pipeline::{SourceRecord, read_source};
use engine::{Events, Format, RecordError};
use indicatif::ProgressBar;

use crate::cli::{NormalizeArgs, O365Command, PullArgs};
use crate::exit::Exit;
use crate::input;
use crate::numbers::{count, thousands};
use crate::report;

/// Runs one `vigil o365` subcommand.
pub fn run(command: O365Command) -> anyhow::Result<Exit> {
    match command {
        O365Command::Normalize(args) => normalize(&args),
        O365Command::Pull(args) => pull(&args),
    }
}

fn pull(args: &PullArgs) -> anyhow::Result<Exit> {
    use o365::api::{CONTENT_TYPES, Client, Cloud, CredentialSource, Retry, Tenant};
    let certificate = match (&args.certificate, &args.certificate_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        (None, None) => None,
        _ => anyhow::bail!("--certificate and --certificate-key go together"),
    };
    let source =
        CredentialSource { client_secret_file: args.client_secret_file.clone(), client_secret_env: None, certificate };
    let nothing_given = source == CredentialSource::default();
    let credential = source.load(|var| std::env::var(var).ok()).map_err(|e| match nothing_given {
        true => anyhow::anyhow!(
            "{e}: give --client-secret-file FILE, set {}, or give --certificate and --certificate-key",
            CredentialSource::DEFAULT_ENV
        ),
        false => anyhow::Error::msg(e),
    })?;
    let Some(cloud) = Cloud::parse(&args.cloud) else {
        anyhow::bail!("--cloud {}: expected commercial, gcc, gcc-high or dod", args.cloud);
    };
    let back = rules::Interval::parse(&args.since).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    if back.as_seconds() > 7 * 86_400 {
        anyhow::bail!("--since {}: the API keeps content 7 days", args.since);
    }
    let until = ecs::date::Timestamp::now();
    let since = ecs::date::Timestamp::from_nanos(until.as_nanos() - i64::try_from(back.as_seconds())? * 1_000_000_000);
    let tenant = Tenant {
        tenant_id: args.tenant_id.clone(),
        client_id: args.client_id.clone(),
        credential,
        cloud,
        publisher: args.publisher.clone().unwrap_or_else(|| args.tenant_id.clone()),
        login_base: None,
        api_base: None,
    };
    let types: Vec<String> = if args.content_types.is_empty() {
        CONTENT_TYPES.iter().map(|t| (*t).to_owned()).collect()
    } else {
        args.content_types.clone()
    };
    let out: Box<dyn Write> = if args.out.as_os_str() == "-" {
        Box::new(BufWriter::new(io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(std::fs::File::create(&args.out)?))
    };
    let mut client = Client::new(tenant, Retry::default());
    let mut sink = Lines { out, seen: o365::api::Seen::default(), duplicates: 0 };
    let pulled = o365::api::pull(&mut client, &types, since, until, &mut sink)?;
    sink.out.flush()?;
    for problem in &pulled.problems {
        report::note(problem);
    }
    report::note(&format!(
        "pulled {} from {} ({} dropped, {} expired and {} malformed skipped)",
        count((pulled.records - sink.duplicates) as u64, "record"),
        count(pulled.blobs as u64, "blob"),
        count(sink.duplicates as u64, "duplicate"),
        thousands(pulled.expired as u64),
        thousands(pulled.malformed as u64)
    ));
    Ok(Exit::Success)
}

/// Writes each pulled record as a line, once by its `Id`.
struct Lines {
    out: Box<dyn Write>,
    seen: o365::api::Seen,
    duplicates: u64,
}

impl o365::api::Sink for Lines {
    fn blob(&mut self, _: &o365::api::Content, blob: o365::api::Blob) -> Result<(), String> {
        let o365::api::Blob::Records(records) = blob else { return Ok(()) };
        for record in records {
            if !self.seen.first(&record) {
                self.duplicates += 1;
                continue;
            }
            serde_json::to_writer(&mut self.out, &record)
                .map_err(io::Error::from)
                .and_then(|()| self.out.write_all(b"\n"))
                .map_err(|e| format!("cannot write: {e}"))?;
        }
        Ok(())
    }
}

fn normalize(args: &NormalizeArgs) -> anyhow::Result<Exit> {
    let mut options =
        o365::Options { agent_fields: true, preserve_original: args.preserve_original, ..o365::Options::default() };
    for tenant in &args.tenants {
        let Some((id, name)) = tenant.split_once('=') else {
            anyhow::bail!("--tenant {tenant}: expected TENANT_ID=NAME");
        };
        options.tenants.insert(id.trim().to_lowercase(), name.trim().to_owned());
    }
    let events = Events::with_options(options);
    let inputs = input::files(&args.paths, None, false)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let (mut unreadable, mut records, mut failed) = (false, 0u64, 0u64);
    let mut document = Vec::new();
    for path in &inputs {
        let name = if path.as_os_str() == "-" { "<stdin>".to_owned() } else { path.display().to_string() };
        let reader = match input::open(path, &ProgressBar::hidden()) {
            Ok(reader) => reader,
            Err(err) => {
                report::note(&format!("error: {name}: {err}"));
                unreadable = true;
                continue;
            }
        };
        let result = read_source(reader, |_, record| {
            records += 1;
            document.clear();
            let (n, written) = match record {
                SourceRecord::Line(line, n) => (n, events.raw_event_line(line, &mut document)),
                SourceRecord::Value(n, record) => (
                    n,
                    record.and_then(|r| events.event(r, Format::RawO365)).and_then(|doc| {
                        serde_json::to_writer(&mut document, &doc).map_err(|e| RecordError::Json(e.to_string()))
                    }),
                ),
            };
            match written {
                Ok(()) => {
                    document.push(b'\n');
                    out.write_all(&document)?;
                }
                Err(error) => {
                    failed += 1;
                    report::line_warning(&name, n, &error.to_string());
                }
            }
            Ok(true)
        });
        if let Err(err) = result {
            if err.kind() == io::ErrorKind::BrokenPipe {
                return Err(err.into());
            }
            report::note(&format!("error: {name}: {err}"));
            unreadable = true;
        }
    }
    out.flush()?;
    if failed > 0 {
        report::note(&format!("{} of {} could not be normalized", thousands(failed), count(records, "record")));
    }
    Ok(if unreadable {
        Exit::Trouble
    } else if failed > 0 {
        Exit::No
    } else {
        Exit::Success
    })
}
