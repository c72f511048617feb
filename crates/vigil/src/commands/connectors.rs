//! `vigil connectors`: the configuration's connectors, and a test message through one.

use std::io::Write;

use anyhow::Context;
use server::Config;

use crate::cli::ConnectorsCommand;
use crate::exit::Exit;
use crate::report;

/// Runs `vigil connectors ...`.
///
/// # Errors
///
/// When the configuration cannot be read or validated (a template with its line and column, a
/// secret whose variable is not set).
pub fn run(command: ConnectorsCommand) -> anyhow::Result<Exit> {
    let path = match &command {
        ConnectorsCommand::List(args) => args.config.as_deref(),
        ConnectorsCommand::Test(args) => args.config.config.as_deref(),
    };
    let config = Config::load(path, |key| std::env::var(key).ok())?;
    let setup = config.notifications.clone();
    let mut out = std::io::stdout().lock();
    match command {
        ConnectorsCommand::List(_) => {
            if setup.connectors.is_empty() {
                report::note(&"no connectors: add [[connectors]] to the configuration (docs/notifications.md)");
                return Ok(Exit::No);
            }
            for connector in &setup.connectors {
                writeln!(out, "{}\t{}", connector.name, connector.type_name())?;
            }
            for (i, route) in setup.routes.iter().enumerate() {
                let rules = if route.rules.is_empty() { "every rule".to_owned() } else { route.rules.join(", ") };
                let severity =
                    route.severity_at_least.map_or(String::new(), |s| format!(", severity {} or above", s.as_str()));
                let each = if route.frequency.summary { "a summary per execution" } else { "one message per alert" };
                writeln!(out, "route {}: {rules}{severity} -> {} ({each})", i + 1, route.connector)?;
            }
            Ok(Exit::Success)
        }
        ConnectorsCommand::Test(args) => {
            let connector = setup.connector(&args.name).with_context(|| {
                format!("no connector `{}` in the configuration (vigil connectors list)", args.name)
            })?;
            let notifier = notify::Notifier::new(setup.clone());
            let (key, message) = notifier.test_message(connector);
            match notify::send(connector, &key, &message, setup.settings.timeout.as_duration()) {
                Ok(()) => {
                    writeln!(
                        out,
                        "sent: a test message through {} ({}), key {key}",
                        connector.name,
                        connector.type_name()
                    )?;
                    Ok(Exit::Success)
                }
                Err(err) => {
                    report::note(&format!("not delivered through {}: {err}", connector.name));
                    Ok(Exit::No)
                }
            }
        }
    }
}
