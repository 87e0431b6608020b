//! `tsdb stats` and `tsdb check`.
use std::path::Path;
use std::time::Instant;

use crate::format::{bytes, count, disk_usage, secs};
use crate::{Failure, Outcome, close, error, open_existing};

pub fn stats(dir: &Path) -> Outcome {
    let db = open_existing(dir)?;
    let inv = db.inventory();
    let storage = db.storage_stats();
    let live = db.stats();
    close(db)?;
    let live = live.map_err(|e| error(format!("cannot read the statistics: {e}")))?;
    let inv = inv.map_err(|e| match e {
        tsdb::Error::Corruption(m) => Failure::Damage(format!("the database is damaged: {m}")),
        e => error(format!("cannot read the database: {e}")),
    })?;
    // After the close: the log is folded into the data files, as the database rests.
    let du = |p: &Path| disk_usage(p).or_else(|e| if p.exists() { Err(e) } else { Ok(0) });
    let total = du(dir).map_err(|e| error(format!("cannot measure {}: {e}", dir.display())))?;
    let data = du(&dir.join("data")).unwrap_or(0);
    let manifest = du(&dir.join("MANIFEST")).unwrap_or(0);
    let rows: Vec<(&str, String)> = vec![
        ("database", dir.display().to_string()),
        ("metrics", count(inv.metrics)),
        (
            "points",
            format!(
                "{} ({} in sealed partitions, {} in heads)",
                count(inv.points),
                count(inv.sealed_points),
                count(inv.head_points)
            ),
        ),
        (
            "time range",
            match (inv.first_ts, inv.last_ts) {
                (Some(f), Some(l)) => format!("{f} .. {l} (span {})", l as i128 - f as i128),
                _ => "none (no points)".into(),
            },
        ),
        (
            "partitions",
            format!(
                "{} sealed; {} head extent{} (copies of head points made by checkpoints)",
                count(inv.partitions),
                count(inv.extents),
                if inv.extents == 1 { "" } else { "s" }
            ),
        ),
        (
            "blocks",
            format!(
                "{} in {} data segment file{}",
                bytes(inv.block_bytes),
                inv.segments,
                if inv.segments == 1 { "" } else { "s" }
            ),
        ),
        (
            "manifest",
            format!(
                "{} ({} of it in use)",
                bytes(storage.manifest_bytes),
                bytes(storage.manifest_live_bytes)
            ),
        ),
        (
            "on disk",
            format!(
                "{} ({} bytes as du counts: data {}, manifest {})",
                bytes(total),
                count(total),
                bytes(data),
                bytes(manifest)
            ),
        ),
        (
            "bytes/point",
            if inv.points > 0 {
                format!("{:.2} on disk (a raw point is 16)", total as f64 / inv.points as f64)
            } else {
                "- (no points)".into()
            },
        ),
        (
            "log",
            format!(
                "{} written since the last checkpoint (what an open after a crash replays)",
                bytes(live.wal_bytes)
            ),
        ),
        (
            "snapshots",
            format!(
                "{} live (oldest: {}); {} of blocks kept only by snapshots older than the current state",
                live.live_snapshots,
                if live.live_snapshots == 0 {
                    "none".to_string()
                } else {
                    secs(std::time::Duration::from_millis(live.oldest_snapshot_age_ms))
                },
                bytes(live.old_snapshot_bytes)
            ),
        ),
    ];
    for (k, v) in rows {
        say!("{k:<12} {v}");
    }
    Ok(())
}

pub fn check(dir: &Path) -> Outcome {
    let start = Instant::now();
    say!("checking {}", dir.display());
    let db = open_existing(dir)?;
    say!("{:<12} manifest and write-ahead log read and checked by the open", "open");
    let report = db.check();
    let closed = close(db);
    let r = report.map_err(|e| error(format!("the check could not run: {e}")))?;
    closed?;
    let rows = [
        (
            "manifest",
            format!(
                "{}: both superblock copies, {} metric entr{} and every blob they reach",
                bytes(r.manifest_bytes),
                count(r.manifest_entries),
                if r.manifest_entries == 1 { "y" } else { "ies" }
            ),
        ),
        ("metrics", format!("{} (each name resolves to its id)", count(r.metrics))),
        (
            "blocks",
            format!(
                "{} sealed partitions and {} head extents decoded: {} points, {}",
                count(r.partitions),
                count(r.extents),
                count(r.points),
                bytes(r.block_bytes)
            ),
        ),
        (
            "segments",
            format!(
                "{} data segment file{} (headers checked)",
                r.segments,
                if r.segments == 1 { "" } else { "s" }
            ),
        ),
    ];
    for (k, v) in rows {
        say!("{k:<12} {v}");
    }
    for d in &r.damage {
        say!("{:<12} {d}", "DAMAGE");
    }
    let took = secs(start.elapsed());
    if r.is_ok() {
        say!("{:<12} ok: no damage found ({took})", "result");
        return Ok(());
    }
    let n = r.damage.len();
    say!("{:<12} DAMAGED: {n} problem{} found ({took})", "result", if n == 1 { "" } else { "s" });
    Err(Failure::Damage(format!(
        "{} is damaged: {n} problem{} (listed above); the first: {}",
        dir.display(),
        if n == 1 { "" } else { "s" },
        r.damage[0]
    )))
}
