//! Compiled rules and the prefilter they share.

use aho_corasick::{AhoCorasick, Input, MatchKind, Span, packed};
use ecs::Catalog;
use ecs::date::Timestamp;
use kql::Matcher;
use memchr::memmem;
use rules::Rule;

use crate::exceptions::RuleExceptions;
use crate::filters::WildcardFilter;
use crate::index::IndexPatterns;
use rules::exceptions::Exceptions;

/// What judges a decoded event for a rule: its KQL query, or its EQL event query.
#[derive(Debug)]
pub(crate) enum RuleMatcher<'c> {
    Kql(Matcher<'c>),
    Eql(eql::EventMatcher),
    /// An EQL sequence: an event "matches" when it can take part (a term's or `until`'s filter);
    /// the sequences are found by the rule's execution.
    Sequence(Box<eql::SequenceMatcher>),
}

impl RuleMatcher<'_> {
    fn matches_value(&self, event: &ecs::Value) -> bool {
        match self {
            RuleMatcher::Kql(m) => m.matches_value(event),
            RuleMatcher::Eql(m) => m.matches_value(event),
            RuleMatcher::Sequence(m) => m.takes(event),
        }
    }
}

/// A rule's query compiled: its matcher, the literals a line (and a raw Office 365 record) must
/// hold to match, and the fields it reads (`None`: any).
struct Compiled<'c> {
    matcher: RuleMatcher<'c>,
    literals: kql::Literals,
    raw_literals: kql::Literals,
    fields: Option<Vec<String>>,
}

impl<'c> Compiled<'c> {
    fn of(rule: &Rule, catalog: &'c Catalog, now: Timestamp) -> Result<Compiled<'c>, String> {
        if rule.kind == rules::RuleType::Eql {
            let query = eql::parse(rule.query.as_deref().unwrap_or_default()).map_err(|e| e.to_string())?;
            let field = rule.event_category_field();
            let (matcher, fields) = match &query.kind {
                eql::QueryKind::Event(filter) => {
                    let matcher = filter.compile(catalog, field).map_err(|e| e.to_string())?;
                    let fields = matcher.fields().to_vec();
                    (RuleMatcher::Eql(matcher), fields)
                }
                _ => {
                    let matcher = query.sequence_matcher(catalog, field).map_err(|e| e.to_string())?;
                    let fields = matcher.fields().to_vec();
                    (RuleMatcher::Sequence(Box::new(matcher)), fields)
                }
            };
            // A line of an event the query takes holds these (a sequence's: one of its terms').
            let literals = query.literals(catalog, field, &|_| ecs::Copied::ValueAndName);
            let raw_literals = query.literals(catalog, field, &o365::copied);
            return Ok(Compiled { matcher, literals, raw_literals, fields: Some(fields) });
        }
        let text = rule.effective_query();
        let query = kql::parse(&text).map_err(|e| e.to_string())?;
        let matcher = query.compile_at(catalog, now).map_err(|e| e.to_string())?;
        Ok(Compiled {
            literals: query.required_literals(catalog),
            raw_literals: query.required_literals_in(catalog, &o365::copied),
            fields: (!query.reads_any_field()).then(|| query.field_names()),
            matcher: RuleMatcher::Kql(matcher),
        })
    }
}

/// One rule, ready to run: its matcher and the indices it searches.
#[derive(Debug)]
pub struct CompiledRule<'c> {
    /// The rule.
    pub rule: Rule,
    pub(crate) matcher: RuleMatcher<'c>,
    pub(crate) index: IndexPatterns,
    /// Its filters that KQL cannot say, tested beside the matcher.
    pub(crate) filters: Vec<WildcardFilter>,
    /// Its exception lists: a match an item of one of them matches is no candidate.
    pub exceptions: RuleExceptions<'c>,
    /// The fields its query and filters read, or `None` when it may read any (free text,
    /// wildcard names).
    fields: Option<Vec<String>>,
}

impl CompiledRule<'_> {
    /// The rule's sequence, when it is an EQL sequence rule.
    pub(crate) fn sequence(&self) -> Option<&eql::SequenceMatcher> {
        match &self.matcher {
            RuleMatcher::Sequence(m) => Some(m),
            _ => None,
        }
    }

    /// Whether the rule matches a decoded event (its index aside).
    pub(crate) fn matches(&self, event: &ecs::Value) -> bool {
        self.matcher.matches_value(event) && self.filters.iter().all(|f| f.passes(event))
    }
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
    /// The same over raw Office 365 records, from the literals the normalizer copies verbatim.
    raw_prefilter: Prefilter,
}

