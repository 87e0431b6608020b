//! Blobs: every record after the superblocks is one, framed as
//! `│ crc u32 │ kind u8 │ 0 [3] │ len u32 │ 0 u32 │ body (len bytes) │ 0-pad to 8 │`, the crc
//! covering everything after it up to the end of the body. This module owns the frame:
//! [`Blobs`] reads a blob back, checking where it lies, its checksum and its kind, and
//! [`Appender`] appends new ones after the file's end.
use std::fs::File;

use super::superblock::FIRST_BLOB;
use crate::bytes::u32_at;
use crate::sys;
use crate::{Error, Result};

/// The kinds of blob (the module documentation says what each holds).
pub(super) const NODE: u8 = 1;
pub(super) const LEAF3: u8 = 2;
pub(super) const NAME: u8 = 3;
pub(super) const INDEX: u8 = 4;
pub(super) const CHUNK3: u8 = 5;
pub(super) const EXTENTS: u8 = 6;
pub(super) const LEAF: u8 = 7;
pub(super) const CHUNK: u8 = 8;

pub(super) const BLOB_HEADER: usize = 16;

/// Bytes in the file of a blob with a body of `body` bytes.
pub(super) fn blob_size(body: usize) -> u64 {
    (BLOB_HEADER + body).next_multiple_of(8) as u64
}

/// The blobs of a manifest file, up to the end its current superblock vouches for.
#[derive(Clone, Copy)]
pub(super) struct Blobs<'a> {
    buf: &'a [u8],
    end: u64,
}

impl<'a> Blobs<'a> {
    /// The blobs of `buf`, the file mapped (at least `end` bytes of it).
    pub fn new(buf: &'a [u8], end: u64) -> Blobs<'a> {
        Blobs { buf, end }
    }

    /// The body of the blob at `off`, checked to be of `kind`.
    pub fn get(&self, off: u64, kind: u8) -> Result<&'a [u8]> {
        Ok(self.get_of(off, &[kind])?.1)
    }

    /// The kind and body of the blob at `off`, checked to be one of `kinds`.
    pub fn get_of(&self, off: u64, kinds: &[u8]) -> Result<(u8, &'a [u8])> {
        let buf = self.buf;
        let bad = |msg: String| Error::Corruption(format!("MANIFEST offset {off}: {msg}"));
        let at = usize::try_from(off).map_err(|_| bad("offset out of range".into()))?;
        if off < FIRST_BLOB || off >= self.end || at + BLOB_HEADER > buf.len() {
            return Err(bad(format!("reference outside the file's {} bytes", self.end)));
        }
        let len = u32_at(buf, at + 8) as usize;
        let end = at + BLOB_HEADER + len;
        if end as u64 > self.end {
            return Err(bad(format!("blob of {len} bytes runs past the end")));
        }
        let crc = u32_at(buf, at);
        if crc != crc32fast::hash(&buf[at + 4..end]) {
            return Err(bad("blob checksum mismatch".into()));
        }
        let kind = buf[at + 4];
        if !kinds.contains(&kind) {
            let want: Vec<String> = kinds.iter().map(u8::to_string).collect();
            return Err(bad(format!("blob of kind {kind} where kind {} was expected", want.join(" or "))));
        }
        Ok((kind, &buf[at + BLOB_HEADER..end]))
    }

    /// The size in the file of the blob at `off`, checked to be of `kind`.
    pub fn size(&self, off: u64, kind: u8) -> Result<u64> {
        Ok(blob_size(self.get(off, kind)?.len()))
    }
}

/// New blobs, appended after the file's end, written out in pieces of a few MiB (a commit of
/// a million metrics must not build its whole output in memory).
pub(super) struct Appender<'f> {
    file: &'f File,
    /// Where the first new blob goes (the committed end of the file).
    at: u64,
    /// Bytes already written out, after `at`.
    flushed: u64,
    buf: Vec<u8>,
    /// Copies of the blobs this commit reads back (new roots made when the tree grows).
    pinned: Vec<(u64, Vec<u8>)>,
    err: Option<std::io::Error>,
}

// Small under test, so that commits there write out in many pieces.
const FLUSH_BYTES: usize = if cfg!(test) { 4096 } else { 4 << 20 };

impl<'f> Appender<'f> {
    pub fn new(file: &'f File, at: u64) -> Appender<'f> {
        Appender { file, at, flushed: 0, buf: Vec::new(), pinned: Vec::new(), err: None }
    }

    /// The offset just past the last blob.
    fn end(&self) -> u64 {
        self.at + self.flushed + self.buf.len() as u64
    }

    /// Write out what is buffered; the first error sticks and is returned by `finish`.
    fn flush(&mut self) {
        if self.err.is_none()
            && let Err(e) = sys::write_all_at(self.file, &self.buf, self.at + self.flushed)
        {
            self.err = Some(e);
        }
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
    }

    /// Write out the rest; the new end of the file.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.flush();
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.at + self.flushed),
        }
    }

    /// Append a blob that this commit will read back ([`Appender::pinned`]).
    pub fn pinned_blob(&mut self, kind: u8, body: &[u8]) -> u64 {
        let off = self.blob(kind, body);
        self.pinned.push((off, body.to_vec()));
        off
    }

    /// The body of the blob this commit appended at `off` with [`Appender::pinned_blob`].
    pub fn pinned(&self, off: u64) -> Option<&[u8]> {
        self.pinned.iter().find(|(o, _)| *o == off).map(|(_, b)| b.as_slice())
    }

    /// Append a blob of `kind`; its offset.
    pub fn blob(&mut self, kind: u8, body: &[u8]) -> u64 {
        if self.buf.len() >= FLUSH_BYTES {
            self.flush();
        }
        let off = self.end();
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; BLOB_HEADER]);
        self.buf[start + 4] = kind;
        self.buf[start + 8..start + 12].copy_from_slice(&(body.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(body);
        let crc = crc32fast::hash(&self.buf[start + 4..]);
        self.buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
        self.buf.resize(self.buf.len().next_multiple_of(8), 0);
        off
    }
}
