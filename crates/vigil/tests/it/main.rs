//! Tests of the `vigil` binary, run as a user would run it.

mod clients;
mod cluster;
mod counting;
mod kql;
mod notify;
mod o365;
mod operations;
mod readme;
mod reports;
mod rules;
mod scan;
mod serve;

use std::io::Write;
use std::process::{Command, Stdio};

/// What one run printed, and how it ended.
pub struct Run {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code.
    pub code: i32,
}

/// Runs `vigil ARGS` in the repository root, with `stdin` as standard input.
pub fn vigil(args: &[&str], stdin: &str) -> Run {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil starts");
    // Written on its own thread: vigil writes output while it reads, and a full output pipe that
    // nobody reads would otherwise stop both sides.
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || input.write_all(stdin.as_bytes()));
    let out = child.wait_with_output().expect("vigil finishes");
    writer.join().expect("the writer does not panic").expect("stdin takes the input");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}