/// Fields the scanner itself reads: the event's identity and index.
const SCANNER_FIELDS: &[&str] =
    &["_id", "_index", "event.id", "event.dataset", "data_stream.type", "data_stream.dataset", "data_stream.namespace"];

impl<'c> RuleSet<'c> {
    /// Compiles every rule vigil can run, with field types from `catalog` and date math at `now`;
    /// the others come back as [`Skipped`].
    pub fn compile(rules: Vec<Rule>, catalog: &'c Catalog, now: Timestamp) -> (RuleSet<'c>, Vec<Skipped>) {
        RuleSet::compile_with(rules, catalog, now, &Exceptions::default())
    }

    /// [`RuleSet::compile`], each rule with the lists of `exceptions` its `exceptions_list`
    /// names (items that expired by `now` left out; a list or value list that is missing is in
    /// the rule's [`RuleExceptions::warnings`]).
    pub fn compile_with(
        rules: Vec<Rule>,
        catalog: &'c Catalog,
        now: Timestamp,
        exceptions: &Exceptions,
    ) -> (RuleSet<'c>, Vec<Skipped>) {
        let mut compiled = Vec::new();
        let mut literals = Vec::new();
        let mut raw_literals = Vec::new();
        let mut skipped = Vec::new();
        for rule in rules {
            if let Some(reason) = rule.unsupported() {
                skipped.push(Skipped { rule, reason });
                continue;
            }
            match Compiled::of(&rule, catalog, now) {
                Ok(Compiled { matcher, literals: required, raw_literals: raw_required, fields }) => {
                    literals.push(required);
                    raw_literals.push(raw_required);
                    let filters = WildcardFilter::of(rule.filters.as_deref().unwrap_or_default());
                    let exceptions = RuleExceptions::compile(&rule, exceptions, catalog, now);
                    let fields = fields.map(|mut fields| {
                        fields.extend(filters.iter().map(|f| f.field.clone()));
                        if !exceptions.is_empty() {
                            fields.extend(exceptions.fields.iter().cloned());
                            // An item limited to some systems reads the host's.
                            fields.extend(["host.os.type".to_owned(), "host.os.name.caseless".to_owned()]);
                        }
                        fields
                    });
                    let index = IndexPatterns::new(&rule.index);
                    compiled.push(CompiledRule { rule, matcher, index, filters, exceptions, fields });
                }
                Err(err) => skipped.push(Skipped { rule, reason: format!("its query does not compile: {err}") }),
            }
        }
        let (prefilter, raw_prefilter) = (Prefilter::new(&literals), Prefilter::new(&raw_literals));
        (RuleSet { rules: compiled, prefilter, raw_prefilter }, skipped)
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

    /// The fields worth decoding to test the rules marked in `candidates` (and to place the
    /// event), unless one of them may read any field.
    pub(crate) fn projection(&self, candidates: &[bool]) -> Option<ecs::Projection> {
        let mut fields: Vec<&str> = SCANNER_FIELDS.to_vec();
        for (compiled, _) in self.rules.iter().zip(candidates).filter(|(_, c)| **c) {
            fields.extend(compiled.fields.as_ref()?.iter().map(String::as_str));
        }
        // Search hits keep the event under `_source`.
        let sourced: Vec<String> = fields.iter().map(|f| format!("_source.{f}")).collect();
        Some(ecs::Projection::new(fields.into_iter().chain(sourced.iter().map(String::as_str))))
    }

    /// Marks in `candidates` (one flag per rule) the rules that may match `line`; returns
    /// whether any may.
    pub(crate) fn candidates(&self, line: &[u8], candidates: &mut Vec<bool>) -> bool {
        self.prefilter.candidates(line, candidates)
    }

    /// [`RuleSet::candidates`] for a raw Office 365 record, before it is normalized: by the
    /// literals that reach its document verbatim ([`o365::copied`]).
    pub(crate) fn raw_candidates(&self, record: &[u8], candidates: &mut Vec<bool>) -> bool {
        self.raw_prefilter.candidates(record, candidates)
    }
}

/// Searchers over every rule's required literals. The searchers look for each rule's most
/// selective clause; a rule found there is a candidate once its other clauses are checked too.
/// A line with an escape that could hide a literal (`\u`, `\/`) makes every rule with literals a
/// candidate instead.
///
/// The search is leftmost-longest and restarts one byte after each match's start, so it stops at
/// every position where some pattern starts. There it reports the longest pattern; the shorter
/// ones starting there are its prefixes, so each pattern stands for the rules of every pattern
/// it contains. Leftmost search is what lets the literals go, 64 at a time, to the vectorized
/// Teddy searcher, about six times faster than walking an automaton byte by byte. With more than
/// two groups' worth (hundreds of rules, whose common literals match many times a line), one
/// automaton reporting every occurrence in one pass is faster than restarting the searchers
/// (the corpus's 507 query rules: 3.2x).
///
/// Candidates are then confirmed with their other clauses, and with the first one's keyed
/// alternatives (a value next to its key, a number in range): see [`kql::Literals`].
///
/// Literals found in any case (EQL's comparisons that ignore it) have searchers of their own,
/// which fold ASCII case; a line with a character that folds to ASCII from beyond it
/// ([`kql::has_case_hazard`]) makes every rule with such literals a candidate.
#[derive(Debug)]
struct Prefilter {
    groups: Vec<Group>,
    /// Rules without literals: candidates for every line.
    always: Vec<usize>,
    /// Rules with literals: candidates for every line with an escape.
    with_literals: Vec<usize>,
    /// Each rule's literals, for the clauses after the first (the one the searchers look for).
    literals: Vec<kql::Literals>,
    /// Whether every literal is ASCII (then escapes of other characters hide none).
    ascii: bool,
    /// Rules with a literal found in any case: candidates for every line with a case hazard.
    with_any_case: Vec<usize>,
    rule_count: usize,
}

/// Up to [`Group::SIZE`] patterns and one searcher over them.
#[derive(Debug)]
struct Group {
    searcher: Searcher,
    /// For each pattern, the rules of the patterns it contains (itself included).
    pattern_rules: Vec<Vec<usize>>,
}

#[derive(Debug)]
enum Searcher {
    Packed(packed::Searcher),
    /// For a single literal, or where the CPU lacks the SIMD the packed searcher needs.
    Automaton(AhoCorasick),
    /// For many literals (hundreds of rules): one pass of a DFA reporting every occurrence of
    /// every literal, where the packed searchers would restart after each of the many matches
    /// of common ones.
    Overlapping(AhoCorasick),
}

impl Group {
    /// Teddy takes at most 64 patterns.
    const SIZE: usize = 64;

