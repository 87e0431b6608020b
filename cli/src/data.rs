//! Commands that write and read points: create, insert, import, export, query (points or
//! aggregates), delete, retention, metrics.
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use tsdb::{Agg, Batch, Database, Error, MetricId, Snapshot};

use crate::csvfile::{self, Record};
use crate::format::{self, fmt_value, json_str, json_value, parse_ts, parse_value};
use crate::{Bound, Failure, Outcome, QueryFormat, close, error, open_existing, open_or_create, range};

/// Points read per cursor call.
const READ_BATCH: usize = 4096;
/// Buckets read per aggregate call.
const AGG_PAGE: usize = 4096;
/// Points per atomic batch when importing.
const IMPORT_BATCH: usize = 50_000;
/// Bad lines of a CSV file reported one by one; the rest are counted.
const MAX_BAD_LINES: usize = 20;

pub fn create(dir: &Path, names: &[String]) -> Outcome {
    for name in names {
        check_name(name).map_err(|e| Failure::Usage(format!("metric {name:?}: {e}")))?;
    }
    let db = open_or_create(dir)?;
    let result = (|| {
        let snap = db.begin();
        let taken: Vec<String> = names
            .iter()
            .filter_map(|n| snap.lookup(n).ok().map(|id| format!("{n:?} (id {})", id.0)))
            .collect();
        drop(snap);
        if !taken.is_empty() {
            return Err(error(format!(
                "metric{} {} already exist{} in {}; nothing was created",
                if taken.len() > 1 { "s" } else { "" },
                taken.join(", "),
                if taken.len() > 1 { "" } else { "s" },
                dir.display()
            )));
        }
        let mut seen = HashMap::new();
        for name in names {
            if seen.insert(name.as_str(), ()).is_some() {
                continue; // named twice on the command line: created once
            }
            let id =
                db.create_metric(name).map_err(|e| error(format!("cannot create metric {name:?}: {e}")))?;
            say!("created metric {name:?} (id {})", id.0);
        }
        Ok(())
    })();
    let closed = close(db);
    result.and(closed)?;
    Ok(())
}

pub fn insert(dir: &Path, metric: &str, ts: &str, value: &str, create: bool) -> Outcome {
    check_name(metric).map_err(|e| Failure::Usage(format!("metric {metric:?}: {e}")))?;
    let ts = parse_ts(ts, "TS").map_err(Failure::Usage)?;
    let value = parse_value(value).map_err(|e| Failure::Usage(e.replacen("value", "VALUE", 1)))?;
    let db = if create { open_or_create(dir)? } else { open_existing(dir)? };
    let result = (|| {
        let found = db.begin().lookup(metric);
        let id = match found {
            Ok(id) => id,
            Err(Error::NotFound(_)) if create => {
                let id = db
                    .create_metric(metric)
                    .map_err(|e| error(format!("cannot create metric {metric:?}: {e}")))?;
                eprintln!("created metric {metric:?} (id {})", id.0);
                id
            }
            Err(Error::NotFound(_)) => return Err(no_metric(&db, dir, metric, true)),
            Err(e) => return Err(error(format!("cannot look up metric {metric:?}: {e}"))),
        };
        db.insert(id, ts, value).map_err(|e| error(format!("cannot insert into {metric:?}: {e}")))
    })();
    let closed = close(db);
    result.and(closed)?;
    Ok(())
}

/// The "no such metric" error, with a hint.
fn no_metric(db: &Database, dir: &Path, metric: &str, suggest_create: bool) -> Failure {
    let n = db.begin().metric_count();
    let mut m = format!("no metric named {metric:?} in {} (it has {n} metric{})", dir.display(), plural(n));
    if suggest_create {
        m.push_str("\n  hint: add --create to create it");
    }
    if n > 0 {
        m.push_str(&format!("\n  hint: `tsdb metrics {}` lists them", dir.display()));
    }
    error(m)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a metric name cannot be empty".into());
    }
    if name.len() > tsdb::MAX_NAME_LEN {
        return Err(format!(
            "the name is {} bytes long; at most {} are allowed",
            name.len(),
            tsdb::MAX_NAME_LEN
        ));
    }
    Ok(())
}

