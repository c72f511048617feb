//! Rule tests: run a rule set over example events.
//!
//! Query rules take each event on its own. Threshold and new terms rules alert on what events
//! add up to, so their examples are scenarios: events separated by a blank line, each scenario
//! replayed on its own schedule ([`Replay`]); the last event of a scenario is the one under test
//! (the events before it are its history), and it alerted when an alert stands for it (a new
//! terms alert on it, a threshold alert whose group's newest event it is).

use crate::replay::Replay;
use crate::ruleset::RuleSet;
use crate::scan::{Hit, Outcome, Position, ScanOptions, Scanner, Sink};

/// What one example event (or scenario) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Its 1-based line in the NDJSON text (a scenario's last event).
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

/// Runs the examples of `ndjson` and says, per event (query rules) or per scenario (when the
/// set holds a threshold or new terms rule), whether it alerted.
pub fn run_examples(rules: &RuleSet<'_>, ndjson: &str) -> Vec<Verdict> {
    let lines = ndjson.lines().enumerate().map(|(i, line)| (i as u64 + 1, line));
    if !rules.rules().iter().any(|c| Replay::counts(&c.rule)) {
        return lines.filter(|(_, line)| !line.trim().is_empty()).map(|(n, line)| one(rules, n, line)).collect();
    }
    let mut verdicts = Vec::new();
    let mut scenario: Vec<(u64, &str)> = Vec::new();
    for (n, line) in lines.chain([(0, "")]) {
        if !line.trim().is_empty() {
            scenario.push((n, line));
        } else if !scenario.is_empty() {
            verdicts.push(replayed(rules, &std::mem::take(&mut scenario)));
        }
    }
    verdicts
}

/// One event on its own.
fn one(rules: &RuleSet<'_>, n: u64, line: &str) -> Verdict {
    let mut scanner = Scanner::new(rules, ScanOptions { index: None });
    let mut any = Any(false);
    let position = Position { source: "example", line: n };
    let alerted = match scanner.scan_line(line.as_bytes(), position, &mut any) {
        Ok(Outcome::Invalid(error)) => Err(error.to_string()),
        Ok(_) => Ok(any.0),
        Err(never) => match never {},
    };
    Verdict { line: n, alerted }
}

/// A scenario replayed: whether an alert stands for its last event.
fn replayed(rules: &RuleSet<'_>, scenario: &[(u64, &str)]) -> Verdict {
    let mut scanner = Scanner::new(rules, ScanOptions { index: None });
    let mut replay = Replay::new(rules);
    let last = scenario.last().map_or(0, |&(n, _)| n);
    for &(n, line) in scenario {
        let position = Position { source: "example", line: n };
        match scanner.scan_line(line.as_bytes(), position, &mut replay) {
            Ok(Outcome::Invalid(error)) => return Verdict { line: n, alerted: Err(error.to_string()) },
            Ok(_) => {}
            Err(never) => match never {},
        }
    }
    let mut alerted = false;
    let report = replay.run(rules);
    let _ = report.for_each_alert(rules, |_, hit| {
        alerted |= hit.position.line == last;
        Ok::<bool, std::convert::Infallible>(!alerted)
    });
    Verdict { line: last, alerted: Ok(alerted) }
}