    /// Searches `patterns`, in any ASCII case with `any_case` (`patterns` are then in lower case).
    fn new(patterns: &[Vec<u8>], pattern_rules: Vec<Vec<usize>>, any_case: bool) -> Group {
        // A single literal is better left to the automaton, which looks for it with memmem; the
        // packed searcher does not fold case.
        let packed = (patterns.len() > 1 && !any_case)
            .then(|| {
                packed::Config::new().match_kind(packed::MatchKind::LeftmostLongest).builder().extend(patterns).build()
            })
            .flatten();
        let searcher = match packed {
            Some(searcher) => Searcher::Packed(searcher),
            None => Searcher::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .ascii_case_insensitive(any_case)
                    .build(patterns)
                    .expect("literal patterns always build an automaton"),
            ),
        };
        Group { searcher, pattern_rules }
    }

    /// Over every pattern at once, reporting each occurrence of each.
    fn overlapping(patterns: &[Vec<u8>], pattern_rules: Vec<Vec<usize>>, any_case: bool) -> Group {
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(any_case)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(patterns)
            .expect("literal patterns always build an automaton");
        Group { searcher: Searcher::Overlapping(automaton), pattern_rules }
    }

    /// Marks in `candidates` the rules of every pattern in `line`, counting them in `marked`,
    /// until every rule (of `rule_count`) is.
    fn mark(&self, line: &[u8], candidates: &mut [bool], marked: &mut usize, rule_count: usize) {
        let mut mark = |rules: &[usize], marked: &mut usize| {
            for &rule in rules {
                if !candidates[rule] {
                    candidates[rule] = true;
                    *marked += 1;
                }
            }
        };
        if let Searcher::Overlapping(automaton) = &self.searcher {
            for found in automaton.find_overlapping_iter(line) {
                mark(&self.pattern_rules[found.pattern().as_usize()], marked);
                if *marked == rule_count {
                    return;
                }
            }
            return;
        }
        let mut at = 0;
        while *marked < rule_count {
            let found = match &self.searcher {
                Searcher::Packed(searcher) => searcher.find_in(line, Span::from(at..line.len())),
                Searcher::Automaton(automaton) | Searcher::Overlapping(automaton) => {
                    automaton.find(Input::new(line).range(at..))
                }
            };
            let Some(found) = found else { break };
            // Restarting one byte after each match's start finds every position a pattern starts.
            at = found.start() + 1;
            mark(&self.pattern_rules[found.pattern().as_usize()], marked);
        }
    }
}

