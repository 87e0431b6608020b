//! The damage matrix (issue 13, "Data safety under faults"): every file of a database ×
//! every kind of damage, on a cleanly closed and on a crashed database.
//!
//! **Templates**, built once per run from deterministic scripts of acknowledged ops:
//! `clean` (two sessions, closed: MANIFEST and two data segments, no log) and `crashed`
//! (the same, then a checkpoint and ~300 KB of logged writes in 64 KiB log segments; its
//! files copied while it is open and idle under `SyncPolicy::None`, which is what SIGKILL
//! leaves). Both hold long names (NAME blobs), metrics of more than 4 parts (INDEX and
//! CHUNK blobs) and of more than 4 head extents (an EXTENTS blob), ids past 63 (a NODE),
//! a paged block, random and NaN values, late overwrites, a dropped metric, range deletes
//! and retention settings.
//!
//! **Targets** are found in the files: the superblock copies; one live blob of each kind,
//! from the root (the last blob a commit writes) down; blocks through the manifest's
//! references (first, middle and last part block, an extent, a paged block, a block the
//! manifest does not name); log records by parsing the segments and matching them to the
//! ops (first, middle, last and next-to-last segment; their first, middle and last record,
//! the first after the checkpoint, one across a page boundary, the zeros after the last);
//! LOCK; and leftovers of interrupted steps. **Damages**: truncation (to 0, to the header,
//! to the start or end of the target, into it), a zeroed 4 KiB page or exactly the target,
//! a flipped bit (in its header, its checksum, its body), a 16-byte burst, a torn record
//! after the last one, appended garbage, delete, rename (to another number, to a foreign
//! name). A 0-byte and a missing MANIFEST are its `trunc0` and `delete`.
//!
//! **The oracle**, per case:
//! - Open fails with `Corruption` or `Io` whose message names the damaged file, and no file
//!   but LOCK was created, changed or deleted (`FILES-CREATED`, `FILES-CHANGED`); `tsdb check`
//!   fails the same way. Or:
//! - open succeeds; the metrics (ids and names) are the model's; every full scan, range scan
//!   and aggregate returns exactly the model's answer or fails with `Corruption`/`Io`
//!   naming the file (less data is `LESS-DATA`, other data `WRONG-DATA`); the check reports a
//!   problem naming the file when a read failed or a superblock copy is damaged (which it
//!   documents), and nothing otherwise; `tsdb check` agrees; after a close, a second open
//!   shows the same.
//! - Some states must open (a refusal is `REFUSED`): no damage; one damaged superblock copy
//!   (docs/format.md); bytes after the MANIFEST's end; anything done to LOCK; leftovers a
//!   crash can leave (an empty, all-zero or header-only sparse data segment or log segment
//!   after the last, an older MANIFEST in `manifest-rewrite/`); and a torn last record.
//! - The one allowance (see [`torn`]): damage to the last log segment that reaches from a
//!   bad record to the end of what the segment holds, or that empties it, may lose the ops
//!   logged from the damaged record on, as a suffix; never an op before it.
//!
//! **How it runs**: each case runs in a worker child process (this test binary again), one
//! at a time with a deadline, so that a crash (abort, SIGBUS) or a hang fails that case
//! (`CRASH`, `HANG`) and the run goes on. The run prints a line per template, the outcomes,
//! a table per template (target × damage), the failing classes and the failing cases, and
//! fails when any case fails. `oracle_catches_what_it_should` tests the oracle itself.
//!
//! Environment:
//! - `TSDB_DAMAGE_FILTER=text`: run only cases whose name contains `text` (a name is
//!   `template: target: damage`, e.g. `crashed: wal/00000006.wal (last) last record: flip-body`);
//!   several filters separated by `;` select the union.
//! - `TSDB_DAMAGE_JOBS=n`: worker processes (default: 2, or 1 on a single core).
//! - `TSDB_DAMAGE_CASE_SECS=n`: a case's deadline (default 20); past it the case is a hang.
//! - `TSDB_DAMAGE_CLI_EVERY=n`: run `tsdb check` on every n-th case too (default 1; 0: never).
//! - `TSDB_DAMAGE_KEEP=1`: keep the scratch directory, with the failing cases' directories.
//! - `TSDB_DAMAGE_LIST=1`: print every case's name and verdict, not just the failures.
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use tsdb::codec::shapes::Rng;

