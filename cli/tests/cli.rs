//! The `tsdb` binary, driven as a user would: outputs, files and exit codes.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("tsdb-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn tsdb(args: &[&str]) -> Run {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_tsdb")).args(args).output().unwrap();
    Run {
        code: o.status.code().expect("exited, not killed"),
        out: String::from_utf8(o.stdout).unwrap(),
        err: String::from_utf8(o.stderr).unwrap(),
    }
}

/// Run and expect exit code `code`; returns stdout.
#[track_caller]
fn ok(args: &[&str]) -> String {
    expect(args, 0).out
}

#[track_caller]
fn expect(args: &[&str], code: i32) -> Run {
    let r = tsdb(args);
    assert_eq!(r.code, code, "tsdb {args:?}\nstdout:\n{}\nstderr:\n{}", r.out, r.err);
    r
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

fn data_segment(db: &Path) -> PathBuf {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(db.join("data")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v.remove(0)
}

#[test]
fn create_insert_query_in_every_format() {
    let t = Scratch::new("query");
    let db = t.s("db");
    let out = ok(&["create", &db, "cpu.user", "mem"]);
    assert_eq!(out, "created metric \"cpu.user\" (id 1)\ncreated metric \"mem\" (id 2)\n");
    ok(&["insert", &db, "cpu.user", "1000", "0.25"]);
    ok(&["insert", &db, "cpu.user", "-5", "-inf"]);
    ok(&["insert", &db, "cpu.user", "3000", "NaN"]);
    ok(&["insert", &db, "cpu.user", "2000", "1e300"]);
    ok(&["insert", &db, "cpu.user", "1000", "0.5"]); // last write wins
    let table = ok(&["query", &db, "cpu.user", "-", "-"]);
    assert_eq!(
        table,
        "           timestamp  value\n\
         \x20                 -5  -inf\n\
         \x20               1000  0.5\n\
         \x20               2000  1e300\n\
         \x20               3000  NaN\n\
         (4 points of \"cpu.user\" in [-, -))\n"
    );
    let csv = ok(&["query", &db, "cpu.user", "0", "3000", "--format", "csv"]);
    assert_eq!(csv, "timestamp,value\n1000,0.5\n2000,1e300\n");
    let json = ok(&["query", &db, "cpu.user", "-", "-", "--format", "json"]);
    assert_eq!(
        json,
        "{\"metric\":\"cpu.user\",\"from\":null,\"until\":null,\
         \"points\":[[-5,\"-inf\"],[1000,0.5],[2000,1e300],[3000,\"NaN\"]]}\n"
    );
    let empty = ok(&["query", &db, "mem", "-", "-", "--format", "json"]);
    assert_eq!(empty, "{\"metric\":\"mem\",\"from\":null,\"until\":null,\"points\":[]}\n");
    assert!(ok(&["query", &db, "mem", "-", "-"]).ends_with("(0 points of \"mem\" in [-, -))\n"));
    assert_eq!(ok(&["metrics", &db]), "       1  cpu.user\n       2  mem\n");
    // --create makes the metric; without it a missing metric is an error with a hint.
    let r = expect(&["insert", &db, "disk", "1", "2"], 1);
    assert!(r.err.contains("no metric named \"disk\"") && r.err.contains("--create"), "{}", r.err);
    ok(&["insert", &db, "disk", "1", "2", "--create"]);
    assert_eq!(ok(&["query", &db, "disk", "-", "-", "--format", "csv"]), "timestamp,value\n1,2\n");
    // Creating an existing metric creates nothing.
    let r = expect(&["create", &db, "new", "mem"], 1);
    assert!(r.err.contains("\"mem\" (id 2) already exists"), "{}", r.err);
    assert!(!ok(&["metrics", &db]).contains("new"));
    let stats = ok(&["stats", &db]);
    assert!(stats.contains("metrics      3\n"), "{stats}");
    assert!(stats.contains("points       5 (0 in sealed partitions, 5 in heads)"), "{stats}");
    assert!(stats.contains("bytes/point"), "{stats}");
    // What keeps space alive: nothing, once this tool's own snapshots are released.
    assert!(stats.contains("\nlog          0 B written since the last checkpoint"), "{stats}");
    assert!(
        stats.contains(
            "\nsnapshots    0 live (oldest: none); 0 B of blocks kept only by snapshots older than the current state\n"
        ),
        "{stats}"
    );
}

/// A CSV file with the awkward cases: names needing quotes, a multi-line name, a name
/// starting with `#`, comments, a header, blank lines, CRLF, special values.
const AWKWARD: &str = "# exported by hand\r\nmetric,timestamp,value\r\n\
    plain,1,0.1\n\
    \"with,comma\",2,-0\n\
    \n\
    \"say \"\"hi\"\"\",3,1e-300\n\
    \"two\nlines\",4,inf\n\
    \"#hash\",5,NaN\n\
    plain,-9223372036854775808,NaN:0x7ff8000000000001\n\
    plain,9223372036854775806,  12.5  \n\
    plain,1,0.2\n";

#[test]
fn import_then_export_round_trips_byte_equal() {
    let t = Scratch::new("roundtrip");
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/node_metrics.csv");
    let awkward = t.path("awkward.csv");
    std::fs::write(&awkward, AWKWARD).unwrap();
    let (db1, db2) = (t.s("db1"), t.s("db2"));
    let out = ok(&["import", &db1, real.to_str().unwrap()]);
    assert!(out.starts_with("imported 45,000 points into 75 metrics (75 new)"), "{out}");
    let out = ok(&["import", &db1, awkward.to_str().unwrap()]);
    assert!(out.starts_with("imported 8 points into 5 metrics (5 new)"), "{out}");
    let first = ok(&["export", &db1]);
    // A header, a line per point (7: plain,1 was written twice), one name of two lines.
    assert_eq!(first.lines().count(), 1 + 45_000 + 7 + 1);
    let file = t.path("first.csv");
    std::fs::write(&file, &first).unwrap();
    ok(&["import", &db2, file.to_str().unwrap()]);
    let second = ok(&["export", &db2]);
    assert!(first == second, "export | import | export differs");
    // The awkward metrics, as export writes them (later writes of a timestamp win).
    let tail: Vec<&str> = first.lines().skip(1 + 45_000).collect();
    assert_eq!(
        tail,
        [
            "plain,-9223372036854775808,NaN:0x7ff8000000000001",
            "plain,1,0.2",
            "plain,9223372036854775806,12.5",
            "\"with,comma\",2,-0",
            "\"say \"\"hi\"\"\",3,1e-300",
            "\"two",
            "lines\",4,inf",
            "\"#hash\",5,NaN",
        ]
    );
    // Selected metrics and a time range.
    let some = ok(&["export", &db2, "plain", "#hash", "--from", "0", "--until", "9", "--no-header"]);
    assert_eq!(some, "plain,1,0.2\n\"#hash\",5,NaN\n");
    let r = expect(&["export", &db2, "plain", "nope"], 1);
    assert!(r.err.contains("no metric named \"nope\"") && r.out.is_empty(), "{}", r.err);
}

#[test]
fn import_with_a_bad_line_reports_it_and_imports_nothing() {
    let t = Scratch::new("badline");
    let db = t.s("db");
    let bad = t.path("data.csv");
    // Line 17 is bad; comments, blank lines and a quoted line break come before it.
    let mut text = String::from("# header comment\nmetric,timestamp,value\n\n\"a\nb\",1,2\n");
    for i in 0..11 {
        text.push_str(&format!("cpu,{i},{i}.5\n"));
    }
    text.push_str("cpu,100,abc\nother,5,6\n");
    assert_eq!(text.lines().position(|l| l == "cpu,100,abc"), Some(16));
    std::fs::write(&bad, &text).unwrap();
    let r = expect(&["import", &db, bad.to_str().unwrap()], 1);
    let want = format!("{}:17: value \"abc\" is not a number", bad.display());
    assert!(r.err.contains(&want), "{}", r.err);
    assert!(r.err.contains("1 bad line; nothing was imported"), "{}", r.err);
    assert!(!Path::new(&db).exists(), "no database was created");
    // Into an existing database: no point and no metric is added.
    ok(&["create", &db, "other"]);
    expect(&["import", &db, bad.to_str().unwrap()], 1);
    assert_eq!(ok(&["metrics", &db]), "       1  other\n");
    assert_eq!(ok(&["query", &db, "other", "-", "-", "--format", "csv"]), "timestamp,value\n");
    let r = expect(&["query", &db, "cpu", "-", "-"], 1);
    assert!(r.err.contains("no metric named \"cpu\""), "{}", r.err);
    // Several kinds of bad lines, each reported with its number.
    std::fs::write(&bad, "cpu,1,2\ncpu;2;3\ncpu,x,1\ncpu,1\n,1,2\n\"open,1,2\n").unwrap();
    let r = expect(&["import", &db, bad.to_str().unwrap()], 1);
    let f = bad.display();
    for want in [
        format!(
            "{f}:2: expected 3 fields (metric,timestamp,value), found 1 (fields must be separated by commas)"
        ),
        format!("{f}:3: timestamp \"x\" is not an integer"),
        format!("{f}:4: expected 3 fields (metric,timestamp,value), found 2"),
        format!("{f}:5: bad metric name: a metric name cannot be empty"),
        format!("{f}:6: field 1 opens a quote that is never closed"),
    ] {
        assert!(r.err.contains(&want), "missing {want:?} in\n{}", r.err);
    }
    assert!(r.err.contains("5 bad lines; nothing was imported"), "{}", r.err);
}

/// A database with sealed partitions on disk: 10,000 points of one metric (the default
/// partition holds 4,096), values varied enough for blocks of a few KiB.
fn sealed_db(t: &Scratch, name: &str) -> String {
    let csv = t.path(&format!("{name}.csv"));
    let mut text = String::new();
    let mut x: u64 = 12345;
    for i in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(&format!("m,{},{}\n", 1_000_000 + i * 1000, x % 1_000_000));
    }
    std::fs::write(&csv, text).unwrap();
    let db = t.s(name);
    ok(&["import", &db, csv.to_str().unwrap()]);
    db
}

#[test]
fn check_passes_on_a_fresh_database_and_fails_on_a_flipped_byte() {
    let t = Scratch::new("check");
    let db = sealed_db(&t, "db");
    let out = ok(&["check", &db]);
    assert!(out.contains("metrics      1 (each name resolves to its id)"), "{out}");
    assert!(out.contains("3 sealed partitions and 0 head extents decoded: 10,000 points"), "{out}");
    assert!(out.contains("result       ok: no damage found"), "{out}");
    // A data block (the first sealed partition) damaged: the database opens, check finds it.
    let seg = data_segment(Path::new(&db));
    flip(&seg, 32 + 300);
    let r = expect(&["check", &db], 3);
    let file = format!("data/{}", seg.file_name().unwrap().to_str().unwrap());
    assert!(r.out.contains(&format!("DAMAGE       {file} offset 32: body checksum mismatch")), "{}", r.out);
    assert!(r.out.contains("(metric \"m\" (id 1), partition 1 of 3)"), "{}", r.out);
    assert!(r.out.contains("DAMAGED: 1 problem found"), "{}", r.out);
    assert!(r.err.contains(&format!("the first: {file} offset 32")), "{}", r.err);
    // Reading the damaged partition is refused too, naming the file.
    let r = expect(&["export", &db], 3);
    assert!(r.err.contains(&format!("damaged: {file} offset 32")), "{}", r.err);

    // The manifest: one damaged superblock copy (the database opens from the other) ...
    let db = sealed_db(&t, "db2");
    let manifest = Path::new(&db).join("MANIFEST");
    flip(&manifest, 70);
    let r = expect(&["check", &db], 3);
    assert!(r.out.contains("DAMAGE       MANIFEST offset 0: superblock copy damaged"), "{}", r.out);
    // ... which the check's close rewrote; a damaged blob stops the open.
    ok(&["check", &db]);
    let len = std::fs::metadata(&manifest).unwrap().len();
    flip(&manifest, len - 30);
    let r = expect(&["check", &db], 3);
    assert!(r.err.contains("is damaged and cannot be opened: MANIFEST offset"), "{}", r.err);
}

#[test]
fn demo_with_small_sizes_finishes_and_prints_figures() {
    let t = Scratch::new("demo");
    let dir = t.s("demo");
    let out = ok(&["demo", &dir, "--series", "25", "--points", "80"]);
    for want in [
        "tsdb demo: 25 series x 80 points = 2,000 points into",
        "create     25 metrics",
        "ingest     2,000 points in ",
        "points/s",
        "on disk    ",
        "bytes per point (raw: 16)",
        "reopen     ",
        "scan       2,000 points of 25 series",
        "(every count and sum matches)",
        "ranges     10,000 queries of 60 points",
        "aggregate  25 series in 1-hour buckets (25 buckets of count/min/max/sum/first/last) in ",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let stats = ok(&["stats", &dir]);
    assert!(stats.contains("metrics      25\n") && stats.contains("points       2,000 "), "{stats}");
    ok(&["check", &dir]);
    assert_eq!(
        ok(&["query", &dir, "host0000.cpu.user_percent", "-", "-", "--format", "csv"]).lines().count(),
        81
    );
    // Series longer than a partition (4,096 points): sealed partitions are read back too.
    let sealed = t.s("sealed");
    let out = ok(&["demo", &sealed, "--series", "2", "--points", "9000"]);
    assert!(
        out.contains("points in 4 sealed partitions") && out.contains("every count and sum matches"),
        "{out}"
    );
    // 9,000 scrapes of 10 s from midnight (plus a few ms): 25 clock hours per series.
    assert!(out.contains("aggregate  2 series in 1-hour buckets (50 buckets"), "{out}");
    // An earlier demo's database is replaced.
    let again = expect(&["demo", &dir, "--series", "10", "--points", "5"], 0);
    assert!(again.err.contains("replacing the database of an earlier demo"), "{}", again.err);
    assert!(ok(&["stats", &dir]).contains("metrics      10\n"));
    // Another database only with --force; a directory of other files never.
    let other = t.s("other");
    ok(&["create", &other, "keep"]);
    let r = expect(&["demo", &other, "--series", "10", "--points", "5"], 1);
    assert!(r.err.contains("did not create") && r.err.contains("--force"), "{}", r.err);
    assert_eq!(ok(&["metrics", &other]), "       1  keep\n");
    ok(&["demo", &other, "--series", "10", "--points", "5", "--force"]);
    let files = t.path("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("notes.txt"), "mine").unwrap();
    let r = expect(&["demo", files.to_str().unwrap(), "--force", "--series", "1", "--points", "1"], 1);
    assert!(r.err.contains("is not empty and is not a tsdb database"), "{}", r.err);
    let left: Vec<_> = std::fs::read_dir(&files).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["notes.txt"]);
}

#[test]
fn usage_errors_are_helpful() {
    let t = Scratch::new("usage");
    // No command: the help, exit 2.
    let r = expect(&[], 2);
    assert!(r.err.contains("Usage: tsdb <COMMAND>") && r.err.contains("demo"), "{}", r.err);
    // Missing arguments name what is missing.
    let r = expect(&["query", "db"], 2);
    assert!(
        r.err.contains("required arguments were not provided") && r.err.contains("<METRIC>"),
        "{}",
        r.err
    );
    let r = expect(&["create", "db"], 2);
    assert!(r.err.contains("<METRIC>..."), "{}", r.err);
    // Bad values: what is wrong and what is expected.
    let r = expect(&["query", "db", "m", "yesterday", "-"], 2);
    assert!(
        r.err.contains(
            "timestamp \"yesterday\" is not an integer; give an integer timestamp, or - for no bound"
        )
    );
    let r = expect(&["query", "db", "m", "20", "10"], 2);
    assert!(r.err.contains("FROM (20) is after UNTIL (10)"), "{}", r.err);
    let r = expect(&["insert", "db", "m", "1", "abc"], 2);
    assert!(r.err.contains("VALUE \"abc\" is not a number"), "{}", r.err);
    let r = expect(&["query", "db", "m", "1", "2", "--format", "xml"], 2);
    assert!(r.err.contains("possible values: table, csv, json"), "{}", r.err);
    // A missing directory: an error (1) with a hint, and nothing created.
    let missing = t.s("missing");
    let r = expect(&["query", &missing, "m", "-", "-"], 1);
    assert!(
        r.err.contains("the directory does not exist") && r.err.contains("hint: create one"),
        "{}",
        r.err
    );
    assert!(!Path::new(&missing).exists());
    // A directory that is not a database is never written to.
    let plain = t.path("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("a.txt"), "x").unwrap();
    for args in [vec!["stats"], vec!["check"], vec!["export"], vec!["create", "m"]] {
        let mut a = vec![args[0], plain.to_str().unwrap()];
        a.extend(&args[1..]);
        let r = expect(&a, 1);
        assert!(r.err.contains("not a tsdb database"), "{a:?}: {}", r.err);
    }
    assert_eq!(std::fs::read_dir(&plain).unwrap().count(), 1);
    // A pipe cannot be imported (it is read twice).
    let r = expect(&["import", &t.s("db"), "/dev/stdin"], 1);
    assert!(r.err.contains("not a regular file"), "{}", r.err);
}

/// Points of `query ... --format csv` output.
fn points(csv: &str) -> Vec<(i64, f64)> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("timestamp,value"));
    lines
        .map(|l| {
            let (t, v) = l.split_once(',').unwrap();
            (t.parse().unwrap(), v.parse().unwrap())
        })
        .collect()
}

/// One bucket as the test computes it: start, count, min, max, sum, first, last, first_ts,
/// last_ts.
#[derive(Debug)]
struct Bucket(i64, u64, f64, f64, f64, f64, f64, i64, i64);

impl PartialEq for Bucket {
    fn eq(&self, o: &Bucket) -> bool {
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        (self.0, self.1, self.7, self.8) == (o.0, o.1, o.7, o.8)
            && [(self.2, o.2), (self.3, o.3), (self.4, o.4), (self.5, o.5), (self.6, o.6)]
                .iter()
                .all(|&(a, b)| same(a, b))
    }
}

/// Buckets of `query ... --bucket N --format csv` output.
fn buckets(csv: &str) -> Vec<Bucket> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("start,count,min,max,sum,first,last,first_ts,last_ts"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 9, "{l}");
            let v = |i: usize| f[i].parse::<f64>().unwrap();
            let t = |i: usize| f[i].parse::<i64>().unwrap();
            Bucket(t(0), f[1].parse().unwrap(), v(2), v(3), v(4), v(5), v(6), t(7), t(8))
        })
        .collect()
}

