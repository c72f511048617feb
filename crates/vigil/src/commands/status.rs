//! `vigil status`: how a running server is.

use std::io::Write;

use serde_json::Value;

use crate::cli::ServerArgs;
use crate::client::Client;
use crate::exit::Exit;

/// Runs `vigil status`: exit 0 when the server and its store are fine, no rule holds back
/// alerts and no Office 365 tenant's pulls are failing.
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
    for warning in health["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        writeln!(out, "warning:  {warning}")?;
    }
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
    // Which rules hold alerts back, and which did not load, needs a key to see, as the rules
    // themselves do.
    let rules = if n("/alert_backlog") > 0 || n("/rules_not_loaded") > 0 {
        client.get("/rules", &[]).unwrap_or_default()
    } else {
        Value::Null
    };
    if n("/alert_backlog") > 0 {
        for rule in rules["rules"].as_array().into_iter().flatten().filter(|r| r["backlog"].as_u64() > Some(0)) {
            writeln!(
                out,
                "backlog:  {} holds back {} alerts (max_signals {})",
                rule["name"].as_str().unwrap_or("?"),
                rule["backlog"],
                rule["max_signals"]
            )?;
        }
    }
    for problem in rules["problems"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        writeln!(out, "not loaded: {problem}")?;
    }
    if let Some(error) = health["store_error"].as_str() {
        writeln!(out, "store:    {error}")?;
    }
    // Office 365 pulls need a key to see (tenant ids are not for everyone); without one, or
    // from a server that has none configured, there is nothing to say.
    let pulls = client.get("/o365", &[]).unwrap_or_default();
    let mut failing = false;
    for tenant in pulls["tenants"].as_array().into_iter().flatten() {
        let name = tenant["tenant"].as_str().unwrap_or("?");
        let state = match tenant["up"].as_bool() {
            Some(true) => "pulling",
            Some(false) => {
                failing = true;
                "FAILING"
            }
            None => "starting",
        };
        write!(out, "o365:     {name} {state}")?;
        if let (Some(at), Some(error)) = (tenant["last_error_at"].as_str(), tenant["last_error"].as_str()) {
            write!(out, "; last error at {at}: {error}")?;
        }
        writeln!(out)?;
        for content_type in tenant["content_types"].as_array().into_iter().flatten() {
            let lag =
                content_type["lag_seconds"].as_f64().map_or("no content yet".to_owned(), |s| format!("lag {}", age(s)));
            writeln!(
                out,
                "          {:<27} {lag}, {} records from {} blobs",
                content_type["content_type"].as_str().unwrap_or("?"),
                content_type["records"].as_u64().unwrap_or(0),
                content_type["blobs"].as_u64().unwrap_or(0),
            )?;
        }
    }
    Ok(if health["status"] == "ok" && !failing { Exit::Success } else { Exit::Trouble })
}

/// `45s`, `12m`, `3h 05m`.
fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}
