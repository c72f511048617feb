//! Required literals: byte strings a JSON line must contain for a query to match it.
//!
//! They let a scanner skip lines without decoding them. The guarantee is about lines as JSON
//! encoders write them: a string's characters appear as themselves or as one of the short
//! escapes (`\"`, `\\`, `\n`, `\t`, `\r`, `\b`, `\f`). Any other spelling needs `\u` or `\/`,
//! so [`Literals::may_match`] treats every line that holds one of those as a candidate.
//!
//! A caller may add clauses found in any ASCII case ([`AnyCase`]: EQL's `:` and `~` comparisons
//! ignore case); a line with a character whose lower case is ASCII though it is not (the Kelvin
//! sign, `İ`) may hide one, and is a candidate too ([`has_case_hazard`]).

use ecs::{Catalog, Copied, FieldType};
use memchr::memmem;

use crate::ast::{Expr, ExprKind, Query, RangeOp, Term, TermKind, ValueExpr, ValueExprKind, Wildcard};
use crate::compile::resolve;
use crate::matcher::parse_number;
use crate::text::is_query_string_space;

/// What a JSON line must hold to match the query: clauses, each a set of alternatives of which
/// at least one holds in the line. No clause means no prefilter (every line is evaluated). An
/// alternative is a byte string anywhere in the line, or, for a keyword field's value or a
/// numeric field's range, a key ending with the field's last name holding such a value (so
/// `event.action:MailItemsAccessed and o365.audit.OperationCount >= 100` leaves out lines whose
/// count is below 100 without decoding them).
#[derive(Clone, Debug, Default)]
pub struct Literals {
    /// The most selective clause first.
    all_of: Vec<Vec<Check>>,
    /// Each alternative's text, as [`Literals::clauses`] gives it.
    texts: Vec<Vec<Vec<u8>>>,
    /// Whether every text is ASCII (see [`Literals::is_ascii`]), known once: lines ask per line.
    ascii: bool,
    /// Per clause, per alternative: whether it is found in any ASCII case.
    any_case: Vec<Vec<bool>>,
}

/// A clause to add to a query's literals ([`Query::required_literals_with`]): a value of `field`
/// holds one of `any_of`, in any case (EQL's `:` and `~` comparisons ignore case). Each
/// alternative is a part of the value as compared, without wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnyCase {
    /// The field whose value holds it.
    pub field: String,
    /// The parts, one of which the value holds.
    pub any_of: Vec<String>,
}

/// An alternative with its searcher, built once: for its text, or for its key and the quote that
/// closes it.
#[derive(Clone, Debug)]
struct Check {
    alt: Alt,
    finder: memmem::Finder<'static>,
}

impl PartialEq for Check {
    fn eq(&self, other: &Check) -> bool {
        self.alt == other.alt
    }
}

impl Check {
    fn new(alt: Alt) -> Check {
        let finder = memmem::Finder::new(&alt.searched()).into_owned();
        Check { alt, finder }
    }

    fn holds(&self, line: &[u8]) -> bool {
        self.alt.holds(&self.finder, line)
    }
}

impl PartialEq for Literals {
    fn eq(&self, other: &Literals) -> bool {
        self.all_of == other.all_of
    }
}

impl Eq for Literals {}

/// One way a clause can hold.
#[derive(Clone, Debug, PartialEq)]
enum Alt {
    /// The bytes occur in the line.
    Text(Vec<u8>),
    /// A key ending with `key` (the whole key, or after a `.`) holds the string `value`, or a
    /// value that is not a plain string (an array, an object, a string with escapes: they may
    /// hold it).
    Pair { key: Vec<u8>, value: Vec<u8> },
    /// A key ending with `key` holds a number `op bound`, or a value that is not a number (or,
    /// of an `integer` field, a number with a fraction or an exponent, which the field
    /// truncates).
    Range { key: Vec<u8>, op: RangeOp, bound: f64, integer: bool },
    /// Every clause holds (one branch of an `or`); the first has one alternative, whose text is
    /// this one's.
    All(Vec<Vec<Check>>),
    /// The bytes (in lower case) occur in the line in any ASCII case.
    AnyCase(Vec<u8>),
}

impl Eq for Alt {}

