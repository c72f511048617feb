//! The lexer: EQL's tokens, with comments (`//`, `/* */`, nesting) and white space skipped.

use kql::Span;

use crate::error::{Error, ErrorKind};

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A word: `process`, `where`, `@timestamp` (keywords too; the parser tells them apart).
    Word(String),
    /// A word written with `~` right after it: `like~`, `in~`, `startsWith~`.
    TildeWord(String),
    /// A field name in backticks, with doubled backticks resolved.
    Quoted(String),
    /// A string, escapes resolved.
    Str(String),
    /// A whole number, as written.
    Int(String),
    /// A number with a fraction or exponent.
    Float(f64),
    /// An operator or punctuation.
    Punct(&'static str),
    /// The end of the query.
    End,
}

impl Tok {
    /// How an error names it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::TildeWord(w) => format!("`{w}~`"),
            Tok::Quoted(w) => format!("`{}`", w.replace('`', "``")),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Int(n) => format!("`{n}`"),
            Tok::Float(n) => format!("`{n}`"),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::End => "end of query".to_owned(),
        }
    }
}

/// Operators, longest first so `==` is not read as `=` `=`.
const PUNCT: &[&str] = &[
    "![", "==", "!=", "<=", ">=", "<", ">", "=", ":", "+", "-", "*", "/", "%", ".", ",", "[", "]", "(", ")", "|", "?",
];

/// Reads tokens from `text` on demand.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn err(&self, kind: ErrorKind, start: usize, end: usize) -> Error {
        Error::new(kind, Span::new(start, end))
    }

    fn invalid(&self, what: impl Into<String>, start: usize, end: usize) -> Error {
        self.err(ErrorKind::Invalid(what.into()), start, end)
    }

    /// Skips white space and comments.
    fn skip(&mut self) -> Result<(), Error> {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if trimmed.starts_with("/*") {
                let start = self.pos;
                let mut depth = 0usize;
                loop {
                    let rest = self.rest();
                    if rest.starts_with("/*") {
                        depth += 1;
                        self.pos += 2;
                    } else if rest.starts_with("*/") {
                        depth -= 1;
                        self.pos += 2;
                        if depth == 0 {
                            break;
                        }
                    } else if let Some(c) = rest.chars().next() {
                        self.pos += c.len_utf8();
                    } else {
                        return Err(self.invalid("this comment is not closed with `*/`", start, start + 2));
                    }
                }
            } else {
                return Ok(());
            }
        }
    }

    /// The next token and its span.
    pub(crate) fn next(&mut self) -> Result<(Tok, Span), Error> {
        self.skip()?;
        let start = self.pos;
        let rest = self.rest();
        let Some(c) = rest.chars().next() else {
            return Ok((Tok::End, Span::new(start, start)));
        };
        let tok = if c.is_ascii_alphabetic() || c == '_' || c == '@' {
            let len = rest[1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(rest.len(), |n| n + 1);
            let word = rest[..len].to_owned();
            self.pos += len;
            if self.rest().starts_with('~') {
                self.pos += 1;
                Tok::TildeWord(word)
            } else {
                Tok::Word(word)
            }
        } else if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|c: char| c.is_ascii_digit())) {
            self.number()?
        } else if let Some(raw) = rest.strip_prefix("\"\"\"") {
            let Some(len) = raw.find("\"\"\"") else {
                return Err(self.invalid("this raw string is not closed with `\"\"\"`", start, start + 3));
            };
            self.pos += len + 6;
            Tok::Str(raw[..len].to_owned())
        } else if c == '"' {
            self.string()?
        } else if c == '\'' {
            return Err(self.err(
                ErrorKind::Syntax { expected: vec!["a double-quoted string"], found: "`'`".to_owned() },
                start,
                start + 1,
            ));
        } else if c == '`' {
            let mut name = String::new();
            let mut at = 1;
            loop {
                match rest[at..].find('`') {
                    None => {
                        return Err(self.invalid("this field name is not closed with a backtick", start, start + 1));
                    }
                    Some(n) if rest[at + n + 1..].starts_with('`') => {
                        name.push_str(&rest[at..at + n + 1]);
                        at += n + 2;
                    }
                    Some(n) => {
                        name.push_str(&rest[at..at + n]);
                        at += n + 1;
                        break;
                    }
                }
            }
            self.pos += at;
            Tok::Quoted(name)
        } else if let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) {
            self.pos += p.len();
            Tok::Punct(p)
        } else {
            return Err(self.err(
                ErrorKind::Syntax { expected: vec!["a field, value or operator"], found: format!("`{c}`") },
                start,
                start + c.len_utf8(),
            ));
        };
        Ok((tok, Span::new(start, self.pos)))
    }

    fn number(&mut self) -> Result<Tok, Error> {
        let start = self.pos;
        let bytes = self.rest().as_bytes();
        let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut len = digits(0);
        let mut float = false;
        if bytes.get(len) == Some(&b'.') {
            float = true;
            len += 1 + digits(len + 1);
        }
        if matches!(bytes.get(len), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(bytes.get(len + 1), Some(b'+' | b'-')));
            let exp = digits(len + 1 + sign);
            if exp > 0 {
                float = true;
                len += 1 + sign + exp;
            }
        }
        let text = &self.rest()[..len];
        self.pos += len;
        if float {
            let value: f64 =
                text.parse().map_err(|_| self.invalid(format!("`{text}` is not a number"), start, start + len))?;
            Ok(Tok::Float(value))
        } else {
            Ok(Tok::Int(text.to_owned()))
        }
    }

    /// A double-quoted string: `\t \b \n \f \r \" \' \\` and `\u{hex}` (2 to 8 digits).
    fn string(&mut self) -> Result<Tok, Error> {
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += at + 1;
                    return Ok(Tok::Str(out));
                }
                '\r' | '\n' => break,
                '\\' => {
                    let escape_at = start + at;
                    let Some((_, e)) = chars.next() else { break };
                    out.push(match e {
                        't' => '\t',
                        'b' => '\u{8}',
                        'n' => '\n',
                        'f' => '\u{c}',
                        'r' => '\r',
                        '"' | '\'' | '\\' => e,
                        'u' => {
                            let body = &self.text[escape_at + 2..];
                            let hex = body
                                .strip_prefix('{')
                                .and_then(|b| b.find('}').map(|end| &b[..end]))
                                .filter(|h| (2..=8).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit()));
                            let Some(hex) = hex else {
                                return Err(self.invalid(
                                    "a unicode escape is `\\u{` and 2 to 8 hexadecimal digits and `}`",
                                    escape_at,
                                    escape_at + 2,
                                ));
                            };
                            let value = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                            let Some(value) = value else {
                                return Err(self.invalid(
                                    format!("`\\u{{{hex}}}` is not a unicode character"),
                                    escape_at,
                                    escape_at + hex.len() + 4,
                                ));
                            };
                            for _ in 0..hex.len() + 2 {
                                chars.next();
                            }
                            value
                        }
                        other => {
                            return Err(self.invalid(
                                format!("`\\{other}` is not an escape EQL knows (`\\n \\r \\t \\b \\f \\\" \\' \\\\ \\u{{hex}}`)"),
                                escape_at,
                                escape_at + 1 + other.len_utf8(),
                            ));
                        }
                    });
                }
                c => out.push(c),
            }
        }
        Err(self.invalid("this string is not closed with `\"` on its line", start, start + 1))
    }
}
