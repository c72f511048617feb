//! Reading events from files and streams: NDJSON, JSON arrays, gzip; folders recursively.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;

/// One record read from a source.
#[derive(Debug)]
pub enum Record<'a> {
    /// An NDJSON line (without its line break), with its 1-based line number.
    Line(&'a [u8], u64),
    /// An element of a JSON array, with its 1-based position.
    Event(Value, u64),
}

/// The files below each path (folders recursively, in name order); files are kept as given.
///
/// # Errors
///
/// When a folder cannot be listed.
pub fn expand(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        if path.is_dir() {
            let mut entries = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<io::Result<Vec<_>>>()?;
            entries.sort();
            for entry in entries {
                walk(&entry, out)?;
            }
        } else {
            out.push(path.to_owned());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        walk(path, &mut out)?;
    }
    Ok(out)
}

/// Opens a file for reading, decompressing it when it is gzip (by its magic bytes).
///
/// # Errors
///
/// When the file cannot be opened or read.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let file = File::open(path)?;
    decompress(Box::new(file))
}

/// Wraps a stream, decompressing it when it is gzip (by its magic bytes).
///
/// # Errors
///
/// When the stream cannot be read.
pub fn decompress(input: Box<dyn Read + Send>) -> io::Result<Box<dyn BufRead + Send>> {
    let mut reader = BufReader::with_capacity(1 << 17, input);
    let is_gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if is_gzip {
        Box::new(BufReader::with_capacity(1 << 17, MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    })
}

/// Whether the input starts with a Purview audit export's CSV header (peeked, not consumed).
///
/// # Errors
///
/// When the input cannot be read.
pub fn is_purview_export(reader: &mut Box<dyn BufRead + Send>) -> io::Result<bool> {
    let buf = reader.fill_buf()?;
    let text = String::from_utf8_lossy(&buf[..buf.len().min(4096)]);
    let first = text.trim_start_matches('\u{feff}').trim_start();
    if first.starts_with('{') || first.starts_with('[') {
        return Ok(false);
    }
    Ok(o365::purview::is_export_header(first.lines().next().unwrap_or_default()))
}

/// Reads every record of `input` and hands it to `each`, which returns `false` to stop. A stream
/// whose first non-blank byte is `[` is a JSON array, read one element at a time; anything else
/// is NDJSON.
///
/// # Errors
///
/// When the input cannot be read, or a JSON array is malformed (the error gives the position).
pub fn read_records(mut input: impl BufRead, mut each: impl FnMut(Record<'_>) -> io::Result<bool>) -> io::Result<()> {
    let first = loop {
        let buf = input.fill_buf()?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => break Some(buf[at]),
            None if buf.is_empty() => break None,
            None => {
                let len = buf.len();
                input.consume(len);
            }
        }
    };
    if first == Some(b'[') {
        return read_array(input, each);
    }
    read_lines(input, |line, line_no| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(true);
        }
        each(Record::Line(line, line_no))
    })
}

/// Hands each line of `input` (without its `\n`) and its number to `each`, which returns `false`
/// to stop. Lines are lent straight from the reader's buffer; only a line that straddles two
/// reads is copied.
fn read_lines(mut input: impl BufRead, mut each: impl FnMut(&[u8], u64) -> io::Result<bool>) -> io::Result<()> {
    let mut straddling = Vec::new();
    let mut line_no = 0;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            if !straddling.is_empty() {
                each(&straddling, line_no + 1)?;
            }
            return Ok(());
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', buf) {
            line_no += 1;
            let go_on = if straddling.is_empty() {
                each(&buf[start..end], line_no)?
            } else {
                straddling.extend_from_slice(&buf[start..end]);
                let go_on = each(&straddling, line_no)?;
                straddling.clear();
                go_on
            };
            if !go_on {
                return Ok(());
            }
            start = end + 1;
        }
        straddling.extend_from_slice(&buf[start..]);
        let len = buf.len();
        input.consume(len);
    }
}

/// Streams the elements of a JSON array without holding the whole array.
fn read_array(input: impl BufRead, each: impl FnMut(Record<'_>) -> io::Result<bool>) -> io::Result<()> {
    struct Elements<F>(F);
    impl<'de, F: FnMut(Record<'_>) -> io::Result<bool>> Visitor<'de> for &mut Elements<F> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of events")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut n = 0;
            while let Some(value) = seq.next_element::<Value>()? {
                n += 1;
                match (self.0)(Record::Event(value, n)) {
                    Ok(true) => {}
                    Ok(false) => return Ok(()),
                    Err(err) => return Err(serde::de::Error::custom(err)),
                }
            }
            Ok(())
        }
    }
    impl<'de, F: FnMut(Record<'_>) -> io::Result<bool>> DeserializeSeed<'de> for &mut Elements<F> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    let mut elements = Elements(each);
    let mut de = serde_json::Deserializer::from_reader(input);
    (&mut elements)
        .deserialize(&mut de)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("invalid JSON array: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        read_records(decompress(Box::new(io::Cursor::new(input.to_vec()))).expect("readable"), |record| {
            out.push(match record {
                Record::Line(line, n) => format!("{n}: {}", String::from_utf8_lossy(line)),
                Record::Event(value, n) => format!("[{n}] {value}"),
            });
            Ok(true)
        })
        .expect("readable");
        out
    }

    #[test]
    fn ndjson_lines_keep_their_numbers() {
        assert_eq!(records(b"{\"a\":1}\r\n\n  \n{\"b\":2}"), ["1: {\"a\":1}", "4: {\"b\":2}"]);
    }

    #[test]
    fn lines_that_straddle_reads_are_whole() {
        let text = b"{\"a\":1}\r\n\n{\"bb\":22}\n{\"ccc\":333}";
        for capacity in 1..=text.len() {
            let mut lines = Vec::new();
            read_lines(BufReader::with_capacity(capacity, &text[..]), |line, n| {
                lines.push(format!("{n}: {}", String::from_utf8_lossy(line)));
                Ok(n < 3)
            })
            .expect("readable");
            assert_eq!(lines, ["1: {\"a\":1}\r", "2: ", "3: {\"bb\":22}"], "capacity {capacity}");
        }
        let mut last = String::new();
        read_lines(BufReader::with_capacity(4, &text[..]), |line, n| {
            last = format!("{n}: {}", String::from_utf8_lossy(line));
            Ok(true)
        })
        .expect("readable");
        assert_eq!(last, "4: {\"ccc\":333}");
    }

    #[test]
    fn json_arrays_stream_their_elements() {
        assert_eq!(records(b"  [ {\"a\":1},\n {\"b\":[2]} ]"), ["[1] {\"a\":1}", "[2] {\"b\":[2]}"]);
    }

    #[test]
    fn gzip_is_recognized_by_its_magic() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(b"{\"a\":1}\n{\"b\":2}\n").expect("compress");
        assert_eq!(records(&gz.finish().expect("compress")), ["1: {\"a\":1}", "2: {\"b\":2}"]);
    }
}