impl Alt {
    /// Bytes of every line where it holds.
    fn text(&self) -> &[u8] {
        match self {
            Alt::Text(text) | Alt::Pair { value: text, .. } | Alt::AnyCase(text) => text,
            Alt::Range { key, .. } => key,
            Alt::All(clauses) => clauses.first().and_then(|c| c.first()).map_or(&[], |check| check.alt.text()),
        }
    }

    /// Whether its text is found in any case (of `All`, its first clause's).
    fn folds_case(&self) -> bool {
        match self {
            Alt::AnyCase(_) => true,
            Alt::All(clauses) => clauses.first().and_then(|c| c.first()).is_some_and(|check| check.alt.folds_case()),
            _ => false,
        }
    }

    /// What its searcher looks for: its text, or its key and the closing quote.
    fn searched(&self) -> Vec<u8> {
        match self {
            Alt::Text(text) | Alt::AnyCase(text) => text.clone(),
            Alt::Pair { key, .. } | Alt::Range { key, .. } => [key.as_slice(), b"\""].concat(),
            Alt::All(_) => self.text().to_vec(),
        }
    }

    /// Whether it holds in `line`, `finder` being its searcher.
    fn holds(&self, finder: &memmem::Finder<'_>, line: &[u8]) -> bool {
        match self {
            Alt::Text(_) => finder.find(line).is_some(),
            Alt::Pair { key, value } => finder.find_iter(line).any(|at| match value_after_key(line, at, key.len()) {
                Some(Json::String(text)) => text == value.as_slice(),
                Some(Json::Number(_) | Json::Other) => true,
                None => false,
            }),
            Alt::Range { key, op, bound, integer } => {
                finder.find_iter(line).any(|at| match value_after_key(line, at, key.len()) {
                    Some(Json::Number(text)) => number_in_range(text, *op, *bound, *integer),
                    // A numeric field reads numbers from strings too; anything else may hold one.
                    Some(Json::String(text)) => number_in_range(text.trim_ascii(), *op, *bound, *integer),
                    Some(Json::Other) => true,
                    None => false,
                })
            }
            Alt::All(clauses) => clauses.iter().all(|clause| clause.iter().any(|check| check.holds(line))),
            Alt::AnyCase(text) => contains_any_case(line, text),
        }
    }
}

/// Whether `needle` (in lower case) occurs in `line` in any ASCII case.
fn contains_any_case(line: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else { return true };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), line)
        .any(|at| line.get(at + 1..at + 1 + rest.len()).is_some_and(|after| after.eq_ignore_ascii_case(rest)))
}

/// A JSON value after a key, as far as a prefilter reads it.
enum Json<'a> {
    /// A string without escapes (its bytes between the quotes).
    String(&'a [u8]),
    /// A number, as written.
    Number(&'a [u8]),
    /// Anything else: an array, an object, `true`, `false`, `null`, a string with escapes.
    Other,
}

/// The value of the key whose text (`key_len` bytes, then its closing quote) starts at `at`, if
/// it is a key: preceded by `"` or `.`, followed by `:`.
fn value_after_key(line: &[u8], at: usize, key_len: usize) -> Option<Json<'_>> {
    if at == 0 || !matches!(line[at - 1], b'"' | b'.') {
        return None;
    }
    let mut i = at + key_len + 1;
    while line.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if line.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    while line.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    let rest = &line[i..];
    match rest.first()? {
        b'"' => {
            let end = memchr::memchr2(b'"', b'\\', &rest[1..])?;
            Some(if rest[1 + end] == b'"' { Json::String(&rest[1..1 + end]) } else { Json::Other })
        }
        b'-' | b'0'..=b'9' => {
            let end = rest.iter().position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'));
            Some(Json::Number(&rest[..end.unwrap_or(rest.len())]))
        }
        _ => Some(Json::Other),
    }
}

/// Whether the number written as `text` is `op bound`; `true` when it cannot say exactly (not a
/// number, too large for a double to hold whole, or not whole for an `integer` field).
fn number_in_range(text: &[u8], op: RangeOp, bound: f64, integer: bool) -> bool {
    if integer && text.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return true;
    }
    let Some(n) = std::str::from_utf8(text).ok().and_then(|t| t.parse::<f64>().ok()) else { return true };
    if !n.is_finite() || n.abs() >= 9_007_199_254_740_992.0 {
        return true;
    }
    match op {
        RangeOp::Lt => n < bound,
        RangeOp::Lte => n <= bound,
        RangeOp::Gt => n > bound,
        RangeOp::Gte => n >= bound,
    }
}

