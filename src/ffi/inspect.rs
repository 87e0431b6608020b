//! `ts_check`: verify everything a database stores.
use super::boundary::boundary;
use super::db::ts_db;
use super::handle::{handle_ref, out_ptr};
use super::status::ts_status;
use crate::{CheckReport, Error};

/// What `ts_check` verified. Every field counts something that was checked and found
/// healthy.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ts_check_report {
    /// Live metrics walked (every one of the snapshot the check reads).
    pub metrics: u64,
    /// Sealed partitions decoded.
    pub partitions: u64,
    /// Head extents decoded: blocks holding a head's points as of past checkpoints.
    pub extents: u64,
    /// Points decoded from those blocks.
    pub points: u64,
    /// Bytes of those blocks.
    pub block_bytes: u64,
    /// Data segment files holding them (each file's header checked).
    pub segments: u64,
    /// Metric entries of the manifest (every blob on their paths checked).
    pub manifest_entries: u64,
    /// Bytes of the manifest file.
    pub manifest_bytes: u64,
}

impl From<&CheckReport> for ts_check_report {
    fn from(r: &CheckReport) -> Self {
        ts_check_report {
            metrics: r.metrics,
            partitions: r.partitions,
            extents: r.extents,
            points: r.points,
            block_bytes: r.block_bytes,
            segments: r.segments,
            manifest_entries: r.manifest_entries,
            manifest_bytes: r.manifest_bytes,
        }
    }
}

/// Verify every checksum and structural invariant of what `db` stores, and say what was
/// checked in `*out`. Nothing is written.
///
/// Opening a database already checks its manifest and replays (and checks) its log. This
/// reads, through one snapshot: both superblock copies of the manifest and every blob its
/// tree reaches; its block references (inside their segment files, not overlapping); every
/// data segment's header; and for every metric, that its name resolves to it and that each
/// sealed partition and head extent decodes (header and body crc32, strictly ascending
/// timestamps, counts and first/last timestamps as referenced, the block's summary as its
/// points), that partitions are ordered and hold only the timestamps of the range they own,
/// and that no two blocks overlap. It decodes every stored point: its cost is a full scan.
///
/// @param[in]  db   the database.
/// @param[out] out  receives the counts of what was checked, on `TS_OK` only.
///
/// Returns `TS_OK` when no damage was found; `TS_CORRUPTION` when some was: `ts_errmsg()`
/// then gives the number of problems and the first one, naming the file and offset (e.g.
/// "ts_check: 1 problem found: data/00000001.seg offset 4128: body checksum mismatch ...");
/// `TS_INVALID_ARGUMENT` if `db` or `out` is NULL; `TS_IO_ERROR` if a file cannot be read.
///
/// Threads: safe from any thread; writers, readers and checkpoints carry on meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_check(db: *mut ts_db, out: *mut ts_check_report) -> ts_status {
    boundary("ts_check", || {
        // SAFETY: `db` is NULL (checked) or a live handle from `ts_open`.
        let db = unsafe { handle_ref(db, "db")? };
        let out = out_ptr(out, "out")?;
        let report = db.db.check()?;
        if let Some(first) = report.damage.first() {
            let n = report.damage.len();
            let problems =
                if n == 1 { "1 problem found".to_owned() } else { format!("{n} problems found; the first") };
            return Err(Error::Corruption(format!("{problems}: {first}")));
        }
        // SAFETY: `out` is non-NULL (checked) and points to writable storage for a report.
        unsafe { out.write(ts_check_report::from(&report)) };
        Ok(ts_status::TS_OK)
    })
}
