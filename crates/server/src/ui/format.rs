//! How values look on the console's pages: times, documents as field tables, query text with
//! its parts marked, ATT&CK links. Everything returned here is text; the templates escape it.

use ecs::date::Timestamp;
use serde_json::Value;

/// A time as the tables show it: `2026-12-03 14:05:09` (UTC).
pub(crate) fn time(t: Timestamp) -> String {
    let text = t.to_string();
    text.get(..19).map_or(text.clone(), |s| s.replace('T', " "))
}

/// A document's fields, flattened to dotted names with their values as text, in name order
/// (arrays of scalars as one comma-separated value, as Kibana's field table shows them).
pub(crate) fn fields(document: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    walk(&name, inner, out);
                }
            }
            Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                out.push((prefix.to_owned(), items.iter().map(scalar).collect::<Vec<_>>().join(", ")));
            }
            Value::Array(items) => {
                for (at, inner) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{at}]"), inner, out);
                }
            }
            other => out.push((prefix.to_owned(), scalar(other))),
        }
    }
    let mut out = Vec::new();
    walk("", document, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// The first text at a dotted field of a document (nested objects or dotted keys).
pub(crate) fn field(document: &Value, name: &str) -> Option<String> {
    ecs::Path::new(name).first_text(document).map(|s| s.to_string())
}

/// A document as indented JSON.
pub(crate) fn json(document: &Value) -> String {
    serde_json::to_string_pretty(document).unwrap_or_default()
}

/// The ATT&CK page of a tactic (`TA0006`), technique (`T1556`) or subtechnique (`T1556.001`),
/// made from the id (never from a link in a rule file).
pub(crate) fn attack_link(id: &str) -> Option<String> {
    let valid = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit());
    if let Some(number) = id.strip_prefix("TA")
        && valid(number)
    {
        return Some(format!("https://attack.mitre.org/tactics/{id}/"));
    }
    let number = id.strip_prefix('T')?;
    match number.split_once('.') {
        Some((technique, sub)) if valid(technique) && valid(sub) => {
            Some(format!("https://attack.mitre.org/techniques/T{technique}/{sub}/"))
        }
        None if valid(number) => Some(format!("https://attack.mitre.org/techniques/{id}/")),
        _ => None,
    }
}

/// A tactic with its techniques: id, name, link.
pub(crate) struct Tactic {
    pub id: String,
    pub name: String,
    pub link: String,
    pub techniques: Vec<(String, String, String)>,
}

/// The ATT&CK entries of a rule's threat list.
pub(crate) fn tactics(threats: &[rules::Threat]) -> Vec<Tactic> {
    let link = |id: &str| attack_link(id).unwrap_or_default();
    threats
        .iter()
        .map(|t| Tactic {
            id: t.tactic.id.clone(),
            name: t.tactic.name.clone(),
            link: link(&t.tactic.id),
            techniques: t
                .techniques
                .iter()
                .flat_map(|tech| std::iter::once(&tech.entry).chain(&tech.subtechniques))
                .map(|e| (e.id.clone(), e.name.clone(), link(&e.id)))
                .collect(),
        })
        .collect()
}

/// One piece of a query as the rule page shows it, with its CSS class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    /// `field`, `string`, `keyword` (and, or, not), `punct` or empty.
    pub class: &'static str,
    /// The text.
    pub text: String,
}

/// A KQL query cut into pieces to colour: field names (before `:` or a range operator), quoted
/// strings, `and`/`or`/`not`, and punctuation. Only for showing: the rule's query is parsed by
/// `kql`, never by this.
pub(crate) fn highlight(query: &str) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut push = |class: &'static str, text: &str| match pieces.last_mut() {
        Some(last) if last.class == class && class.is_empty() => last.text.push_str(text),
        _ => pieces.push(Piece { class, text: text.to_owned() }),
    };
    let chars: Vec<(usize, char)> = query.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(query.len(), |(at, _)| *at);
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1 != '"' {
                j += if chars[j].1 == '\\' { 2 } else { 1 };
            }
            let stop = end_of((j + 1).min(chars.len()));
            push("string", &query[start..stop]);
            i = j + 1;
        } else if "():{}<>=".contains(c) {
            push("punct", &query[start..end_of(i + 1)]);
            i += 1;
        } else if c.is_whitespace() {
            push("", &query[start..end_of(i + 1)]);
            i += 1;
        } else {
            let mut j = i;
            while j < chars.len() && !chars[j].1.is_whitespace() && !"():{}<>=\"".contains(chars[j].1) {
                j += if chars[j].1 == '\\' { 2 } else { 1 };
            }
            let j = j.min(chars.len());
            let word = &query[start..end_of(j)];
            let next = chars[j..].iter().find(|(_, c)| !c.is_whitespace()).map(|(_, c)| *c);
            let class = if ["and", "or", "not"].contains(&word.to_ascii_lowercase().as_str()) {
                "keyword"
            } else if matches!(next, Some(':' | '<' | '>')) {
                "field"
            } else {
                ""
            };
            push(class, word);
            i = j;
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_flatten_to_sorted_fields() {
        let doc = json!({"user": {"name": "admin"}, "event.action": "Set-DkimSigningConfig",
                         "tags": ["a", "b"], "o365": {"audit": {"Parameters": [{"Name": "Enabled", "Value": "False"}]}}});
        assert_eq!(
            fields(&doc),
            vec![
                ("event.action".into(), "Set-DkimSigningConfig".into()),
                ("o365.audit.Parameters[0].Name".into(), "Enabled".into()),
                ("o365.audit.Parameters[0].Value".into(), "False".into()),
                ("tags".into(), "a, b".into()),
                ("user.name".into(), "admin".into()),
            ]
        );
    }

    #[test]
    fn attack_links_are_made_from_ids() {
        assert_eq!(attack_link("TA0006").as_deref(), Some("https://attack.mitre.org/tactics/TA0006/"));
        assert_eq!(attack_link("T1556").as_deref(), Some("https://attack.mitre.org/techniques/T1556/"));
        assert_eq!(attack_link("T1556.001").as_deref(), Some("https://attack.mitre.org/techniques/T1556/001/"));
        assert_eq!(attack_link("javascript:alert(1)"), None);
        assert_eq!(attack_link("T12/../x"), None);
    }

    #[test]
    fn queries_are_cut_into_coloured_pieces_that_join_back() {
        let query = r#"event.dataset:o365.audit and event.action:"Set-DkimSigningConfig" and not x >= 5"#;
        let pieces = highlight(query);
        assert_eq!(pieces.iter().map(|p| p.text.as_str()).collect::<String>(), query);
        let of = |class| pieces.iter().filter(|p| p.class == class).map(|p| p.text.as_str()).collect::<Vec<_>>();
        assert_eq!(of("field"), ["event.dataset", "event.action", "x"]);
        assert_eq!(of("string"), ["\"Set-DkimSigningConfig\""]);
        assert_eq!(of("keyword"), ["and", "and", "not"]);
        assert_eq!(
            highlight("a:\"unterminated").iter().map(|p| p.text.as_str()).collect::<String>(),
            "a:\"unterminated"
        );
    }
}
