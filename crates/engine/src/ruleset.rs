//! Compiled rules and the prefilter they share.

use aho_corasick::{AhoCorasick, MatchKind};
use ecs::Catalog;
use ecs::date::Timestamp;
use kql::Matcher;
use rules::Rule;

use crate::index::IndexPatterns;

/// One rule, ready to run: its matcher and the indices it searches.
#[derive(Debug)]
pub struct CompiledRule<'c> {
    /// The rule.
    pub rule: Rule,
    pub(crate) matcher: Matcher<'c>,
    pub(crate) index: IndexPatterns,
}

/// A rule that was not compiled, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The rule.
    pub rule: Rule,
    /// Why it cannot run, e.g. "eql rules are not supported yet".
    pub reason: String,
}

/// A set of compiled rules that scans share: each event is tested once against all of them, and
/// a line that holds none of a rule's required literals is never decoded for that rule.
#[derive(Debug)]
pub struct RuleSet<'c> {
    rules: Vec<CompiledRule<'c>>,
    prefilter: Prefilter,
    /// The fields the rules read, when no rule may read any field (free text, wildcard names).
    projection: Option<ecs::Projection>,
}

/// Fields the scanner itself reads: the event's identity and index.
const SCANNER_FIELDS: &[&str] =
    &["_id", "_index", "event.id", "event.dataset", "data_stream.type", "data_stream.dataset", "data_stream.namespace"];

impl<'c> RuleSet<'c> {
    /// Compiles every rule vigil can run, with field types from `catalog` and date math at `now`;
    /// the others come back as [`Skipped`].
    pub fn compile(rules: Vec<Rule>, catalog: &'c Catalog, now: Timestamp) -> (RuleSet<'c>, Vec<Skipped>) {
        let mut compiled = Vec::new();
        let mut literals = Vec::new();
        let mut skipped = Vec::new();
        let mut fields: Vec<String> = SCANNER_FIELDS.iter().map(|f| (*f).to_owned()).collect();
        let mut reads_any = false;
        for rule in rules {
            if let Some(reason) = rule.unsupported() {
                skipped.push(Skipped { rule, reason });
                continue;
            }
            let text = rule.query.clone().unwrap_or_default();
            let result = kql::parse(&text).and_then(|query| Ok((query.compile_at(catalog, now)?, query)));
            match result {
                Ok((matcher, query)) => {
                    literals.push(query.required_literals(catalog));
                    reads_any |= query.reads_any_field();
                    fields.extend(query.field_names());
                    let index = IndexPatterns::new(&rule.index);
                    compiled.push(CompiledRule { rule, matcher, index });
                }
                Err(err) => skipped.push(Skipped { rule, reason: format!("its query does not compile: {err}") }),
            }
        }
        let prefilter = Prefilter::new(&literals);
        // Search hits keep the event under `_source`.
        let sourced: Vec<String> = fields.iter().map(|f| format!("_source.{f}")).collect();
        let projection = (!reads_any).then(|| ecs::Projection::new(fields.iter().chain(&sourced).map(String::as_str)));
        (RuleSet { rules: compiled, prefilter, projection }, skipped)
    }

    /// The compiled rules, in the order given.
    pub fn rules(&self) -> &[CompiledRule<'c>] {
        &self.rules
    }

    /// How many rules the set holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set holds no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The fields worth decoding for these rules, if they do not read every field.
    pub(crate) fn projection(&self) -> Option<&ecs::Projection> {
        self.projection.as_ref()
    }

    /// Marks in `candidates` (one flag per rule) the rules that may match `line`; returns
    /// whether any may.
    pub(crate) fn candidates(&self, line: &[u8], candidates: &mut Vec<bool>) -> bool {
        self.prefilter.candidates(line, candidates)
    }
}

/// One Aho-Corasick automaton over every rule's required literals, plus the escapes (`\u`, `\/`)
/// that could hide a literal, after which every rule with literals is a candidate.
#[derive(Debug)]
struct Prefilter {
    automaton: Option<AhoCorasick>,
    /// For each pattern, the rules it stands for.
    pattern_rules: Vec<Vec<usize>>,
    /// Rules without literals: candidates for every line.
    always: Vec<usize>,
    rule_count: usize,
}

impl Prefilter {
    fn new(literals: &[kql::Literals]) -> Prefilter {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut pattern_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        let mut with_literals = Vec::new();
        for (rule, lits) in literals.iter().enumerate() {
            if lits.is_empty() {
                always.push(rule);
                continue;
            }
            with_literals.push(rule);
            for lit in lits.alternatives() {
                match patterns.iter().position(|p| p == lit) {
                    Some(at) => pattern_rules[at].push(rule),
                    None => {
                        patterns.push(lit.clone());
                        pattern_rules.push(vec![rule]);
                    }
                }
            }
        }
        if !with_literals.is_empty() {
            for escape in [b"\\u".to_vec(), b"\\/".to_vec()] {
                patterns.push(escape);
                pattern_rules.push(with_literals.clone());
            }
        }
        let automaton = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .expect("literal patterns always build an automaton")
        });
        Prefilter { automaton, pattern_rules, always, rule_count: literals.len() }
    }

    fn candidates(&self, line: &[u8], candidates: &mut Vec<bool>) -> bool {
        candidates.clear();
        candidates.resize(self.rule_count, false);
        let mut any = false;
        for &rule in &self.always {
            candidates[rule] = true;
            any = true;
        }
        if let Some(automaton) = &self.automaton {
            let mut marked = self.always.len();
            for found in automaton.find_overlapping_iter(line) {
                for &rule in &self.pattern_rules[found.pattern().as_usize()] {
                    if !candidates[rule] {
                        candidates[rule] = true;
                        marked += 1;
                    }
                }
                any = true;
                if marked == self.rule_count {
                    break;
                }
            }
        }
        any
    }
}