/// One good line of a CSV file.
struct Point<'a> {
    metric: &'a str,
    ts: i64,
    value: f64,
}

/// Parse one CSV record: `metric,timestamp,value`.
fn parse_record(rec: &Record) -> Result<Point<'_>, String> {
    if let Some(e) = &rec.error {
        return Err(e.clone());
    }
    if rec.len() != 3 {
        let mut m = format!("expected 3 fields (metric,timestamp,value), found {}", rec.len());
        if rec.len() == 1 && rec.get(0).iter().any(|&b| b == b';' || b == b'\t') {
            m.push_str(" (fields must be separated by commas)");
        }
        return Err(m);
    }
    let metric = std::str::from_utf8(rec.get(0)).map_err(|_| "metric name is not valid UTF-8".to_string())?;
    check_name(metric).map_err(|e| format!("bad metric name: {e}"))?;
    let text = |i: usize, what: &str| {
        std::str::from_utf8(rec.get(i))
            .map_err(|_| format!("{what} {:?} is not valid UTF-8", String::from_utf8_lossy(rec.get(i))))
    };
    let ts = parse_ts(text(1, "timestamp")?, "timestamp")?;
    let value = parse_value(text(2, "value")?)?;
    Ok(Point { metric, ts, value })
}

fn is_header(rec: &Record) -> bool {
    rec.len() == 3
        && rec.error.is_none()
        && ["metric", "timestamp", "value"]
            .iter()
            .zip((0..3).map(|i| rec.get(i)))
            .all(|(want, got)| std::str::from_utf8(got).is_ok_and(|g| g.trim().eq_ignore_ascii_case(want)))
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{binary_bytes}}/{{binary_total_bytes}} {{binary_bytes_per_sec}} eta {{eta}}"
        ))
        .expect("a valid template")
        .progress_chars("=> "),
    );
    pb
}