mod cases;
mod image;
mod oracle;
mod script;
mod template;

use cases::{Case, Damage, Expect, generate, make_case, noise};
use image::FileImg;
use oracle::{Observed, Verdict, model_aggs, reference, run_case};
use script::{Kind, Model, build_template};
use template::{Rec, Template, load_template, seg_name};

// The run: templates in the parent, cases in worker children.

const CHILD_ENV: &str = "TSDB_DAMAGE_CHILD";
const MARK: &str = "@@DMG";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn scratch_root(tag: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    base.join(format!("tsdb-damage-{tag}-{}", std::process::id()))
}

/// The `tsdb` binary next to this test's (built with `cargo build -p tsdb-cli` when it is
/// missing or older than the sources); `None` when `TSDB_DAMAGE_CLI_EVERY=0`.
fn tsdb_binary() -> Option<PathBuf> {
    if env_usize("TSDB_DAMAGE_CLI_EVERY", 1) == 0 {
        return None;
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent()?.parent()?.to_path_buf();
    let bin = profile_dir.join("tsdb");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    let newest = ["src", "cli/src", "Cargo.toml", "cli/Cargo.toml"]
        .iter()
        .map(|p| newest_mtime(&src.join(p)))
        .max()
        .flatten();
    let fresh = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .ok()
        .is_some_and(|b| newest.is_none_or(|n| b >= n));
    if !fresh {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(src).args(["build", "-q", "-p", "tsdb-cli"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo to build the tsdb binary");
        assert!(st.success() && bin.exists(), "building the tsdb binary failed");
    }
    Some(bin)
}

fn newest_mtime(p: &Path) -> Option<std::time::SystemTime> {
    let md = std::fs::metadata(p).ok()?;
    if md.is_dir() {
        std::fs::read_dir(p).ok()?.filter_map(|e| newest_mtime(&e.ok()?.path())).max()
    } else {
        md.modified().ok()
    }
}

fn load_all(root: &Path) -> Vec<Template> {
    vec![load_template(root, Kind::Clean), load_template(root, Kind::Crashed)]
}

fn selected(cases: &[Case], tpls: &[Template]) -> Vec<usize> {
    let filter = std::env::var("TSDB_DAMAGE_FILTER").unwrap_or_default();
    let parts: Vec<&str> = filter.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
    (0..cases.len())
        .filter(|&i| parts.is_empty() || parts.iter().any(|p| cases[i].name(tpls).contains(p)))
        .collect()
}

/// Child: run the case indices read from stdin, one a line, printing `@@DMG i verdict`.
fn child(root: &Path) {
    let tpls = load_all(root);
    let cases = generate(&tpls);
    let cli = std::env::var("TSDB_DAMAGE_CLI_BIN").ok().map(PathBuf::from);
    let every = env_usize("TSDB_DAMAGE_CLI_EVERY", 1);
    let scratch = root.join(format!("work-{}", std::process::id()));
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(i) = line.unwrap().trim().parse::<usize>() else { break };
        let case = &cases[i];
        let dir = scratch.join(format!("case-{i}"));
        let use_cli = cli.as_deref().filter(|_| every > 0 && (i % every == 0 || case.damage == "control"));
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_case(&tpls[case.tpl], case, &dir, use_cli)
        }));
        let v = run.unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Verdict::Fail(format!("PANIC: {}", msg.unwrap_or_default()))
        });
        let keep = std::env::var("TSDB_DAMAGE_KEEP").is_ok_and(|v| v == "1") && matches!(v, Verdict::Fail(_));
        if !keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{MARK} {i} {}", v.encode()).unwrap();
        out.flush().unwrap();
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

