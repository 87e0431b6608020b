//! Durable storage: the write-ahead log, data segment files and the manifest, and the
//! [`store::Store`] that holds the directory together (its layout, lock, data segments and
//! manifest) so that the engine above names no file.
//!
//! A database directory holds (see docs/format.md for every layout):
//!
//! ```text
//! DIR/LOCK              flock-ed while open
//! DIR/MANIFEST          the last checkpoint: metrics, their sealed parts and head extents
//! DIR/wal/NNNNNNNN.wal  write-ahead log segments, preallocated, written through a shared map
//! DIR/data/NNNNNNNN.seg data segments: codec blocks appended, read through a shared map
//! ```
//!
//! Every write is a WAL record before its call returns. Sealing a head appends its blocks
//! to the current data segment. A checkpoint appends each head's points not yet persisted
//! as a block (an *extent*), syncs the data segments, commits the manifest (its changed
//! blobs appended, then a superblock flip; rewritten whole, through a temporary file and a
//! rename, only when mostly dead) and deletes the log segments it made unnecessary. Opening loads the manifest and replays the log after it.
pub mod manifest;
pub mod segment;
pub mod store;
pub mod wal;

use std::path::Path;

use crate::Error;
use crate::bytes::{u32_at, u64_at};

/// An I/O error naming what was being done and the path.
pub(crate) fn io_err(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Io(format!("{what}: {e} (path={})", path.display()))
}

/// fsync a directory, so that renames and creations in it are durable.
pub(crate) fn sync_dir(path: &Path) -> crate::Result<()> {
    crate::sys::sync_dir(path).map_err(|e| io_err("cannot sync directory", path, &e))
}

/// Create directory `dir` (its parent exists) unless it is there already.
pub(crate) fn ensure_dir(dir: &Path) -> crate::Result<()> {
    match crate::sys::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err("cannot create directory", dir, &e)),
    }
}

/// Bytes of the header that starts every log and data segment file.
pub(crate) const FILE_HEADER_LEN: usize = 32;

/// The header of segment file `no`: │ magic [8] │ format u32 │ aux u32 │ no u64 │ 0 u32 │ crc u32 │
/// (the crc covers the 28 bytes before it). `aux` is the file type's own: 0 for data
/// segments, the allocated size in 4 KiB pages for log segments of format 2.
pub(crate) fn file_header(magic: &[u8; 8], format: u32, aux: u32, no: u64) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&format.to_le_bytes());
    h[12..16].copy_from_slice(&aux.to_le_bytes());
    h[16..24].copy_from_slice(&no.to_le_bytes());
    let crc = crc32fast::hash(&h[..28]);
    h[28..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Check that `buf` starts with a header [`file_header`] writes, of one of `formats` and
/// numbered `no`; `label` names the file. Returns its format and `aux` field.
pub(crate) fn check_file_header(
    buf: &[u8],
    magic: &[u8; 8],
    formats: &[u32],
    no: u64,
    label: &str,
) -> crate::Result<(u32, u32)> {
    let h = buf.get(..FILE_HEADER_LEN).ok_or_else(|| {
        Error::Corruption(format!("{label} offset 0: shorter than its {FILE_HEADER_LEN}-byte header"))
    })?;
    if h[..8] != *magic || u32_at(h, 28) != crc32fast::hash(&h[..28]) {
        return Err(Error::Corruption(format!("{label} offset 0: bad segment header (magic or checksum)")));
    }
    let (stored_format, aux, stored_no) = (u32_at(h, 8), u32_at(h, 12), u64_at(h, 16));
    if !formats.contains(&stored_format) || stored_no != no {
        return Err(Error::Corruption(format!(
            "{label} offset 0: segment header says format {stored_format}, number {stored_no}"
        )));
    }
    Ok((stored_format, aux))
}

/// Where the write-ahead log goes on after a checkpoint, as the manifest records it
/// (format 5): every record after the checkpoint is in segment `segment` or a later one,
/// and no segment before it is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogStart {
    pub segment: u64,
    /// The segment existed when the checkpoint committed, so it must still exist (only a
    /// later checkpoint deletes it). When false, the log was empty and `segment` is the
    /// number its next segment gets.
    pub exists: bool,
}

/// Numbered files `NNNNNNNN.ext` in `dir`, ascending; a missing `dir` has none.
pub(crate) fn numbered_files(dir: &Path, ext: &str) -> crate::Result<Vec<u64>> {
    let rd = match crate::sys::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("cannot list directory", dir, &e)),
    };
    let mut nos = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| io_err("cannot list directory", dir, &e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(no) =
            name.strip_suffix(ext).and_then(|s| s.strip_suffix('.')).and_then(|s| s.parse().ok())
        {
            nos.push(no);
        }
    }
    nos.sort_unstable();
    Ok(nos)
}

/// The file name of segment `no`.
pub(crate) fn file_name(no: u64, ext: &str) -> String {
    format!("{no:08}.{ext}")
}
