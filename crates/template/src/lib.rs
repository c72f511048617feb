//! Mustache templates over JSON, as Kibana's actions render them.
//!
//! A rule's action params (`"{{context.rule.name}} fired {{state.signals_count}} times"`) and a
//! connector's default message are mustache. Kibana renders them with mustache.js over a tree of
//! variables; this crate renders them with [`ramhorns`] over a [`serde_json::Value`], resolving
//! what ramhorns leaves to its content:
//!
//! - **dotted names**: `{{context.rule.name}}` walks `context` → `rule` → `name`; a name not
//!   found in a section's item is looked up in the enclosing ones, as mustache does;
//! - **values as mustache.js prints them**: strings as they are, numbers and booleans as JSON,
//!   arrays joined with `,`, objects as JSON, missing values and `null` as nothing;
//! - **escaping by destination** ([`Escape`]): `{{x}}` is escaped for where the text goes (a
//!   JSON string for webhook bodies, Slack's `&<>`, markdown for mail, HTML, or nothing);
//!   `{{{x}}}` and `{{&x}}` never are;
//! - **sections**: `{{#context.alerts}}…{{/context.alerts}}` repeats over an array, shows once for
//!   a truthy value and pushes objects as the context; `{{^x}}` is the inverse; `{{.}}` is the
//!   current item.
//!
//! ```
//! let template = template::Template::parse("{{rule.name}}:{{#alerts}} {{id}}{{/alerts}}")?;
//! let vars = serde_json::json!({"rule": {"name": "DKIM"}, "alerts": [{"id": "a1"}, {"id": "a2"}]});
//! assert_eq!(template.render(&vars, template::Escape::None), "DKIM: a1 a2");
//! # Ok::<(), template::TemplateError>(())
//! ```

use ramhorns::encoding::Encoder;
use ramhorns::traits::ContentSequence;
use ramhorns::{Content, Section};
use serde_json::Value;

/// A template that parsed, ready to render any number of times.
pub struct Template {
    inner: ramhorns::Template<'static>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Template").field(&self.inner.source()).finish()
    }
}

impl PartialEq for Template {
    /// Templates are equal when their text is.
    fn eq(&self, other: &Template) -> bool {
        self.source() == other.source()
    }
}

impl Eq for Template {}

/// A template that does not parse: what is wrong and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What is wrong, for people.
    pub message: String,
    /// The byte offset in the template of the tag at fault.
    pub offset: usize,
}

impl TemplateError {
    /// The 1-based line and column (in characters) of the fault in `source`, the template's text.
    pub fn line_column(&self, source: &str) -> (usize, usize) {
        let before = &source[..self.offset.min(source.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, column)
    }
}

/// How `{{name}}` values are escaped, by where the rendered text goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// As they are (plain text: syslog, a file, PagerDuty fields set one by one).
    None,
    /// Inside a JSON string: a webhook body template (Kibana's `escapeJSON`).
    Json,
    /// Slack's control characters `&`, `<` and `>` as entities.
    Slack,
    /// Markdown's punctuation behind a backslash (mail and Teams messages are markdown).
    Markdown,
    /// HTML's special characters as entities.
    Html,
}

