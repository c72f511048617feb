//! The parser: Kibana's KQL grammar (`kuery.peggy`), rule for rule.
//!
//! Kibana parses KQL with a PEG; this is the same grammar as a recursive-descent parser with the
//! same ordered choices, so every query means here what it means in Kibana. Notable consequences:
//! unquoted values may hold spaces (`user.name:john doe`) and end before ` or `, ` and ` and
//! `not ` (keywords in any letter case), and an unquoted value is trimmed. The one change is
//! that `A (Or A)+ / A` is parsed as `A (Or A)*`, which accepts the same texts without parsing
//! `A` twice, so nesting costs linear rather than exponential time.

use crate::ast::{Expr, ExprKind, Query, RangeOp, Term, TermKind, ValueExpr, ValueExprKind, Wildcard};
use crate::error::{Error, ErrorKind};
use crate::span::Span;

/// Parentheses, value lists and nested queries may nest this deep.
pub const MAX_DEPTH: usize = 64;
/// The longest query accepted, in bytes.
pub const MAX_LEN: usize = 256 * 1024;

/// Parses a KQL query as Kibana does. An empty or blank query matches every document.
///
/// # Errors
///
/// The first syntax error, with the span it points at; also a query nested deeper than
/// [`MAX_DEPTH`] or longer than [`MAX_LEN`].
///
/// ```
/// let query = kql::parse("event.action:\"Set-DkimSigningConfig\" and o365.audit.Parameters.Enabled:False")?;
/// assert_eq!(query.to_string(), "event.action:\"Set-DkimSigningConfig\" and o365.audit.Parameters.Enabled:False");
/// # Ok::<(), kql::Error>(())
/// ```
pub fn parse(text: &str) -> Result<Query, Error> {
    if text.len() > MAX_LEN {
        return Err(Error::new(ErrorKind::TooLong { len: text.len(), limit: MAX_LEN }, Span::new(0, 0)));
    }
    let mut parser =
        Parser { text, pos: 0, depth: 0, too_deep: None, fail_pos: 0, expected: Vec::new(), space_run: (0, 0) };
    match parser.start() {
        Some(root) => Ok(Query { root }),
        None => Err(parser.error()),
    }
}

/// Kibana's `Space`: `[\ \t\r\n\u00A0]`.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{a0}')
}

/// Kibana's `SpecialCharacter`: `[\\():<>"*{}]`.
fn is_special(c: char) -> bool {
    matches!(c, '\\' | '(' | ')' | ':' | '<' | '>' | '"' | '*' | '{' | '}')
}

