//! The parser: Elasticsearch's EQL grammar (`EqlBase.g4`) as recursive descent.
//!
//! Precedence, loosest first: `or`, `and`, `not`, one comparison (`a < b < c` is refused, as
//! Elasticsearch does), `+ -`, `* / %`, unary `- +`, then a value with its predicate (`in`,
//! `:`, `like`, `regex`). Keywords are lower case; `AND` is a field name, as in Elasticsearch.

use kql::Span;

use crate::ast::{
    Arith, Compare, EventFilter, Expr, ExprKind, MatchKind, MaxSpan, Pipe, Query, QueryKind, Sample, Sequence, Term,
};
use crate::error::{Error, ErrorKind};
use crate::lexer::{Lexer, Tok};

/// Parentheses and `not`s may nest this deep.
pub const MAX_DEPTH: usize = 64;
/// The longest query accepted, in bytes.
pub const MAX_LEN: usize = 256 * 1024;

/// Words that are never field names or categories.
const KEYWORDS: &[&str] = &[
    "and", "any", "by", "false", "in", "join", "like", "maxspan", "not", "null", "of", "or", "regex", "sample",
    "sequence", "true", "until", "where", "with",
];

/// Parses an EQL query as Elasticsearch does.
///
/// # Errors
///
/// The first error, with the span it points at: a syntax error, a string escape or number
/// Elasticsearch refuses, a sequence with fewer than two terms or only missing ones, `with runs`
/// outside 1 to 100, a query nested deeper than [`MAX_DEPTH`] or longer than [`MAX_LEN`].
///
/// ```
/// let query = eql::parse("sequence by host.id with maxspan=1m [process where true] [network where true]")?;
/// assert!(matches!(query.kind, eql::QueryKind::Sequence(_)));
/// # Ok::<(), eql::Error>(())
/// ```
pub fn parse(text: &str) -> Result<Query, Error> {
    if text.len() > MAX_LEN {
        return Err(Error::new(ErrorKind::TooLong { len: text.len(), limit: MAX_LEN }, Span::new(0, 0)));
    }
    let mut lexer = Lexer::new(text);
    let mut tokens = Vec::new();
    loop {
        let (tok, span) = lexer.next()?;
        let end = tok == Tok::End;
        tokens.push((tok, span));
        if end {
            break;
        }
    }
    let mut parser = Parser { tokens, at: 0, depth: 0 };
    let query = parser.query()?;
    parser.expect_end()?;
    Ok(query)
}

struct Parser {
    tokens: Vec<(Tok, Span)>,
    at: usize,
    depth: usize,
}

/// Whether `word` is an EQL keyword (never a field name or bare category).
pub(crate) fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

fn keyword(tok: &Tok, word: &str) -> bool {
    matches!(tok, Tok::Word(w) if w == word)
}

impl Parser {
    /// The token `ahead` of the current one; past the end, the end.
    fn token(&self, ahead: usize) -> &(Tok, Span) {
        &self.tokens[(self.at + ahead).min(self.tokens.len() - 1)]
    }

    fn peek(&self) -> &Tok {
        &self.token(0).0
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.token(ahead).0
    }

    fn span(&self) -> Span {
        self.token(0).1
    }

    /// The span of the token just taken.
    fn last(&self) -> Span {
        self.tokens[self.at.saturating_sub(1).min(self.tokens.len() - 1)].1
    }

    /// Takes the current token (the end stays the end: taking it again gives it again).
    fn bump(&mut self) -> (Tok, Span) {
        let taken = self.token(0).clone();
        self.at += 1;
        taken
    }

    fn is_word(&self, word: &str) -> bool {
        keyword(self.peek(), word)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.is_word(word);
        if found {
            self.bump();
        }
        found
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let found = self.is_punct(p);
        if found {
            self.bump();
        }
        found
    }