/// Clauses kept per query: enough to tell apart events that share their most selective value
/// (`event.action:MailItemsAccessed and o365.audit.OperationCount >= 100`), few enough that
/// checking them stays far cheaper than decoding the line.
const MAX_CLAUSES: usize = 6;

impl Literals {
    /// The clauses, the most selective first; a line must hold an alternative of each, and holds
    /// the text given here for each alternative that holds (a value, or a key's name).
    pub fn clauses(&self) -> &[Vec<Vec<u8>>] {
        &self.texts
    }

    /// Per clause of [`Literals::clauses`], per alternative: whether its text is found in any
    /// ASCII case (it is then in lower case) rather than exactly.
    pub fn any_case(&self) -> &[Vec<bool>] {
        &self.any_case
    }

    /// Whether a literal is found in any case: then a line with a [case
    /// hazard](has_case_hazard) may hide it.
    pub fn has_any_case(&self) -> bool {
        self.any_case.iter().flatten().any(|&a| a)
    }

    /// Whether no literal could be derived.
    pub fn is_empty(&self) -> bool {
        self.all_of.is_empty()
    }

    /// Whether `line` may match: every clause holds, or it has an escape (`\u`, `\/`) that could
    /// spell a literal differently, or there are no literals at all.
    pub fn may_match(&self, line: &[u8]) -> bool {
        self.all_of.is_empty()
            || has_escape(line, self.ascii)
            || (self.has_any_case() && has_case_hazard(line))
            || self.clauses_hold(0, line)
    }

    /// Whether every literal is ASCII: then only escapes of ASCII characters can hide one.
    pub fn is_ascii(&self) -> bool {
        self.ascii
    }

    /// For a prefilter that found a text of the first clause itself (escapes are its business
    /// too): whether the rest holds, the first clause's keyed alternatives included.
    pub fn rest_hold(&self, line: &[u8]) -> bool {
        let found = self
            .all_of
            .first()
            .is_none_or(|clause| clause.iter().all(|c| matches!(c.alt, Alt::Text(_) | Alt::AnyCase(_))));
        self.clauses_hold(usize::from(found), line)
    }

    fn clauses_hold(&self, from: usize, line: &[u8]) -> bool {
        self.all_of[from.min(self.all_of.len())..].iter().all(|clause| clause.iter().any(|check| check.holds(line)))
    }
}

/// Whether `line` holds a JSON escape that could spell a literal differently: `\u0041` for `A`,
/// `\/` for `/`. With `ascii_literals` (no literal holds a character beyond ASCII), escapes of
/// other characters (`\u00f6` for `ö`, common in names) cannot, and do not count. (An escaped
/// backslash before `u` or `/` counts too, which only costs a decode.)
///
/// ```
/// assert!(kql::has_escape(br#"{"a":"\u0041BC"}"#, true));
/// assert!(!kql::has_escape(br#"{"city":"\u00d6rebro"}"#, true));
/// assert!(kql::has_escape(br#"{"city":"\u00d6rebro"}"#, false));
/// ```
pub fn has_escape(line: &[u8], ascii_literals: bool) -> bool {
    memchr::memchr_iter(b'\\', line).any(|at| match line.get(at + 1) {
        Some(b'/') => true,
        // `\u00XX` below `\u0080` is an ASCII character.
        Some(b'u') => !ascii_literals || matches!(line.get(at + 2..at + 5), Some([b'0', b'0', b'0'..=b'7'])),
        _ => false,
    })
}

/// Whether `line` holds a character that is not ASCII but whose lower case is (`K`, the Kelvin
/// sign, is `k`; `İ` is `i̇`): a case-insensitive comparison may find an [`AnyCase`] literal
/// there that a search in any ASCII case does not. These two are all of Unicode's.
///
/// ```
/// assert!(kql::has_case_hazard("{\"a\":\"\u{212A}ERNEL\"}".as_bytes()));
/// assert!(!kql::has_case_hazard("{\"a\":\"Örebro\"}".as_bytes()));
/// ```
pub fn has_case_hazard(line: &[u8]) -> bool {
    memchr::memchr2_iter(0xC4, 0xE2, line).any(|at| matches!(&line[at..], [0xC4, 0xB0, ..] | [0xE2, 0x84, 0xAA, ..]))
}

