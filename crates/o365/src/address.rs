//! Client and server addresses, parsed as the integration's grok patterns parse them.

use std::net::{IpAddr, Ipv4Addr};

/// What grok extracts from `ClientIP` and friends.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub(crate) address: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) port: Option<String>,
}

fn is_ip(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok()
}

/// Grok's `POSINT` at the start of `text`: `[1-9][0-9]*` ending at a word boundary.
fn posint_prefix(text: &str) -> Option<&str> {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let digits = &text[..end];
    let boundary = text[end..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
    (!digits.is_empty() && !digits.starts_with('0') && boundary).then_some(digits)
}

/// `NOTSPACE \((NOTCLOSINGPARENS)\)` for the whole of `text`: `host (ip)`.
fn host_and_ip(text: &str) -> Option<(String, String)> {
    let open = text.find(" (")?;
    let (host, rest) = (&text[..open], &text[open + 2..]);
    let inner = rest.strip_suffix(')')?;
    (!host.is_empty() && !host.contains(char::is_whitespace) && !inner.contains(')'))
        .then(|| (host.to_owned(), inner.to_owned()))
}

/// `ClientIP`, `ClientIPAddress` or `ActorIpAddress`, after `::ffff:` prefixes are removed, through
/// the integration's ten patterns in order: `[ip]:port`, `ip`, `[ip]`, `ip:port`, a bare name,
/// `[name]:port`, `name:port`, `[name (ip)]`, `name (ip)`, and anything as the address.
pub(crate) fn client(raw: &str) -> Parsed {
    let text = strip_ipv4_mapped(raw);
    let text = text.as_str();
    let address = |a: &str| Parsed { address: Some(a.to_owned()), ..Parsed::default() };
    if let Some(rest) = text.strip_prefix('[')
        && let Some(close) = rest.find("]:")
        && is_ip(&rest[..close])
        && let Some(port) = posint_prefix(&rest[close + 2..])
    {
        return Parsed { address: Some(rest[..close].to_owned()), port: Some(port.to_owned()), domain: None };
    }
    if is_ip(text) {
        return address(text);
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && is_ip(inner)
    {
        return address(inner);
    }
    let v4_end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    if text[..v4_end].parse::<Ipv4Addr>().is_ok()
        && let Some(port) = text[v4_end..].strip_prefix(':').and_then(posint_prefix)
    {
        return Parsed { address: Some(text[..v4_end].to_owned()), port: Some(port.to_owned()), domain: None };
    }
    if !text.is_empty() && !text.contains(char::is_whitespace) {
        return Parsed { domain: Some(text.to_owned()), ..Parsed::default() };
    }
    let first_token = &text[..text.find(char::is_whitespace).unwrap_or(text.len())];
    if let Some(rest) = first_token.strip_prefix('[')
        && let Some(close) = rest.rfind("]:")
        && let Some(port) = posint_prefix(&text[1 + close + 2..])
    {
        return Parsed { domain: Some(rest[..close].to_owned()), port: Some(port.to_owned()), address: None };
    }
    if let Some(colon) = first_token.rfind(':')
        && colon > 0
        && let Some(port) = posint_prefix(&text[colon + 1..])
    {
        return Parsed { domain: Some(text[..colon].to_owned()), port: Some(port.to_owned()), address: None };
    }
    if let Some((domain, ip)) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).and_then(host_and_ip) {
        return Parsed { domain: Some(domain), address: Some(ip), port: None };
    }
    if let Some((domain, ip)) = host_and_ip(text) {
        return Parsed { domain: Some(domain), address: Some(ip), port: None };
    }
    address(text)
}

/// `OriginatingServer` (line breaks removed): `[name (ip)]`, `name (ip)` anywhere, or all of it as
/// the address.
pub(crate) fn server(raw: &str) -> Parsed {
    let text: String = raw.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    if let Some((domain, ip)) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).and_then(host_and_ip) {
        return Parsed { domain: Some(domain), address: Some(ip), port: None };
    }
    // Unanchored: the first `name (` whose parenthesis closes.
    if let Some(open) = text.find(" (") {
        let start = text[..open].rfind(char::is_whitespace).map_or(0, |at| at + 1);
        let host = &text[start..open];
        if let Some(close) = text[open + 2..].find(')')
            && !host.is_empty()
        {
            return Parsed {
                domain: Some(host.to_owned()),
                address: Some(text[open + 2..open + 2 + close].to_owned()),
                port: None,
            };
        }
    }
    Parsed { address: Some(text), ..Parsed::default() }
}

/// The `gsub` of `::ffff:a.b.c.d` to `a.b.c.d`, everywhere in the text.
fn strip_ipv4_mapped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("::ffff:") {
        let after = &rest[at + 7..];
        let end = after.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(after.len());
        let candidate = &after[..end];
        let dotted = candidate.split('.').count() == 4 && candidate.split('.').all(|p| !p.is_empty());
        out.push_str(&rest[..at]);
        if dotted {
            out.push_str(candidate);
            rest = &after[end..];
        } else {
            out.push_str("::ffff:");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(address: Option<&str>, domain: Option<&str>, port: Option<&str>) -> Parsed {
        Parsed { address: address.map(Into::into), domain: domain.map(Into::into), port: port.map(Into::into) }
    }

    #[test]
    fn client_forms_parse_in_the_pipelines_order() {
        assert_eq!(client("[10.11.12.13]:12345"), p(Some("10.11.12.13"), None, Some("12345")));
        assert_eq!(client("10.11.12.13:12345"), p(Some("10.11.12.13"), None, Some("12345")));
        assert_eq!(client("::ffff:10.11.12.13"), p(Some("10.11.12.13"), None, None));
        assert_eq!(client("[::ffff:10.11.12.13]:12345"), p(Some("10.11.12.13"), None, Some("12345")));
        assert_eq!(client("[2a02:cf40::1]"), p(Some("2a02:cf40::1"), None, None));
        assert_eq!(client("localhost:12345"), p(None, Some("localhost:12345"), None));
        assert_eq!(client("NOTANIPV4 (10.9000.0.1)"), p(Some("10.9000.0.1"), Some("NOTANIPV4"), None));
        assert_eq!(client("host name:80"), p(Some("host name:80"), None, None));
        assert_eq!(client("[host]:80 extra"), p(None, Some("host"), Some("80")));
    }

    #[test]
    fn servers_are_name_and_address() {
        assert_eq!(server("DM6PR11MB6584 (15.20.8466.031)"), p(Some("15.20.8466.031"), Some("DM6PR11MB6584"), None));
        assert_eq!(server("[SOMETHING (10.555.1.2)]"), p(Some("10.555.1.2"), Some("SOMETHING"), None));
        assert_eq!(server("10.1.2.3"), p(Some("10.1.2.3"), None, None));
    }
}