    fn expected(&self, expected: &[&'static str]) -> Error {
        Error::new(ErrorKind::Syntax { expected: expected.to_vec(), found: self.peek().describe() }, self.span())
    }

    fn expect_punct(&mut self, p: &'static str, name: &'static str) -> Result<Span, Error> {
        if self.eat_punct(p) { Ok(self.last()) } else { Err(self.expected(&[name])) }
    }

    fn expect_word(&mut self, word: &'static str, name: &'static str) -> Result<Span, Error> {
        if self.eat_word(word) { Ok(self.last()) } else { Err(self.expected(&[name])) }
    }

    fn expect_end(&self) -> Result<(), Error> {
        if *self.peek() == Tok::End { Ok(()) } else { Err(self.expected(&["`|`", "end of query"])) }
    }

    fn query(&mut self) -> Result<Query, Error> {
        let kind = if self.eat_word("sequence") {
            QueryKind::Sequence(self.sequence()?)
        } else if self.eat_word("sample") {
            let by = if self.eat_word("by") { self.keys()? } else { Vec::new() };
            let terms = self.terms(false)?;
            QueryKind::Sample(Sample { by, terms })
        } else {
            QueryKind::Event(self.event_filter()?)
        };
        let mut pipes = Vec::new();
        while self.eat_punct("|") {
            let start = self.last();
            let name = match self.bump() {
                (Tok::Word(w), _) => w,
                _ => {
                    self.at -= 1;
                    return Err(self.expected(&["a pipe (`head`, `tail`, ...)"]));
                }
            };
            let mut args = Vec::new();
            if !matches!(self.peek(), Tok::End | Tok::Punct("|")) {
                args.push(self.expr()?);
                while self.eat_punct(",") {
                    args.push(self.expr()?);
                }
            }
            pipes.push(Pipe { name, args, span: start.to(self.last()) });
        }
        Ok(Query { kind, pipes })
    }

    fn sequence(&mut self) -> Result<Sequence, Error> {
        let mut by = Vec::new();
        if self.eat_word("by") {
            by = self.keys()?;
        }
        let mut maxspan = None;
        if self.is_word("with") && keyword(self.peek_at(1), "maxspan") {
            self.bump();
            self.bump();
            self.expect_punct("=", "`=`")?;
            maxspan = Some(self.maxspan()?);
            if by.is_empty() && self.is_word("by") {
                return Err(Error::new(
                    ErrorKind::Invalid("`sequence by` comes before `with maxspan`, not after".to_owned()),
                    self.span(),
                ));
            }
        }
        let terms = self.terms(true)?;
        let until = if self.eat_word("until") {
            let term = self.term(true)?;
            if term.missing || term.runs != 1 {
                return Err(Error::new(
                    ErrorKind::Invalid("an `until` term cannot be missing (`![`) or repeated (`with runs`)".to_owned()),
                    term.span,
                ));
            }
            Some(term)
        } else {
            None
        };
        if terms.iter().any(|t| t.missing) && maxspan.is_none() {
            let term = terms.iter().find(|t| t.missing).map_or_else(|| self.span(), |t| t.span);
            return Err(Error::new(
                ErrorKind::Invalid("a sequence with missing events (`![`) needs `with maxspan`".to_owned()),
                term,
            ));
        }
        if terms.iter().all(|t| t.missing) {
            return Err(Error::new(
                ErrorKind::Invalid("a sequence needs at least one term that is not missing (`[`, not `![`)".to_owned()),
                terms[0].span,
            ));
        }
        Ok(Sequence { by, maxspan, terms, until })
    }

    /// `number unit`: `30s`, `5m`, `500ms`, `1h`, `2d`.
    fn maxspan(&mut self) -> Result<MaxSpan, Error> {
        let start = self.span();
        let value = match self.bump() {
            (Tok::Int(n), span) => {
                n.parse::<u64>().map_err(|_| Error::new(ErrorKind::Invalid(format!("`{n}` is too large")), span))?
            }
            _ => {
                self.at -= 1;
                return Err(self.expected(&["a time span (`30s`, `5m`, ...)"]));
            }
        };
        let unit = match self.peek() {
            Tok::Word(u) => ["ms", "s", "m", "h", "d"].into_iter().find(|known| known == u),
            _ => None,
        };
        let Some(unit) = unit else {
            return Err(Error::new(
                ErrorKind::Invalid(
                    "`maxspan` needs a unit right after its number: `ms`, `s`, `m`, `h` or `d`".to_owned(),
                ),
                start.to(self.span()),
            ));
        };
        self.bump();
        let per = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => 86_400_000,
        };
        let millis = value.checked_mul(per).ok_or_else(|| {
            Error::new(ErrorKind::Invalid("this `maxspan` is too long".to_owned()), start.to(self.last()))
        })?;
        Ok(MaxSpan { millis, value, unit })
    }

