//! The filters of a rule that KQL cannot say, tested beside its query: Elasticsearch `wildcard`
//! queries (`?` for one character, `case_insensitive`), as the corpus's Windows rules use them
//! to leave out known paths.

use ecs::{Path, Value};
use rules::QueryFilter;

/// A rule's wildcard filter, compiled.
#[derive(Clone, Debug)]
pub(crate) struct WildcardFilter {
    path: Path,
    /// The field's name, for the fields a rule reads.
    pub(crate) field: String,
    pattern: Vec<Piece>,
    case_insensitive: bool,
    negate: bool,
}

/// One piece of a pattern.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    /// This character (lower-cased when the match ignores case).
    Char(char),
    /// Any one character: `?`.
    One,
    /// Any run of characters, the empty one too: `*`.
    Any,
}

impl WildcardFilter {
    /// The rule's wildcard filters (its KQL ones are part of its query).
    pub(crate) fn of(filters: &[QueryFilter]) -> Vec<WildcardFilter> {
        filters
            .iter()
            .filter_map(|filter| match filter {
                QueryFilter::Wildcard { field, pattern, case_insensitive, negate } => Some(WildcardFilter {
                    path: Path::new(field),
                    field: field.clone(),
                    pattern: pieces(pattern, *case_insensitive),
                    case_insensitive: *case_insensitive,
                    negate: *negate,
                }),
                QueryFilter::Kql(_) => None,
            })
            .collect()
    }

    /// Whether `event` passes: a value of the field matches (none does, when negated). Values
    /// are compared whole, as a keyword field indexes them; numbers and booleans as their text.
    pub(crate) fn passes(&self, event: &Value) -> bool {
        let mut any = false;
        self.path.visit(event, &mut |value| {
            any = match value {
                Value::String(text) => self.matches(text),
                Value::Number(n) => self.matches(&n.to_string()),
                Value::Bool(b) => self.matches(if *b { "true" } else { "false" }),
                _ => false,
            };
            any
        });
        any != self.negate
    }

    fn matches(&self, text: &str) -> bool {
        if self.case_insensitive {
            matches(&self.pattern, &text.to_lowercase().chars().collect::<Vec<_>>())
        } else {
            matches(&self.pattern, &text.chars().collect::<Vec<_>>())
        }
    }
}

/// A pattern's pieces: `\` makes the next character literal, as Elasticsearch reads it.
fn pieces(pattern: &str, lower: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Piece::Any,
            '?' => Piece::One,
            '\\' => match chars.next() {
                Some(escaped) => literal(escaped, lower),
                None => literal('\\', lower),
            },
            c => literal(c, lower),
        });
    }
    out
}

fn literal(c: char, lower: bool) -> Piece {
    // A character whose lower case is several (`İ`) keeps its first; such names are not paths.
    Piece::Char(if lower { c.to_lowercase().next().unwrap_or(c) } else { c })
}

/// Whether `text` matches `pattern` whole: the usual two-pointer walk, going back to the last
/// `*` on a mismatch (linear in practice, never exponential).
fn matches(pattern: &[Piece], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Piece::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Piece::One) => {
                p += 1;
                t += 1;
            }
            Some(Piece::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|piece| *piece == Piece::Any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(pattern: &str, case_insensitive: bool, negate: bool) -> WildcardFilter {
        let spec =
            QueryFilter::Wildcard { field: "file.path".into(), pattern: pattern.into(), case_insensitive, negate };
        WildcardFilter::of(&[spec]).remove(0)
    }

    #[test]
    fn wildcards_match_as_elasticsearch_reads_them() {
        let system = filter(r"?:\\Windows\\Sys?????\\*", true, false);
        for (path, expected) in [
            (r"C:\Windows\System32\x.dll", true),
            (r"c:\windows\syswow64\x.dll", true),
            (r"C:\Windows\Sys32\x.dll", false),
            (r"C:\Program Files\x.dll", false),
        ] {
            assert_eq!(system.passes(&json!({"file": {"path": path}})), expected, "{path}");
        }
        let exact_case = filter(r"?:\\Windows\\*", false, false);
        assert!(!exact_case.passes(&json!({"file.path": r"c:\windows\x"})));
        assert!(exact_case.passes(&json!({"file.path": r"C:\Windows\x"})));
        assert!(filter("a*b*c", false, false).passes(&json!({"file.path": "aXbYbZc"})));
        assert!(!filter("a*b*c", false, false).passes(&json!({"file.path": "aXbYbZ"})));
        assert!(filter(r"lit\*", false, false).passes(&json!({"file.path": "lit*"})));
        assert!(!filter(r"lit\*", false, false).passes(&json!({"file.path": "litx"})));
    }

    #[test]
    fn a_negated_wildcard_passes_when_no_value_matches() {
        let not_defender = filter(r"?:\\ProgramData\\Microsoft\\*", true, true);
        assert!(not_defender.passes(&json!({"file": {"path": r"C:\Temp\x.ps1"}})));
        assert!(!not_defender.passes(&json!({"file": {"path": r"C:\ProgramData\Microsoft\x.ps1"}})));
        assert!(not_defender.passes(&json!({"message": "no file.path"})), "must_not passes without the field");
        assert!(!filter("*", false, false).passes(&json!({"message": "no file.path"})));
    }
}