impl Escape {
    fn apply(self, text: &str, out: &mut String) {
        match self {
            Escape::None => out.push_str(text),
            Escape::Json => {
                let quoted = Value::String(text.to_owned()).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            Escape::Slack => {
                for c in text.chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        c => out.push(c),
                    }
                }
            }
            Escape::Markdown => {
                for c in text.chars() {
                    if "\\`*_{}[]<>|~".contains(c) {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            Escape::Html => {
                for c in text.chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '"' => out.push_str("&quot;"),
                        '\'' => out.push_str("&#39;"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
}

impl Template {
    /// Parses mustache text. Partials (`{{>name}}`) are refused: a notification has no files to
    /// include.
    ///
    /// # Errors
    ///
    /// When a tag is not closed, a section is closed that was not opened or not closed, or a
    /// partial is used; the error points at the tag.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        check(source)?;
        ramhorns::Template::new(source.to_owned())
            .map(|inner| Template { inner })
            .map_err(|err| TemplateError { message: err.to_string(), offset: 0 })
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        self.inner.source()
    }

    /// Renders the template over `vars`, escaping values as `escape` says.
    pub fn render(&self, vars: &Value, escape: Escape) -> String {
        // The output does not go through ramhorns' HTML escaping: every value is written
        // unescaped by `Vars`, after its own escaping.
        self.inner.render(&Vars { value: vars, escape })
    }
}

/// The structure ramhorns does not check itself (it closes open sections at the end, silently),
/// with the place of the first fault: every tag closed, sections closed in order, no partials.
fn check(source: &str) -> Result<(), TemplateError> {
    let mut open: Vec<Tag<'_>> = Vec::new();
    for tag in tags(source) {
        let fault = |message: String| Err(TemplateError { message, offset: tag.start });
        if !tag.closed {
            return fault("a tag opened with `{{` is not closed with `}}`".to_owned());
        }
        match tag.sigil {
            Some('#' | '^') => open.push(tag),
            Some('/') => match open.pop() {
                Some(opened) if opened.name == tag.name => {}
                Some(opened) => {
                    let name = opened.name;
                    return fault(format!(
                        "`{{{{/{}}}}}` closes a section that is not open: `{{{{/{name}}}}}` must come first",
                        tag.name
                    ));
                }
                None => return fault(format!("`{{{{/{}}}}}` closes a section that is not open", tag.name)),
            },
            Some('>') => return fault("partials (`{{>name}}`) are not available in notifications".to_owned()),
            _ => {}
        }
    }
    match open.pop() {
        Some(tag) => Err(TemplateError {
            message: format!("section `{{{{#{0}}}}}` is not closed: add `{{{{/{0}}}}}`", tag.name),
            offset: tag.start,
        }),
        None => Ok(()),
    }
}

/// A tag of a template: where it starts, its sigil (`#`, `^`, `/`, `>`...) and name.
struct Tag<'s> {
    start: usize,
    sigil: Option<char>,
    name: &'s str,
    closed: bool,
}

fn tags(source: &str) -> Vec<Tag<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = source[at..].find("{{") {
        let start = at + found;
        let body = &source[start + 2..];
        let Some(end) = body.find("}}") else {
            out.push(Tag { start, sigil: None, name: "", closed: false });
            break;
        };
        let inner = &body[..end];
        let sigil = inner.chars().next().filter(|c| "#^/>&!{".contains(*c));
        let name = inner[sigil.map_or(0, char::len_utf8)..].trim().trim_end_matches('}').trim();
        out.push(Tag { start, sigil, name, closed: true });
        at = start + 2 + end + 2;
    }
    out
}

/// A JSON value as mustache content, with the escaping for the destination.
#[derive(Clone, Copy)]
struct Vars<'v> {
    value: &'v Value,
    escape: Escape,
}

impl<'v> Vars<'v> {
    /// The value `name` names from here (`.` is this value), if any. Documents may hold nested
    /// objects, dotted keys (`"kibana.alert.reason"`) or both, as alert documents do: at each
    /// level the longest dotted key present is taken.
    fn lookup(&self, name: &str) -> Option<&'v Value> {
        if name == "." {
            return Some(self.value);
        }
        lookup(self.value, name)
    }

    fn with(&self, value: &'v Value) -> Vars<'v> {
        Vars { value, escape: self.escape }
    }
}

fn lookup<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => {
            if let Some(found) = map.get(name) {
                return Some(found);
            }
            // The longest dotted prefix that is a key, then the rest below it.
            let mut at = name.len();
            while let Some(dot) = name[..at].rfind('.') {
                if let Some(found) = map.get(&name[..dot]).and_then(|inner| lookup(inner, &name[dot + 1..])) {
                    return Some(found);
                }
                at = dot;
            }
            None
        }
        Value::Array(items) => {
            let (index, rest) = name.split_once('.').map_or((name, None), |(i, rest)| (i, Some(rest)));
            let item = items.get(index.parse::<usize>().ok()?)?;
            rest.map_or(Some(item), |rest| lookup(item, rest))
        }
        _ => None,
    }
}

/// How mustache.js prints a value: strings as they are, arrays joined with `,`, objects as JSON,
/// `null` as nothing.
fn text_of(value: &Value, out: &mut String) {
    match value {
        Value::Null => {}
        Value::String(text) => out.push_str(text),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                text_of(item, out);
            }
        }
        other => out.push_str(&other.to_string()),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Object(_) => true,
    }
}