/// Whether a line holding pattern `outer` holds pattern `inner` (each a text, and whether it is
/// found in any case: in lower case then).
fn contains((outer, outer_any): &(Vec<u8>, bool), (inner, inner_any): &(Vec<u8>, bool)) -> bool {
    match (outer_any, inner_any) {
        (false, false) => memmem::find(outer, inner).is_some(),
        (_, true) => memmem::find(&outer.to_ascii_lowercase(), inner).is_some(),
        // An exact text is not found by finding it in some case.
        (true, false) => false,
    }
}

/// Above this many patterns (two packed groups), one overlapping automaton searches them all.
const OVERLAPPING_FROM: usize = 2 * Group::SIZE;

impl Prefilter {
    fn new(literals: &[kql::Literals]) -> Prefilter {
        // Each first clause's texts, and whether each is found in any case.
        let mut patterns: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut pattern_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        let mut with_literals = Vec::new();
        for (rule, lits) in literals.iter().enumerate() {
            let (Some(first), Some(cases)) = (lits.clauses().first(), lits.any_case().first()) else {
                always.push(rule);
                continue;
            };
            with_literals.push(rule);
            for pattern in first.iter().cloned().zip(cases.iter().copied()) {
                match patterns.iter().position(|p| *p == pattern) {
                    Some(at) => pattern_rules[at].push(rule),
                    None => {
                        patterns.push(pattern);
                        pattern_rules.push(vec![rule]);
                    }
                }
            }
        }
        let contained: Vec<Vec<usize>> = patterns
            .iter()
            .map(|outer| {
                let mut rules: Vec<usize> = patterns
                    .iter()
                    .zip(&pattern_rules)
                    .filter(|(inner, _)| contains(outer, inner))
                    .flat_map(|(_, rules)| rules.iter().copied())
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                rules
            })
            .collect();
        // The exact patterns' searchers, then those of the patterns found in any case.
        let mut groups = Vec::new();
        for any_case in [false, true] {
            let (texts, mut rules): (Vec<Vec<u8>>, Vec<Vec<usize>>) = patterns
                .iter()
                .zip(&contained)
                .filter(|((_, case), _)| *case == any_case)
                .map(|((text, _), rules)| (text.clone(), rules.clone()))
                .unzip();
            if texts.len() > OVERLAPPING_FROM {
                groups.push(Group::overlapping(&texts, rules, any_case));
            } else {
                for chunk in texts.chunks(Group::SIZE) {
                    groups.push(Group::new(chunk, rules.drain(..chunk.len()).collect(), any_case));
                }
            }
        }
        let ascii = literals.iter().all(kql::Literals::is_ascii);
        let with_any_case = (0..literals.len()).filter(|&rule| literals[rule].has_any_case()).collect();
        Prefilter {
            groups,
            always,
            with_literals,
            literals: literals.to_vec(),
            ascii,
            with_any_case,
            rule_count: literals.len(),
        }
    }

