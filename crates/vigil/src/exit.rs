//! Exit codes, stable and documented (grep's 0/1/2, generalized).

use std::process::ExitCode;

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done, and the answer is "yes" (something matched, the query is valid).
    Success,
    /// 1: done, and the answer is "no" (nothing matched, the query is invalid).
    No,
    /// 2: could not do the job (bad flags, unreadable input, internal failure).
    Trouble,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Success => ExitCode::SUCCESS,
            Exit::No => ExitCode::from(1),
            Exit::Trouble => ExitCode::from(2),
        }
    }
}
