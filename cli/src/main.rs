//! `tsdb`: the command-line tool of libtsdb. Creates databases and metrics, writes points
//! (one at a time or from CSV), reads them back (CSV, table or JSON) as points or bucketed
//! aggregates, deletes ranges, sets and applies retention, shows what a database holds,
//! verifies it, and runs the demo: the project's main job.
//!
//! Exit codes: 0 success, 1 error, 2 usage error, 3 damage found (`check`, or a database
//! too damaged to open).
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tsdb::{Database, Error, Options};

/// `println!` that ends the program quietly when standard output is closed (`| head`)
/// instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => { $crate::say_line(format_args!($($arg)*)) };
}

mod csvfile;
mod data;
mod demo;
mod format;
mod inspect;

/// Create, fill, query and verify libtsdb databases.
///
/// A database is a directory holding metrics (series) of (timestamp, value) points.
/// Timestamps are 64-bit integers in a unit of your choice (e.g. milliseconds since
/// 1970); values are 64-bit floats.
#[derive(Parser)]
#[command(
    name = "tsdb",
    version,
    arg_required_else_help = true,
    after_help = "Examples:\n  \
        tsdb demo /tmp/demo                           build a 10M-point database and print figures\n  \
        tsdb create mydb cpu.user                     a database with one metric\n  \
        tsdb insert mydb cpu.user 1700000000000 0.25  one point\n  \
        tsdb import mydb points.csv                   lines of metric,timestamp,value\n  \
        tsdb query mydb cpu.user - -                  every point of one metric\n  \
        tsdb query mydb cpu.user - - --bucket 60000   count, min, max, sum... per minute\n  \
        tsdb delete mydb cpu.user - 1700000000000     delete the points before a time\n  \
        tsdb retention mydb cpu.user 604800000        keep a week of cpu.user\n  \
        tsdb metrics mydb --prefix cpu.               the metrics named cpu.*\n  \
        tsdb export mydb > all.csv                    every point, in the format import reads\n  \
        tsdb stats mydb                               what the database holds\n  \
        tsdb check mydb                               verify every checksum (exit 3 on damage)\n\n\
        Exit codes: 0 success, 1 error, 2 usage error, 3 damage found."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a demo database of many series and print ingest, open, scan and size figures
    ///
    /// Writes --series x --points points of realistic gauges (hosts with CPU, memory, disk,
    /// network and temperature metrics, scraped every 10 s), one atomic batch per scrape,
    /// with a progress bar. Then closes the database, measures its size on disk, reopens
    /// it (open time), scans every series in full and runs short range queries, checking
    /// every count and sum. The database stays in DIR for `tsdb stats`, `query` or `check`.
    ///
    /// DIR must be new or empty, or a database an earlier `tsdb demo` created (it is
    /// replaced); --force also replaces another tsdb database. A directory holding other
    /// files is never touched.
    Demo(demo::DemoArgs),

    /// Create metrics (and the database directory, when it does not exist yet)
    ///
    /// Fails, creating none of them, if a metric of that name already exists.
    Create {
        /// The database directory (its parent must exist)
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Names of the metrics to create (1 to 1024 bytes of UTF-8 each)
        #[arg(value_name = "METRIC", required = true)]
        metrics: Vec<String>,
    },

    /// Insert one point into a metric
    ///
    /// A second write of the same (metric, timestamp) replaces the first.
    Insert {
        /// The database directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The metric's name
        #[arg(value_name = "METRIC")]
        metric: String,
        /// The timestamp: an integer (e.g. milliseconds since 1970)
        #[arg(value_name = "TS", allow_hyphen_values = true)]
        ts: String,
        /// The value: a number, NaN, inf or -inf
        #[arg(value_name = "VALUE", allow_hyphen_values = true)]
        value: String,
        /// Create the metric (and the database) if it does not exist
        #[arg(long)]
        create: bool,
    },

    /// Import points from a CSV file of `metric,timestamp,value` lines
    ///
    /// Each line is one point, e.g. `cpu.user,1700000000000,0.25`: timestamps are integers,
    /// values numbers (1.5, -2e-3), NaN, inf or -inf. Lines starting with # are comments; a
    /// first line `metric,timestamp,value` is a header. Metric names holding commas or quotes are quoted as in RFC 4180. The whole
    /// file is checked first: if any line is bad, each bad line is reported with its line
    /// number and nothing is imported. Missing metrics (and the database) are created.
    Import {
        /// The database directory (created when it does not exist)
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The CSV file (read twice: checked, then written; a pipe will not do)
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
    },

    /// Write points as CSV (`metric,timestamp,value`) to standard output
    ///
    /// The format `tsdb import` reads: export, then import into another database, gives
    /// the same points (values bit-exact). Metrics in the order given, else every metric
    /// in creation order; points in ascending timestamp order.
    Export {
        /// The database directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Metrics to export (default: all)
        #[arg(value_name = "METRIC")]
        metrics: Vec<String>,
        /// Only points with timestamp >= FROM
        #[arg(long, value_name = "FROM", allow_hyphen_values = true, value_parser = parse_bound)]
        from: Option<Bound>,
        /// Only points with timestamp < UNTIL
        #[arg(long, value_name = "UNTIL", allow_hyphen_values = true, value_parser = parse_bound)]
        until: Option<Bound>,
        /// Leave out the header line
        #[arg(long)]
        no_header: bool,
    },

    /// Print the points of one metric with FROM <= timestamp < UNTIL, or their aggregates
    ///
    /// FROM and UNTIL are integer timestamps, or - for no bound.
    /// JSON spells values that JSON numbers cannot hold as strings: "NaN", "inf", "-inf".
    ///
    /// With --bucket N, prints one row per non-empty bucket [FROM + k*N, FROM + (k+1)*N)
    /// instead of points: its start, the number of points, the min, max and sum of the
    /// values, the first and last values and their timestamps. NaN values are counted;
    /// min, max and sum leave them out (and are NaN when every value of the bucket is
    /// NaN); first and last are the values at first_ts and last_ts, NaN or not. With FROM
    /// -, buckets start at multiples of N (the one holding the metric's first point).
    Query {
        /// The database directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The metric's name
        #[arg(value_name = "METRIC")]
        metric: String,
        /// First timestamp included, or - for no lower bound
        #[arg(value_name = "FROM", allow_hyphen_values = true, value_parser = parse_bound)]
        from: Bound,
        /// First timestamp excluded, or - for no upper bound
        #[arg(value_name = "UNTIL", allow_hyphen_values = true, value_parser = parse_bound)]
        until: Bound,
        /// Output format
        #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
        format: QueryFormat,
        /// Print aggregates over buckets of N timestamp units instead of points
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
        bucket: Option<i64>,
    },

    /// Delete the points of one metric with FROM <= timestamp < UNTIL
    ///
    /// FROM and UNTIL are integer timestamps, or - for no bound (`- -` deletes every point
    /// of the metric; the metric itself stays). Prints how many points were removed. The
    /// disk space comes back at the checkpoint that closing the database writes.
    Delete {
        /// The database directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The metric's name
        #[arg(value_name = "METRIC")]
        metric: String,
        /// First timestamp deleted, or - for no lower bound
        #[arg(value_name = "FROM", allow_hyphen_values = true, value_parser = parse_bound)]
        from: Bound,
        /// First timestamp kept, or - for no upper bound
        #[arg(value_name = "UNTIL", allow_hyphen_values = true, value_parser = parse_bound)]
        until: Bound,
    },

    /// Set a metric's retention span, or apply retention to every metric
    ///
    /// With METRIC and SPAN: the metric keeps its sealed partitions (blocks of a few
    /// thousand points) holding points newer than its newest sealed timestamp minus SPAN
    /// (in timestamp units); older partitions are dropped, now and whenever new data seals.
    /// The setting is stored in the database. SPAN 0 returns the metric to the database's
    /// default (which the application opening it chooses; this tool's is to keep
    /// everything); a negative SPAN keeps everything whatever the default.
    ///
    /// Without them: apply every metric's retention now, and print how many partitions
    /// were dropped.
    ///
    /// A metric's newest sealed partition and its points not yet sealed are never dropped.
    Retention {
        /// The database directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The metric's name
        #[arg(value_name = "METRIC", requires = "span")]
        metric: Option<String>,
        /// The span kept, in timestamp units: > 0, 0 (the default), or < 0 (keep all)
        #[arg(value_name = "SPAN", allow_hyphen_values = true, value_parser = parse_span)]
        span: Option<i64>,
    },

    /// List the metrics of a database: id and name, in creation order
    Metrics {
        /// The database directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Only the metrics whose names start with P
        #[arg(long, value_name = "P")]
        prefix: Option<String>,
    },

    /// Show what a database holds: series, points, partitions, bytes on disk, bytes per point
    ///
    /// Also what keeps space alive while it is open: write-ahead log bytes since the last
    /// checkpoint, live snapshots and the age of the oldest, and bytes of data blocks only
    /// older snapshots still read. This tool holds no snapshot and a database is open in
    /// one process at a time, so those read 0 here unless something is wrong.
    Stats {
        /// The database directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },

    /// Verify every checksum and structural invariant of a database (exit 3 on damage)
    ///
    /// Opens the database (checking its manifest and replaying its log), then reads
    /// everything stored: both manifest superblocks and every manifest blob, every data
    /// segment header, and every block of every metric (checksums, timestamp order,
    /// counts, summaries, partition ranges, overlaps). Prints what was checked and each
    /// problem found, naming the file and offset.
    Check {
        /// The database directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum QueryFormat {
    /// Aligned columns, for reading
    Table,
    /// `timestamp,value` lines under a header (with --bucket:
    /// `start,count,min,max,sum,first,last,first_ts,last_ts`)
    Csv,
    /// One JSON object: {"metric": ..., "points": [[ts, value], ...]}, or with --bucket
    /// {"metric": ..., "bucket": N, "buckets": [{"start": ..., "count": ..., ...}, ...]}
    Json,
}

/// A range bound: a timestamp, or none (`-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bound(Option<i64>);

fn parse_span(s: &str) -> Result<i64, String> {
    s.trim().parse::<i64>().map_err(|_| {
        format!("span {s:?} is not an integer; give a span in timestamp units, 0 for the default or -1 to keep all")
    })
}

fn parse_bound(s: &str) -> Result<Bound, String> {
    if s == "-" {
        return Ok(Bound(None));
    }
    format::parse_ts(s, "timestamp")
        .map(|t| Bound(Some(t)))
        .map_err(|e| format!("{e}; give an integer timestamp, or - for no bound"))
}

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
enum Failure {
    /// Exit 1.
    Error(String),
    /// Exit 2: the arguments make no sense (clap reports the syntactic ones itself).
    Usage(String),
    /// Exit 3: the database is damaged.
    Damage(String),
}

type Outcome = Result<(), Failure>;

fn error(msg: impl Into<String>) -> Failure {
    Failure::Error(msg.into())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Create { dir, metrics } => data::create(&dir, &metrics),
        Command::Insert { dir, metric, ts, value, create } => {
            data::insert(&dir, &metric, &ts, &value, create)
        }
        Command::Import { dir, file } => data::import(&dir, &file),
        Command::Export { dir, metrics, from, until, no_header } => data::export(
            &dir,
            &metrics,
            from.unwrap_or(Bound(None)),
            until.unwrap_or(Bound(None)),
            !no_header,
        ),
        Command::Query { dir, metric, from, until, format, bucket: None } => {
            data::query(&dir, &metric, from, until, format)
        }
        Command::Query { dir, metric, from, until, format, bucket: Some(bucket) } => {
            data::query_aggregates(&dir, &metric, from, until, bucket, format)
        }
        Command::Delete { dir, metric, from, until } => data::delete(&dir, &metric, from, until),
        Command::Retention { dir, metric: Some(metric), span: Some(span) } => {
            data::set_retention(&dir, &metric, span)
        }
        Command::Retention { dir, metric: None, span: None } => data::enforce_retention(&dir),
        Command::Retention { .. } => Err(Failure::Usage("give both METRIC and SPAN, or neither".into())),
        Command::Metrics { dir, prefix } => data::list(&dir, prefix.as_deref().unwrap_or("")),
        Command::Stats { dir } => inspect::stats(&dir),
        Command::Check { dir } => inspect::check(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Error(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(m)) => {
            eprintln!("error: {m}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(Failure::Damage(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(3)
        }
    }
}

fn say_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
}

/// The first timestamp included and the first excluded, for scans.
fn range(from: Bound, until: Bound) -> Result<(i64, i64), Failure> {
    let (f, u) = (from.0.unwrap_or(i64::MIN), until.0.unwrap_or(i64::MAX));
    if f > u {
        return Err(Failure::Usage(format!("FROM ({f}) is after UNTIL ({u}): the range is empty")));
    }
    Ok((f, u))
}

/// Whether `dir` looks like a tsdb database: every opened database has a MANIFEST.
fn is_database(dir: &Path) -> bool {
    dir.join("MANIFEST").is_file()
}

/// Open the existing database in `dir`, never creating anything.
fn open_existing(dir: &Path) -> Result<Database, Failure> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(error(format!(
                "no database at {}: the directory does not exist\n  \
                 hint: create one with `tsdb create {0} METRIC...` or `tsdb import {0} FILE.csv`",
                dir.display()
            )));
        }
        Err(e) => return Err(error(format!("cannot read {}: {e}", dir.display()))),
        Ok(m) if !m.is_dir() => return Err(error(format!("{} is not a directory", dir.display()))),
        Ok(_) => {}
    }
    // Without a MANIFEST but with data or log files, the database is damaged: the library
    // says so (it never takes such a directory for a new database).
    if !is_database(dir) && !dir.join("data").exists() && !dir.join("wal").exists() {
        return Err(error(format!(
            "{} is not a tsdb database (it has no MANIFEST file)\n  \
             hint: create one with `tsdb create {0} METRIC...`",
            dir.display()
        )));
    }
    let opts = Options { create_if_missing: false, ..Options::default() };
    Database::open(dir, &opts).map_err(|e| open_failure(dir, e))
}

