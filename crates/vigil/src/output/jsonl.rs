//! `--output jsonl`: one alert document per line, shaped like Elastic Security's.

use std::io::{self, Write};

use ecs::date::Timestamp;
use engine::Hit;

use super::{Output, Summary};

/// Writes alert documents as NDJSON.
pub struct Jsonl<W> {
    out: W,
}

impl<W: Write> Jsonl<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Jsonl<W> {
        Jsonl { out }
    }
}

impl<W: Write> Output for Jsonl<W> {
    fn alert(&mut self, hit: &Hit<'_>, created: Timestamp) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &hit.document(created))?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self, _: &Summary<'_>) -> io::Result<()> {
        self.out.flush()
    }
}
