//! Why an event meets an [`EventMatcher`] or not: one [`Explanation`] per clause, as `vigil rules
//! explain` shows it for KQL rules.

use ecs::Value;
use kql::Explanation;

use super::{EventMatcher, Node, Script, Test, Val};
use crate::ast::{Expr, ExprKind};

impl EventMatcher {
    /// Which clauses of the filter held or failed for `doc`, and why: the category, then the
    /// condition, clause by clause (the `and`s and `or`s of a chain side by side).
    pub fn explain(&self, doc: &Value) -> Explanation {
        let condition = explain(&self.expr, &self.condition, doc);
        let Some((field, category)) = &self.category else {
            let reason = if condition.held { "the condition held" } else { "the condition failed" };
            return Explanation {
                clause: self.text.clone(),
                held: condition.held,
                reason: reason.into(),
                children: vec![condition],
            };
        };
        let mut values = Vec::new();
        field.visit(doc, &mut |v| {
            if !v.is_null() {
                values.push(v.to_string());
            }
            false
        });
        let is_category = self.matches_category(doc);
        let describe = format!("is the category \"{category}\"");
        let category =
            Explanation::values(format!("category {category}"), field.as_str(), &values, is_category, &describe);
        let reason = match (is_category, condition.held) {
            (true, true) => "the category and the condition held",
            (true, false) => "the condition failed",
            (false, true) => "the category failed",
            (false, false) => "the category and the condition failed",
        };
        Explanation {
            clause: self.text.clone(),
            held: is_category && condition.held,
            reason: reason.into(),
            children: vec![category, condition],
        }
    }
}

fn explain(expr: &Expr, node: &Node, doc: &Value) -> Explanation {
    let clause = expr.to_string();
    match (&expr.kind, node) {
        (ExprKind::And(..), Node::And(..)) | (ExprKind::Or(..), Node::Or(..)) => {
            let is_and = matches!(node, Node::And(..));
            let mut children = Vec::new();
            chain(expr, node, is_and, doc, &mut children);
            Explanation::boolean(clause, is_and, children)
        }
        (ExprKind::Not(inner), Node::Not(node)) => Explanation::negation(clause, explain(inner, node, doc)),
        _ => leaf(clause, node, doc),
    }
}

/// The clauses of a chain of `and`s (or of `or`s), each explained.
fn chain(expr: &Expr, node: &Node, is_and: bool, doc: &Value, out: &mut Vec<Explanation>) {
    match (&expr.kind, node) {
        (ExprKind::And(a, b), Node::And(x, y)) if is_and => {
            chain(a, x, is_and, doc, out);
            chain(b, y, is_and, doc, out);
        }
        (ExprKind::Or(a, b), Node::Or(x, y)) if !is_and => {
            chain(a, x, is_and, doc, out);
            chain(b, y, is_and, doc, out);
        }
        _ => out.push(explain(expr, node, doc)),
    }
}

fn leaf(clause: String, node: &Node, doc: &Value) -> Explanation {
    match node {
        Node::Const(b) => Explanation::leaf(clause, *b, format!("always {b}")),
        Node::Leaf(field, test) => {
            let values = field.values(doc);
            let held = values.iter().any(|v| test.passes(field.kind, v));
            let shown: Vec<String> = values.iter().map(shown).collect();
            Explanation::values(clause, field.path.as_str(), &shown, held, &test.describe())
        }
        Node::Script(script) => {
            let held = script.matches(doc);
            Explanation::leaf(clause, held, script.describe(doc, held))
        }
        other => {
            let held = other.matches(doc);
            Explanation::leaf(clause, held, if held { "it held" } else { "it failed" }.into())
        }
    }
}

/// A value as JSON.
fn shown(v: &Val) -> String {
    match v {
        Val::Str(s) => Value::String(s.clone()).to_string(),
        other => other.text().unwrap_or_else(|| "null".into()),
    }
}

impl Test {
    fn describe(&self) -> String {
        let any_case = |insensitive: bool| if insensitive { " (in any case)" } else { "" };
        let listed = |items: Vec<String>| items.join(" or ");
        match self {
            Test::Exists => "exists".into(),
            Test::Terms(list, insensitive) => {
                format!("equals {}{}", listed(list.iter().map(shown).collect()), any_case(*insensitive))
            }
            Test::Range(op, bound) => format!("{} {}", op.as_str(), shown(bound)),
            Test::Wildcards(w) => {
                let patterns = w.patterns.iter().map(|p| Value::String(p.iter().collect()).to_string()).collect();
                format!("matches {}{}", listed(patterns), any_case(w.insensitive))
            }
            Test::Prefix(prefix, insensitive) => {
                format!("starts with {}{}", Value::String(prefix.clone()), any_case(*insensitive))
            }
            Test::Regex(list) => {
                format!("matches /{}/", list.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("/ or /"))
            }
        }
    }
}

impl Script {
    /// Its fields' values in `doc`, and what it came to.
    fn describe(&self, doc: &Value, held: bool) -> String {
        let values: Vec<String> = self
            .fields
            .iter()
            .map(|f| {
                let values: Vec<String> = f.values(doc).iter().map(shown).collect();
                let values = if values.is_empty() { "null".to_owned() } else { values.join(", ") };
                format!("`{}` is {values}", f.path.as_str())
            })
            .collect();
        let result = if held { "true" } else { "not true (false, or null where a value is missing)" };
        if values.is_empty() { format!("it is {result}") } else { format!("{}: it is {result}", values.join(", ")) }
    }
}