/// What JavaScript's `String.prototype.trim` removes.
fn is_js_trimmed(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// One item as is; several as the node `build` makes of them, spanning them all.
fn join<T>(mut items: Vec<T>, span: fn(&T) -> Span, build: impl FnOnce(Vec<T>, Span) -> T) -> T {
    if items.len() == 1 {
        return items.pop().expect("one item");
    }
    let whole = span(&items[0]).to(span(&items[items.len() - 1]));
    build(items, whole)
}

/// A character of an unquoted literal, before trimming.
enum Piece {
    Char(char),
    Star,
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    depth: usize,
    too_deep: Option<usize>,
    /// The farthest position a rule failed at, and what was expected there (as peggy reports).
    fail_pos: usize,
    expected: Vec<&'static str>,
    /// The last run of spaces measured, so long runs are scanned once.
    space_run: (usize, usize),
}

impl Parser<'_> {
    fn error(&self) -> Error {
        if let Some(at) = self.too_deep {
            return Error::new(ErrorKind::TooDeep { limit: MAX_DEPTH }, Span::new(at, at + 1));
        }
        let rest = &self.text[self.fail_pos..];
        let (found, len) = match rest.chars().next() {
            // The end of the query is shown right after its last character, not after trailing
            // whitespace (a rule file's query often ends with a newline).
            None => {
                let end = self.text.trim_end_matches(is_space).len();
                return Error::new(
                    ErrorKind::Syntax { expected: self.expected.clone(), found: "end of query".to_owned() },
                    Span::new(end, end + 1),
                );
            }
            Some(c) if c.is_alphanumeric() => {
                let word: String = rest.chars().take_while(|c| c.is_alphanumeric()).take(24).collect();
                (format!("`{word}`"), word.len())
            }
            Some(c) if is_space(c) => ("whitespace".to_owned(), c.len_utf8()),
            Some(c) => (format!("`{c}`"), c.len_utf8()),
        };
        Error::new(
            ErrorKind::Syntax { expected: self.expected.clone(), found },
            Span::new(self.fail_pos, self.fail_pos + len.max(1)),
        )
    }

    /// Records that `what` was expected at the current position.
    fn expect(&mut self, what: &'static str) {
        if self.pos > self.fail_pos {
            self.fail_pos = self.pos;
            self.expected.clear();
        }
        if self.pos == self.fail_pos && !self.expected.contains(&what) {
            self.expected.push(what);
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn char_at(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|s| s.chars().next())
    }

    fn eat(&mut self, c: char, what: &'static str) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            self.expect(what);
            false
        }
    }

    /// The end of the run of spaces starting at `at` (`at` itself if there is none).
    fn space_end(&mut self, at: usize) -> usize {
        let (start, end) = self.space_run;
        if (start..end).contains(&at) {
            return end;
        }
        let mut end = at;
        while let Some(c) = self.char_at(end).filter(|&c| is_space(c)) {
            end += c.len_utf8();
        }
        self.space_run = (at, end);
        end
    }

    fn skip_spaces(&mut self) {
        self.pos = self.space_end(self.pos);
    }

    fn word_at(&self, at: usize, word: &str) -> bool {
        self.text.as_bytes().get(at..at + word.len()).is_some_and(|b| b.eq_ignore_ascii_case(word.as_bytes()))
    }

    fn space_at(&self, at: usize) -> bool {
        self.char_at(at).is_some_and(is_space)
    }

    /// `Space+ word Space+` at `at`: the end of the match.
    fn infix_keyword_at(&mut self, at: usize, word: &str) -> Option<usize> {
        let after_space = self.space_end(at);
        if after_space == at || !self.word_at(after_space, word) || !self.space_at(after_space + word.len()) {
            return None;
        }
        Some(self.space_end(after_space + word.len()))
    }

    /// `Or`, `And` (`Space+ 'or'i Space+`) as separators.
    fn separator(&mut self, word: &str, what: &'static str) -> bool {
        match self.infix_keyword_at(self.pos, word) {
            Some(end) => {
                self.pos = end;
                true
            }
            None => {
                self.expect(what);
                false
            }
        }
    }

    /// `Not`: `'not'i Space+`.
    fn not_keyword(&mut self) -> bool {
        if self.word_at(self.pos, "not") && self.space_at(self.pos + 3) {
            self.pos = self.space_end(self.pos + 3);
            true
        } else {
            self.expect("`not`");
            false
        }
    }

    /// Kibana's `Keyword` (`Or / And / Not`) lookahead, which ends an unquoted literal.
    fn keyword_at(&mut self, at: usize) -> bool {
        self.infix_keyword_at(at, "or").is_some()
            || self.infix_keyword_at(at, "and").is_some()
            || (self.word_at(at, "not") && self.space_at(at + 3))
    }

    fn too_deep(&mut self) -> bool {
        if self.too_deep.is_none() && self.depth > MAX_DEPTH {
            self.too_deep = Some(self.pos);
        }
        self.too_deep.is_some()
    }

    // start = Space* OrQuery? OptionalSpace
    fn start(&mut self) -> Option<Option<Expr>> {
        self.skip_spaces();
        let save = self.pos;
        let root = self.or_query();
        if root.is_none() {
            self.pos = save;
        }
        self.skip_spaces();
        if self.too_deep.is_some() || self.pos < self.text.len() {
            self.expect("end of query");
            return None;
        }
        Some(root)
    }

    fn or_query(&mut self) -> Option<Expr> {
        let items = self.separated(Self::and_query, "or", "`or`")?;
        Some(join(items, |e| e.span, |items, span| Expr { kind: ExprKind::Or(items), span }))
    }

    fn and_query(&mut self) -> Option<Expr> {
        let items = self.separated(Self::not_query, "and", "`and`")?;
        Some(join(items, |e| e.span, |items, span| Expr { kind: ExprKind::And(items), span }))
    }

    /// `item (Sep item)*` with `Sep` = `Space+ word Space+`: one or more items.
    fn separated<T>(&mut self, item: fn(&mut Self) -> Option<T>, word: &str, what: &'static str) -> Option<Vec<T>> {
        if self.too_deep() {
            return None;
        }
        let mut items = vec![item(self)?];
        loop {
            let save = self.pos;
            if self.separator(word, what)
                && let Some(next) = item(self)
            {
                items.push(next);
                continue;
            }
            self.pos = save;
            return Some(items);
        }
    }

    // NotQuery = Not SubQuery / SubQuery
    fn not_query(&mut self) -> Option<Expr> {
        self.negated(Self::sub_query, |e| e.span, |inner, span| Expr { kind: ExprKind::Not(Box::new(inner)), span })
            .or_else(|| self.sub_query())
    }

    // SubQuery = '(' Space* OrQuery OptionalSpace ')' / NestedQuery
    fn sub_query(&mut self) -> Option<Expr> {
        self.enclosed(('(', "`(`"), (')', "`)`"), Self::or_query).or_else(|| self.nested_query())
    }

    /// `Not operand` (`'not'i Space+` first), spanning from `not`; nothing is consumed on failure.
    fn negated<T>(
        &mut self,
        operand: fn(&mut Self) -> Option<T>,
        span: fn(&T) -> Span,
        wrap: fn(T, Span) -> T,
    ) -> Option<T> {
        let save = self.pos;
        if self.not_keyword() {
            if let Some(inner) = operand(self) {
                let whole = Span::new(save, span(&inner).end as usize);
                return Some(wrap(inner, whole));
            }
            self.pos = save;
        }
        None
    }

    /// `open Space* inner OptionalSpace close`, one nesting level deeper; nothing is consumed on
    /// failure.
    fn enclosed<T>(
        &mut self,
        open: (char, &'static str),
        close: (char, &'static str),
        inner: fn(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let save = self.pos;
        if !self.eat(open.0, open.1) {
            return None;
        }
        self.depth += 1;
        self.skip_spaces();
        let inner = inner(self);
        self.depth -= 1;
        if let Some(inner) = inner {
            self.skip_spaces();
            if self.eat(close.0, close.1) {
                return Some(inner);
            }
        }
        self.pos = save;
        None
    }

    // NestedQuery = Field Space* ':' Space* '{' Space* OrQuery OptionalSpace '}' / Expression
    fn nested_query(&mut self) -> Option<Expr> {
        let save = self.pos;
        if let Some(field) = self.literal() {
            self.skip_spaces();
            if self.eat(':', "`:`") {
                self.skip_spaces();
                if self.peek() == Some('{')
                    && let Some(inner) = self.enclosed(('{', "`{`"), ('}', "`}`"), Self::or_query)
                {
                    let span = Span::new(save, self.pos);
                    return Some(Expr { kind: ExprKind::Nested { field, query: Box::new(inner) }, span });
                }
            }
        }
        self.pos = save;
        self.expression()
    }

    // Expression = FieldRangeExpression / FieldValueExpression / ValueExpression
    fn expression(&mut self) -> Option<Expr> {
        if self.too_deep.is_some() {
            return None;
        }
        let save = self.pos;
        if let Some(field) = self.literal() {
            self.skip_spaces();
            let after_field = self.pos;
            if let Some(op) = self.range_op() {
                self.skip_spaces();
                if let Some(value) = self.literal() {
                    let span = Span::new(save, value.span.end as usize);
                    return Some(Expr { kind: ExprKind::Range { field, op, value }, span });
                }
            }
            self.pos = after_field;
            if self.eat(':', "`:`") {
                self.skip_spaces();
                if let Some(value) = self.list_of_values() {
                    let span = Span::new(save, value.span.end as usize);
                    return Some(Expr { kind: ExprKind::Match { field: Some(field), value }, span });
                }
            }
        }
        self.pos = save;
        let value = self.value()?;
        let span = value.span;
        Some(Expr {
            kind: ExprKind::Match { field: None, value: ValueExpr { kind: ValueExprKind::Term(value), span } },
            span,
        })
    }

    fn range_op(&mut self) -> Option<RangeOp> {
        let rest = &self.text[self.pos..];
        let (op, len) = if rest.starts_with("<=") {
            (RangeOp::Lte, 2)
        } else if rest.starts_with(">=") {
            (RangeOp::Gte, 2)
        } else if rest.starts_with('<') {
            (RangeOp::Lt, 1)
        } else if rest.starts_with('>') {
            (RangeOp::Gt, 1)
        } else {
            self.expect("a range operator");
            return None;
        };
        self.pos += len;
        Some(op)
    }

    // ListOfValues = '(' Space* OrListOfValues OptionalSpace ')' / Value
    fn list_of_values(&mut self) -> Option<ValueExpr> {
        if let Some(list) = self.enclosed(('(', "`(`"), (')', "`)`"), Self::or_values) {
            return Some(list);
        }
        let term = self.value()?;
        Some(ValueExpr { span: term.span, kind: ValueExprKind::Term(term) })
    }

    fn or_values(&mut self) -> Option<ValueExpr> {
        let items = self.separated(Self::and_values, "or", "`or`")?;
        Some(join(items, |v| v.span, |items, span| ValueExpr { kind: ValueExprKind::Or(items), span }))
    }

    fn and_values(&mut self) -> Option<ValueExpr> {
        let items = self.separated(Self::not_values, "and", "`and`")?;
        Some(join(items, |v| v.span, |items, span| ValueExpr { kind: ValueExprKind::And(items), span }))
    }

    // NotListOfValues = Not ListOfValues / ListOfValues
    fn not_values(&mut self) -> Option<ValueExpr> {
        self.negated(
            Self::list_of_values,
            |v| v.span,
            |inner, span| ValueExpr { kind: ValueExprKind::Not(Box::new(inner)), span },
        )
        .or_else(|| self.list_of_values())
    }

    // Value = QuotedString / UnquotedLiteral (the same as Literal, with a different name).
    fn value(&mut self) -> Option<Term> {
        let term = self.literal();
        if term.is_none() {
            self.expect("a value");
        }
        term
    }

    fn literal(&mut self) -> Option<Term> {
        if self.peek() == Some('"') { self.quoted_string() } else { self.unquoted_literal() }
    }

    /// `\uXXXX` after the backslash at `at`: the character and the escape's length.
    fn unicode_escape(&self, at: usize) -> Option<(char, usize)> {
        let hex = self.text.get(at + 2..at + 6)?;
        if self.char_at(at + 1) != Some('u') || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let unit = u32::from_str_radix(hex, 16).ok()?;
        // JavaScript's String.fromCharCode makes one UTF-16 unit; a lone surrogate has no char.
        Some((char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER), 6))
    }

    /// `EscapedWhitespace`: `\t`, `\r`, `\n` after the backslash at `at`.
    fn whitespace_escape(&self, at: usize) -> Option<char> {
        match self.char_at(at + 1)? {
            't' => Some('\t'),
            'r' => Some('\r'),
            'n' => Some('\n'),
            _ => None,
        }
    }

    // QuotedString = '"' QuotedCharacter* '"'
    fn quoted_string(&mut self) -> Option<Term> {
        let start = self.pos;
        self.pos += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                self.expect("a closing `\"`");
                self.pos = start;
                return None;
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Some(Term { kind: TermKind::Quoted(text), span: Span::new(start, self.pos) });
                }
                '\\' => {
                    if let Some(ws) = self.whitespace_escape(self.pos) {
                        text.push(ws);
                        self.pos += 2;
                    } else if let Some((ch, len)) = self.unicode_escape(self.pos) {
                        text.push(ch);
                        self.pos += len;
                    } else if let Some(ch @ ('\\' | '"')) = self.char_at(self.pos + 1) {
                        text.push(ch);
                        self.pos += 2;
                    } else {
                        // Any other backslash is an ordinary character inside quotes.
                        text.push('\\');
                        self.pos += 1;
                    }
                }
                other => {
                    text.push(other);
                    self.pos += other.len_utf8();
                }
            }
        }
    }

    // UnquotedLiteral = UnquotedCharacter+ (then trimmed; a `*` makes it a wildcard)
    fn unquoted_literal(&mut self) -> Option<Term> {
        let start = self.pos;
        let mut pieces = Vec::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                let at = self.pos;
                if let Some(ws) = self.whitespace_escape(at) {
                    pieces.push(Piece::Char(ws));
                    self.pos += 2;
                } else if let Some(special) = self.char_at(at + 1).filter(|&c| is_special(c)) {
                    pieces.push(Piece::Char(special));
                    self.pos += 2;
                } else if let Some((ch, len)) = self.unicode_escape(at) {
                    pieces.push(Piece::Char(ch));
                    self.pos += len;
                } else if let Some(word) = ["or", "and", "not"].into_iter().find(|w| self.word_at(at + 1, w)) {
                    pieces.extend(self.text[at + 1..at + 1 + word.len()].chars().map(Piece::Char));
                    self.pos += 1 + word.len();
                } else {
                    break;
                }
            } else if c == '*' {
                pieces.push(Piece::Star);
                self.pos += 1;
            } else if is_special(c) || self.keyword_at(self.pos) {
                break;
            } else {
                pieces.push(Piece::Char(c));
                self.pos += c.len_utf8();
            }
        }
        if pieces.is_empty() {
            return None;
        }
        // JavaScript's trim() on the joined characters (escaped whitespace included).
        let trimmed = |p: &Piece| matches!(p, Piece::Char(c) if is_js_trimmed(*c));
        let first = pieces.iter().position(|p| !trimmed(p)).unwrap_or(pieces.len());
        let last = pieces.iter().rposition(|p| !trimmed(p)).map_or(first, |at| at + 1);
        let pieces = &pieces[first..last];
        let trailing_raw =
            self.text[start..self.pos].len() - self.text[start..self.pos].trim_end_matches(is_space).len();
        let span = Span::new(start, self.pos - trailing_raw);
        let kind = if pieces.iter().any(|p| matches!(p, Piece::Star)) {
            let mut parts = vec![String::new()];
            for piece in pieces {
                match piece {
                    Piece::Char(c) => parts.last_mut().expect("parts starts non-empty").push(*c),
                    Piece::Star => parts.push(String::new()),
                }
            }
            TermKind::Wildcard(Wildcard::new(parts))
        } else {
            TermKind::Unquoted(
                pieces.iter().filter_map(|p| if let Piece::Char(c) = p { Some(*c) } else { None }).collect(),
            )
        };
        Some(Term { kind, span })
    }
}
