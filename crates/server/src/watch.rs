//! `--watch DIR`: follow NDJSON files as they grow and ingest each complete line once.
//!
//! Each file's read position is saved in the data directory (`watch-offsets.json`) after its
//! lines are durable, so a restart goes on where it stopped; a line read twice after a crash is
//! the same event and is stored once. A file that shrinks, or is replaced by another under the
//! same name, is read again from the start.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ecs::date::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::ingest;
use crate::state::AppState;

/// At most this much of one file is read per pass, so one huge file does not hold up the rest.
const CHUNK: u64 = 8 << 20;

/// Where a file has been read to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// The file's inode: another inode under the same name is another file.
    inode: u64,
    /// Bytes read and ingested.
    offset: u64,
    /// Lines read, for error messages.
    lines: u64,
}

type Positions = BTreeMap<PathBuf, Position>;

fn positions_file(state: &AppState) -> PathBuf {
    state.config.data_dir.join("watch-offsets.json")
}

fn load(path: &Path) -> Positions {
    std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

/// Written to a new file and renamed over the old one, so a crash leaves one or the other.
fn save(path: &Path, positions: &Positions) -> std::io::Result<()> {
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(positions).unwrap_or_default())?;
    std::fs::rename(temporary, path)
}

/// Follows the folders until `shutdown` turns true.
pub async fn run(state: AppState, folders: Vec<PathBuf>, mut shutdown: watch::Receiver<bool>) {
    let store_path = positions_file(&state);
    let mut positions = load(&store_path);
    let mut tick = tokio::time::interval(state.config.poll.as_duration().max(Duration::from_millis(100)));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let files = engine::source::expand(&folders, &["ndjson", "jsonl", "json"]).map(|e| e.files).unwrap_or_default();
        for file in files {
            if *shutdown.borrow() {
                return;
            }
            // Read until the file has no complete line left (or a store failure stops it).
            loop {
                match follow(&state, &file, positions.get(&file).cloned().unwrap_or_default()).await {
                    Ok(Some(position)) => {
                        positions.insert(file.clone(), position);
                        if let Err(err) = save(&store_path, &positions) {
                            tracing::warn!(%err, file = %store_path.display(), "cannot save watch positions");
                        }
                    }
                    Ok(None) => break,
                    Err(err) => {
                        tracing::warn!(file = %file.display(), %err, "watched file not ingested yet");
                        break;
                    }
                }
            }
        }
    }
}

/// Ingests the complete lines of `file` after `position`; returns the new position, or `None`
/// when there was nothing new.
async fn follow(state: &AppState, file: &Path, mut position: Position) -> Result<Option<Position>, String> {
    let path = file.to_owned();
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Option<(u64, u64, Vec<u8>)>> {
        let mut handle = std::fs::File::open(&path)?;
        let meta = handle.metadata()?;
        let (inode, len) = (meta.ino(), meta.len());
        let start = if inode == position.inode && len >= position.offset { position.offset } else { 0 };
        if len == start {
            return Ok(None);
        }
        handle.seek(SeekFrom::Start(start))?;
        let mut chunk = Vec::new();
        handle.take(CHUNK).read_to_end(&mut chunk)?;
        // Only complete lines: the last one may still be being written.
        let Some(end) = memchr::memrchr(b'\n', &chunk) else { return Ok(None) };
        chunk.truncate(end + 1);
        Ok(Some((inode, start, chunk)))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let Some((inode, start, chunk)) = read else { return Ok(None) };
    if inode != position.inode || start == 0 {
        position = Position { inode, offset: 0, lines: 0 };
    }
    let first_line = position.lines;
    // A chunk is bounded by its size (CHUNK), not by a request's item count.
    let limits = ingest::Limits { max_items: usize::MAX, ..state.limits() };
    // A line without an identity of its own is named by where it is in the file, so that a line
    // read again after a crash (before its position was saved) is the same event, while
    // identical lines stay distinct events.
    let name = |line: usize| format!("{inode:x}:{start}:{line}");
    let items = ingest::events(&chunk, None, limits, Timestamp::now(), &name).map_err(|e| e.to_string())?;
    for item in &items {
        if let Err(reason) = &item.event {
            // Its line within the chunk, said as its line in the file.
            tracing::warn!(file = %file.display(), line = first_line + item.line as u64, %reason, "line not ingested");
        }
    }
    state.store_items(&items).await.map_err(|e| e.to_string())?;
    let lines = chunk.iter().filter(|&&b| b == b'\n').count() as u64;
    Ok(Some(Position { inode, offset: start + chunk.len() as u64, lines: first_line + lines }))
}
