//! `vigil status`: how a running server is.

use std::io::Write;

use serde_json::Value;

use crate::cli::ServerArgs;
use crate::client::Client;
use crate::exit::Exit;

/// Runs `vigil status`: exit 0 when the server and its store are fine.
pub fn run(args: ServerArgs) -> anyhow::Result<Exit> {
    let client = Client::new(&args)?;
    let health = match client.get("/health", &[]) {
        Ok(health) => health,
        Err(err) => {
            crate::report::error(&err);
            return Ok(Exit::Trouble);
        }
    };
    let n = |key: &str| health.pointer(key).and_then(Value::as_u64).unwrap_or(0);
    let mut out = std::io::stdout().lock();
    writeln!(out, "server:   {} (vigil {})", args.server, health["version"].as_str().unwrap_or("?"))?;
    writeln!(out, "status:   {}", health["status"].as_str().unwrap_or("?"))?;
    writeln!(out, "events:   {} stored, last sequence {}", n("/events"), n("/last_seq"))?;
    writeln!(
        out,
        "rules:    {} loaded, {} enabled, {} events not evaluated yet",
        n("/rules"),
        n("/rules_enabled"),
        n("/uncovered_events")
    )?;
    writeln!(
        out,
        "alerts:   {} open, {} acknowledged, {} closed",
        n("/alerts/open"),
        n("/alerts/acknowledged"),
        n("/alerts/closed")
    )?;
    for problem in health["rule_problems"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        writeln!(out, "not loaded: {problem}")?;
    }
    Ok(if health["status"] == "ok" { Exit::Success } else { Exit::Trouble })
}