impl Content for Vars<'_> {
    fn is_truthy(&self) -> bool {
        truthy(self.value)
    }

    fn render_escaped<E: Encoder>(&self, encoder: &mut E) -> Result<(), E::Error> {
        let mut raw = String::new();
        text_of(self.value, &mut raw);
        let mut escaped = String::with_capacity(raw.len());
        self.escape.apply(&raw, &mut escaped);
        encoder.write_unescaped(&escaped)
    }

    fn render_unescaped<E: Encoder>(&self, encoder: &mut E) -> Result<(), E::Error> {
        let mut raw = String::new();
        text_of(self.value, &mut raw);
        encoder.write_unescaped(&raw)
    }

    fn render_section<C, E>(&self, section: Section<C>, encoder: &mut E) -> Result<(), E::Error>
    where
        C: ContentSequence,
        E: Encoder,
    {
        match self.value {
            Value::Array(items) => {
                for item in items {
                    section.with(&self.with(item)).render(encoder)?;
                }
                Ok(())
            }
            value if truthy(value) => section.with(self).render(encoder),
            _ => Ok(()),
        }
    }

    fn render_inverse<C, E>(&self, section: Section<C>, encoder: &mut E) -> Result<(), E::Error>
    where
        C: ContentSequence,
        E: Encoder,
    {
        if truthy(self.value) { Ok(()) } else { section.render(encoder) }
    }

    fn render_field_escaped<E: Encoder>(&self, _hash: u64, name: &str, encoder: &mut E) -> Result<bool, E::Error> {
        match self.lookup(name) {
            Some(value) => self.with(value).render_escaped(encoder).map(|()| true),
            None => Ok(false),
        }
    }

    fn render_field_unescaped<E: Encoder>(&self, _hash: u64, name: &str, encoder: &mut E) -> Result<bool, E::Error> {
        match self.lookup(name) {
            Some(value) => self.with(value).render_unescaped(encoder).map(|()| true),
            None => Ok(false),
        }
    }

    fn render_field_section<C, E>(
        &self,
        _hash: u64,
        name: &str,
        section: Section<C>,
        encoder: &mut E,
    ) -> Result<bool, E::Error>
    where
        C: ContentSequence,
        E: Encoder,
    {
        match self.lookup(name) {
            Some(value) => self.with(value).render_section(section, encoder).map(|()| true),
            None => Ok(false),
        }
    }

    fn render_field_inverse<C, E>(
        &self,
        _hash: u64,
        name: &str,
        section: Section<C>,
        encoder: &mut E,
    ) -> Result<bool, E::Error>
    where
        C: ContentSequence,
        E: Encoder,
    {
        match self.lookup(name) {
            Some(value) => self.with(value).render_inverse(section, encoder).map(|()| true),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(source: &str, vars: &Value, escape: Escape) -> String {
        Template::parse(source).expect("parses").render(vars, escape)
    }

    #[test]
    fn dotted_names_sections_and_parents() {
        let vars = json!({
            "context": {"rule": {"name": "DKIM", "tags": ["Domain: Cloud", "Use Case"]},
                        "alerts": [{"_id": "a1", "user": {"name": "eve"}}, {"_id": "a2"}]},
            "state": {"signals_count": 2},
            "who": "outer"
        });
        let out = render(
            "{{context.rule.name}} x{{state.signals_count}} [{{context.rule.tags}}] {{#context.alerts}}{{_id}}:{{user.name}}:{{who}};{{/context.alerts}}{{^context.none}}none{{/context.none}}",
            &vars,
            Escape::None,
        );
        assert_eq!(out, "DKIM x2 [Domain: Cloud,Use Case] a1:eve:outer;a2::outer;none");
        assert_eq!(
            render("{{#context.rule.tags}}<{{.}}>{{/context.rule.tags}}", &vars, Escape::None),
            "<Domain: Cloud><Use Case>"
        );
        assert_eq!(render("{{ context.rule.name }}", &vars, Escape::None), "DKIM");
        let alert =
            json!({"kibana.alert.reason": "r", "user": {"name": "eve"}, "source.ip": "10.0.0.1", "a": [{"b": 1}]});
        assert_eq!(
            render("{{kibana.alert.reason}} {{user.name}} {{source.ip}} {{a.0.b}}", &alert, Escape::None),
            "r eve 10.0.0.1 1"
        );
    }

    #[test]
    fn escaping_follows_the_destination() {
        let vars = json!({"x": "a \"b\" <c> & *d*\n"});
        assert_eq!(render("{{x}}", &vars, Escape::Json), r#"a \"b\" <c> & *d*\n"#);
        assert_eq!(render("{{x}}", &vars, Escape::Slack), "a \"b\" &lt;c&gt; &amp; *d*\n");
        assert_eq!(render("{{x}}", &vars, Escape::Html), "a &quot;b&quot; &lt;c&gt; &amp; *d*\n");
        assert_eq!(render("{{x}}", &vars, Escape::Markdown), "a \"b\" \\<c\\> & \\*d\\*\n");
        assert_eq!(render("{{{x}}}|{{&x}}", &vars, Escape::Html), "a \"b\" <c> & *d*\n|a \"b\" <c> & *d*\n");
        assert_eq!(
            render("{{n}} {{o}} {{z}}", &json!({"n": 4.5, "o": {"a": 1}, "z": null}), Escape::None),
            "4.5 {\"a\":1} "
        );
    }

    #[test]
    fn errors_point_at_the_tag() {
        let cases = [
            ("Rule {{context.rule.name", "not closed with `}}`", (1, 6)),
            ("a\n{{#context.alerts}}{{_id}}\n", "is not closed", (2, 1)),
            ("x {{/context.alerts}}", "not open", (1, 3)),
            ("{{>header}}", "partials", (1, 1)),
        ];
        for (source, message, place) in cases {
            let err = Template::parse(source).expect_err(source);
            assert!(err.message.contains(message), "{source}: {}", err.message);
            assert_eq!(err.line_column(source), place, "{source}");
        }
    }
}