    /// Two or more terms, counting `with runs=N` as N.
    fn terms(&mut self, sequence: bool) -> Result<Vec<Term>, Error> {
        let mut terms = Vec::new();
        while self.is_punct("[") || self.is_punct("![") {
            terms.push(self.term(sequence)?);
        }
        if terms.iter().map(|t| t.runs).sum::<u32>() < 2 {
            return Err(self.expected(&["a term `[...]`"]));
        }
        Ok(terms)
    }

    /// `[filter] by keys with runs=N`, or `![filter]` in a sequence.
    fn term(&mut self, sequence: bool) -> Result<Term, Error> {
        let start = self.span();
        let missing = if self.eat_punct("![") {
            if !sequence {
                return Err(Error::new(
                    ErrorKind::Invalid("missing events (`![`) belong to sequences, not samples".to_owned()),
                    start,
                ));
            }
            true
        } else {
            self.expect_punct("[", "a term `[...]`")?;
            false
        };
        let filter = self.event_filter()?;
        self.expect_punct("]", "`]`")?;
        let by = if self.eat_word("by") { self.keys()? } else { Vec::new() };
        let mut runs = 1;
        if sequence && self.is_word("with") && keyword(self.peek_at(1), "runs") {
            self.bump();
            self.bump();
            self.expect_punct("=", "`=`")?;
            runs = match self.bump() {
                (Tok::Int(n), span) => match n.parse::<u32>() {
                    Ok(n) if (1..=100).contains(&n) => n,
                    _ => {
                        return Err(Error::new(
                            ErrorKind::Invalid(format!("`runs` must be between 1 and 100, not {n}")),
                            span,
                        ));
                    }
                },
                _ => {
                    self.at -= 1;
                    return Err(self.expected(&["a number of runs"]));
                }
            };
            if missing {
                return Err(Error::new(
                    ErrorKind::Invalid("a missing event (`![`) cannot be repeated (`with runs`)".to_owned()),
                    start.to(self.last()),
                ));
            }
        }
        Ok(Term { filter, by, runs, missing, span: start.to(self.last()) })
    }

    fn keys(&mut self) -> Result<Vec<Expr>, Error> {
        let mut keys = vec![self.expr()?];
        while self.eat_punct(",") {
            keys.push(self.expr()?);
        }
        Ok(keys)
    }

    /// `category where condition`.
    fn event_filter(&mut self) -> Result<EventFilter, Error> {
        let start = self.span();
        let category = match self.peek().clone() {
            Tok::Word(w) if w == "any" => None,
            Tok::Word(w) if !KEYWORDS.contains(&w.as_str()) => Some(w),
            Tok::Str(s) => Some(s),
            _ => return Err(self.expected(&["an event category", "`any`"])),
        };
        self.bump();
        self.expect_word("where", "`where`")?;
        let condition = self.expr()?;
        Ok(EventFilter { category, condition, span: start.to(self.last()) })
    }