    fn candidates(&self, line: &[u8], candidates: &mut Vec<bool>) -> bool {
        candidates.clear();
        candidates.resize(self.rule_count, false);
        for &rule in &self.always {
            candidates[rule] = true;
        }
        if !self.with_literals.is_empty() && kql::has_escape(line, self.ascii) {
            for &rule in &self.with_literals {
                candidates[rule] = true;
            }
            return true;
        }
        let mut marked = self.always.len();
        for group in &self.groups {
            group.mark(line, candidates, &mut marked, self.rule_count);
        }
        for (candidate, literals) in candidates.iter_mut().zip(&self.literals).filter(|(c, _)| **c) {
            if !literals.rest_hold(line) {
                *candidate = false;
                marked -= 1;
            }
        }
        if !self.with_any_case.is_empty() && kql::has_case_hazard(line) {
            for &rule in &self.with_any_case {
                if !candidates[rule] {
                    candidates[rule] = true;
                    marked += 1;
                }
            }
        }
        marked > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines with literals that overlap, contain one another, or hide behind escapes.
    const LINES: [&str; 20] = [
        "",
        "abcdef",
        "xabcx",
        "zbcz",
        "cdefab",
        "Set-DkimSigningConfig",
        "Set-Dkim",
        "filler69",
        "x7y x12y",
        "filler00 abcd",
        "\\u0041bcd",
        "a\\/b",
        "\\\\u",
        "abcdabcd filler3",
        "nothing here",
        "ABCDEF",
        "xAbCx ZBCZ",
        "SET-DKIMsigningconfig",
        "\u{212A}ernel abcd",
        "sET-dkim abcd",
    ];

    /// Checks that the prefilter marks exactly the rules whose own literals may match.
    fn check(queries: &[String]) -> Prefilter {
        let catalog = Catalog::builtin();
        check_literals(queries.iter().map(|q| kql::parse(q).expect("query").required_literals(catalog)).collect())
    }

    fn check_literals(literals: Vec<kql::Literals>) -> Prefilter {
        let prefilter = Prefilter::new(&literals);
        let mut candidates = Vec::new();
        for line in LINES {
            let any = prefilter.candidates(line.as_bytes(), &mut candidates);
            let expected: Vec<bool> = literals.iter().map(|l| l.may_match(line.as_bytes())).collect();
            assert_eq!(candidates, expected, "line {line:?}");
            assert_eq!(any, expected.contains(&true), "line {line:?}");
        }
        prefilter
    }

    /// Rules whose literals overlap, contain one another, or come in numbers (`fillers` rules of
    /// two literals each).
    fn queries(fillers: usize) -> Vec<String> {
        let mut queries: Vec<String> = ["abcd", "cdef", "abc", "bc", "Set-Dkim", "Set-DkimSigningConfig"]
            .iter()
            .map(|v| format!("event.action:\"{v}\""))
            .collect();
        queries.extend((0..fillers).map(|n| format!("event.code:filler{n:02} or event.action:x{n}y")));
        queries.push("not event.action:abc".to_owned());
        // Clauses after the first: a rule found by its first is dropped when one fails.
        queries.push("event.action:abcd and event.code:filler00".to_owned());
        queries
            .push("event.action:abcd and (event.code:filler3 or event.action:zbcz) and event.id:abcdabcd".to_owned());
        queries
    }

    #[test]
    fn the_prefilter_marks_what_each_rules_literals_allow() {
        let packed = check(&queries(50));
        assert!(packed.groups.len() > 1, "the test needs more than one group");
        assert!(packed.groups.iter().all(|g| matches!(g.searcher, Searcher::Packed(_))));
        // Past two groups' worth of literals: one automaton reporting every occurrence.
        let overlapping = check(&queries(70));
        assert!(matches!(overlapping.groups[..], [Group { searcher: Searcher::Overlapping(_), .. }]));
    }

    /// The literals of `query` and a clause of `parts` found in any case.
    fn any_case(query: &str, parts: &[&str]) -> kql::Literals {
        let clause =
            kql::AnyCase { field: "process.name".into(), any_of: parts.iter().map(|p| (*p).to_owned()).collect() };
        let query = kql::parse(query).expect("query");
        query.required_literals_with(Catalog::builtin(), &|_| ecs::Copied::ValueAndName, &[clause])
    }

    #[test]
    fn literals_found_in_any_case_have_searchers_that_fold_it() {
        let mut literals: Vec<kql::Literals> =
            queries(3).iter().map(|q| kql::parse(q).expect("query").required_literals(Catalog::builtin())).collect();
        literals.extend([
            any_case("", &["ABCD"]),
            any_case("", &["bc", "cdef"]),
            any_case("event.action:abcd", &["ABCD"]),
            any_case("", &["set-dkim"]),
            any_case("event.code:filler00", &["nothing"]),
            // An `or` of parts (a sequence's terms): one found in any case with a clause more.
            kql::Literals::any_of(&[any_case("event.action:abcd", &["SET-DKIM"]), any_case("", &["zbcz"])]),
        ]);
        let prefilter = check_literals(literals.clone());
        assert!(prefilter.groups.iter().any(|g| matches!(g.searcher, Searcher::Automaton(_))));
        // Past two groups' worth of them: one automaton, folding case, reporting every occurrence.
        literals.extend((0..140).map(|n| any_case("", &[&format!("FILLER{n:02}")])));
        let prefilter = check_literals(literals);
        assert!(prefilter.groups.iter().any(|g| matches!(g.searcher, Searcher::Overlapping(_))));
    }

    #[test]
    fn a_single_literal_is_searched_alone() {
        let prefilter = check(&["event.action:Set-DkimSigningConfig".to_owned()]);
        assert!(matches!(prefilter.groups[..], [Group { searcher: Searcher::Automaton(_), .. }]));
    }
}