/// The buckets a fold over `pts` (ascending) gives: `[start + k*bucket, ...)` up to `until`,
/// non-empty ones only. NaN values are counted but left out of min, max and sum (NaN when a
/// bucket has no other value); first and last are the values at the ends, NaN or not.
fn fold(pts: &[(i64, f64)], start: i64, until: i64, bucket: i64) -> Vec<Bucket> {
    let mut out: Vec<(Bucket, u64)> = Vec::new();
    for &(t, v) in pts.iter().filter(|&&(t, _)| t >= start && t < until) {
        let k = (i128::from(t) - i128::from(start)) / i128::from(bucket);
        let s = (i128::from(start) + k * i128::from(bucket)) as i64;
        if out.last().is_none_or(|(b, _)| b.0 != s) {
            out.push((Bucket(s, 0, f64::INFINITY, f64::NEG_INFINITY, 0.0, v, v, t, t), 0));
        }
        let (b, valued) = out.last_mut().unwrap();
        b.1 += 1;
        if !v.is_nan() {
            b.2 = b.2.min(v);
            b.3 = b.3.max(v);
            b.4 += v;
            *valued += 1;
        }
        (b.6, b.8) = (v, t);
    }
    out.into_iter()
        .map(|(mut b, valued)| {
            if valued == 0 {
                (b.2, b.3, b.4) = (f64::NAN, f64::NAN, f64::NAN);
            }
            b
        })
        .collect()
}

