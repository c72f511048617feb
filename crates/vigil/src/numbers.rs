//! Numbers for people: `1,000,000 events`, `1 rule`.

/// `n` with thousands separators: `1,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and the noun, plural unless `n` is 1: `1 rule`, `2 rules`, `1,000 events`; nouns ending
/// in `s`, `x`, `ch` or `sh` take `es` (`2 matches`).
pub fn count(n: u64, noun: &str) -> String {
    let plural = if n == 1 {
        ""
    } else if ["s", "x", "ch", "sh"].iter().any(|end| noun.ends_with(end)) {
        "es"
    } else {
        "s"
    };
    format!("{} {noun}{plural}", thousands(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(count(1, "rule"), "1 rule");
        assert_eq!(count(0, "rule"), "0 rules");
        assert_eq!(count(1_000_000, "event"), "1,000,000 events");
        assert_eq!(count(2, "match"), "2 matches");
    }
}