fn spawn_worker(root: &Path, cli: Option<&Path>, job: usize, attempt: usize) -> Worker {
    let err = std::fs::File::create(root.join(format!("worker-{job}-{attempt}.stderr"))).unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "damage_matrix", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, root)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err));
    if let Some(b) = cli {
        cmd.env("TSDB_DAMAGE_CLI_BIN", b);
    }
    let mut child = cmd.spawn().expect("spawn a worker");
    let stdin = child.stdin.take().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // (libtest's "test damage_matrix ... " may precede the first one on its line.)
            if let Some(at) = line.find(MARK)
                && tx.send(line[at..].to_string()).is_err()
            {
                break;
            }
        }
    });
    Worker { child, stdin, lines: rx }
}

/// Run the queued cases on a worker, respawning it after a crash or a hang.
fn work(
    root: &Path,
    cli: Option<&Path>,
    job: usize,
    queue: &Mutex<VecDeque<usize>>,
    results: &Mutex<BTreeMap<usize, Verdict>>,
) {
    let deadline = Duration::from_secs(env_usize("TSDB_DAMAGE_CASE_SECS", 20) as u64);
    let mut attempt = 0;
    let mut w = spawn_worker(root, cli, job, attempt);
    loop {
        let Some(i) = queue.lock().unwrap().pop_front() else { break };
        let sent = writeln!(w.stdin, "{i}").and_then(|()| w.stdin.flush());
        let got = if sent.is_ok() {
            w.lines.recv_timeout(deadline)
        } else {
            Err(mpsc::RecvTimeoutError::Disconnected)
        };
        let verdict = match got {
            Ok(line) => {
                let rest = line[MARK.len()..].trim_start();
                let (idx, v) = rest.split_once(' ').unwrap_or((rest, ""));
                assert_eq!(
                    idx.parse::<usize>().ok(),
                    Some(i),
                    "the worker answered for the case it was given"
                );
                Verdict::decode(v)
            }
            Err(e) => {
                let hang = matches!(e, mpsc::RecvTimeoutError::Timeout);
                if hang {
                    let _ = w.child.kill(); // our own child, by its handle
                }
                let status = w.child.wait().map(|s| format!("{s}")).unwrap_or_default();
                let err = std::fs::read_to_string(root.join(format!("worker-{job}-{attempt}.stderr")))
                    .unwrap_or_default();
                let tail: String = err
                    .lines()
                    .rev()
                    .take(6)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join(" / ");
                attempt += 1;
                w = spawn_worker(root, cli, job, attempt);
                if hang {
                    Verdict::Fail(format!("HANG: no verdict within {}s (worker killed)", deadline.as_secs()))
                } else {
                    Verdict::Fail(format!("CRASH: the worker died ({status}): {tail}"))
                }
            }
        };
        results.lock().unwrap().insert(i, verdict);
    }
    drop(w.stdin);
    let _ = w.child.wait();
}

/// Removes the scratch directory (templates and cases) however the test ends, unless
/// `TSDB_DAMAGE_KEEP=1` (failing cases' directories are kept for a look).
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::env::var("TSDB_DAMAGE_KEEP").is_ok_and(|v| v == "1") {
            println!("damage matrix: scratch directory kept: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn damage_matrix() {
    if let Ok(root) = std::env::var(CHILD_ENV) {
        child(Path::new(&root));
        return;
    }
    let started = Instant::now();
    let root = scratch_root("matrix");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let _cleanup = Cleanup(root.clone());
    build_template(&root, Kind::Clean);
    build_template(&root, Kind::Crashed);
    let tpls = load_all(&root);
    let built = started.elapsed();
    for t in &tpls {
        println!("{}", t.describe());
    }
    let cases = generate(&tpls);
    let chosen = selected(&cases, &tpls);
    assert!(cases.len() >= 500, "the matrix has at least 500 cases (has {})", cases.len());
    let cli = tsdb_binary();
    let jobs =
        env_usize("TSDB_DAMAGE_JOBS", std::thread::available_parallelism().map_or(1, |n| n.get().min(2)))
            .max(1);
    println!(
        "damage matrix: {} cases ({} selected), templates built in {:.1}s; {jobs} worker(s); tsdb check every {} case(s){}",
        cases.len(),
        chosen.len(),
        built.as_secs_f64(),
        env_usize("TSDB_DAMAGE_CLI_EVERY", 1),
        if cli.is_none() { " (off)" } else { "" }
    );
    let queue = Mutex::new(chosen.iter().copied().collect::<VecDeque<_>>());
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for job in 0..jobs {
            let (root, cli, queue, results) = (&root, cli.as_deref(), &queue, &results);
            s.spawn(move || work(root, cli, job, queue, results));
        }
    });
    let results = results.into_inner().unwrap();
    let failures = report(&tpls, &cases, &results);
    println!("damage matrix: {} cases in {:.1}s", results.len(), started.elapsed().as_secs_f64());
    assert_eq!(failures, 0, "{failures} damage case(s) failed (listed above)");
}