#[test]
fn aggregates_match_a_fold_over_the_scanned_points() {
    let t = Scratch::new("aggregate");
    // 10,000 points (three sealed partitions), integer and half values (every sum exact in
    // any order), every 97th a NaN, one inf; then head points overwriting sealed ones and
    // following them, so that both stored summaries and decoded, merged blocks are used.
    let csv = t.path("m.csv");
    let mut text = String::new();
    let mut x: u64 = 777;
    for i in 0..10_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = match i {
            _ if i % 97 == 13 => "NaN".to_string(),
            4321 => "inf".to_string(),
            _ => {
                format!("{}.{}", (x % 2_000_000) as i64 - 1_000_000, if x.is_multiple_of(3) { 5 } else { 0 })
            }
        };
        text.push_str(&format!("m,{},{v}\n", 1_000_000 + i * 1000));
    }
    std::fs::write(&csv, text).unwrap();
    let db = t.s("db");
    ok(&["import", &db, csv.to_str().unwrap()]);
    for (ts, v) in [("1500000", "0.5"), ("5095000", "NaN"), ("7000000", "-3"), ("11000500", "42")] {
        ok(&["insert", &db, "m", ts, v]);
    }
    let pts = points(&ok(&["query", &db, "m", "-", "-", "--format", "csv"]));
    assert_eq!(pts.len(), 10_001);
    assert!(pts.iter().any(|p| p.1.is_nan()) && pts.iter().any(|p| p.1.is_infinite()));
    let first = pts[0].0;
    let max = i64::MAX.to_string();
    let min = i64::MIN.to_string();
    // (FROM, UNTIL, bucket): bucket 1 takes three pages of aggregates; the others cross
    // block edges, align to multiples (FROM -), or reach the ends of the timestamp range.
    for (from, until, bucket) in [
        ("-", "-", 1i64),
        ("-", "-", 777_777),
        ("1234567", "8765432", 100_000),
        ("-", "5000000", 3_000_000),
        ("5095000", "5096000", 1),
        ("0", "-", i64::MAX),
        (&min, "-", 4_000_000_000_000_000_000),
        ("2000000", "2000000", 10),
    ] {
        let args = ["query", &db, "m", from, until, "--bucket", &bucket.to_string(), "--format", "csv"];
        let got = buckets(&ok(&args));
        let lo = match from {
            "-" => first.div_euclid(bucket) * bucket,
            f => f.parse().unwrap(),
        };
        let hi = if until == "-" { i64::MAX } else { until.parse().unwrap() };
        let want = fold(&pts, lo, hi, bucket);
        assert!(got == want, "{args:?}: {} buckets, want {}", got.len(), want.len());
        if bucket == 1 && from == "-" {
            assert_eq!(got.len(), 10_001);
        }
    }
    // The whole range in one bucket (-: the one holding the first point) adds up to the scan.
    let one = buckets(&ok(&["query", &db, "m", "-", "-", "--bucket", &max, "--format", "csv"]));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].1, 10_001);
    assert_eq!((one[0].7, one[0].8), (1_000_000, 11_000_500));
    assert_eq!(one[0].4, f64::INFINITY);
}