impl Query {
    /// The literals a JSON line must contain to match this query (see [`Literals`]).
    ///
    /// ```
    /// let query = kql::parse("event.action:\"Set-DkimSigningConfig\" and event.outcome:success")?;
    /// let literals = query.required_literals(ecs::Catalog::builtin());
    /// assert_eq!(literals.clauses(), [vec![b"Set-DkimSigningConfig".to_vec()], vec![b"success".to_vec()]]);
    /// # Ok::<(), kql::Error>(())
    /// ```
    pub fn required_literals(&self, catalog: &Catalog) -> Literals {
        self.required_literals_in(catalog, &|_| Copied::ValueAndName)
    }

    /// The literals a record must contain for the document made of it to match this query,
    /// where `copied` says how each field's text reaches the document from the record (by its
    /// path): only literals of fields copied verbatim are required, so a
    /// prefilter over the records never drops one whose document matches.
    ///
    /// ```
    /// use ecs::Copied;
    /// let query = kql::parse("event.action:\"Set-DkimSigningConfig\" and event.outcome:success")?;
    /// // `event.action` is the record's `Operation`; `event.outcome` is worked out from it.
    /// let copied = |field: &str| if field == "event.action" { Copied::Value } else { Copied::No };
    /// let literals = query.required_literals_in(ecs::Catalog::builtin(), &copied);
    /// assert_eq!(literals.clauses(), [vec![b"Set-DkimSigningConfig".to_vec()]]);
    /// # Ok::<(), kql::Error>(())
    /// ```
    pub fn required_literals_in(&self, catalog: &Catalog, copied: &dyn Fn(&str) -> Copied) -> Literals {
        self.required_literals_with(catalog, copied, &[])
    }

    /// [`Query::required_literals_in`], with clauses of the caller's found in any case: the
    /// query's literals and these must all hold (a clause of a field that does not reach the
    /// searched text as it is, or with an empty or non-ASCII alternative, is left out).
    ///
    /// ```
    /// use ecs::Copied;
    /// let query = kql::parse("event.category:process")?;
    /// let any_case = [kql::AnyCase { field: "process.name".into(), any_of: vec!["CMD.exe".into()] }];
    /// let literals = query.required_literals_with(ecs::Catalog::builtin(), &|_| Copied::ValueAndName, &any_case);
    /// assert_eq!(literals.clauses(), [vec![b"cmd.exe".to_vec()], vec![b"process".to_vec()]]);
    /// assert!(literals.may_match(br#"{"event":{"category":"process"},"process":{"name":"Cmd.EXE"}}"#));
    /// assert!(!literals.may_match(br#"{"event":{"category":"process"},"process":{"name":"bash"}}"#));
    /// # Ok::<(), kql::Error>(())
    /// ```
    pub fn required_literals_with(
        &self,
        catalog: &Catalog,
        copied: &dyn Fn(&str) -> Copied,
        any_case: &[AnyCase],
    ) -> Literals {
        let cx = Cx { catalog, copied };
        let mut clauses = self.root.as_ref().map(|e| expr_literals(e, "", &cx)).unwrap_or_default();
        clauses.extend(any_case.iter().filter_map(|clause| any_case_literals(clause, &cx)));
        clauses.sort_by_key(|found| std::cmp::Reverse(found.selectivity()));
        let mut all_of: Vec<Vec<Alt>> = Vec::new();
        for found in clauses {
            if !all_of.contains(&found.any_of) {
                all_of.push(found.any_of);
            }
        }
        all_of.truncate(MAX_CLAUSES);
        Literals::of(all_of)
    }
}

impl Literals {
    /// What a line holds when it holds the literals of one of `parts` (an `or` of queries): one
    /// clause of each part's first (most selective) clause's alternatives, or of the part's
    /// clauses all together when that first clause has one alternative; no literals when a part
    /// has none.
    ///
    /// ```
    /// let catalog = ecs::Catalog::builtin();
    /// let part = |q: &str| kql::parse(q).unwrap().required_literals(catalog);
    /// let either = kql::Literals::any_of(&[part("event.action:alpha and event.code:7x"), part("event.action:beta")]);
    /// assert_eq!(either.clauses(), [vec![b"alpha".to_vec(), b"beta".to_vec()]]);
    /// assert!(either.may_match(br#"{"event":{"action":"beta"}}"#));
    /// assert!(!either.may_match(br#"{"event":{"action":"alpha"}}"#), "alpha's part needs its code too");
    /// ```
    pub fn any_of(parts: &[Literals]) -> Literals {
        let mut alts: Vec<Alt> = Vec::new();
        for part in parts {
            let Some(first) = part.all_of.first() else { return Literals::default() };
            let part_alts = if first.len() == 1 && part.all_of.len() > 1 {
                vec![Alt::All(part.all_of.clone())]
            } else {
                first.iter().map(|check| check.alt.clone()).collect()
            };
            for alt in part_alts {
                if !alts.contains(&alt) {
                    alts.push(alt);
                }
            }
        }
        if alts.is_empty() { Literals::default() } else { Literals::of(vec![alts]) }
    }

