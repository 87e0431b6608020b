//! Faults: every file-system call the engine makes is failed in turn (the fault-injection
//! seam, `tsdb::fault`), and the rules of docs/format.md are checked after each: the call
//! fails cleanly (an I/O error naming what failed, never a false corruption report or a
//! panic), a retry with the fault gone succeeds, and a reopen holds every acknowledged
//! write, exactly. Also here: the fault findings of issue 13, each with its test.
//!
//! The injector is global: the tests of this file take `SERIAL` so that one runs at a
//! time. `TSDB_FAULT_SWEEP=N` bounds the sweep to the first N calls (default: all of them).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tsdb::fault::{self, Op, Plan};
use tsdb::{Batch, Database, Error, MetricId, Options, SyncPolicy};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tmpdir(tag: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let d = base.join(format!("tsdb-faults-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// What acknowledged writes left: metric name -> (timestamp -> value bits).
type Model = BTreeMap<String, BTreeMap<i64, u64>>;

/// The database holds exactly `model`.
fn verify(db: &Database, model: &Model, ctx: &str) {
    let s = db.begin();
    let names: Vec<String> = s.metrics(MetricId(0)).map(|(_, n)| n.to_owned()).collect();
    let want: Vec<String> = model.keys().cloned().collect();
    assert_eq!(
        names.iter().collect::<std::collections::BTreeSet<_>>(),
        want.iter().collect(),
        "{ctx}: metrics"
    );
    for (name, pts) in model {
        let id = s.lookup(name).unwrap();
        let got: Vec<(i64, u64)> = s
            .scan(id, i64::MIN, i64::MAX)
            .unwrap()
            .map(|r| r.map(|(t, v)| (t, v.to_bits())))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{ctx}: scan of {name}: {e}"));
        let want: Vec<(i64, u64)> = pts.iter().map(|(&t, &v)| (t, v)).collect();
        assert!(got == want, "{ctx}: {name}: {} points, want {}", got.len(), want.len());
    }
}

/// The configurations the sweep runs the workload under: every write synced, small log
/// segments and partitions; and nothing synced before close, with even smaller ones.
fn configs() -> [Options; 2] {
    let mut a = Options {
        sync: SyncPolicy::Always,
        checkpoint_bytes: 1 << 40,
        wal_segment_bytes: 8192,
        ..Options::default()
    };
    a.set_partition_points(64).unwrap();
    let mut b = Options {
        sync: SyncPolicy::None,
        checkpoint_bytes: 1 << 40,
        wal_segment_bytes: 4096,
        ..Options::default()
    };
    b.set_partition_points(32).unwrap();
    [a, b]
}

/// One step of the sweep's workload: a call, and what it does to the model when it
/// succeeds. Every step is idempotent, so a retry after a failed attempt (which may or may
/// not have taken effect) ends in the same state.
enum Step {
    Create(&'static str),
    Insert(&'static str, i64, usize),
    Batch(&'static [&'static str], i64),
    Delete(&'static str, i64, i64),
    Retention(&'static str, i64),
    Drop(&'static str),
    Checkpoint,
    Reopen,
}

const WORKLOAD: &[Step] = &[
    Step::Create("cpu"),
    Step::Create("mem"),
    Step::Insert("cpu", 0, 100),
    Step::Insert("mem", 0, 30),
    Step::Checkpoint,
    Step::Insert("cpu", 100, 150),
    Step::Batch(&["cpu", "mem"], 1000),
    Step::Create("disk.with.a.rather.long.name.that.goes.to.a.name.blob.in.the.manifest.because.it.is.long"),
    Step::Insert(
        "disk.with.a.rather.long.name.that.goes.to.a.name.blob.in.the.manifest.because.it.is.long",
        0,
        70,
    ),
    Step::Delete("cpu", 20, 140),
    Step::Checkpoint,
    Step::Retention("cpu", 100),
    Step::Insert("cpu", 400, 200),
    Step::Drop("mem"),
    Step::Checkpoint,
    Step::Reopen,
    Step::Insert("cpu", 600, 80),
    Step::Create("mem"),
    Step::Insert("mem", 5, 10),
];

fn value(name: &str, t: i64) -> f64 {
    name.len() as f64 * 1000.0 + t as f64 / 8.0
}

/// Apply `step` to `db` (`None`: closed). Returns the error of the call, if it failed.
fn run(
    step: &Step,
    db: &mut Option<Database>,
    d: &Path,
    o: &Options,
    model: &mut Model,
) -> Result<(), Error> {
    if let Step::Reopen = step {
        if let Some(old) = db.take() {
            match old.close() {
                Ok(()) => {}
                Err((Some(back), e)) => {
                    *db = Some(back);
                    return Err(e);
                }
                Err((None, e)) => return Err(e),
            }
        }
        *db = Some(Database::open(d, o)?);
        return Ok(());
    }
    let h = db.as_ref().expect("open");
    let id = |name: &str| h.begin().lookup(name);
    match step {
        Step::Create(name) => match h.create_metric(name) {
            Ok(_) | Err(Error::Exists { .. }) => {
                model.entry(name.to_string()).or_default();
            }
            Err(e) => return Err(e),
        },
        Step::Insert(name, from, n) => {
            let ts: Vec<i64> = (*from..*from + *n as i64).collect();
            let vals: Vec<f64> = ts.iter().map(|&t| value(name, t)).collect();
            h.insert_batch(id(name)?, &ts, &vals)?;
            let m = model.get_mut(*name).unwrap();
            for (t, v) in ts.iter().zip(&vals) {
                m.insert(*t, v.to_bits());
            }
        }
        Step::Batch(names, t) => {
            let mut b = Batch::new();
            for name in *names {
                b.add(id(name)?, *t, value(name, *t));
            }
            h.commit(&mut b)?;
            for name in *names {
                model.get_mut(*name).unwrap().insert(*t, value(name, *t).to_bits());
            }
        }
        Step::Delete(name, from, until) => {
            h.delete_range(id(name)?, *from, *until)?;
            model.get_mut(*name).unwrap().retain(|t, _| !(*from..*until).contains(t));
        }
        Step::Retention(name, span) => {
            // A span, then applied now: what it drops depends on sealed partitions, so the
            // model takes what the database kept (checked again after every reopen).
            let mid = id(name)?;
            h.set_retention(mid, *span)?;
            h.enforce_retention()?;
            h.set_retention(mid, -1)?;
            let s = h.begin();
            let kept: BTreeMap<i64, u64> = s
                .scan(mid, i64::MIN, i64::MAX)?
                .map(|r| r.map(|(t, v)| (t, v.to_bits())))
                .collect::<Result<_, _>>()?;
            let m = model.get_mut(*name).unwrap();
            assert!(kept.iter().all(|(t, v)| m.get(t) == Some(v)), "retention kept only model points");
            *m = kept;
        }
        Step::Drop(name) => {
            match id(name) {
                Ok(mid) => h.drop_metric(mid)?,
                Err(Error::NotFound(_)) => {} // a failed attempt that took effect
                Err(e) => return Err(e),
            }
            model.remove(*name);
        }
        Step::Checkpoint => h.checkpoint()?,
        Step::Reopen => unreachable!(),
    }
    Ok(())
}

/// An injected failure must surface as what it is: an I/O error (or the failed state it
/// caused), never a corruption report, a panic or a bug.
fn assert_clean(e: &Error, ctx: &str) {
    let inner = match e {
        Error::Failed { cause, .. } => cause,
        e => e,
    };
    assert!(
        matches!(inner, Error::Io(_) | Error::Busy(_)),
        "{ctx}: an injected fault surfaced as {e:?}, not an I/O error"
    );
}

/// After a failed step: get the database writable again (a checkpoint ends a recoverable
/// failed state; a permanent one, or a failed close, needs a reopen). The failed step may
/// or may not have taken effect (a write logged before its sync failed is replayed), so
/// the caller checks the state once the step's retry succeeded.
fn recover(db: &mut Option<Database>, d: &Path, o: &Options, ctx: &str) {
    if let Some(h) = db.as_ref()
        && h.health().is_err()
    {
        if h.checkpoint().is_ok() {
            assert!(h.health().is_ok(), "{ctx}: a checkpoint that succeeded ends a recoverable failure");
            return;
        }
        let old = db.take().unwrap();
        if let Err((back, _)) = old.close() {
            assert!(back.is_none(), "{ctx}: no snapshot is open");
        }
    }
    if db.is_none() {
        let h = Database::open(d, o).unwrap_or_else(|e| panic!("{ctx}: reopen after the fault: {e}"));
        *db = Some(h);
    }
}

/// Run the workload with the `nth` file-system call of this thread failing with `errno`;
/// returns whether a fault was injected.
fn sweep_one(nth: u64, errno: i32, d: &Path, o: &Options) -> bool {
    let _ = std::fs::remove_dir_all(d);
    let mut model = Model::new();
    let mut injected = false;
    fault::arm(Plan::nth(nth, errno));
    let ctx = |k: usize| format!("fault #{nth} ({}) at step {k}", std::io::Error::from_raw_os_error(errno));
    // Opening (creating) the database is a step too.
    let mut db = Some(match Database::open(d, o) {
        Ok(h) => h,
        Err(e) => {
            assert_clean(&e, &ctx(0));
            injected |= fault::disarm().injected > 0;
            Database::open(d, o).unwrap_or_else(|e| panic!("{}: retry: {e}", ctx(0)))
        }
    });
    for (k, step) in WORKLOAD.iter().enumerate() {
        if let Err(e) = run(step, &mut db, d, o, &mut model) {
            assert_clean(&e, &ctx(k + 1));
            injected |= fault::disarm().injected > 0;
            recover(&mut db, d, o, &ctx(k + 1));
            run(step, &mut db, d, o, &mut model).unwrap_or_else(|e| panic!("{}: retry: {e}", ctx(k + 1)));
            verify(db.as_ref().unwrap(), &model, &format!("{}, after the retry", ctx(k + 1)));
        }
    }
    let h = db.take().unwrap();
    if let Err((_, e)) = h.close() {
        // A close can only fail from the fault (disarmed by now only if it came earlier).
        assert_clean(&e, &ctx(WORKLOAD.len() + 1));
    }
    injected |= fault::disarm().injected > 0;
    let h = Database::open(d, o).unwrap_or_else(|e| panic!("{}: final reopen: {e}", ctx(99)));
    verify(&h, &model, &format!("fault #{nth}: final reopen"));
    let r = h.check().unwrap();
    assert!(r.is_ok(), "fault #{nth}: check: {:?}", r.damage);
    h.close().map_err(|(_, e)| e).unwrap();
    injected
}

/// Every file-system call of the workload, failed in turn with each errno, under each
/// configuration.
#[test]
fn every_failed_call_fails_cleanly_and_loses_nothing() {
    let _g = serial();
    let d = tmpdir("sweep");
    let limit = std::env::var("TSDB_FAULT_SWEEP").ok().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    let (mut injected, mut runs) = (0u64, 0u64);
    for o in configs() {
        // How many calls the workload makes (on this thread).
        let _ = std::fs::remove_dir_all(&d);
        fault::arm(Plan::nth(u64::MAX, libc::EIO));
        let mut model = Model::new();
        let mut db = Some(Database::open(&d, &o).unwrap());
        for step in WORKLOAD {
            run(step, &mut db, &d, &o, &mut model).unwrap();
        }
        db.take().unwrap().close().map_err(|(_, e)| e).unwrap();
        let calls = fault::disarm().calls.min(limit);
        let mut hit = 0;
        for nth in 1..=calls + 2 {
            for errno in [libc::ENOSPC, libc::EIO, libc::EMFILE, libc::ENOMEM] {
                runs += 1;
                hit += u64::from(sweep_one(nth, errno, &d, &o));
            }
        }
        println!(
            "fault sweep ({:?}): {calls} file-system calls in the workload, {hit} faults injected",
            o.sync
        );
        // The background thread (a retention pass a setting woke, a checkpoint for dead
        // segments) may change how many calls a later step makes: a run may end before its
        // Nth call. Nearly every run must still have failed one.
        assert!(hit >= 4 * calls * 9 / 10, "{hit} faults injected in {} runs", 4 * (calls + 2));
        injected += hit;
    }
    println!("fault sweep: {runs} runs, {injected} faults injected");
    assert!(limit < u64::MAX || injected >= 1000, "the sweep injects at least 1,000 faults");
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 13, finding 1: an emptied or deleted MANIFEST beside data is damage, never a new
/// database; nothing is deleted. A directory of other files is not taken over either.
#[test]
fn a_missing_or_empty_manifest_beside_data_is_corruption() {
    let _g = serial();
    let d = tmpdir("manifest");
    let o = configs()[0].clone();
    let db = Database::open(&d, &o).unwrap();
    let id = db.create_metric("cpu").unwrap();
    db.insert_batch(id, &(0..500).collect::<Vec<_>>(), &[1.5; 500]).unwrap();
    db.close().map_err(|(_, e)| e).unwrap();
    let listing = |d: &Path| {
        let mut v: Vec<_> = walk(d).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
        v.sort();
        v
    };
    let seg = walk(&d.join("data")).pop().unwrap();
    let seg = format!("data/{}", seg.file_name().unwrap().to_str().unwrap());
    for damage in ["empty", "deleted"] {
        let good = std::fs::read(d.join("MANIFEST")).unwrap();
        if damage == "empty" {
            std::fs::write(d.join("MANIFEST"), b"").unwrap();
        } else {
            std::fs::remove_file(d.join("MANIFEST")).unwrap();
        }
        let before = listing(&d);
        match Database::open(&d, &o) {
            Err(Error::Corruption(m)) => {
                assert!(m.starts_with("MANIFEST offset 0:") && m.contains(&seg), "{m}")
            }
            other => panic!("{damage} MANIFEST: {:?}", other.map(|_| ())),
        }
        assert_eq!(listing(&d), before, "{damage} MANIFEST: the failed open changed nothing");
        std::fs::write(d.join("MANIFEST"), good).unwrap();
    }
    let db = Database::open(&d, &o).unwrap();
    assert_eq!(db.begin().scan(id, i64::MIN, i64::MAX).unwrap().count(), 500);
    db.close().map_err(|(_, e)| e).unwrap();
    // Not a database: refused, and left as it was.
    let foreign = tmpdir("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("main.c"), b"int main(void) { return 0; }\n").unwrap();
    match Database::open(&foreign, &o) {
        Err(Error::InvalidArgument(m)) => assert!(m.starts_with("not a libtsdb database"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(walk(&foreign), vec![foreign.join("main.c")]);
    for x in [&d, &foreign] {
        std::fs::remove_dir_all(x).unwrap();
    }
}

/// Every file under `d`, sorted.
fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

/// What a SIGKILL leaves: the directory's files as they are while the database is open.
fn crash_image(d: &Path, db: Database) -> PathBuf {
    let image = d.with_extension("crashed");
    let _ = std::fs::remove_dir_all(&image);
    for p in walk(d) {
        let to = image.join(p.strip_prefix(d).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&p, &to).unwrap();
    }
    drop(db);
    image
}

/// Issue 13, finding 2: a damaged or deleted older log segment is corruption naming it,
/// never skipped with later segments applied on top.
#[test]
fn a_damaged_older_log_segment_is_corruption() {
    let _g = serial();
    let d = tmpdir("oldlog");
    let o = Options { wal_segment_bytes: 16 << 10, ..configs()[1].clone() };
    let db = Database::open(&d, &o).unwrap();
    let id = db.create_metric("m").unwrap();
    for k in 0..40 {
        db.insert_batch(id, &(k * 100..k * 100 + 100).collect::<Vec<_>>(), &[2.0; 100]).unwrap();
    }
    let image = crash_image(&d, db);
    let logs: Vec<PathBuf> = walk(&image.join("wal"));
    assert!(logs.len() >= 3, "{logs:?}");
    let first = logs[0].clone();
    let name = format!("wal/{}", first.file_name().unwrap().to_str().unwrap());
    let bytes = std::fs::read(&first).unwrap();
    for damage in ["cut to its header", "deleted", "zeroed page"] {
        match damage {
            "cut to its header" => std::fs::write(&first, &bytes[..32]).unwrap(),
            "deleted" => std::fs::remove_file(&first).unwrap(),
            _ => {
                let mut b = bytes.clone();
                b[4096..8192].fill(0);
                std::fs::write(&first, b).unwrap();
            }
        }
        match Database::open(&image, &o) {
            Err(Error::Corruption(m)) => assert!(m.contains("wal/"), "{damage}: {m}"),
            other => panic!("{damage} {name}: {:?}", other.map(|_| ())),
        }
        std::fs::write(&first, &bytes).unwrap();
    }
    let db = Database::open(&image, &o).unwrap();
    assert_eq!(db.begin().scan(id, i64::MIN, i64::MAX).unwrap().count(), 4000);
    db.close().map_err(|(_, e)| e).unwrap();
    for x in [&d, &image] {
        std::fs::remove_dir_all(x).unwrap();
    }
}

/// Issue 13, finding 3: one batch of millions of points (more than a block holds) is
/// checkpointed in several blocks; the background thread lives on.
#[test]
fn one_huge_batch_checkpoints_and_the_background_goes_on() {
    let _g = serial();
    let d = tmpdir("huge");
    let o = Options::default();
    let db = Database::open(&d, &o).unwrap();
    let id = db.create_metric("big").unwrap();
    let n = 2_500_000i64; // more than twice MAX_BLOCK_POINTS
    let ts: Vec<i64> = (0..n).rev().collect(); // out of order: stays in the head until sealed
    let vals: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
    db.insert_batch(id, &ts, &vals).unwrap();
    db.checkpoint().unwrap();
    assert!(db.health().is_ok());
    let stats = db.stats().unwrap();
    assert_eq!((stats.background_errors, stats.failed), (0, false));
    db.close().map_err(|(_, e)| e).unwrap();
    let db = Database::open(&d, &o).unwrap();
    let got: Vec<i64> = db.begin().scan(id, i64::MIN, i64::MAX).unwrap().map(|r| r.unwrap().0).collect();
    assert_eq!(got.len() as i64, n);
    assert!(got.windows(2).all(|w| w[0] + 1 == w[1]));
    // More than a record can hold is refused up front, not cut short in the log.
    let too_many = vec![0i64; tsdb::MAX_BATCH_POINTS + 1]; // zero pages: never touched
    let zeros = vec![0f64; tsdb::MAX_BATCH_POINTS + 1];
    assert!(matches!(db.insert_batch(id, &too_many, &zeros), Err(Error::InvalidArgument(_))));
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// Issue 13, finding 4: a checkpoint that fails after creating its data segment (a full
/// disk) leaves nothing that blocks the next one.
#[test]
fn a_failed_checkpoint_blocks_no_later_one() {
    let _g = serial();
    let d = tmpdir("cpfail");
    let o = configs()[0].clone();
    let db = Database::open(&d, &o).unwrap();
    let id = db.create_metric("m").unwrap();
    db.insert_batch(id, &[1, 2, 3], &[1.0; 3]).unwrap();
    for (op, errno) in [(Op::Write, libc::ENOSPC), (Op::Map, libc::ENOMEM), (Op::Create, libc::EMFILE)] {
        fault::arm(Plan::nth(1, errno).only(&[op]).sticky());
        let e = db.checkpoint().unwrap_err();
        fault::disarm();
        assert!(matches!(e, Error::Io(_)), "{op:?}: {e:?}");
        assert!(db.health().is_ok(), "an explicit checkpoint's failure is the caller's, writes go on");
        db.insert(id, 4, 4.0).unwrap();
    }
    db.checkpoint().unwrap();
    db.close().map_err(|(_, e)| e).unwrap();
    let db = Database::open(&d, &o).unwrap();
    assert_eq!(db.begin().scan(id, i64::MIN, i64::MAX).unwrap().count(), 4);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// Issue 13, findings 3 and 11: a failure of background work puts the database in its
/// failed state (writes refused with the cause, stats show it); a checkpoint that succeeds
/// once the disk has room again ends it. A change stopped half way needs a reopen, and
/// closing says it wrote no checkpoint.
#[test]
fn background_failures_refuse_writes_until_a_checkpoint_succeeds() {
    let _g = serial();
    let d = tmpdir("bg");
    let o = Options { checkpoint_bytes: 1 << 16, ..Options::default() };
    let db = Database::open(&d, &o).unwrap();
    let id = db.create_metric("m").unwrap();
    // The disk is full for the background checkpoint (every data write fails).
    fault::arm(Plan::nth(1, libc::ENOSPC).only(&[Op::Write, Op::Create]).sticky().any_thread());
    let mut t = 0i64;
    let err = loop {
        match db.insert_batch(id, &(t..t + 1000).collect::<Vec<_>>(), &[0.5; 1000]) {
            Ok(()) => t += 1000,
            Err(e) => break e,
        }
        assert!(t < 50_000_000, "the background checkpoint never failed");
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let msg = err.to_string();
    assert!(matches!(&err, Error::Failed { recoverable: true, .. }), "{err:?}");
    assert!(
        msg.contains("a background checkpoint failed") && msg.contains("No space left on device"),
        "{msg}"
    );
    let s = db.stats().unwrap();
    assert!(s.failed && s.background_errors >= 1, "{s:?}");
    assert_eq!(db.health().unwrap_err(), err);
    // Room again: the background thread's next try ends the failed state.
    fault::disarm();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while db.health().is_err() {
        assert!(std::time::Instant::now() < deadline, "no retry ended the failed state");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    db.insert(id, t, 9.0).unwrap();
    db.close().map_err(|(_, e)| e).unwrap();
    let db = Database::open(&d, &o).unwrap();
    assert_eq!(db.begin().scan(id, i64::MIN, i64::MAX).unwrap().count() as i64, t + 1);
    // A range delete whose rewrite fails after it was logged: failed for good; close says so.
    fault::arm(Plan::nth(1, libc::EIO).only(&[Op::Write]).sticky());
    let e = db.delete_range(id, 0, 10).unwrap_err();
    fault::disarm();
    assert!(matches!(e, Error::Io(_)), "{e:?}");
    let refused = db.insert(id, -1, 0.0).unwrap_err();
    assert!(matches!(&refused, Error::Failed { recoverable: false, .. }), "{refused:?}");
    assert!(db.checkpoint().is_err(), "no checkpoint of a half-changed state");
    let (back, e) = db.close().unwrap_err();
    assert!(back.is_none());
    assert!(e.to_string().contains("closed without a final checkpoint"), "{e}");
    let db = Database::open(&d, &o).unwrap();
    let n = db.begin().scan(id, i64::MIN, i64::MAX).unwrap().count() as i64;
    assert_eq!(n, t + 1 - 10, "reopening replayed the logged delete");
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// Issue 13, finding 10: deleting DIR/LOCK while the database is open lets no second
/// writer in: the directory itself is locked.
#[test]
fn a_deleted_lock_file_lets_no_second_writer_in() {
    let _g = serial();
    let d = tmpdir("lock");
    let o = configs()[0].clone();
    let db = Database::open(&d, &o).unwrap();
    std::fs::remove_file(d.join("LOCK")).unwrap();
    match Database::open(&d, &o) {
        Err(Error::Busy(_)) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    db.close().map_err(|(_, e)| e).unwrap();
    Database::open(&d, &o).unwrap().close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// A failed fsync of the log (in the background, under the interval policy) refuses writes
/// until a checkpoint has made everything durable, which starts a new log segment first;
/// nothing acknowledged is lost.
#[test]
fn a_failed_log_sync_refuses_writes_until_a_checkpoint() {
    let _g = serial();
    let d = tmpdir("logsync");
    let o = Options { sync: SyncPolicy::Interval(10), wal_segment_bytes: 1 << 16, ..Options::default() };
    let db = Database::open(&d, &o).unwrap();
    let id = db.create_metric("m").unwrap();
    fault::arm(Plan::nth(1, libc::EIO).only(&[Op::Sync]).sticky().any_thread());
    let mut acked = 0i64;
    let err = loop {
        match db.insert(id, acked, acked as f64) {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    };
    assert!(err.to_string().contains("a background sync of the log failed"), "{err}");
    assert!(db.stats().unwrap().failed);
    // Still failing: the checkpoint cannot sync either, so the state stays.
    assert!(db.checkpoint().is_err() && db.health().is_err());
    let first = d.join("wal/00000001.wal"); // holds the records whose sync failed
    assert!(first.exists());
    fault::disarm();
    db.checkpoint().unwrap();
    assert!(db.health().is_ok());
    assert!(!first.exists(), "the checkpoint started a new segment and let the old one go");
    db.insert(id, acked, 0.0).unwrap();
    db.close().map_err(|(_, e)| e).unwrap();
    let db = Database::open(&d, &o).unwrap();
    assert_eq!(db.begin().scan(id, i64::MIN, i64::MAX).unwrap().count() as i64, acked + 1);
    db.close().map_err(|(_, e)| e).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}