#[test]
fn aggregates_in_every_format() {
    let t = Scratch::new("aggformats");
    let db = t.s("db");
    ok(&["create", &db, "g", "empty"]);
    for (ts, v) in [("10", "2"), ("11", "NaN"), ("12", "-1.5"), ("20", "NaN"), ("21", "NaN"), ("35", "inf")] {
        ok(&["insert", &db, "g", ts, v]);
    }
    assert_eq!(
        ok(&["query", &db, "g", "10", "-", "--bucket", "10"]),
        "start  count   min  max  sum  first  last  first_ts  last_ts\n\
         \x20  10      3  -1.5    2  0.5      2  -1.5        10       12\n\
         \x20  20      2   NaN  NaN  NaN    NaN   NaN        20       21\n\
         \x20  30      1   inf  inf  inf    inf   inf        35       35\n\
         (3 buckets of 10 holding 6 points of \"g\" in [10, -))\n"
    );
    assert_eq!(
        ok(&["query", &db, "g", "10", "-", "--bucket", "10", "--format", "json"]),
        "{\"metric\":\"g\",\"from\":10,\"until\":null,\"bucket\":10,\"buckets\":[\
         {\"start\":10,\"count\":3,\"min\":-1.5,\"max\":2,\"sum\":0.5,\"first\":2,\"last\":-1.5,\"first_ts\":10,\"last_ts\":12},\
         {\"start\":20,\"count\":2,\"min\":\"NaN\",\"max\":\"NaN\",\"sum\":\"NaN\",\"first\":\"NaN\",\"last\":\"NaN\",\"first_ts\":20,\"last_ts\":21},\
         {\"start\":30,\"count\":1,\"min\":\"inf\",\"max\":\"inf\",\"sum\":\"inf\",\"first\":\"inf\",\"last\":\"inf\",\"first_ts\":35,\"last_ts\":35}]}\n"
    );
    // FROM -: buckets at multiples of 4, from the one holding the first point (8).
    assert_eq!(
        ok(&["query", &db, "g", "-", "22", "--bucket", "4", "--format", "csv"]),
        "start,count,min,max,sum,first,last,first_ts,last_ts\n\
         8,2,2,2,2,2,NaN,10,11\n\
         12,1,-1.5,-1.5,-1.5,-1.5,-1.5,12,12\n\
         20,2,NaN,NaN,NaN,NaN,NaN,20,21\n"
    );
    // No points: a header and no rows, in every format.
    assert_eq!(
        ok(&["query", &db, "empty", "-", "-", "--bucket", "5"]),
        "start  count  min  max  sum  first  last  first_ts  last_ts\n\
         (0 buckets of 5 holding 0 points of \"empty\" in [-, -))\n"
    );
    assert_eq!(
        ok(&["query", &db, "empty", "-", "-", "--bucket", "5", "--format", "csv"]),
        "start,count,min,max,sum,first,last,first_ts,last_ts\n"
    );
    assert_eq!(
        ok(&["query", &db, "g", "100", "200", "--bucket", "5", "--format", "json"]),
        "{\"metric\":\"g\",\"from\":100,\"until\":200,\"bucket\":5,\"buckets\":[]}\n"
    );
    // A bucket must be a positive integer.
    let r = expect(&["query", &db, "g", "-", "-", "--bucket", "0"], 2);
    assert!(r.err.contains("0 is not in 1.."), "{}", r.err);
    let r = expect(&["query", &db, "g", "-", "-", "--bucket", "1m"], 2);
    assert!(r.err.contains("invalid value '1m' for '--bucket <N>'"), "{}", r.err);
}

