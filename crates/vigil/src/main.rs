//! `vigil`: run Elastic Security detection rules anywhere.
//!
//! `main` reads like a contents page: parse the command line, run the command, turn its result
//! into an exit code in one place.

mod cli;
mod client;
mod commands;
mod exit;
mod fields;
mod input;
mod numbers;
mod output;
mod report;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::Exit;

/// Decoding events allocates many small strings and maps; mimalloc serves them several times
/// faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => commands::scan::run(args),
        Command::Rules(command) => commands::rules::run(command),
        Command::Kql(command) => commands::kql::run(command),
        Command::O365(command) => commands::o365::run(command),
        Command::Serve(args) => commands::serve::run(args),
        Command::Alerts(command) => commands::alerts::run(command),
        Command::Exceptions(command) => commands::exceptions::run(command),
        Command::Events(command) => commands::events::run(command),
        Command::Status(args) => commands::status::run(args),
        Command::Keys(command) => commands::keys::run(command),
        Command::Connectors(command) => commands::connectors::run(command),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) if report::is_broken_pipe(&err) => Exit::Success.into(),
        Err(err) => {
            report::error(&err);
            Exit::Trouble.into()
        }
    }
}