    fn of(all_of: Vec<Vec<Alt>>) -> Literals {
        let texts: Vec<Vec<Vec<u8>>> =
            all_of.iter().map(|clause| clause.iter().map(|alt| alt.text().to_vec()).collect()).collect();
        let any_case = all_of.iter().map(|clause| clause.iter().map(Alt::folds_case).collect()).collect();
        let all_of = all_of.into_iter().map(|clause| clause.into_iter().map(Check::new).collect()).collect();
        let ascii = texts.iter().flatten().all(|lit| lit.is_ascii());
        Literals { all_of, texts, ascii, any_case }
    }
}

/// A clause: literals one of which must occur, and how selective they are likely to be ([`Rank`]).
#[derive(Clone, Debug)]
struct Found {
    any_of: Vec<Alt>,
    rank: Rank,
}

impl Found {
    /// How well the clause narrows lines down: by rank, then the longest shortest literal, then
    /// the fewest alternatives.
    fn selectivity(&self) -> (Rank, usize, std::cmp::Reverse<usize>) {
        let shortest = self.any_of.iter().map(|alt| alt.text().len()).min().unwrap_or(0);
        (self.rank, shortest.min(16), std::cmp::Reverse(self.any_of.len()))
    }
}

/// How much a literal narrows the lines down, from least to most. Values of fields that sort
/// events into kinds (`event.dataset:o365.audit`) occur in most lines of an index, and field
/// names in more; a prefilter on them skips little, so they are chosen only when nothing better is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    FieldName,
    Categorization,
    Value,
}

/// Clauses that all hold (none: nothing is required).
type Clauses = Vec<Found>;

/// Fields whose values are shared by most events of a data stream.
const CATEGORIZATION_FIELDS: &[&str] = &[
    "data_stream.dataset",
    "data_stream.namespace",
    "data_stream.type",
    "event.agent_id_status",
    "event.category",
    "event.dataset",
    "event.kind",
    "event.module",
    "event.outcome",
    "event.provider",
    "event.type",
    "host.os.family",
    "host.os.platform",
    "host.os.type",
    "cloud.provider",
    "ecs.version",
    "input.type",
    "agent.type",
];

/// What literals are derived with: the field catalog, and how fields reach the searched text.
struct Cx<'a> {
    catalog: &'a Catalog,
    copied: &'a dyn Fn(&str) -> Copied,
}

fn expr_literals(expr: &Expr, prefix: &str, cx: &Cx<'_>) -> Clauses {
    match &expr.kind {
        ExprKind::Or(items) => union(items.iter().map(|e| expr_literals(e, prefix, cx))),
        ExprKind::And(items) => items.iter().flat_map(|e| expr_literals(e, prefix, cx)).collect(),
        ExprKind::Not(_) | ExprKind::Match { field: None, .. } => Vec::new(),
        ExprKind::Range { field, op, value } => {
            let resolved = resolve(field, prefix, cx.catalog);
            match (resolved.targets.as_slice(), resolved.pattern) {
                ([(known, _, path)], None) => range_literals(path, known.as_ref().map(|f| f.ty()), *op, value, cx),
                _ => Vec::new(),
            }
        }
        ExprKind::Nested { field, query } => expr_literals(query, &format!("{prefix}{}.", field.text()), cx),
        ExprKind::Match { field: Some(field), value } => value_literals(field, value, prefix, cx),
    }
}

