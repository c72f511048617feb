//! Integration tests of the `o365` crate, built as one binary.

mod api;
mod conformance;
mod records;
mod reference;
mod samples;

/// Elastic's pipeline test inputs in `dir` (`test-*.json`, not their `-expected.json`), in order.
pub fn pipeline_test_inputs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the o365 conformance folder is readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().ends_with("-expected.json"))
        .collect();
    files.sort();
    files
}
