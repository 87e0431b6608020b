//! The seed corpora of the fuzz targets.
use std::path::Path;

use super::checksums::get_u32;
use super::dir::{DbFile, images};
use super::manifests::{FIRST_BLOB, manifest_input};
use crate::codec;
use crate::storage::{manifest, wal};

/// The seed corpora: `(target, file name, input)`, made from a real database and real
/// blocks. `tests/fuzz_corpus.rs` (`regenerate_corpora`, ignored) writes them to
/// `fuzz/corpus/<target>/`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    // Blocks: each value coding, a paged block, NaNs, one point; as written and with the
    // checksums recomputed.
    let shapes: Vec<(&str, Vec<i64>, Vec<f64>)> = vec![
        ("one", vec![7], vec![1.0]),
        ("decimal", (0..100).map(|i| i * 1000).collect(), (0..100).map(|i| f64::from(i) * 0.1).collect()),
        (
            "xor",
            (0..60).map(|i| i * 7 + i * i).collect(),
            (0..60u64)
                .map(|i| f64::from_bits(0x4000_0000_0000_0000 ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
                .collect(),
        ),
        ("raw", (0..20).map(|i| i << 40).collect(), (0..20).map(|i| f64::from(i).sqrt() * 1e-300).collect()),
        (
            "nan",
            (0..30).collect(),
            (0..30).map(|i| if i % 3 == 0 { f64::NAN } else { f64::from(i) }).collect(),
        ),
        ("paged", (0..1100).map(|i| i * 10).collect(), (0..1100).map(|i| f64::from(i % 50)).collect()),
    ];
    for (name, ts, vals) in &shapes {
        let mut b = Vec::new();
        codec::encode(ts, vals, &mut b);
        for flags in [0u8, 1 | 2 << 1] {
            out.push(("codec_block", format!("{name}-{flags}"), [&[flags][..], &b].concat()));
        }
    }
    // A paged block grown by an append (full pages copied).
    let (ts, vals) = (&shapes[5].1, &shapes[5].2);
    let mut b = Vec::new();
    codec::append(
        &{
            let mut a = Vec::new();
            codec::encode(&ts[..600], &vals[..600], &mut a);
            a
        },
        &ts[600..],
        &vals[600..],
        &mut b,
    )
    .expect("append")
    .expect("appended");
    out.push(("codec_block", "appended".into(), [&[1u8][..], &b].concat()));

    let imgs = images();
    // Manifests: both images', and the format-3 fixture whole.
    for (tag, img) in [("crash", &imgs.crash), ("clean", &imgs.clean)] {
        let m = img.iter().find(|f| f.path == manifest::FILE).expect("a MANIFEST");
        let mut file = m.bytes.clone();
        file.resize(m.len as usize, 0);
        out.push(("manifest_file", tag.to_string(), manifest_input(&file, 0)));
        out.push(("manifest_file", format!("{tag}-fix"), manifest_input(&file, 1)));
        // Its blobs, one by one.
        let mut at = FIRST_BLOB;
        let mut k = 0;
        while at + 16 <= file.len() {
            let len = get_u32(&file, at + 8).unwrap_or(0) as usize;
            let Some(body) = file.get(at + 16..at + 16 + len) else { break };
            let kind = file[at + 4];
            if [2, 5, 7, 8].contains(&kind) {
                out.push(("manifest_blob", format!("{tag}-{k}-kind{kind}"), [&[kind, 0][..], body].concat()));
                k += 1;
            }
            at += (16 + len).next_multiple_of(8);
        }
    }
    let v3 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifest-v3/MANIFEST");
    if let Ok(file) = std::fs::read(&v3) {
        out.push(("manifest_file", "format3".into(), [&[0x80][..], &file].concat()));
    }
    // The crash image's log segments: each alone, and the first two as one input cut
    // between them.
    let segs: Vec<&DbFile> = imgs.crash.iter().filter(|f| f.path.ends_with(wal::EXT)).collect();
    for (k, s) in segs.iter().enumerate() {
        let mut seg = s.bytes.clone();
        seg.resize(s.bytes.len().next_multiple_of(8), 0);
        out.push(("wal_replay", format!("segment-{k}"), [&[0u8, 0, 0, 0][..], &seg].concat()));
        out.push(("wal_replay", format!("segment-{k}-after"), [&[1u8, 3, 0, 0][..], &seg].concat()));
    }
    if let [a, b, ..] = segs[..] {
        let split = (a.bytes.len() as u16).to_le_bytes();
        out.push((
            "wal_replay",
            "two-segments".into(),
            [&[3u8, 0, split[0], split[1]][..], &a.bytes, &b.bytes].concat(),
        ));
    }
    // Directories: each image untouched, a bit flipped in each file, a file deleted.
    out.push(("open_dir", "crash".into(), vec![0]));
    out.push(("open_dir", "clean".into(), vec![1]));
    for (k, _) in imgs.crash.iter().enumerate() {
        out.push(("open_dir", format!("crash-flip-{k}"), vec![0, 0, k as u8, 40, 0, 0, 3]));
    }
    out.push(("open_dir", "clean-delete-0".into(), vec![1, 4, 0, 0, 0, 0, 0]));
    out.push(("open_dir", "crash-fix".into(), vec![0, 5, 0, 100, 32, 0, 9, 6, 0, 0, 0, 0, 0]));
    out
}
