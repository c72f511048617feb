//! MITRE ATT&CK mappings (`[[rule.threat]]`): tactics, techniques, subtechniques.

use serde_json::Value;

/// One `[[rule.threat]]` entry: a tactic and the techniques under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Threat {
    /// The framework, `MITRE ATT&CK`.
    pub framework: String,
    /// The tactic, e.g. TA0003 Persistence.
    pub tactic: Entry,
    /// The techniques, each with its subtechniques.
    pub techniques: Vec<Technique>,
}

/// A technique and its subtechniques.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Technique {
    /// The technique itself, e.g. T1556 Modify Authentication Process.
    pub entry: Entry,
    /// Its subtechniques, e.g. T1556.001.
    pub subtechniques: Vec<Entry>,
}

/// An id, a name and a reference URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `TA0003`, `T1556`, `T1556.001`.
    pub id: String,
    /// `Persistence`.
    pub name: String,
    /// `https://attack.mitre.org/tactics/TA0003/`.
    pub reference: String,
}

/// The ATT&CK enterprise tactics (id, name) in the matrix's order; rule files' tactic names are
/// checked against them.
pub const TACTICS: &[(&str, &str)] = &[
    ("TA0043", "Reconnaissance"),
    ("TA0042", "Resource Development"),
    ("TA0001", "Initial Access"),
    ("TA0002", "Execution"),
    ("TA0003", "Persistence"),
    ("TA0004", "Privilege Escalation"),
    ("TA0005", "Defense Evasion"),
    ("TA0006", "Credential Access"),
    ("TA0007", "Discovery"),
    ("TA0008", "Lateral Movement"),
    ("TA0009", "Collection"),
    ("TA0011", "Command and Control"),
    ("TA0010", "Exfiltration"),
    ("TA0040", "Impact"),
];

fn entry(value: &Value) -> Entry {
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    Entry { id: text("id"), name: text("name"), reference: text("reference") }
}

fn list<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    value.get(key).and_then(Value::as_array).into_iter().flatten()
}

impl Threat {
    /// Reads the `threat` array of a rule (Kibana's JSON shape).
    pub fn from_json(threat: &Value) -> Vec<Threat> {
        threat
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| Threat {
                framework: t.get("framework").and_then(Value::as_str).unwrap_or_default().to_owned(),
                tactic: entry(t.get("tactic").unwrap_or(&Value::Null)),
                techniques: list(t, "technique")
                    .map(|tech| Technique {
                        entry: entry(tech),
                        subtechniques: list(tech, "subtechnique").map(entry).collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// What is inconsistent in this mapping: ids, names and references that do not agree.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.framework != "MITRE ATT&CK" {
            problems.push(format!("threat framework is `{}`; expected `MITRE ATT&CK`", self.framework));
        }
        let t = &self.tactic;
        if !is_id(&t.id, "TA", 4, None) {
            problems.push(format!("tactic id `{}` is not of the form TA0000", t.id));
        } else {
            match TACTICS.iter().find(|(id, _)| *id == t.id) {
                Some((_, name)) if *name != t.name => {
                    problems.push(format!("tactic {} is named `{name}`, not `{}`", t.id, t.name))
                }
                None => problems.push(format!("`{}` is not an ATT&CK enterprise tactic", t.id)),
                _ => {}
            }
            expect_reference(&mut problems, t, &format!("https://attack.mitre.org/tactics/{}/", t.id));
        }
        for tech in &self.techniques {
            let e = &tech.entry;
            if !is_id(&e.id, "T", 4, None) {
                problems.push(format!("technique id `{}` is not of the form T0000", e.id));
                continue;
            }
            if e.name.trim().is_empty() {
                problems.push(format!("technique {} has no name", e.id));
            }
            expect_reference(&mut problems, e, &format!("https://attack.mitre.org/techniques/{}/", e.id));
            for sub in &tech.subtechniques {
                if !is_id(&sub.id, "T", 4, Some(&e.id)) {
                    problems.push(format!("subtechnique id `{}` is not of the form {}.000", sub.id, e.id));
                    continue;
                }
                if sub.name.trim().is_empty() {
                    problems.push(format!("subtechnique {} has no name", sub.id));
                }
                let number = sub.id.rsplit('.').next().unwrap_or_default();
                expect_reference(
                    &mut problems,
                    sub,
                    &format!("https://attack.mitre.org/techniques/{}/{number}/", e.id),
                );
            }
        }
        problems
    }
}

fn expect_reference(problems: &mut Vec<String>, entry: &Entry, expected: &str) {
    if entry.reference != expected {
        problems.push(format!("{} has reference `{}`; expected `{expected}`", entry.id, entry.reference));
    }
}

/// `TA0003`, `T1556`, or (with `parent`) `T1556.001`.
fn is_id(id: &str, prefix: &str, digits: usize, parent: Option<&str>) -> bool {
    let (base, sub) = match parent {
        Some(parent) => match id.split_once('.') {
            Some((base, sub)) if base == parent => (base, Some(sub)),
            _ => return false,
        },
        None => (id, None),
    };
    let number_ok =
        base.strip_prefix(prefix).is_some_and(|n| n.len() == digits && n.bytes().all(|b| b.is_ascii_digit()));
    number_ok && sub.is_none_or(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn consistent_mappings_have_no_problems() {
        let threat = Threat::from_json(&json!([{
            "framework": "MITRE ATT&CK",
            "tactic": {"id": "TA0003", "name": "Persistence", "reference": "https://attack.mitre.org/tactics/TA0003/"},
            "technique": [{"id": "T1556", "name": "Modify Authentication Process", "reference": "https://attack.mitre.org/techniques/T1556/",
                "subtechnique": [{"id": "T1556.007", "name": "Hybrid Identity", "reference": "https://attack.mitre.org/techniques/T1556/007/"}]}]
        }]));
        assert_eq!(threat[0].problems(), Vec::<String>::new());
    }

    #[test]
    fn inconsistent_mappings_are_named() {
        let threat = Threat::from_json(&json!([{
            "framework": "MITRE ATT&CK",
            "tactic": {"id": "TA0003", "name": "Defense Evasion", "reference": "https://attack.mitre.org/tactics/TA0005/"},
            "technique": [{"id": "T1556", "name": "x", "reference": "https://attack.mitre.org/techniques/T1556/",
                "subtechnique": [{"id": "T1562.001", "name": "y", "reference": ""}]}]
        }]));
        assert_eq!(
            threat[0].problems(),
            [
                "tactic TA0003 is named `Persistence`, not `Defense Evasion`",
                "TA0003 has reference `https://attack.mitre.org/tactics/TA0005/`; expected `https://attack.mitre.org/tactics/TA0003/`",
                "subtechnique id `T1562.001` is not of the form T1556.000",
            ]
        );
    }
}
