//! Rule files: loading never panics, and every problem points at a line of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = rules::load_toml(std::path::Path::new("fuzz.toml"), text);
    let lines = text.lines().count().max(1);
    for diagnostic in &loaded.diagnostics {
        let shown = diagnostic.to_string();
        assert!(shown.starts_with("fuzz.toml"), "{shown}");
        if let Some(line) = shown.split(':').nth(1).and_then(|l| l.parse::<usize>().ok()) {
            assert!((1..=lines + 1).contains(&line), "line {line} of {lines}: {shown}");
        }
    }
    let _ = rules::load_ndjson(std::path::Path::new("fuzz.ndjson"), text);
});