/// A target's group for the summary of failures: the file (or its role) and the kind of place.
fn group(target: &str) -> String {
    let file = target.split(' ').next().unwrap_or(target);
    let role = target.find('(').and_then(|a| Some(&target[a..=a + target[a..].find(')')?])).unwrap_or("");
    let place = if target.contains("superblock") {
        return "MANIFEST superblock".into();
    } else if target.contains("blob") {
        "blobs"
    } else if target.contains("header") {
        "header"
    } else if target.contains("record") && target.contains("after the last") {
        "after the last record"
    } else if target.contains("record") {
        "records"
    } else if target.contains("block") {
        "blocks"
    } else if file.contains('/') || file == "MANIFEST" || file == "LOCK" {
        "the file"
    } else {
        return "leftovers".into();
    };
    if file.starts_with("wal/") { format!("{file} {role} {place}") } else { format!("{file} {place}") }
}

/// The damages, with the two-letter column heads of the tables.
const DAMAGES: [(&str, &str); 18] = [
    ("control", "ok"),
    ("trunc0", "t0"),
    ("trunc-hdr", "th"),
    ("trunc-at", "ta"),
    ("trunc-end", "te"),
    ("trunc-mid", "tm"),
    ("zero-page", "zp"),
    ("zero-rec", "zr"),
    ("flip-hdr", "fh"),
    ("flip-crc", "fc"),
    ("flip-body", "fb"),
    ("burst", "bu"),
    ("torn-record", "tr"),
    ("garbage", "ga"),
    ("delete", "de"),
    ("ren-num", "rn"),
    ("ren-foreign", "rf"),
    ("leftover", "lo"),
];

fn short(d: &str) -> &'static str {
    DAMAGES.iter().find(|x| x.0 == d).map_or("??", |x| x.1)
}

/// A class of failing cases: the damages seen, how many cases, and the first case's name and
/// message.
type FailClass<'a> = (Vec<&'a str>, usize, String);

