//! Entry points for the fuzz targets (`fuzz/`) and their regression test
//! (`tests/fuzz_corpus.rs`): each feeds arbitrary bytes to one of the engine's decoders.
//! Built only with the `fuzzing` feature, never into the shipped library.
//!
//! Every entry point takes any input. An error from the engine is a rejected input; a panic
//! (including an overflow under debug assertions), an allocation past the fuzzer's limit
//! or a hang is a bug. Where a decoder's output can be checked against another path, the
//! entry point asserts it (a decoded block re-encodes to the same points, a page decodes to
//! the points the whole block has, a replayed log replays the same a second time, ...).
//!
//! Inputs start with a flags byte; bit 0 asks for the checksums to be recomputed after
//! the bytes are laid out, so that the fuzzer reaches the parsers behind the crc32 checks
//! (a mutation that the checksums would reject is otherwise all it ever tests). The
//! layouts are in docs/testing.md ("Fuzzing"); [`seeds`] makes the checked-in corpora.
//!
//! One module per target (`block`, `manifests`, `log`, `dir`), `checksums` for the crc32
//! fix-ups the targets and the `open_dir` mutations share, `seeds` for the corpora; this
//! one holds the target list and the scratch directories.
mod block;
mod checksums;
mod dir;
mod log;
mod manifests;
mod seeds;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub use self::block::codec_block;
pub use self::checksums::{fix_block_checksums, fix_manifest_checksums, fix_wal_checksums};
pub use self::dir::{DbFile, Images, images, mutate, open_dir};
pub use self::log::{wal_replay, wal_segments};
pub use self::manifests::{manifest_blob, manifest_file, manifest_image, manifest_input};
pub use self::seeds::seeds;

/// An entry point: takes any bytes.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name: `fuzz/fuzz_targets/<name>.rs` calls the function, and
/// `fuzz/corpus/<name>/` holds its seeds.
pub const TARGETS: [(&str, Target); 5] = [
    ("codec_block", codec_block),
    ("manifest_file", manifest_file),
    ("manifest_blob", manifest_blob),
    ("wal_replay", wal_replay),
    ("open_dir", open_dir),
];

// ---------------------------------------------------------------------------------------
// Scratch directories

/// A directory of its own for one call, removed when dropped: under /dev/shm when there is
/// one (no disk writes, and a crashed run leaves nothing on disk), named by process and
/// a counter (the regression test runs targets on several threads of one process).
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        static BASE: OnceLock<PathBuf> = OnceLock::new();
        let base = BASE.get_or_init(|| {
            let shm = Path::new("/dev/shm");
            let base = if shm.is_dir() { shm.to_owned() } else { std::env::temp_dir() };
            sweep(&base);
            base
        });
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("tsdb-fuzz-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch directory");
        Scratch(dir)
    }
}

/// Remove the scratch directories of processes that are gone: a crash (an abort, which
/// runs no destructor) or a killed run leaves its last one behind.
fn sweep(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("tsdb-fuzz-")) else { continue };
        // tsdb-fuzz-<tag>-<pid>-<n>
        let mut parts = rest.rsplit('-');
        let (Some(_), Some(pid)) = (parts.next(), parts.next()) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("scratch directory");
    }
    std::fs::write(path, bytes).expect("cannot write a scratch file");
}
