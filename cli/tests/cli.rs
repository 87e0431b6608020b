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
    assert!(stats.contains("bytes/point") && stats.contains("snapshots    0 live"), "{stats}");
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