fn value_literals(field: &Term, value: &ValueExpr, prefix: &str, cx: &Cx<'_>) -> Clauses {
    match &value.kind {
        ValueExprKind::Or(items) => union(items.iter().map(|v| value_literals(field, v, prefix, cx))),
        ValueExprKind::And(items) => items.iter().flat_map(|v| value_literals(field, v, prefix, cx)).collect(),
        ValueExprKind::Not(_) => Vec::new(),
        ValueExprKind::Term(term) => {
            let resolved = resolve(field, prefix, cx.catalog);
            let [(known, _, path)] = resolved.targets.as_slice() else { return Vec::new() };
            if resolved.pattern.is_some() {
                return Vec::new();
            }
            let ty = known.as_ref().map(|f| f.ty());
            let rank = if CATEGORIZATION_FIELDS.contains(&path.as_str()) { Rank::Categorization } else { Rank::Value };
            let copied = (cx.copied)(path);
            match term_literals(ty, term) {
                // A value that may not reach the searched text as it is requires nothing there.
                Some(any_of) if !reaches(&any_of, copied) => Vec::new(),
                Some(any_of) => {
                    // A keyword's whole value, under its own name: the key and the value together.
                    let whole = matches!(&term.kind, TermKind::Quoted(_))
                        || matches!(&term.kind, TermKind::Unquoted(s) if !s.contains(char::is_whitespace));
                    let keyed = copied == Copied::ValueAndName
                        && whole
                        && matches!(ty, Some(FieldType::Keyword | FieldType::Wildcard));
                    let alts = match last_name(path).filter(|_| keyed) {
                        Some(key) => any_of.into_iter().map(|value| Alt::Pair { key: key.clone(), value }).collect(),
                        None => any_of.into_iter().map(Alt::Text).collect(),
                    };
                    vec![Found { any_of: alts, rank }]
                }
                // Whatever the value, a field that matches is in the line: its name is a key.
                None => field_name(path, cx),
            }
        }
    }
}

/// A caller's clause found in any case, when its field is not a categorization field, its values
/// reach the searched text as they are, and every alternative is ASCII (which case folding keeps apart from the rest,
/// [`has_case_hazard`] aside).
fn any_case_literals(clause: &AnyCase, cx: &Cx<'_>) -> Option<Found> {
    // A categorization field's values hold in most lines: searching them in any case costs more
    // than the decoding it would save.
    if CATEGORIZATION_FIELDS.contains(&clause.field.as_str()) {
        return None;
    }
    let any_of: Vec<Vec<u8>> = clause.any_of.iter().map(|alt| encode(alt).to_ascii_lowercase()).collect();
    if any_of.is_empty() || any_of.iter().any(|alt| alt.is_empty() || !alt.is_ascii()) {
        return None;
    }
    let reached = match (cx.copied)(&clause.field) {
        Copied::No => false,
        Copied::Value | Copied::ValueAndName => true,
        // What the normalizer writes itself may hold the literal in another case.
        Copied::Except(written) => !any_of
            .iter()
            .any(|lit| written.iter().any(|w| memmem::find(w.to_ascii_lowercase().as_bytes(), lit).is_some())),
    };
    reached.then(|| Found { any_of: any_of.into_iter().map(Alt::AnyCase).collect(), rank: Rank::Value })
}

/// Whether a field's literals reach the searched text as they are.
fn reaches(any_of: &[Vec<u8>], copied: Copied) -> bool {
    match copied {
        Copied::No => false,
        Copied::Value | Copied::ValueAndName => true,
        Copied::Except(written) => {
            !any_of.iter().any(|lit| written.iter().any(|w| memmem::find(w.as_bytes(), lit).is_some()))
        }
    }
}

/// A comparison of a numeric field with a number: a key with its name holding a number in the
/// range (or a value that may hold one); of any other field, its name.
fn range_literals(path: &str, ty: Option<FieldType>, op: RangeOp, bound: &Term, cx: &Cx<'_>) -> Clauses {
    let bound = match &bound.kind {
        TermKind::Quoted(text) | TermKind::Unquoted(text) => parse_number(text),
        TermKind::Wildcard(_) => None,
    };
    let integer = match ty {
        Some(FieldType::Long | FieldType::Integer) => true,
        Some(FieldType::Float) => false,
        _ => return field_name(path, cx),
    };
    match (bound, last_name(path)) {
        (Some(bound), Some(key)) if (cx.copied)(path) == Copied::ValueAndName => {
            vec![Found { any_of: vec![Alt::Range { key, op, bound, integer }], rank: Rank::FieldName }]
        }
        _ => field_name(path, cx),
    }
}

/// A field's last name segment, as a key holds it.
fn last_name(path: &str) -> Option<Vec<u8>> {
    path.rsplit('.').next().filter(|s| !s.is_empty()).map(encode)
}