#[test]
fn delete_removes_a_range_and_says_how_many_points() {
    let t = Scratch::new("delete");
    let db = sealed_db(&t, "db");
    ok(&["insert", &db, "m", "20000000", "1"]); // a head point after the sealed ones
    ok(&["create", &db, "other"]);
    ok(&["insert", &db, "other", "5000000", "7"]);
    let all = points(&ok(&["query", &db, "m", "-", "-", "--format", "csv"]));
    assert_eq!(all.len(), 10_001);
    // Across a partition boundary (the first sealed partition ends at 5,095,000).
    let inside = |lo: i64, hi: i64| all.iter().filter(|p| p.0 >= lo && p.0 < hi).count();
    let n = inside(4_000_000, 6_000_000);
    assert_eq!(n, 2000);
    assert_eq!(
        ok(&["delete", &db, "m", "4000000", "6000000"]),
        "deleted 2,000 points of \"m\" in [4000000, 6000000)\n"
    );
    let left = points(&ok(&["query", &db, "m", "-", "-", "--format", "csv"]));
    let want: Vec<_> = all.iter().filter(|p| p.0 < 4_000_000 || p.0 >= 6_000_000).copied().collect();
    assert!(left == want, "the points outside the range are untouched");
    // Again: nothing left to delete. An empty range deletes nothing.
    assert_eq!(
        ok(&["delete", &db, "m", "4000000", "6000000"]),
        "deleted 0 points of \"m\" in [4000000, 6000000)\n"
    );
    assert_eq!(
        ok(&["delete", &db, "m", "7000000", "7000000"]),
        "deleted 0 points of \"m\" in [7000000, 7000000)\n"
    );
    // Unbounded below: everything before a time, the head point included when in range.
    assert_eq!(ok(&["delete", &db, "m", "-", "3000000"]), "deleted 2,000 points of \"m\" in [-, 3000000)\n");
    assert_eq!(ok(&["delete", &db, "m", "15000000", "-"]), "deleted 1 point of \"m\" in [15000000, -)\n");
    let stats = ok(&["stats", &db]);
    assert!(stats.contains("points       6,001 ("), "{stats}");
    ok(&["check", &db]);
    // Every point of a metric: the metric stays; other metrics are untouched.
    assert_eq!(ok(&["delete", &db, "m", "-", "-"]), "deleted 6,000 points of \"m\" in [-, -)\n");
    assert_eq!(ok(&["query", &db, "m", "-", "-", "--format", "csv"]), "timestamp,value\n");
    assert_eq!(ok(&["metrics", &db]), "       1  m\n       2  other\n");
    assert_eq!(ok(&["query", &db, "other", "-", "-", "--format", "csv"]), "timestamp,value\n5000000,7\n");
    ok(&["check", &db]);
    // Mistakes.
    let r = expect(&["delete", &db, "nope", "-", "-"], 1);
    assert!(r.err.contains("no metric named \"nope\""), "{}", r.err);
    let r = expect(&["delete", &db, "m", "20", "10"], 2);
    assert!(r.err.contains("FROM (20) is after UNTIL (10)"), "{}", r.err);
    let r = expect(&["delete", &db, "m", "-"], 2);
    assert!(r.err.contains("<UNTIL>"), "{}", r.err);
}

