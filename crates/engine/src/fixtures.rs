//! Rule tests: run a rule set over example events, one at a time.

use crate::ruleset::RuleSet;
use crate::scan::{Hit, Outcome, Position, ScanOptions, Scanner, Sink};

/// What one example event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Its 1-based line in the NDJSON text.
    pub line: u64,
    /// Whether any rule alerted, or why the line could not be read.
    pub alerted: Result<bool, String>,
}

struct Any(bool);

impl Sink for Any {
    type Error = std::convert::Infallible;
    fn hit(&mut self, _: &Hit<'_>) -> Result<bool, Self::Error> {
        self.0 = true;
        Ok(false)
    }
}

/// Runs every event of `ndjson` on its own (no deduplication between them) and says whether it
/// alerted.
pub fn run_examples(rules: &RuleSet<'_>, ndjson: &str) -> Vec<Verdict> {
    ndjson
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let mut scanner = Scanner::new(rules, ScanOptions { index: None });
            let mut any = Any(false);
            let position = Position { source: "example", line: i as u64 + 1 };
            let alerted = match scanner.scan_line(line.as_bytes(), position, &mut any) {
                Ok(Outcome::Invalid(error)) => Err(error.to_string()),
                Ok(_) => Ok(any.0),
                Err(never) => match never {},
            };
            Verdict { line: i as u64 + 1, alerted }
        })
        .collect()
}