/// A field's last name segment, which ends some key of any line where the field has a value
/// (`{"a":{"b":1}}`, `{"a.b":1}`), when the name reaches the searched text as it is.
fn field_name(path: &str, cx: &Cx<'_>) -> Clauses {
    if (cx.copied)(path) != Copied::ValueAndName {
        return Vec::new();
    }
    last_name(path).map(|last| Found { any_of: vec![Alt::Text(last)], rank: Rank::FieldName }).into_iter().collect()
}

/// The values one of which must occur for one value of a field of type `ty` (`None`: unmapped).
fn term_literals(ty: Option<FieldType>, term: &Term) -> Option<Vec<Vec<u8>>> {
    match &term.kind {
        TermKind::Wildcard(w) if w.is_lone_star() => None,
        TermKind::Wildcard(w) => match ty {
            None => wildcard_literals(w),
            Some(t) if t.is_keyword() => wildcard_literals(w),
            _ => None,
        },
        TermKind::Quoted(s) | TermKind::Unquoted(s) => match ty {
            // Unmapped values compare as numbers or booleans when the JSON value is one, and
            // numbers have many spellings (`1e3`), so only other strings give a literal.
            None if parse_number(s).is_some() || s == "true" || s == "false" || s == "null" => None,
            // A keyword field indexes a JSON number as written, which may differ from the query.
            Some(t) if t.is_keyword() && parse_number(s).is_some() => None,
            None => Some(vec![encode(s)]),
            Some(t) if t.is_keyword() && !s.is_empty() => Some(vec![encode(s)]),
            Some(FieldType::Boolean) if s == "true" => Some(vec![b"true".to_vec()]),
            _ => None,
        },
    }
}

/// Each `query_string` alternative of the pattern must give a literal: the text of a plain
/// term, or the longest part of a pattern.
fn wildcard_literals(pattern: &Wildcard) -> Option<Vec<Vec<u8>>> {
    let mut alternatives = Vec::new();
    let mut term: Vec<String> = vec![String::new()];
    let mut flush = |term: &mut Vec<String>| -> Option<()> {
        let parts = std::mem::replace(term, vec![String::new()]);
        if parts.len() == 1 && parts[0].is_empty() {
            return Some(()); // two spaces in a row: no term
        }
        let longest = parts.iter().max_by_key(|p| p.len())?;
        if longest.is_empty() {
            return None; // a lone `*` alternative matches anything
        }
        alternatives.push(encode(longest));
        Some(())
    };
    for (i, part) in pattern.parts().iter().enumerate() {
        if i > 0 {
            term.push(String::new());
        }
        for c in part.chars() {
            if is_query_string_space(c) {
                flush(&mut term)?;
            } else {
                term.last_mut().expect("term starts non-empty").push(c);
            }
        }
    }
    flush(&mut term)?;
    (!alternatives.is_empty()).then_some(alternatives)
}

/// `text` as it appears inside a JSON string written without optional escapes.
fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// Any branch may match, so every branch must give a clause; the union of each branch's most
/// selective clause is required (ranked as its weakest branch).
fn union(branches: impl Iterator<Item = Clauses>) -> Clauses {
    let mut all: Vec<Alt> = Vec::new();
    let mut rank = Rank::Value;
    for mut branch in branches {
        branch.sort_by_key(|found| std::cmp::Reverse(found.selectivity()));
        let Some(best) = branch.first() else { return Vec::new() };
        rank = rank.min(best.rank);
        // A branch of several clauses holds when all do: one alternative of them all, found by
        // the text of its most selective clause that has a single alternative.
        let anchor = branch.iter().position(|found| found.any_of.len() == 1);
        let alts = match anchor {
            Some(at) if branch.len() > 1 => {
                let first = branch.remove(at);
                let rest = branch.into_iter().take(MAX_CLAUSES - 1).map(|found| found.any_of);
                let clauses = std::iter::once(first.any_of).chain(rest);
                vec![Alt::All(clauses.map(|alts| alts.into_iter().map(Check::new).collect()).collect())]
            }
            _ => branch.swap_remove(0).any_of,
        };
        for alt in alts {
            if !all.contains(&alt) {
                all.push(alt);
            }
        }
    }
    all.sort_by(|a, b| a.text().cmp(b.text()));
    if all.is_empty() {
        return Vec::new();
    }
    vec![Found { any_of: all, rank }]
}