/// Go through the CSV file `path`, calling `each` with every good point; bad lines are
/// reported to `bad` with their line number and reason.
fn read_csv(
    path: &Path,
    pb: &ProgressBar,
    mut each: impl FnMut(Point<'_>) -> Result<(), Failure>,
    mut bad: impl FnMut(u64, String),
) -> Result<(), Failure> {
    let file = File::open(path).map_err(|e| error(format!("cannot open {}: {e}", path.display())))?;
    let mut rdr = csvfile::Reader::new(BufReader::with_capacity(1 << 16, file));
    let mut rec = Record::default();
    let mut first = true;
    let mut n = 0u64;
    while rdr.next(&mut rec).map_err(|e| error(format!("cannot read {}: {e}", path.display())))? {
        if std::mem::take(&mut first) && is_header(&rec) {
            continue;
        }
        match parse_record(&rec) {
            Ok(p) => each(p)?,
            Err(reason) => bad(rec.line, reason),
        }
        n += 1;
        if n.is_multiple_of(16384) {
            pb.set_position(rdr.position());
        }
    }
    pb.set_position(rdr.position());
    Ok(())
}

pub fn import(dir: &Path, path: &Path) -> Outcome {
    let md = std::fs::metadata(path).map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    if !md.is_file() {
        return Err(error(format!(
            "{} is not a regular file: import reads its file twice (first to check every line, then to \
             write), so it cannot read a pipe; save the data to a file first",
            path.display()
        )));
    }
    let label = path.display().to_string();
    // Pass 1: check every line; remember the metrics in order of first appearance.
    let start = Instant::now();
    let pb = progress(md.len(), "checking ");
    let mut names: Vec<String> = Vec::new();
    let mut known: HashSet<String> = HashSet::new();
    let (mut points, mut bad_lines) = (0u64, 0u64);
    read_csv(
        path,
        &pb,
        |p| {
            points += 1;
            if !known.contains(p.metric) {
                known.insert(p.metric.to_owned());
                names.push(p.metric.to_owned());
            }
            Ok(())
        },
        |line, reason| {
            bad_lines += 1;
            if bad_lines as usize <= MAX_BAD_LINES {
                pb.suspend(|| eprintln!("{label}:{line}: {reason}"));
            }
        },
    )?;
    pb.finish_and_clear();
    if bad_lines > 0 {
        if bad_lines as usize > MAX_BAD_LINES {
            eprintln!("{label}: ... and {} more bad lines", bad_lines - MAX_BAD_LINES as u64);
        }
        return Err(error(format!(
            "{label} has {bad_lines} bad line{}; nothing was imported",
            if bad_lines == 1 { "" } else { "s" }
        )));
    }
    if points == 0 {
        return Err(error(format!("{label} holds no points (only comments, a header or blank lines)")));
    }
    drop(known);
    // Pass 2: create the missing metrics, then write the points in atomic batches.
    let db = open_or_create(dir)?;
    let result = write_points(&db, path, &label, &names, md.len(), points);
    let closed = close(db);
    let (new_metrics, written) = result?;
    closed?;
    let took = start.elapsed();
    say!(
        "imported {} points into {} metric{} ({} new) from {label} in {} ({})",
        format::count(written),
        format::count(names.len() as u64),
        plural(names.len() as u64),
        format::count(new_metrics),
        format::secs(took),
        format::rate(written, took)
    );
    Ok(())
}

/// The write pass of `import`; returns the metrics created and the points written.
fn write_points(
    db: &Database,
    path: &Path,
    label: &str,
    names: &[String],
    len: u64,
    expected: u64,
) -> Result<(u64, u64), Failure> {
    let mut ids: HashMap<&str, MetricId> = HashMap::with_capacity(names.len());
    let mut new_metrics = 0;
    {
        let snap = db.begin();
        for name in names {
            let id = match snap.lookup(name) {
                Ok(id) => id,
                Err(_) => {
                    new_metrics += 1;
                    db.create_metric(name)
                        .map_err(|e| error(format!("cannot create metric {name:?}: {e}")))?
                }
            };
            ids.insert(name, id);
        }
    }
    let pb = progress(len, "importing");
    let mut batch = Batch::new();
    let mut written = 0u64;
    let stopped = |written: u64, why: String| {
        error(format!(
            "import stopped after {} of {} points: {why}; the points before it were written",
            format::count(written),
            format::count(expected)
        ))
    };
    read_csv(
        path,
        &pb,
        |p| {
            let Some(&id) = ids.get(p.metric) else {
                return Err(stopped(written, format!("{label} changed while it was imported")));
            };
            batch.add(id, p.ts, p.value);
            if batch.len() >= IMPORT_BATCH {
                let n = batch.len() as u64;
                db.commit(&mut batch).map_err(|e| stopped(written, e.to_string()))?;
                written += n;
            }
            Ok(())
        },
        // Every line passed the first pass; a bad one now means the file changed, which
        // the count below reports.
        |_, _| {},
    )?;
    if !batch.is_empty() {
        let n = batch.len() as u64;
        db.commit(&mut batch).map_err(|e| stopped(written, e.to_string()))?;
        written += n;
    }
    pb.finish_and_clear();
    if written != expected {
        return Err(error(format!(
            "{label} changed while it was imported: {} points written, {} checked",
            format::count(written),
            format::count(expected)
        )));
    }
    Ok((new_metrics, written))
}

/// Standard output for bulk writes: a broken pipe (`| head`) ends the command quietly.
struct Out<W: Write>(W);

fn write_failed(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    error(format!("cannot write to standard output: {e}"))
}

impl<W: Write> Out<W> {
    fn line(&mut self, s: std::fmt::Arguments<'_>) -> Outcome {
        self.0.write_fmt(s).and_then(|()| self.0.write_all(b"\n")).map_err(write_failed)
    }
}

/// Look up every name (all metrics when none is given), before anything is written.
fn resolve(
    db: &Database,
    snap: &Snapshot,
    dir: &Path,
    names: &[String],
) -> Result<Vec<(MetricId, String)>, Failure> {
    if names.is_empty() {
        return Ok(snap.metrics(MetricId(0)).map(|(id, n)| (id, n.to_owned())).collect());
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        match snap.lookup(name) {
            Ok(id) => out.push((id, name.clone())),
            Err(_) => return Err(no_metric(db, dir, name, false)),
        }
    }
    Ok(out)
}

/// Read every point of `id` in `[from, until)`, batch by batch.
fn scan(
    snap: &Arc<Snapshot>,
    id: MetricId,
    name: &str,
    from: i64,
    until: i64,
    mut each: impl FnMut(&[i64], &[f64]) -> Outcome,
) -> Outcome {
    let mut cursor = snap.scan(id, from, until).map_err(|e| error(format!("cannot scan {name:?}: {e}")))?;
    let (mut ts, mut vals) = (vec![0i64; READ_BATCH], vec![0f64; READ_BATCH]);
    loop {
        let n = cursor.next_batch(Some(&mut ts), Some(&mut vals)).map_err(|e| read_failure(name, e))?;
        if n == 0 {
            return Ok(());
        }
        each(&ts[..n], &vals[..n])?;
    }
}

/// A failed read of metric `name`: damage (exit 3) or another error.
fn read_failure(name: &str, e: Error) -> Failure {
    match e {
        Error::Corruption(m) => Failure::Damage(format!("the database is damaged: {m} (reading {name:?})")),
        e => error(format!("cannot read {name:?}: {e}")),
    }
}

/// Aggregate metric `id` over `[from, until)` in buckets of `bucket`, page by page (the
/// library returns at most a page of non-empty buckets per call; the next call starts at
/// the bucket after the page's last).
fn aggregates(
    snap: &Snapshot,
    id: MetricId,
    name: &str,
    from: i64,
    until: i64,
    bucket: i64,
    mut each: impl FnMut(&[Agg]) -> Outcome,
) -> Outcome {
    let mut page = Vec::with_capacity(AGG_PAGE);
    let mut lo = from;
    loop {
        page.clear();
        snap.aggregate(id, lo, until, bucket, AGG_PAGE, &mut page).map_err(|e| read_failure(name, e))?;
        if page.is_empty() {
            return Ok(());
        }
        each(&page)?;
        if page.len() < AGG_PAGE {
            return Ok(());
        }
        match page[AGG_PAGE - 1].start.checked_add(bucket) {
            Some(next) if next < until => lo = next,
            _ => return Ok(()),
        }
    }
}

/// The points of metric `id` in `[from, until)`, counted from aggregates of one bucket
/// spanning the range (a range wider than `i64::MAX` takes at most three buckets).
fn count_points(snap: &Snapshot, id: MetricId, name: &str, from: i64, until: i64) -> Result<u64, Failure> {
    if from >= until {
        return Ok(0);
    }
    let bucket = (i128::from(until) - i128::from(from)).min(i128::from(i64::MAX)) as i64;
    let mut n = 0;
    aggregates(snap, id, name, from, until, bucket, |page| {
        n += page.iter().map(|a| a.count).sum::<u64>();
        Ok(())
    })?;
    Ok(n)
}

pub fn export(dir: &Path, names: &[String], from: Bound, until: Bound, header: bool) -> Outcome {
    let (from, until) = range(from, until)?;
    let db = open_existing(dir)?;
    let result = (|| {
        let snap = db.begin();
        let metrics = resolve(&db, &snap, dir, names)?;
        let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        if header {
            out.write_all(b"metric,timestamp,value\n").map_err(write_failed)?;
        }
        let mut line = Vec::with_capacity(256);
        for (id, name) in &metrics {
            let mut quoted = Vec::new();
            csvfile::write_field(&mut quoted, name.as_bytes());
            scan(&snap, *id, name, from, until, |ts, vals| {
                line.clear();
                for (&t, &v) in ts.iter().zip(vals) {
                    line.extend_from_slice(&quoted);
                    writeln!(line, ",{t},{}", fmt_value(v)).expect("writing to memory");
                }
                out.write_all(&line).map_err(write_failed)
            })?;
        }
        out.flush().map_err(write_failed)
    })();
    let closed = close(db);
    result.and(closed)
}

pub fn query(dir: &Path, metric: &str, from: Bound, until: Bound, format: QueryFormat) -> Outcome {
    let (lo, hi) = range(from, until)?;
    let db = open_existing(dir)?;
    let result = (|| {
        let snap = db.begin();
        let id = snap.lookup(metric).map_err(|_| no_metric(&db, dir, metric, false))?;
        let mut out = Out(BufWriter::with_capacity(1 << 16, std::io::stdout().lock()));
        let mut n = 0u64;
        match format {
            QueryFormat::Table => {
                out.line(format_args!("{:>20}  value", "timestamp"))?;
                scan(&snap, id, metric, lo, hi, |ts, vals| {
                    n += ts.len() as u64;
                    ts.iter()
                        .zip(vals)
                        .try_for_each(|(t, v)| out.line(format_args!("{t:>20}  {}", fmt_value(*v))))
                })?;
                out.line(format_args!(
                    "({} point{} of {metric:?} in {})",
                    format::count(n),
                    plural(n),
                    range_text(from, until)
                ))?;
            }
            QueryFormat::Csv => {
                out.line(format_args!("timestamp,value"))?;
                scan(&snap, id, metric, lo, hi, |ts, vals| {
                    ts.iter().zip(vals).try_for_each(|(t, v)| out.line(format_args!("{t},{}", fmt_value(*v))))
                })?;
            }
            QueryFormat::Json => {
                let bound = |b: Bound| b.0.map_or("null".to_string(), |t| t.to_string());
                out.0
                    .write_all(
                        format!(
                            "{{\"metric\":{},\"from\":{},\"until\":{},\"points\":[",
                            json_str(metric),
                            bound(from),
                            bound(until)
                        )
                        .as_bytes(),
                    )
                    .map_err(write_failed)?;
                scan(&snap, id, metric, lo, hi, |ts, vals| {
                    for (t, v) in ts.iter().zip(vals) {
                        let sep = if n == 0 { "" } else { "," };
                        n += 1;
                        write!(out.0, "{sep}[{t},{}]", json_value(*v)).map_err(write_failed)?;
                    }
                    Ok(())
                })?;
                out.line(format_args!("]}}"))?;
            }
        }
        out.0.flush().map_err(write_failed)
    })();
    let closed = close(db);
    result.and(closed)
}

/// `[from, until)` as the query output spells it: `[1000, -)`.
fn range_text(from: Bound, until: Bound) -> String {
    let b = |b: Bound| b.0.map_or("-".into(), |t| t.to_string());
    format!("[{}, {})", b(from), b(until))
}

/// Where buckets start when FROM is `-`: the multiple of `bucket` at or below the first
/// point before `until` (`None`: no point).
fn first_bucket(
    snap: &Arc<Snapshot>,
    id: MetricId,
    name: &str,
    until: i64,
    bucket: i64,
) -> Result<Option<i64>, Failure> {
    let mut cursor =
        snap.scan(id, i64::MIN, until).map_err(|e| error(format!("cannot scan {name:?}: {e}")))?;
    let mut ts = [0i64; 1];
    if cursor.next_batch(Some(&mut ts), None).map_err(|e| read_failure(name, e))? == 0 {
        return Ok(None);
    }
    let aligned = i128::from(ts[0]).div_euclid(i128::from(bucket)) * i128::from(bucket);
    Ok(Some(aligned.max(i128::from(i64::MIN)) as i64))
}

/// The columns of an aggregate row, as text.
const AGG_COLUMNS: [&str; 9] =
    ["start", "count", "min", "max", "sum", "first", "last", "first_ts", "last_ts"];

fn agg_cells(a: &Agg) -> [String; 9] {
    [
        a.start.to_string(),
        a.count.to_string(),
        fmt_value(a.min),
        fmt_value(a.max),
        fmt_value(a.sum),
        fmt_value(a.first),
        fmt_value(a.last),
        a.first_ts.to_string(),
        a.last_ts.to_string(),
    ]
}

pub fn query_aggregates(
    dir: &Path,
    metric: &str,
    from: Bound,
    until: Bound,
    bucket: i64,
    format: QueryFormat,
) -> Outcome {
    let (lo, hi) = range(from, until)?;
    let db = open_existing(dir)?;
    let result = (|| {
        let snap = db.begin();
        let id = snap.lookup(metric).map_err(|_| no_metric(&db, dir, metric, false))?;
        let start = match from.0 {
            Some(_) => Some(lo),
            None => first_bucket(&snap, id, metric, hi, bucket)?,
        };
        let pages = |each: &mut dyn FnMut(&[Agg]) -> Outcome| match start {
            Some(s) => aggregates(&snap, id, metric, s, hi, bucket, each),
            None => Ok(()),
        };
        let mut out = Out(BufWriter::with_capacity(1 << 16, std::io::stdout().lock()));
        match format {
            QueryFormat::Table => {
                // Columns as wide as the widest cell so far: the header takes the first
                // page's widths, later pages can only widen them.
                let mut widths = AGG_COLUMNS.map(str::len);
                let (mut buckets, mut points) = (0u64, 0u64);
                let mut header = false;
                let mut row = String::new();
                pages(&mut |page: &[Agg]| {
                    let cells: Vec<[String; 9]> = page.iter().map(agg_cells).collect();
                    for c in &cells {
                        for (w, cell) in widths.iter_mut().zip(c) {
                            *w = (*w).max(cell.chars().count());
                        }
                    }
                    if !std::mem::replace(&mut header, true) {
                        out.line(format_args!("{}", table_row(&mut row, &widths, AGG_COLUMNS.iter())))?;
                    }
                    for (c, a) in cells.iter().zip(page) {
                        buckets += 1;
                        points += a.count;
                        out.line(format_args!("{}", table_row(&mut row, &widths, c.iter())))?;
                    }
                    Ok(())
                })?;
                if !header {
                    out.line(format_args!("{}", table_row(&mut row, &widths, AGG_COLUMNS.iter())))?;
                }
                out.line(format_args!(
                    "({} bucket{} of {bucket} holding {} point{} of {metric:?} in {})",
                    format::count(buckets),
                    plural(buckets),
                    format::count(points),
                    plural(points),
                    range_text(from, until)
                ))?;
            }
            QueryFormat::Csv => {
                out.line(format_args!("{}", AGG_COLUMNS.join(",")))?;
                pages(&mut |page: &[Agg]| {
                    page.iter().try_for_each(|a| out.line(format_args!("{}", agg_cells(a).join(","))))
                })?;
            }
            QueryFormat::Json => {
                let bound = |b: Bound| b.0.map_or("null".to_string(), |t| t.to_string());
                write!(
                    out.0,
                    "{{\"metric\":{},\"from\":{},\"until\":{},\"bucket\":{bucket},\"buckets\":[",
                    json_str(metric),
                    bound(from),
                    bound(until)
                )
                .map_err(write_failed)?;
                let mut n = 0u64;
                pages(&mut |page: &[Agg]| {
                    for a in page {
                        let sep = if n == 0 { "" } else { "," };
                        n += 1;
                        write!(
                            out.0,
                            "{sep}{{\"start\":{},\"count\":{},\"min\":{},\"max\":{},\"sum\":{},\
                             \"first\":{},\"last\":{},\"first_ts\":{},\"last_ts\":{}}}",
                            a.start,
                            a.count,
                            json_value(a.min),
                            json_value(a.max),
                            json_value(a.sum),
                            json_value(a.first),
                            json_value(a.last),
                            a.first_ts,
                            a.last_ts
                        )
                        .map_err(write_failed)?;
                    }
                    Ok(())
                })?;
                out.line(format_args!("]}}"))?;
            }
        }
        out.0.flush().map_err(write_failed)
    })();
    let closed = close(db);
    result.and(closed)
}

/// One table row into `buf`: every cell right-aligned to its column's width, two spaces
/// between columns.
fn table_row<'b, S: AsRef<str>>(
    buf: &'b mut String,
    widths: &[usize],
    cells: impl IntoIterator<Item = S>,
) -> &'b str {
    buf.clear();
    for (i, (cell, &w)) in cells.into_iter().zip(widths).enumerate() {
        let cell = cell.as_ref();
        if i > 0 {
            buf.push_str("  ");
        }
        buf.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.chars().count())));
        buf.push_str(cell);
    }
    buf
}

