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