#[test]
fn metrics_lists_all_or_those_with_a_prefix() {
    let t = Scratch::new("prefix");
    let db = t.s("db");
    // More metrics than fit on a screen, in two families and a name with multi-byte UTF-8.
    let mut names: Vec<String> = Vec::new();
    for i in 0..150 {
        names.push(format!("cpu.{i}"));
        names.push(format!("mem.{i}"));
    }
    names.push("cpü".into());
    let mut args = vec!["create", &db];
    args.extend(names.iter().map(String::as_str));
    ok(&args);
    let line = |i: usize| format!("{:>8}  {}\n", i + 1, names[i]);
    let all: String = (0..names.len()).map(line).collect();
    assert_eq!(ok(&["metrics", &db]), all);
    let cpu: String = (0..names.len()).filter(|&i| names[i].starts_with("cpu.")).map(line).collect();
    assert_eq!(cpu.lines().count(), 150);
    assert_eq!(ok(&["metrics", &db, "--prefix", "cpu."]), cpu);
    assert_eq!(ok(&["metrics", &db, "--prefix", "mem.14"]).lines().count(), 11); // mem.14, mem.140..149
    assert_eq!(ok(&["metrics", &db, "--prefix", "cp"]).lines().count(), 151);
    assert_eq!(ok(&["metrics", &db, "--prefix", "cpü"]), format!("{:>8}  cpü\n", 301));
    assert_eq!(ok(&["metrics", &db, "--prefix", ""]), all);
    let r = expect(&["metrics", &db, "--prefix", "disk"], 0);
    assert!(r.out.is_empty(), "{}", r.out);
    assert!(
        r.err.contains("no metric name starts with \"disk\" (the database has 301 metrics)"),
        "{}",
        r.err
    );
}

