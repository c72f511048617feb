//! Opening inputs: files or standard input, decompressed, and what format they hold.

use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ecs::date::{DateMath, Timestamp};
use engine::source;
use indicatif::ProgressBar;

use crate::numbers::count;
use crate::report;

/// Opens a file (or standard input for `-`), counting read bytes on `progress`, decompressing gzip.
pub fn open(path: &Path, progress: &ProgressBar) -> io::Result<Box<dyn io::BufRead + Send>> {
    let raw: Box<dyn Read + Send> =
        if path.as_os_str() == "-" { Box::new(io::stdin()) } else { Box::new(std::fs::File::open(path)?) };
    source::decompress(Box::new(progress.wrap_read(raw)))
}

/// The files to read: standard input when no path is given (said when it is a terminal, where
/// the scan would otherwise wait without a word), the data files of folders (the others named).
pub fn files(paths: &[PathBuf], ext: Option<&[String]>, quiet: bool) -> anyhow::Result<Vec<PathBuf>> {
    if paths.is_empty() {
        if io::stdin().is_terminal() {
            report::note(
                &"reading records from standard input (end with Ctrl-D); give files or folders to scan them, `--help` for more",
            );
        }
        return Ok(vec![PathBuf::from("-")]);
    }
    for path in paths {
        if path.as_os_str() != "-" && !path.exists() {
            bail!("{}: no such file or folder", path.display());
        }
    }
    let extensions: Vec<String> = match ext {
        Some(list) if list.iter().any(|e| e == "*") => Vec::new(),
        Some(list) => list.iter().map(|e| e.trim_start_matches('.').to_owned()).collect(),
        None => source::DATA_EXTENSIONS.iter().map(|e| (*e).to_owned()).collect(),
    };
    let expanded = source::expand(paths, &extensions)?;
    if !expanded.skipped.is_empty() && !quiet {
        let names: Vec<String> = expanded.skipped.iter().take(5).map(|p| p.display().to_string()).collect();
        let more = expanded.skipped.len().saturating_sub(names.len());
        report::note(&format!(
            "skipped {} in the folders that {} not data ({}): {}{}; --ext chooses the extensions, --ext '*' reads every file",
            count(expanded.skipped.len() as u64, "file"),
            if expanded.skipped.len() == 1 { "is" } else { "are" },
            extensions.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(", "),
            names.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() },
        ));
    }
    if expanded.files.is_empty() {
        bail!(
            "no data file to scan in {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(expanded.files)
}

/// A time given to `flag`: an age back from `now` (`2h`, `7d`), an ISO 8601 date, or date math
/// (`now-7d/d`) resolved at `now`.
pub fn date(text: &str, now: Timestamp, flag: &str) -> anyhow::Result<Timestamp> {
    if rules::Interval::parse(text).is_ok() {
        return age(text)
            .and_then(|nanos| now.as_nanos().checked_sub(nanos))
            .map(Timestamp::from_nanos)
            .with_context(|| format!("{flag} {text}: too far back"));
    }
    DateMath::parse(text).ok().and_then(|d| d.resolve(now, false)).with_context(|| {
        format!("{flag} {text}: not a date (an age such as 2h or 7d, ISO 8601, or date math such as now-7d)")
    })
}

/// An age such as `2h` or `7d`, in nanoseconds (`None` past what a timestamp can hold).
pub fn age(text: &str) -> Option<i64> {
    rules::Interval::parse(text).ok().and_then(|i| i64::try_from(i.as_seconds()).ok()?.checked_mul(1_000_000_000))
}