/// Print the summary, the table per template and the failures; returns the failure count.
fn report(tpls: &[Template], cases: &[Case], results: &BTreeMap<usize, Verdict>) -> usize {
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for v in results.values() {
        *classes.entry(v.class()).or_default() += 1;
    }
    println!("\noutcomes:");
    for (c, n) in &classes {
        println!("  {n:5}  {c}");
    }
    let list = std::env::var("TSDB_DAMAGE_LIST").is_ok_and(|v| v == "1");
    for (ti, t) in tpls.iter().enumerate() {
        let mine: Vec<(usize, &Case)> =
            cases.iter().enumerate().filter(|(i, c)| c.tpl == ti && results.contains_key(i)).collect();
        if mine.is_empty() {
            continue;
        }
        let damages: Vec<&str> =
            DAMAGES.iter().map(|d| d.0).filter(|d| mine.iter().any(|(_, c)| c.damage == *d)).collect();
        let mut targets: Vec<&str> = Vec::new();
        for (_, c) in &mine {
            if !targets.contains(&c.target.as_str()) {
                targets.push(&c.target);
            }
        }
        let width = targets.iter().map(|t| t.len()).max().unwrap_or(0);
        println!(
            "\n{} template: '.' exact data, 'r' exact with reads of the damage failing (naming the file), \
             't' torn-write allowance, 'e' refused naming the file, 'X' FAIL",
            t.kind.name()
        );
        println!("  {:width$} {}", "", damages.iter().map(|d| format!(" {}", short(d))).collect::<String>());
        for target in &targets {
            let cells: String = damages
                .iter()
                .map(|d| {
                    let c = mine
                        .iter()
                        .find(|(_, c)| c.target == *target && c.damage == *d)
                        .map_or(' ', |(i, _)| results[i].cell());
                    format!("  {c}")
                })
                .collect();
            println!("  {target:width$} {cells}");
        }
    }
    println!("\ncolumns: {}", DAMAGES.iter().map(|(d, s)| format!("{s} {d}")).collect::<Vec<_>>().join(", "));
    // Failing classes: (template, group of targets, failure code), with the damages and the
    // first message.
    let mut groups: BTreeMap<(usize, String, String), FailClass<'_>> = BTreeMap::new();
    for (i, v) in results {
        if let Verdict::Fail(m) = v {
            let c = &cases[*i];
            let code = m.split(':').next().unwrap_or("?").to_string();
            let g = groups
                .entry((c.tpl, group(&c.target), code))
                .or_insert_with(|| (Vec::new(), 0, format!("{}: {m}", c.name(tpls))));
            if !g.0.contains(&c.damage) {
                g.0.push(c.damage);
            }
            g.1 += 1;
        }
    }
    if !groups.is_empty() {
        println!(
            "\nfailing classes (template: targets: failure, count, damages; the first case and its message):"
        );
    }
    for ((tpl, g, code), (damages, n, first)) in &groups {
        println!("  {}: {g}: {code} x{n} [{}]\n      {first}", tpls[*tpl].kind.name(), damages.join(" "));
    }
    let mut failures = 0;
    println!();
    for (i, v) in results {
        let name = cases[*i].name(tpls);
        if let Verdict::Fail(m) = v {
            failures += 1;
            println!("FAIL {name}\n     {m}");
        } else if list {
            println!("ok   {name}: {v:?}");
        }
    }
    failures
}

