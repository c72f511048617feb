//! Opening inputs: files or standard input, decompressed, and what format they hold.

use std::io::{self, Read};
use std::path::Path;

use engine::source;
use indicatif::ProgressBar;

/// Opens a file (or standard input for `-`), counting read bytes on `progress`, decompressing gzip.
pub fn open(path: &Path, progress: &ProgressBar) -> io::Result<Box<dyn io::BufRead + Send>> {
    let raw: Box<dyn Read + Send> =
        if path.as_os_str() == "-" { Box::new(io::stdin()) } else { Box::new(std::fs::File::open(path)?) };
    source::decompress(Box::new(progress.wrap_read(raw)))
}

/// Whether the input starts with a Purview audit export's CSV header (peeked, not consumed).
pub fn is_purview_export(reader: &mut Box<dyn io::BufRead + Send>) -> io::Result<bool> {
    let buf = reader.fill_buf()?;
    let text = String::from_utf8_lossy(&buf[..buf.len().min(4096)]);
    let first = text.trim_start_matches('\u{feff}').trim_start();
    if first.starts_with('{') || first.starts_with('[') {
        return Ok(false);
    }
    Ok(o365::purview::is_export_header(first.lines().next().unwrap_or_default()))
}