pub fn delete(dir: &Path, metric: &str, from: Bound, until: Bound) -> Outcome {
    let (lo, hi) = range(from, until)?;
    let db = open_existing(dir)?;
    let result = (|| {
        let snap = db.begin();
        let id = snap.lookup(metric).map_err(|_| no_metric(&db, dir, metric, false))?;
        let before = count_points(&snap, id, metric, lo, hi)?;
        // Released first: a snapshot begun before the delete would keep the deleted
        // blocks alive past the close's checkpoint.
        drop(snap);
        db.delete_range(id, lo, hi).map_err(|e| error(format!("cannot delete from {metric:?}: {e}")))?;
        let after = count_points(&db.begin(), id, metric, lo, hi)?;
        let removed = before.saturating_sub(after);
        say!(
            "deleted {} point{} of {metric:?} in {}",
            format::count(removed),
            plural(removed),
            range_text(from, until)
        );
        Ok(())
    })();
    let closed = close(db);
    result.and(closed)
}

/// Sealed partitions and points of the database now.
fn partitions_and_points(db: &Database) -> Result<(u64, u64), Failure> {
    db.stats()
        .map(|s| (s.partitions, s.points))
        .map_err(|e| error(format!("cannot read the statistics: {e}")))
}

/// "N partitions (P points)" dropped between `before` and `after`.
fn dropped(before: (u64, u64), after: (u64, u64)) -> String {
    let (parts, points) = (before.0.saturating_sub(after.0), before.1.saturating_sub(after.1));
    format!(
        "{} partition{} ({} point{})",
        format::count(parts),
        plural(parts),
        format::count(points),
        plural(points)
    )
}

