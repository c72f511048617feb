//! `vigil status`: how a running server is.

use std::io::Write;

use serde_json::Value;

use crate::cli::ServerArgs;
use crate::client::Client;
use crate::exit::Exit;
use crate::numbers::{count, thousands};

/// Runs `vigil status`: exit 0 when the server and its store are fine, no rule holds back
/// alerts and no Office 365 tenant's pulls are failing; exit 2 when the server cannot be reached,
/// or refuses the key (none, wrong, revoked, or one that may only send events).
pub fn run(args: ServerArgs) -> anyhow::Result<Exit> {
    let client = Client::new(&args)?;
    // Health is open to all; the rules and the pulls need a key that may read, and a status
    // without them would say "ok" about what it could not see.
    let answers = client.get("/health", &[]).and_then(|health| {
        let rules = client.get("/rules", &[]).map_err(|e| match &args.api_key {
            None => e.context("no API key: give --api-key KEY or set VIGIL_API_KEY (an analyst or admin key)"),
            Some(_) => e.context("the server refused the API key (wrong, revoked, or an ingest key)"),
        })?;
        Ok((health, rules, client.get("/o365", &[])?))
    });
    let (health, rules, pulls) = match answers {
        Ok(answers) => answers,
        Err(err) => {
            crate::report::error(&err);
            return Ok(Exit::Trouble);
        }
    };
    let n = |key: &str| health.pointer(key).and_then(Value::as_u64).unwrap_or(0);
    let tenants = pulls["tenants"].as_array().cloned().unwrap_or_default();
    let failing: Vec<&str> =
        tenants.iter().filter(|t| t["up"] == false).map(|t| t["tenant"].as_str().unwrap_or("?")).collect();
    let status = match health["status"].as_str().unwrap_or("?") {
        "ok" if !failing.is_empty() => "degraded",
        status => status,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "server:   {} (vigil {})", args.server, health["version"].as_str().unwrap_or("?"))?;
    writeln!(out, "status:   {status}")?;
    for warning in health["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        writeln!(out, "warning:  {warning}")?;
    }
    if !failing.is_empty() {
        writeln!(out, "warning:  Office 365 pulls failing for {}", failing.join(", "))?;
    }
    writeln!(out, "events:   {} stored, last sequence {}", thousands(n("/events")), n("/last_seq"))?;
    writeln!(
        out,
        "rules:    {} loaded, {} enabled, {} not evaluated yet",
        thousands(n("/rules")),
        thousands(n("/rules_enabled")),
        count(n("/uncovered_events"), "event")
    )?;
    writeln!(
        out,
        "alerts:   {} open, {} acknowledged, {} closed",
        thousands(n("/alerts/open")),
        thousands(n("/alerts/acknowledged")),
        thousands(n("/alerts/closed"))
    )?;
    for rule in rules["rules"].as_array().into_iter().flatten().filter(|r| r["backlog"].as_u64() > Some(0)) {
        writeln!(
            out,
            "backlog:  {} holds back {} (max_signals {})",
            rule["name"].as_str().unwrap_or("?"),
            count(rule["backlog"].as_u64().unwrap_or(0), "alert"),
            rule["max_signals"]
        )?;
    }
    for problem in rules["problems"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        writeln!(out, "not loaded: {problem}")?;
    }
    if let Some(error) = health["store_error"].as_str() {
        writeln!(out, "store:    {error}")?;
    }
    for tenant in &tenants {
        let name = tenant["tenant"].as_str().unwrap_or("?");
        let state = match tenant["up"].as_bool() {
            Some(true) => "pulling",
            Some(false) => "FAILING",
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
                "          {:<27} {lag}, {} from {}",
                content_type["content_type"].as_str().unwrap_or("?"),
                count(content_type["records"].as_u64().unwrap_or(0), "record"),
                count(content_type["blobs"].as_u64().unwrap_or(0), "blob"),
            )?;
        }
    }
    Ok(if status == "ok" { Exit::Success } else { Exit::Trouble })
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