    fn nest<T>(&mut self, f: impl FnOnce(&mut Parser) -> Result<T, Error>) -> Result<T, Error> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::new(ErrorKind::TooDeep { limit: MAX_DEPTH }, self.span()));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn expr(&mut self) -> Result<Expr, Error> {
        let mut left = self.and()?;
        while self.eat_word("or") {
            let right = self.and()?;
            let span = left.span.to(right.span);
            left = Expr::new(ExprKind::Or(Box::new(left), Box::new(right)), span);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, Error> {
        let mut left = self.not()?;
        while self.eat_word("and") {
            let right = self.not()?;
            let span = left.span.to(right.span);
            left = Expr::new(ExprKind::And(Box::new(left), Box::new(right)), span);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, Error> {
        if self.is_word("not") {
            let start = self.bump().1;
            let inner = self.nest(Parser::not)?;
            let span = start.to(inner.span);
            return Ok(Expr::new(ExprKind::Not(Box::new(inner)), span));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, Error> {
        let left = self.additive()?;
        let op = match self.peek() {
            Tok::Punct("==") => Compare::Eq,
            Tok::Punct("!=") => Compare::Ne,
            Tok::Punct("<") => Compare::Lt,
            Tok::Punct("<=") => Compare::Le,
            Tok::Punct(">") => Compare::Gt,
            Tok::Punct(">=") => Compare::Ge,
            _ => return Ok(left),
        };
        self.bump();
        let right = self.additive()?;
        if matches!(self.peek(), Tok::Punct("==" | "!=" | "<" | "<=" | ">" | ">=")) {
            return Err(Error::new(
                ErrorKind::Invalid("comparisons do not chain; join them with `and`".to_owned()),
                self.span(),
            ));
        }
        let span = left.span.to(right.span);
        Ok(Expr::new(ExprKind::Compare(op, Box::new(left), Box::new(right)), span))
    }

    fn additive(&mut self) -> Result<Expr, Error> {
        self.arithmetic(Parser::multiplicative, |tok| match tok {
            Tok::Punct("+") => Some(Arith::Add),
            Tok::Punct("-") => Some(Arith::Sub),
            _ => None,
        })
    }

    fn multiplicative(&mut self) -> Result<Expr, Error> {
        self.arithmetic(Parser::unary, |tok| match tok {
            Tok::Punct("*") => Some(Arith::Mul),
            Tok::Punct("/") => Some(Arith::Div),
            Tok::Punct("%") => Some(Arith::Mod),
            _ => None,
        })
    }

    /// Operands from `operand` joined, left to right, by the operators `op` reads.
    fn arithmetic(
        &mut self,
        operand: fn(&mut Parser) -> Result<Expr, Error>,
        op: fn(&Tok) -> Option<Arith>,
    ) -> Result<Expr, Error> {
        let mut left = operand(self)?;
        while let Some(op) = op(self.peek()) {
            self.bump();
            let right = operand(self)?;
            let span = left.span.to(right.span);
            left = Expr::new(ExprKind::Arith(op, Box::new(left), Box::new(right)), span);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, Error> {
        if self.is_punct("-") || self.is_punct("+") {
            let (tok, start) = self.bump();
            let inner = self.nest(Parser::unary)?;
            let span = start.to(inner.span);
            return Ok(match tok {
                Tok::Punct("-") => Expr::new(ExprKind::Neg(Box::new(inner)), span),
                _ => Expr { span, ..inner },
            });
        }
        let value = self.primary()?;
        self.predicate(value)
    }

    /// What may follow a value: `[not] in[~] (...)`, or `:`/`like`/`regex`[`~`] with constants.
    fn predicate(&mut self, value: Expr) -> Result<Expr, Error> {
        let negated = self.is_word("not") && matches!(self.peek_at(1), Tok::Word(w) | Tok::TildeWord(w) if w == "in");
        if negated {
            self.bump();
        }
        let insensitive = match self.peek() {
            Tok::Word(w) if w == "in" => Some(false),
            Tok::TildeWord(w) if w == "in" => Some(true),
            _ => None,
        };
        if let Some(insensitive) = insensitive {
            self.bump();
            self.expect_punct("(", "`(`")?;
            let mut list = vec![self.nest(Parser::expr)?];
            while self.eat_punct(",") {
                list.push(self.nest(Parser::expr)?);
            }
            self.expect_punct(")", "`,` or `)`")?;
            let span = value.span.to(self.last());
            return Ok(Expr::new(ExprKind::In { value: Box::new(value), list, insensitive, negated }, span));
        }
        let (kind, insensitive) = match self.peek() {
            Tok::Punct(":") => (MatchKind::Colon, true),
            Tok::Word(w) if w == "like" => (MatchKind::Like, false),
            Tok::TildeWord(w) if w == "like" => (MatchKind::Like, true),
            Tok::Word(w) if w == "regex" => (MatchKind::Regex, false),
            Tok::TildeWord(w) if w == "regex" => (MatchKind::Regex, true),
            _ => return Ok(value),
        };
        self.bump();
        let mut patterns = Vec::new();
        if self.eat_punct("(") {
            patterns.push(self.constant()?);
            while self.eat_punct(",") {
                patterns.push(self.constant()?);
            }
            self.expect_punct(")", "`,` or `)`")?;
        } else {
            patterns.push(self.constant()?);
        }
        let span = value.span.to(self.last());
        Ok(Expr::new(ExprKind::Match { value: Box::new(value), kind, insensitive, patterns }, span))
    }

    fn constant(&mut self) -> Result<Expr, Error> {
        match self.peek() {
            Tok::Str(_) | Tok::Int(_) | Tok::Float(_) => self.primary(),
            Tok::Word(w) if matches!(w.as_str(), "null" | "true" | "false") => self.primary(),
            _ => Err(self.expected(&["a string", "number", "`true`, `false` or `null`"])),
        }
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        let (tok, span) = self.bump();
        let kind = match tok {
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Float(f) => ExprKind::Float(f),
            Tok::Int(n) => ExprKind::Int(
                n.parse()
                    .map_err(|_| Error::new(ErrorKind::Invalid(format!("`{n}` is too large for a number")), span))?,
            ),
            Tok::Word(w) if w == "null" => ExprKind::Null,
            Tok::Word(w) if w == "true" => ExprKind::Bool(true),
            Tok::Word(w) if w == "false" => ExprKind::Bool(false),
            Tok::Word(name) | Tok::TildeWord(name) if self.is_punct("(") && !KEYWORDS.contains(&name.as_str()) => {
                let insensitive = matches!(self.tokens[self.at - 1].0, Tok::TildeWord(_));
                self.bump();
                let mut args = Vec::new();
                if !self.is_punct(")") {
                    args.push(self.nest(Parser::expr)?);
                    while self.eat_punct(",") {
                        args.push(self.nest(Parser::expr)?);
                    }
                }
                self.expect_punct(")", "`,` or `)`")?;
                return Ok(Expr::new(ExprKind::Call { name, insensitive, args }, span.to(self.last())));
            }
            Tok::Punct("(") => {
                let inner = self.nest(Parser::expr)?;
                self.expect_punct(")", "`)`")?;
                return Ok(Expr { span: span.to(self.last()), ..inner });
            }
            Tok::Punct("?") => {
                let field = self.field()?;
                return Ok(Expr::new(ExprKind::Field { path: field, optional: true }, span.to(self.last())));
            }
            Tok::Word(_) | Tok::Quoted(_) => {
                self.at -= 1;
                let path = self.field()?;
                return Ok(Expr::new(ExprKind::Field { path, optional: false }, span.to(self.last())));
            }
            Tok::Punct("=") => {
                self.at -= 1;
                return Err(self.expected(&["`==`", "`:`"]));
            }
            _ => {
                self.at -= 1;
                return Err(self.expected(&["a field", "value", "function", "`(`"]));
            }
        };
        Ok(Expr::new(kind, span))
    }

    /// `name(.name)*`, where a name is a word that is not a keyword or is in backticks.
    fn field(&mut self) -> Result<Vec<String>, Error> {
        let mut path = vec![self.field_segment()?];
        loop {
            if self.eat_punct(".") {
                path.push(self.field_segment()?);
            } else if self.is_punct("[") && matches!(self.peek_at(1), Tok::Int(_)) {
                return Err(Error::new(
                    ErrorKind::Invalid("array indexes in field names (`field[0]`) are not supported".to_owned()),
                    self.span(),
                ));
            } else {
                return Ok(path);
            }
        }
    }

    fn field_segment(&mut self) -> Result<String, Error> {
        match self.peek().clone() {
            Tok::Word(w) if !KEYWORDS.contains(&w.as_str()) => {
                self.bump();
                Ok(w)
            }
            Tok::Quoted(q) => {
                self.bump();
                Ok(q)
            }
            _ => Err(self.expected(&["a field name"])),
        }
    }
}