pub fn set_retention(dir: &Path, metric: &str, span: i64) -> Outcome {
    let db = open_existing(dir)?;
    let result = (|| {
        let id = db.begin().lookup(metric).map_err(|_| no_metric(&db, dir, metric, false))?;
        // Counted from the database's figures rather than `enforce_retention`'s result:
        // the setting wakes the library's background work, which may drop some of the
        // partitions first.
        let before = partitions_and_points(&db)?;
        db.set_retention(id, span)
            .map_err(|e| error(format!("cannot set the retention of {metric:?}: {e}")))?;
        db.enforce_retention().map_err(|e| error(format!("cannot apply retention: {e}")))?;
        let after = partitions_and_points(&db)?;
        match span {
            0 => say!("retention of {metric:?} set to the database's default (this tool's: keep everything)"),
            s if s < 0 => say!("retention of {metric:?} set to keep everything"),
            s => say!(
                "retention of {metric:?} set to {s}: its sealed partitions whose points are all older than its newest sealed timestamp minus {s} are dropped"
            ),
        }
        say!("dropped {} past retention", dropped(before, after));
        Ok(())
    })();
    let closed = close(db);
    result.and(closed)
}

pub fn enforce_retention(dir: &Path) -> Outcome {
    let db = open_existing(dir)?;
    let result = (|| {
        let before = partitions_and_points(&db)?;
        db.enforce_retention().map_err(|e| error(format!("cannot apply retention: {e}")))?;
        let after = partitions_and_points(&db)?;
        say!("dropped {} past retention", dropped(before, after));
        Ok(())
    })();
    let closed = close(db);
    result.and(closed)
}

pub fn list(dir: &Path, prefix: &str) -> Outcome {
    let db = open_existing(dir)?;
    let result = (|| {
        let snap = db.begin();
        let mut out = Out(BufWriter::new(std::io::stdout().lock()));
        let mut n = 0u64;
        for (id, name) in snap.metrics(MetricId(0)).filter(|(_, name)| name.starts_with(prefix)) {
            n += 1;
            out.line(format_args!("{:>8}  {name}", id.0))?;
        }
        out.0.flush().map_err(write_failed)?;
        if n == 0 && !prefix.is_empty() {
            eprintln!(
                "no metric name starts with {prefix:?} (the database has {} metrics)",
                snap.metric_count()
            );
        }
        Ok(())
    })();
    let closed = close(db);
    result.and(closed)
}