/// Open the database in `dir`, creating it when the directory does not exist or is
/// empty; a directory holding anything else is refused.
fn open_or_create(dir: &Path) -> Result<Database, Failure> {
    let created = match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(error(format!(
                    "cannot create the database {}: its parent directory {} does not exist",
                    dir.display(),
                    parent.display()
                )));
            }
            true
        }
        Err(e) => return Err(error(format!("cannot read {}: {e}", dir.display()))),
        Ok(m) if !m.is_dir() => return Err(error(format!("{} is not a directory", dir.display()))),
        Ok(_) if is_database(dir) => false,
        Ok(_) => {
            let empty = std::fs::read_dir(dir)
                .map_err(|e| error(format!("cannot read {}: {e}", dir.display())))?
                .next()
                .is_none();
            if !empty {
                return Err(error(format!(
                    "{} is not empty and is not a tsdb database; refusing to write into it\n  \
                     hint: give a new or empty directory",
                    dir.display()
                )));
            }
            true
        }
    };
    let db = Database::open(dir, &Options::default()).map_err(|e| open_failure(dir, e))?;
    if created {
        eprintln!("created the database {}", dir.display());
    }
    Ok(db)
}

fn open_failure(dir: &Path, e: Error) -> Failure {
    match e {
        Error::Busy(_) => error(format!(
            "the database {} is open in another process (which holds {}); try again once it has closed it",
            dir.display(),
            dir.join("LOCK").display()
        )),
        Error::Corruption(m) => {
            Failure::Damage(format!("the database {} is damaged and cannot be opened: {m}", dir.display()))
        }
        e => error(format!("cannot open the database {}: {e}", dir.display())),
    }
}

/// Close `db` (a final checkpoint: the log is folded into the data files).
fn close(db: Database) -> Outcome {
    let dir = db.path().to_owned();
    db.close().map_err(|(_, e)| {
        error(format!(
            "closing the database {} failed: {e} (nothing is lost: the next open replays the log)",
            dir.display()
        ))
    })
}