/// The harness itself: the allowance is exactly as wide as the rules say, and the oracle
/// rejects less data, other data and a loss before the damage.
#[test]
fn oracle_catches_what_it_should() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    // File images against a plain byte vector.
    let mut rng = Rng::new(5, 0);
    let mut plain: Vec<u8> = Vec::new();
    let mut img = FileImg::default();
    for _ in 0..300 {
        let off = rng.below(20_000);
        match rng.below(3) {
            0 => {
                let data = noise(rng.next_u64(), rng.below(9000) as usize);
                let end = off as usize + data.len();
                if plain.len() < end {
                    plain.resize(end, 0);
                }
                plain[off as usize..end].copy_from_slice(&data);
                img.write(off, &data);
            }
            1 => {
                let n = rng.below(6000) as usize;
                let end = (off as usize + n).min(plain.len());
                if (off as usize) < end {
                    plain[off as usize..end].fill(0);
                    img.write(off, &vec![0; end - off as usize]);
                }
            }
            _ => {
                let len = off.min(plain.len() as u64);
                plain.truncate(len as usize);
                img.truncate(len);
            }
        }
        assert_eq!(img.read(0, img.len), plain);
        assert_eq!(img, FileImg::from_bytes(&plain), "the same bytes, the same image");
        let z = rng.below(plain.len() as u64 + 1);
        assert_eq!(img.zero_from(z), plain[z as usize..].iter().all(|&b| b == 0));
    }

    let root = scratch_root("oracle");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let _cleanup = Cleanup(root.clone());
    build_template(&root, Kind::Crashed);
    let t = load_template(&root, Kind::Crashed);
    let observed = |m: &Model| Observed {
        names: m.metrics.iter().map(|(id, (n, _))| (*id, n.clone())).collect(),
        scans: m
            .metrics
            .iter()
            .map(|(id, (_, p))| (*id, Ok(p.iter().map(|(t, v)| (*t, *v)).collect())))
            .collect(),
    };
    let n = t.ops.len();
    let last = *t.wal_segs.last().unwrap();
    let last_name = format!("wal/{}", seg_name(last, "wal"));
    let recs: Vec<&Rec> = t.recs.iter().filter(|r| r.seg == last).collect();
    let case = |what: Damage| make_case(&t, 1, "x", "x", what, vec![last_name.clone()], Expect::ExactOrError);
    let fails = |c: &Case, m: &Model, code: &str| {
        let e = reference(&t, c, &observed(m)).map(|_| ()).unwrap_err();
        assert!(e.starts_with(code), "{code} expected: {e}");
    };
    let before = |k: usize| Model::after(&t.ops[..k]);

    // No allowance: exactly the model.
    let none = case(Damage::None);
    assert_eq!(reference(&t, &none, &observed(&t.model)).unwrap().1, 0);
    fails(&none, &before(n - 1), "LESS-DATA");
    let mut other = t.model.clone();
    let pts = &mut other.metrics.get_mut(&1).unwrap().1;
    let (&ts, &v) = pts.iter().nth(100).unwrap();
    pts.insert(ts, v ^ 1);
    fails(&none, &other, "WRONG-DATA");

    // A flipped bit in the last record: it (and only it) may go.
    let r = recs[recs.len() - 1];
    let c = case(Damage::Xor(last_name.clone(), r.off + 30, vec![1]));
    assert_eq!((c.torn_at, c.expect), (Some(r.off + 30), Expect::MustOpen));
    assert_eq!(reference(&t, &c, &observed(&t.model)).unwrap().1, 0);
    assert_eq!(reference(&t, &c, &observed(&before(n - 1))).unwrap().1, 1);
    fails(&c, &before(n - 2), "LESS-DATA");
    // A bad record in the middle, valid ones after it: no allowance.
    let mid = recs[recs.len() / 2];
    let c = case(Damage::Xor(last_name.clone(), mid.off + 30, vec![1]));
    assert_eq!(c.torn_at, None);
    fails(&c, &before(n - 1), "LESS-DATA");
    // A zeroed tail from the middle record on: the ops from there may go, not one before.
    let c = case(Damage::Zero(last_name.clone(), mid.off, t.image.files[&last_name].len - mid.off));
    let k = t
        .op_rec
        .iter()
        .position(|&x| x.is_some_and(|i| t.recs[i].seg == last && t.recs[i].off == mid.off))
        .unwrap();
    assert_eq!(c.torn_at, Some(mid.off));
    assert_eq!(reference(&t, &c, &observed(&before(k))).unwrap().1, n - k);
    assert_eq!(reference(&t, &c, &observed(&before(k + 1))).unwrap().1, n - k - 1);
    fails(&c, &before(k - 1), "LESS-DATA");
    // Truncation: only to 0 bytes (a segment created, its header never written).
    assert_eq!(case(Damage::Truncate(last_name.clone(), mid.off + 5)).torn_at, None);
    assert_eq!(case(Damage::Truncate(last_name.clone(), 0)).torn_at, Some(0));
    assert_eq!(case(Damage::Delete(last_name.clone())).torn_at, None);
    // Not the last segment: never.
    let prev = format!("wal/{}", seg_name(t.wal_segs[t.wal_segs.len() - 2], "wal"));
    let tail = t.recs.iter().rfind(|r| format!("wal/{}", seg_name(r.seg, "wal")) == prev).unwrap().end;
    assert_eq!(case(Damage::Write(prev, tail, vec![1; 24])).torn_at, None);
    // Aggregates of the model: every point once, NaNs counted but not summed.
    let p: BTreeMap<i64, u64> =
        [(0, 1.0f64), (5, f64::NAN), (10, 2.0), (25, 4.0)].iter().map(|(t, v)| (*t, v.to_bits())).collect();
    let a = model_aggs(&p, 0, 30, 10);
    assert_eq!(a.iter().map(|a| (a.start, a.count)).collect::<Vec<_>>(), vec![(0, 2), (10, 1), (20, 1)]);
    assert_eq!((a[0].sum, a[0].last.is_nan(), a[0].max), (1.0, true, 1.0));
}
