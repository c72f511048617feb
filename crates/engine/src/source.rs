//! Reading events from files and streams: NDJSON, JSON arrays, pretty-printed JSON documents,
//! Elasticsearch `_search` responses, gzip, UTF-16; folders recursively.

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

/// The data files' extensions that a folder scan reads by default.
pub const DATA_EXTENSIONS: &[&str] = &["ndjson", "jsonl", "json", "gz", "csv"];

/// The files to read for some paths, and the files of their folders that were left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expanded {
    /// Files given, and the files below folders given whose names end with one of the
    /// extensions, in name order.
    pub files: Vec<PathBuf>,
    /// Files below folders given whose names end otherwise.
    pub skipped: Vec<PathBuf>,
}

/// The files below each path (folders recursively, in name order), keeping in folders only
/// names that end with `.EXT` for one of `extensions` (every file when it is empty); files given
/// are kept as they are.
///
/// # Errors
///
/// When a folder cannot be listed.
pub fn expand(paths: &[PathBuf], extensions: &[impl AsRef<str>]) -> io::Result<Expanded> {
    fn walk(path: &Path, extensions: &[impl AsRef<str>], out: &mut Expanded) -> io::Result<()> {
        let mut entries = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<io::Result<Vec<_>>>()?;
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                walk(&entry, extensions, out)?;
            } else if extensions.is_empty() || extensions.iter().any(|ext| has_extension(&entry, ext.as_ref())) {
                out.files.push(entry);
            } else {
                out.skipped.push(entry);
            }
        }
        Ok(())
    }
    let mut out = Expanded::default();
    for path in paths {
        if path.is_dir() {
            walk(path, extensions, &mut out)?;
        } else {
            out.files.push(path.to_owned());
        }
    }
    Ok(out)
}

/// Whether the file's name ends with `.ext` (any case; `ext` may hold dots: `ndjson.gz`).
fn has_extension(path: &Path, ext: &str) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let ext = ext.trim_start_matches('.').to_ascii_lowercase();
    name.len() > ext.len() && name.ends_with(&ext) && name.as_bytes()[name.len() - ext.len() - 1] == b'.'
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

