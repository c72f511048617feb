//! Rule guides (markdown) as HTML that cannot carry script: raw HTML is shown as text, links go
//! only to `http`, `https` and `mailto` addresses, and images become their alternative text
//! (the page loads nothing from elsewhere).

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};

/// Whether a link may be followed from the console.
fn allowed(destination: &str) -> bool {
    let lower = destination.trim_start().to_ascii_lowercase();
    ["http://", "https://", "mailto:"].iter().any(|scheme| lower.starts_with(scheme))
}

/// `markdown` as safe HTML.
pub fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Links the guide may not have stay as text; their closing tag goes with them.
    let mut dropped = Vec::new();
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Some(Event::Text(text)),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            let keep = link_type == LinkType::Email || allowed(&dest_url);
            dropped.push(!keep);
            keep.then_some(Event::Start(Tag::Link { link_type, dest_url, title, id }))
        }
        Event::End(TagEnd::Link) => (!dropped.pop().unwrap_or(false)).then_some(Event::End(TagEnd::Link)),
        Event::Start(Tag::Image { .. }) => Some(Event::Text(CowStr::Borrowed("[image: "))),
        Event::End(TagEnd::Image) => Some(Event::Text(CowStr::Borrowed("]"))),
        other => Some(other),
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn guides_render_as_markdown() {
        let html =
            render("## Triage\n\n- Check **who** ran `Set-DkimSigningConfig`.\n\n[Docs](https://learn.microsoft.com/)");
        assert!(html.contains("<h2>Triage</h2>"), "{html}");
        assert!(html.contains("<strong>who</strong>") && html.contains("<code>Set-DkimSigningConfig</code>"));
        assert!(html.contains(r#"<a href="https://learn.microsoft.com/">Docs</a>"#), "{html}");
    }

    #[test]
    fn raw_html_scripts_and_unsafe_links_stay_text() {
        let html = render(
            "<script>window.pwned=1</script>\n\nhi <img src=x onerror=alert(1)> [x](javascript:alert(1)) \
             [y](JaVaScRiPt:alert(1)) [z](data:text/html,<b>) ![pic](https://evil.example/p.png) <mailto:soc@example.com>",
        );
        assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;") && html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
        assert!(!html.to_ascii_lowercase().contains("href=\"javascript") && !html.contains("href=\"data:"), "{html}");
        assert!(html.contains("[image: pic]"), "{html}");
        assert!(html.contains(r#"<a href="mailto:soc@example.com">"#), "{html}");
    }
}
