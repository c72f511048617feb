//! Text analysis as Elasticsearch's `standard` analyzer does it, and query_string term splitting.

use unicode_segmentation::UnicodeSegmentation;

/// Lucene's standard tokenizer drops tokens longer than this (it splits them; we keep the start).
const MAX_TOKEN_CHARS: usize = 255;

/// The lower-cased word tokens of `text` (Unicode word boundaries, UAX #29): how a `text` field
/// is analyzed.
pub fn tokens(text: &str) -> Vec<String> {
    text.unicode_words()
        .map(|word| {
            let word: String = word.chars().take(MAX_TOKEN_CHARS).collect();
            word.to_lowercase()
        })
        .collect()
}

/// Whether `needle` occurs in `haystack` as consecutive tokens (a phrase).
pub(crate) fn contains_phrase(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// The whitespace Lucene's classic query parser splits `query_string` terms on.
pub(crate) fn is_query_string_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{3000}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_analyzer_lowercases_words() {
        assert_eq!(
            tokens("Accepted password for ROOT from 10.0.0.1"),
            ["accepted", "password", "for", "root", "from", "10.0.0.1"]
        );
        assert_eq!(tokens("Set-DkimSigningConfig"), ["set", "dkimsigningconfig"]);
        assert!(tokens(" - ").is_empty());
    }
}
