//! Helpers shared by the integration tests that check a database against a model.
#![allow(dead_code)] // each test crate uses some of them

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tsdb::{Database, MetricId, Options, Snapshot};

/// A fresh path under the temporary directory for the test `tag` of this process.
pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tsdb-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub fn opts(pp: u32) -> Options {
    let mut o = Options::default();
    o.set_partition_points(pp).unwrap();
    o
}

pub fn all(s: &Arc<Snapshot>, id: MetricId) -> tsdb::Result<Vec<(i64, u64)>> {
    s.scan(id, i64::MIN, tsdb::MAX_TIMESTAMP + 1)?.map(|p| p.map(|(t, v)| (t, v.to_bits()))).collect()
}

pub type Model = BTreeMap<String, BTreeMap<i64, u64>>;

/// Every metric of the model, by name, with exactly its points; no other metric.
pub fn check(db: &Database, model: &Model) {
    let s = db.begin();
    assert_eq!(s.metric_count(), model.len() as u64, "metric count");
    for (name, pts) in model {
        let id = s.lookup(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want: Vec<(i64, u64)> = pts.iter().map(|(t, v)| (*t, *v)).collect();
        assert_eq!(all(&s, id).unwrap(), want, "points of {name}");
    }
}

/// A copy of the directory tree `from` at `to` (replaced).
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            match std::fs::copy(e.path(), to.join(e.file_name())) {
                // A live database deletes the data segments its durable manifest no longer
                // names (after a checkpoint, as the versions holding them go): one may vanish
                // between the listing and the copy, and the copy does not need it.
                Err(x) if x.kind() == std::io::ErrorKind::NotFound => {}
                r => {
                    r.unwrap_or_else(|x| panic!("{}: {x}", e.path().display()));
                }
            }
        }
    }
}
