//! File images: a directory's files held in memory, sparse (all-zero pages are left out),
//! so that a 256 MiB sparse data segment costs only its written pages.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileExt;
use std::path::Path;

pub const PAGE: u64 = 4096;

/// A file's bytes: its length and its non-zero 4 KiB pages (bytes past `len` are zero).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FileImg {
    pub len: u64,
    pub pages: BTreeMap<u64, Vec<u8>>,
}

impl FileImg {
    pub fn from_bytes(b: &[u8]) -> FileImg {
        let mut f = FileImg::default();
        f.write(0, b);
        f.len = b.len() as u64;
        f
    }

    /// `n` bytes from `off`, clipped to the file's length.
    pub fn read(&self, off: u64, n: u64) -> Vec<u8> {
        let end = off.saturating_add(n).min(self.len);
        if off >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - off) as usize];
        for (&p, page) in self.pages.range(off / PAGE..=(end - 1) / PAGE) {
            let (ps, pe) = (p * PAGE, p * PAGE + PAGE);
            let (s, e) = (ps.max(off), pe.min(end));
            out[(s - off) as usize..(e - off) as usize]
                .copy_from_slice(&page[(s - ps) as usize..(e - ps) as usize]);
        }
        out
    }

    /// The whole file (not for a large sparse one).
    pub fn bytes(&self) -> Vec<u8> {
        self.read(0, self.len)
    }

    pub fn byte(&self, off: u64) -> u8 {
        self.read(off, 1).first().copied().unwrap_or(0)
    }

    /// Write `data` at `off`, growing the file if needed.
    pub fn write(&mut self, off: u64, data: &[u8]) {
        let end = off + data.len() as u64;
        let mut at = off;
        while at < end {
            let p = at / PAGE;
            let ps = p * PAGE;
            let e = (ps + PAGE).min(end);
            let page = self.pages.entry(p).or_insert_with(|| vec![0u8; PAGE as usize]);
            page[(at - ps) as usize..(e - ps) as usize]
                .copy_from_slice(&data[(at - off) as usize..(e - off) as usize]);
            if page.iter().all(|&b| b == 0) {
                self.pages.remove(&p);
            }
            at = e;
        }
        self.len = self.len.max(end);
    }

    pub fn truncate(&mut self, len: u64) {
        if len >= self.len {
            self.len = len;
            return;
        }
        let keep = len.div_ceil(PAGE);
        self.pages.retain(|&p, _| p < keep);
        if !len.is_multiple_of(PAGE) {
            let tail = PAGE - len % PAGE;
            self.write(len, &vec![0u8; tail as usize]);
        }
        self.len = len;
    }

    /// Whether every byte from `off` to the end is zero.
    pub fn zero_from(&self, off: u64) -> bool {
        if off >= self.len {
            return true;
        }
        let p = off / PAGE;
        if let Some(page) = self.pages.get(&p)
            && page[(off - p * PAGE) as usize..].iter().any(|&b| b != 0)
        {
            return false;
        }
        self.pages.range(p + 1..).next().is_none()
    }

    /// Whether bytes `[off, off + n)` are all zero.
    pub fn zero_range(&self, off: u64, n: u64) -> bool {
        self.read(off, n).iter().all(|&b| b == 0)
    }
}

/// A directory tree: files by relative path (`data/00000001.seg`), and its directories.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DirImg {
    pub files: BTreeMap<String, FileImg>,
    pub dirs: BTreeSet<String>,
}

impl DirImg {
    pub fn read(root: &Path) -> DirImg {
        let mut img = DirImg::default();
        read_into(root, "", &mut img);
        img
    }

    pub fn write(&self, root: &Path) {
        let _ = std::fs::remove_dir_all(root);
        std::fs::create_dir_all(root).unwrap();
        for d in &self.dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for (rel, f) in &self.files {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let file = std::fs::File::create(&path).unwrap();
            // Consecutive pages in one write.
            let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
            for (&p, page) in &f.pages {
                match runs.last_mut() {
                    Some((start, bytes)) if *start + bytes.len() as u64 == p * PAGE => {
                        bytes.extend_from_slice(page)
                    }
                    _ => runs.push((p * PAGE, page.clone())),
                }
            }
            for (start, mut bytes) in runs {
                bytes.truncate((f.len - start).min(bytes.len() as u64) as usize);
                file.write_all_at(&bytes, start).unwrap();
            }
            file.set_len(f.len).unwrap();
        }
    }

    /// The files other than LOCK, for comparing what an open changed.
    pub fn data_files(&self) -> BTreeMap<&String, &FileImg> {
        self.files.iter().filter(|(k, _)| k.as_str() != "LOCK").collect()
    }
}

pub fn read_into(dir: &Path, prefix: &str, img: &mut DirImg) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            img.dirs.insert(rel.clone());
            read_into(&e.path(), &rel, img);
        } else if ft.is_file() {
            img.files.insert(rel, read_sparse(&e.path()));
        }
    }
}

/// A file's image, reading only its data extents (`SEEK_DATA`/`SEEK_HOLE`).
#[allow(unsafe_code)]
pub fn read_sparse(path: &Path) -> FileImg {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let fd = file.as_raw_fd();
    let mut img = FileImg { len, pages: BTreeMap::new() };
    let mut pos: i64 = 0;
    while (pos as u64) < len {
        // SAFETY: plain system calls on a descriptor this function owns.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: no data after pos
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let (start, end) = ((data as u64) / PAGE * PAGE, (hole.max(data) as u64).min(len));
        let mut at = start;
        while at < end {
            let n = (end - at).min(1 << 20);
            let mut buf = vec![0u8; n as usize];
            file.read_exact_at(&mut buf, at).unwrap();
            for (k, chunk) in buf.chunks(PAGE as usize).enumerate() {
                if chunk.iter().any(|&b| b != 0) {
                    let mut page = chunk.to_vec();
                    page.resize(PAGE as usize, 0);
                    img.pages.insert(at / PAGE + k as u64, page);
                }
            }
            at += n;
        }
        pos = hole.max(data + 1);
    }
    img
}