#[test]
fn retention_drops_old_partitions_when_set_and_when_applied() {
    let t = Scratch::new("retention");
    // 10,000 points of m, 1,000,000 + i*1000: sealed partitions of 4,096, 4,096 and 1,808
    // points, the newest sealed timestamp 10,999,000.
    let db = sealed_db(&t, "db");
    ok(&["create", &db, "keep"]);
    ok(&["insert", &db, "keep", "1", "1"]);
    assert_eq!(ok(&["retention", &db]), "dropped 0 partitions (0 points) past retention\n");
    // Keep 2,000,000: the first partition (up to 5,095,000) is older than 8,999,000 and goes;
    // the second (from 5,096,000 to 9,191,000) reaches past it and stays.
    let out = ok(&["retention", &db, "m", "2000000"]);
    assert!(out.starts_with("retention of \"m\" set to 2000000: "), "{out}");
    assert!(out.ends_with("dropped 1 partition (4,096 points) past retention\n"), "{out}");
    let pts = points(&ok(&["query", &db, "m", "-", "-", "--format", "csv"]));
    assert_eq!((pts.len(), pts[0].0), (5_904, 5_096_000));
    assert!(ok(&["stats", &db]).contains("partitions   2 sealed"));
    ok(&["check", &db]);
    // Widened to 10,000,000: nothing more to drop now (the newest sealed timestamp is
    // still 10,999,000).
    let out = ok(&["retention", &db, "m", "10000000"]);
    assert!(out.ends_with("dropped 0 partitions (0 points) past retention\n"), "{out}");
    // The setting is stored: new data sealing moves the horizon (to 20,999,000 - 10,000,000),
    // and applying retention drops the partition that fell behind it: 5,096,000 to
    // 9,191,000; the one from 9,192,000 to 10,999,000 reaches the horizon and stays. (The
    // library's background work may drop it first, after the seal or at open: then this
    // reports 0. What remains is the same either way.)
    let csv = t.path("more.csv");
    let more: String = (0..10_000).map(|i| format!("m,{},{}\n", 11_000_000 + i * 1000, i)).collect();
    std::fs::write(&csv, more).unwrap();
    ok(&["import", &db, csv.to_str().unwrap()]);
    let out = ok(&["retention", &db]);
    assert!(
        [
            "dropped 1 partition (4,096 points) past retention\n",
            "dropped 0 partitions (0 points) past retention\n"
        ]
        .contains(&out.as_str()),
        "{out}"
    );
    let pts = points(&ok(&["query", &db, "m", "-", "-", "--format", "csv"]));
    assert_eq!((pts.len(), pts[0].0), (1_808 + 10_000, 9_192_000));
    assert_eq!(ok(&["retention", &db]), "dropped 0 partitions (0 points) past retention\n");
    ok(&["check", &db]);
    // A negative span keeps everything: nothing more is dropped however old.
    let out = ok(&["retention", &db, "m", "-1"]);
    assert_eq!(
        out,
        "retention of \"m\" set to keep everything\ndropped 0 partitions (0 points) past retention\n"
    );
    assert_eq!(
        ok(&["retention", &db, "keep", "0"]).lines().next(),
        Some("retention of \"keep\" set to the database's default (this tool's: keep everything)")
    );
    assert_eq!(ok(&["query", &db, "keep", "-", "-", "--format", "csv"]), "timestamp,value\n1,1\n");
    // Mistakes.
    let r = expect(&["retention", &db, "m"], 2);
    assert!(r.err.contains("<SPAN>"), "{}", r.err);
    let r = expect(&["retention", &db, "m", "week"], 2);
    assert!(r.err.contains("span \"week\" is not an integer"), "{}", r.err);
    let r = expect(&["retention", &db, "nope", "5"], 1);
    assert!(r.err.contains("no metric named \"nope\""), "{}", r.err);
}
