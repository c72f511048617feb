//! The README's `console` examples, run as written: the docs stay true.

use std::path::Path;
use std::process::Command;

#[test]
fn readme_examples_print_what_the_readme_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md is readable");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_vigil")).parent().expect("the binary is in a folder");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut examples = 0;
    let mut failures = Vec::new();
    for block in readme.split("```console\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        let mut lines = block.lines().peekable();
        while let Some(line) = lines.next() {
            let Some(command) = line.strip_prefix("$ ") else { continue };
            let mut expected = String::new();
            while let Some(next) = lines.next_if(|l| !l.starts_with("$ ")) {
                expected.push_str(next);
                expected.push('\n');
            }
            let out = Command::new("bash")
                .args(["-c", &format!("{{ {command} ; }} 2>&1")])
                .current_dir(&root)
                .env("PATH", &path)
                .output()
                .expect("bash runs");
            // CSV rows end with CRLF (RFC 4180), which a README cannot show.
            let got = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
            examples += 1;
            if got.trim_end() != expected.trim_end() {
                failures.push(format!("$ {command}\n--- README says:\n{expected}--- vigil printed:\n{got}"));
            }
        }
    }
    assert!(examples >= 4, "found only {examples} README examples");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