/// Wraps a stream as UTF-8 text: decompressed when it is gzip (by its magic bytes), transcoded
/// when it is UTF-16 (by its byte-order mark, or by the zero bytes of ASCII text, as PowerShell
/// writes), with a UTF-8 byte-order mark skipped.
///
/// # Errors
///
/// When the stream cannot be read.
pub fn decompress(input: Box<dyn Read + Send>) -> io::Result<Box<dyn BufRead + Send>> {
    let mut reader = BufReader::with_capacity(1 << 17, input);
    let is_gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn BufRead + Send> = if is_gzip {
        Box::new(BufReader::with_capacity(1 << 17, MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    };
    if let Some(big_endian) = utf16_order(reader.fill_buf()?) {
        reader = Box::new(BufReader::with_capacity(1 << 17, Utf16::new(reader, big_endian)));
    }
    if reader.fill_buf()?.starts_with(UTF8_BOM) {
        reader.consume(UTF8_BOM.len());
    }
    Ok(reader)
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whether text starting with `head` is UTF-16, and then whether it is big-endian: a byte-order
/// mark, else an ASCII character next to a zero byte (JSON and CSV start with one).
fn utf16_order(head: &[u8]) -> Option<bool> {
    match head {
        [0xFF, 0xFE, ..] => Some(false),
        [0xFE, 0xFF, ..] => Some(true),
        [a, 0, ..] if a.is_ascii() && *a != 0 => Some(false),
        [0, b, ..] if b.is_ascii() && *b != 0 => Some(true),
        _ => None,
    }
}

/// UTF-16 text read as UTF-8 (what cannot be decoded becomes U+FFFD).
struct Utf16<R> {
    inner: R,
    big_endian: bool,
    /// Bytes read and not yet decoded: an odd byte, a high surrogate waiting for its pair.
    carry: Vec<u8>,
    /// Decoded text not yet read, from `at`.
    text: String,
    at: usize,
}

impl<R: BufRead> Utf16<R> {
    fn new(inner: R, big_endian: bool) -> Utf16<R> {
        Utf16 { inner, big_endian, carry: Vec::new(), text: String::new(), at: 0 }
    }

    /// Decodes the next chunk into `text`; false at the end.
    fn refill(&mut self) -> io::Result<bool> {
        self.text.clear();
        self.at = 0;
        let chunk = self.inner.fill_buf()?;
        if chunk.is_empty() {
            if self.carry.is_empty() {
                return Ok(false);
            }
            self.carry.clear();
            self.text.push(char::REPLACEMENT_CHARACTER);
            return Ok(true);
        }
        self.carry.extend_from_slice(chunk);
        let len = chunk.len();
        self.inner.consume(len);
        let big_endian = self.big_endian;
        let mut units: Vec<u16> = self.carry[..self.carry.len() / 2 * 2]
            .chunks_exact(2)
            .map(|p| if big_endian { u16::from_be_bytes([p[0], p[1]]) } else { u16::from_le_bytes([p[0], p[1]]) })
            .collect();
        if units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
            units.pop();
        }
        self.carry.drain(..units.len() * 2);
        self.text.extend(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
        Ok(true)
    }
}

impl<R: BufRead> Read for Utf16<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.text.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let rest = &self.text.as_bytes()[self.at..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
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

/// Reads every record of `input` and hands it to `each`, which returns `false` to stop. What
/// the input holds is decided by its start:
///
/// - `[`: a JSON array, read one element at a time;
/// - `{` alone on the first line: JSON documents over several lines (pretty-printed), one
///   after another;
/// - a first document that is an Elasticsearch `_search` response: its hits, for that line and
///   every other;
/// - anything else: NDJSON, one document per line.
///
/// # Errors
///
/// When the input cannot be read, or JSON over several lines is malformed (the error gives the
/// position).
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
    match first {
        Some(b'[') => return read_array(input, each),
        Some(b'{') => {}
        _ => return read_lines(input, 0, |line, n| ndjson(line, n, &mut each)),
    }
    let mut head = Vec::new();
    input.read_until(b'\n', &mut head)?;
    // Pretty printers (jq, PowerShell's ConvertTo-Json, Kibana's Dev Tools) put the opening
    // brace alone on the first line; an NDJSON line cut short does not.
    if head.trim_ascii() == b"{" {
        return read_documents(io::Cursor::new(head).chain(input), each);
    }
    match serde_json::from_slice::<Value>(&head) {
        Ok(value) if is_search_response(&value) => {
            // Search responses, one per line (a scroll saved page by page): their hits.
            let mut hit = 0;
            let mut each_hit = |value: Value| -> io::Result<bool> {
                for document in documents(value) {
                    hit += 1;
                    if !each(Record::Event(document, hit))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            };
            if !each_hit(value)? {
                return Ok(());
            }
            read_lines(input, 1, |line, _| match serde_json::from_slice::<Value>(line) {
                Ok(value) => each_hit(value),
                Err(_) if line.iter().all(u8::is_ascii_whitespace) => Ok(true),
                Err(err) => Err(io::Error::new(io::ErrorKind::InvalidData, format!("invalid search response: {err}"))),
            })
        }
        _ => {
            let line = head.strip_suffix(b"\n").unwrap_or(&head);
            if !ndjson(line, 1, &mut each)? {
                return Ok(());
            }
            read_lines(input, 1, |line, n| ndjson(line, n, &mut each))
        }
    }
}

/// Hands an NDJSON line to `each` (blank lines are left out; a trailing `\r` is cut).
fn ndjson(line: &[u8], n: u64, each: &mut impl FnMut(Record<'_>) -> io::Result<bool>) -> io::Result<bool> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(true);
    }
    each(Record::Line(line, n))
}

/// Whether `value` is what Elasticsearch answers a `_search`: `hits.hits` and `took` or
/// `timed_out`.
fn is_search_response(value: &Value) -> bool {
    value.pointer("/hits/hits").is_some_and(Value::is_array)
        && (value.get("took").is_some() || value.get("timed_out").is_some())
}

/// The documents a JSON value holds: a `_search` response's hits, else the value itself.
fn documents(mut value: Value) -> Vec<Value> {
    if !is_search_response(&value) {
        return vec![value];
    }
    match value["hits"]["hits"].take() {
        Value::Array(hits) => hits,
        _ => Vec::new(),
    }
}

/// JSON documents one after another, over any number of lines; a `_search` response gives its
/// hits.
fn read_documents(input: impl Read, mut each: impl FnMut(Record<'_>) -> io::Result<bool>) -> io::Result<()> {
    let mut n = 0;
    for value in serde_json::Deserializer::from_reader(input).into_iter::<Value>() {
        let value = value.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("invalid JSON: {e}")))?;
        for document in documents(value) {
            n += 1;
            if !each(Record::Event(document, n))? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Hands each line of `input` (without its `\n`) and its number (after `line_no`) to `each`, which returns `false`
/// to stop. Lines are lent straight from the reader's buffer; only a line that straddles two
/// reads is copied.
fn read_lines(
    mut input: impl BufRead,
    mut line_no: u64,
    mut each: impl FnMut(&[u8], u64) -> io::Result<bool>,
) -> io::Result<()> {
    let mut straddling = Vec::new();
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
            read_lines(BufReader::with_capacity(capacity, &text[..]), 0, |line, n| {
                lines.push(format!("{n}: {}", String::from_utf8_lossy(line)));
                Ok(n < 3)
            })
            .expect("readable");
            assert_eq!(lines, ["1: {\"a\":1}\r", "2: ", "3: {\"bb\":22}"], "capacity {capacity}");
        }
        let mut last = String::new();
        read_lines(BufReader::with_capacity(4, &text[..]), 0, |line, n| {
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

    #[test]
    fn a_utf8_byte_order_mark_is_skipped() {
        assert_eq!(records(b"\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n"), ["1: {\"a\":1}", "2: {\"b\":2}"]);
    }

    #[test]
    fn utf16_is_read_as_utf8_with_or_without_its_mark() {
        let text = "{\"user\":\"åsa 😀\"}\r\n{\"b\":2}\r\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let expected = ["1: {\"user\":\"åsa 😀\"}", "2: {\"b\":2}"];
        assert_eq!(records(&[&[0xFF, 0xFE][..], &le].concat()), expected);
        assert_eq!(records(&[&[0xFE, 0xFF][..], &be].concat()), expected);
        assert_eq!(records(&le), expected);
        // A surrogate pair split across reads is whole.
        let mut out = String::new();
        let mut reader = Utf16::new(BufReader::with_capacity(3, &le[..]), false);
        reader.read_to_string(&mut out).expect("readable");
        assert_eq!(out, text);
    }

    #[test]
    fn pretty_printed_documents_are_read_whole() {
        let text = b"{\n  \"a\": 1,\n  \"b\": {\"c\": 2}\n}\n{\n  \"d\": 3\n}\n";
        assert_eq!(records(text), ["[1] {\"a\":1,\"b\":{\"c\":2}}", "[2] {\"d\":3}"]);
    }

    #[test]
    fn search_responses_give_their_hits() {
        let hit = |id: &str| format!("{{\"_index\":\"logs\",\"_id\":\"{id}\",\"_source\":{{\"a\":1}}}}");
        let response = |ids: &[&str]| {
            let hits: Vec<String> = ids.iter().map(|id| hit(id)).collect();
            format!(
                "{{\"took\":3,\"timed_out\":false,\"hits\":{{\"total\":{{\"value\":2}},\"hits\":[{}]}}}}",
                hits.join(",")
            )
        };
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&response(&["x", "y"])).expect("json"))
                .expect("json");
        let expected = [format!("[1] {}", hit("x")), format!("[2] {}", hit("y"))];
        assert_eq!(records(pretty.as_bytes()), expected);
        let pages = format!("{}\n{}\n", response(&["x"]), response(&["y"]));
        assert_eq!(records(pages.as_bytes()), expected);
        // An NDJSON line that happens to have `hits` is a document.
        assert_eq!(records(b"{\"hits\":{\"hits\":[]}}\n"), ["1: {\"hits\":{\"hits\":[]}}"]);
    }

    #[test]
    fn folders_give_their_data_files_and_name_the_rest() {
        let dir = std::env::temp_dir().join(format!("vigil-expand-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("a folder");
        for name in ["a.ndjson", "b.JSON", "c.ndjson.gz", "notes.txt", "sub/d.csv", "sub/e.log"] {
            std::fs::write(dir.join(name), "").expect("a file");
        }
        let given = dir.join("notes.txt");
        let expanded = expand(&[dir.clone(), given.clone()], DATA_EXTENSIONS).expect("listed");
        let names = |paths: &[PathBuf]| -> Vec<String> {
            paths.iter().map(|p| p.strip_prefix(&dir).map_or("(given)".into(), |p| p.display().to_string())).collect()
        };
        assert_eq!(names(&expanded.files), ["a.ndjson", "b.JSON", "c.ndjson.gz", "sub/d.csv", "notes.txt"]);
        assert_eq!(names(&expanded.skipped), ["notes.txt", "sub/e.log"]);
        assert_eq!(expand(std::slice::from_ref(&dir), &[] as &[&str]).expect("listed").files.len(), 6);
        std::fs::remove_dir_all(&dir).expect("removed");
    }
}
