//! The fuzz targets' inputs on stable Rust: every checked-in corpus file
//! (`fuzz/corpus/<target>/`) and crash reproducer (`fuzz/regressions/<target>/`) goes
//! through the same entry point the target calls (`tsdb::fuzzing`), so a plain
//! `cargo test` keeps each bug the fuzzers found fixed. See docs/testing.md ("Fuzzing").
//!
//! Also here, ignored: the generator of the seed corpora (`regenerate_corpora`).
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tsdb::fuzzing::{TARGETS, seeds};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Longest an input may take: a hang is a bug like a panic. The fuzz runs allow 10 s in a
/// release build; this debug build is several times slower, and its targets run side by
/// side on a shared host (an `open_dir` input that maps a whole preallocated log segment
/// took 10.6 s here while fuzzers ran), so this is a hang detector, not a speed limit.
const SLOW: Duration = Duration::from_secs(60);

/// Run `target` on every file of `dirs`; returns how many ran, and the files that panicked
/// or took longer than [`SLOW`].
fn run_all(target: fn(&[u8]), dirs: &[PathBuf]) -> (usize, Vec<String>) {
    let (mut ran, mut failed) = (0, Vec::new());
    for dir in dirs {
        for path in inputs(dir) {
            let data = std::fs::read(&path).unwrap();
            ran += 1;
            let start = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(|| target(&data)));
            if start.elapsed() > SLOW {
                failed.push(format!("{}: took {:.1?}", path.display(), start.elapsed()));
            }
            if let Err(e) = result {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failed.push(format!("{}: {msg}", path.display()));
            }
        }
    }
    (ran, failed)
}

fn run_target(name: &str) {
    let (_, target) = TARGETS.iter().find(|(n, _)| *n == name).expect("a target of that name");
    let corpus = fuzz_dir().join("corpus").join(name);
    let regressions = fuzz_dir().join("regressions").join(name);
    assert!(!inputs(&corpus).is_empty(), "{name}: no corpus checked in at {}", corpus.display());
    let (ran, failed) = run_all(*target, &[corpus, regressions]);
    assert!(failed.is_empty(), "{name}: {} of {ran} inputs panicked:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn codec_block_corpus() {
    run_target("codec_block");
}

#[test]
fn manifest_file_corpus() {
    run_target("manifest_file");
}

#[test]
fn manifest_blob_corpus() {
    run_target("manifest_blob");
}

#[test]
fn wal_replay_corpus() {
    run_target("wal_replay");
}

#[test]
fn open_dir_corpus() {
    run_target("open_dir");
}

#[test]
fn every_target_has_a_test_and_a_fuzz_target() {
    let tests = ["codec_block", "manifest_file", "manifest_blob", "wal_replay", "open_dir"];
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, tests);
    for name in names {
        let src = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        assert!(text.contains(&format!("tsdb::fuzzing::{name}(")), "{} calls its entry point", src.display());
    }
}

/// The seeds, as a fresh build makes them, go through their targets (the checked-in files
/// may be older: a format change shows here first).
#[test]
fn fresh_seeds_run_clean() {
    let all = seeds();
    for (name, target) in TARGETS {
        let mine: Vec<_> = all.iter().filter(|s| s.0 == name).collect();
        assert!(mine.len() >= 3, "{name}: {} seeds", mine.len());
        for (_, file, data) in mine {
            catch_unwind(AssertUnwindSafe(|| target(data)))
                .unwrap_or_else(|_| panic!("{name}/{file} panicked"));
        }
    }
}

/// Write the seed corpora: `cargo test --release --test fuzz_corpus -- --ignored
/// regenerate_corpora`. Each target's `seed-*` files are replaced; other files (inputs
/// the fuzzer found and were kept) stay.
#[test]
#[ignore]
fn regenerate_corpora() {
    for (name, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for p in inputs(&dir) {
            if p.file_name().unwrap().to_string_lossy().starts_with("seed-") {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
    for (name, file, data) in seeds() {
        std::fs::write(fuzz_dir().join("corpus").join(name).join(format!("seed-{file}")), data).unwrap();
    }
}
