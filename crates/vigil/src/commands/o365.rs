//! `vigil o365 normalize`: raw audit records in, ECS documents out.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use ecs::Document;
use engine::source::{self, Record};
use indicatif::ProgressBar;

use crate::cli::{NormalizeArgs, O365Command};
use crate::exit::Exit;
use crate::input;
use crate::report;

/// Runs one `vigil o365` subcommand.
pub fn run(command: O365Command) -> anyhow::Result<Exit> {
    match command {
        O365Command::Normalize(args) => normalize(&args),
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
    let inputs = if args.paths.is_empty() { vec![PathBuf::from("-")] } else { source::expand(&args.paths)? };
    let mut out = BufWriter::new(io::stdout().lock());
    let mut unreadable = false;
    for path in &inputs {
        let name = if path.as_os_str() == "-" { "<stdin>".to_owned() } else { path.display().to_string() };
        let mut reader = match input::open(path, &ProgressBar::hidden()) {
            Ok(reader) => reader,
            Err(err) => {
                report::note(&format!("error: {name}: {err}"));
                unreadable = true;
                continue;
            }
        };
        let mut emit = |n: u64, record: Result<serde_json::Value, String>| -> io::Result<bool> {
            match record.and_then(|r| o365::normalize(r, &options).map_err(|e| e.to_string())) {
                Ok(doc) => {
                    serde_json::to_writer(&mut out, &doc)?;
                    out.write_all(b"\n")?;
                }
                Err(message) => report::line_warning(&name, n, &message),
            }
            Ok(true)
        };
        let result = if input::is_purview_export(&mut reader)? {
            o365::purview::records(reader)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
                .and_then(|rows| rows.map(|(n, record)| emit(n, record)).try_for_each(|r| r.map(|_| ())))
        } else {
            source::read_records(reader, |record| match record {
                Record::Line(line, n) => {
                    emit(n, Document::parse_bytes(line).map(Document::into_root).map_err(|e| e.to_string()))
                }
                Record::Event(value, n) => emit(n, Ok(value)),
            })
        };
        if let Err(err) = result {
            if err.kind() == io::ErrorKind::BrokenPipe {
                return Err(err.into());
            }
            report::note(&format!("error: {name}: {err}"));
            unreadable = true;
        }
    }
    out.flush()?;
    Ok(if unreadable { Exit::Trouble } else { Exit::Success })
}
