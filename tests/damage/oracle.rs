//! The oracle: what a case's open, reads, check, close and reopen must show.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use tsdb::{Agg, Database, Error, MetricId, Snapshot};

use crate::cases::{Case, Expect};
use crate::image::DirImg;
use crate::script::{Model, opts};
use crate::template::{Template, seg_name};

pub type Points = Vec<(i64, u64)>;

/// What an open database shows: its metrics and each one's full scan (or the error of it).
#[derive(Debug, PartialEq)]
pub struct Observed {
    pub names: Vec<(u64, String)>,
    pub scans: BTreeMap<u64, Result<Points, String>>,
}

/// A read error is acceptable only as `Corruption`/`Io` naming one of `files`.
pub fn acceptable(e: &Error, files: &[String]) -> Result<String, String> {
    match e {
        Error::Corruption(m) | Error::Io(m) if names_one(m, files) => Ok(m.clone()),
        Error::Corruption(m) | Error::Io(m) => Err(format!("UNNAMED: error does not name {files:?}: {m}")),
        e => Err(format!("WRONG-ERROR: {e:?}")),
    }
}

pub fn names_one(msg: &str, files: &[String]) -> bool {
    files.iter().any(|f| msg.contains(f.as_str()))
}

pub fn scan(s: &Arc<Snapshot>, id: MetricId, from: i64, until: i64) -> tsdb::Result<Points> {
    let mut c = s.scan(id, from, until)?;
    let (mut ts, mut vs) = (vec![0i64; 4096], vec![0f64; 4096]);
    let mut out = Vec::new();
    loop {
        let n = c.next_batch(Some(&mut ts), Some(&mut vs))?;
        if n == 0 {
            return Ok(out);
        }
        out.extend(ts[..n].iter().zip(&vs[..n]).map(|(t, v)| (*t, v.to_bits())));
    }
}

pub fn observe(db: &Database, files: &[String]) -> Result<Observed, String> {
    let s = db.begin();
    let names: Vec<(u64, String)> = s.metrics(MetricId(0)).map(|(id, n)| (id.0, n.to_string())).collect();
    let mut scans = BTreeMap::new();
    for (id, _) in &names {
        let r = match scan(&s, MetricId(*id), i64::MIN, i64::MAX) {
            Ok(p) => Ok(p),
            Err(e) => Err(acceptable(&e, files)?),
        };
        scans.insert(*id, r);
    }
    Ok(Observed { names, scans })
}

/// Where `obs` differs from `model` (scans that failed are not compared); `None` if nowhere.
pub fn diff(model: &Model, obs: &Observed) -> Option<String> {
    let want: Vec<(u64, String)> = model.metrics.iter().map(|(id, (n, _))| (*id, n.clone())).collect();
    if want != obs.names {
        let missing: Vec<_> = want.iter().filter(|w| !obs.names.contains(w)).take(3).collect();
        let extra: Vec<_> = obs.names.iter().filter(|o| !want.contains(o)).take(3).collect();
        let code = if obs.names.len() < want.len() { "LESS-DATA" } else { "WRONG-DATA" };
        return Some(format!(
            "{code}: {} metrics, the model has {}; missing {missing:?}, unexpected {extra:?}",
            obs.names.len(),
            want.len()
        ));
    }
    for (id, (name, pts)) in &model.metrics {
        let Some(Ok(got)) = obs.scans.get(id) else { continue };
        if got.len() != pts.len() || got.iter().zip(pts).any(|(a, (t, v))| a.0 != *t || a.1 != *v) {
            let first = got
                .iter()
                .zip(pts)
                .position(|(a, (t, v))| a.0 != *t || a.1 != *v)
                .unwrap_or(got.len().min(pts.len()));
            let code = if got.len() < pts.len() { "LESS-DATA" } else { "WRONG-DATA" };
            return Some(format!(
                "{code}: metric {id} {name:?}: {} points, the model has {} (first difference at point {first})",
                got.len(),
                pts.len()
            ));
        }
    }
    None
}

/// The model a successful open must equal: the full one, or under the torn-write allowance
/// the one after ops `..p` for some `p` from the first op logged at or after the damage.
pub fn reference(t: &Template, case: &Case, obs: &Observed) -> Result<(Model, usize), String> {
    let full = &t.model;
    let Some(d) = case.torn_at else {
        return match diff(full, obs) {
            None => Ok((full.clone(), 0)),
            Some(e) => Err(format!("{e}{}", explain(t, obs))),
        };
    };
    let last = *t.wal_segs.last().unwrap();
    // Ops before k0 must all be there: their records are in earlier segments or end at or
    // before the damage.
    let k0 = (0..t.ops.len())
        .find(|&i| t.op_rec[i].is_some_and(|r| t.recs[r].seg == last && t.recs[r].end > d))
        .unwrap_or(t.ops.len());
    let mut m = Model::after(&t.ops[..k0]);
    let mut candidates = vec![(m.clone(), k0)];
    for p in k0..t.ops.len() {
        m.apply(&t.ops[p]);
        candidates.push((m.clone(), p + 1));
    }
    for (m, p) in candidates.into_iter().rev() {
        if diff(&m, obs).is_none() {
            return Ok((m, t.ops.len() - p));
        }
    }
    Err(format!(
        "{} (the torn-write allowance lets ops {k0}.. of {} go, as a suffix; no such state matches){}",
        diff(full, obs).unwrap_or_default(),
        t.ops.len(),
        explain(t, obs)
    ))
}

/// Which ops a wrong state lacks: the longest prefix of the ops whose model it equals, and
/// where the first op after it was logged.
pub fn explain(t: &Template, obs: &Observed) -> String {
    let mut m = Model::default();
    let mut best = diff(&m, obs).is_none().then_some(0);
    for (i, op) in t.ops.iter().enumerate() {
        m.apply(op);
        if diff(&m, obs).is_none() {
            best = Some(i + 1);
        }
    }
    let n = t.ops.len();
    match best {
        None => format!("; it equals the model after no prefix of the {n} ops"),
        Some(p) => {
            let at = match t.op_rec.get(p).copied().flatten() {
                Some(r) => {
                    let r = &t.recs[r];
                    format!("logged in wal/{} at offset {}, seq {}", seg_name(r.seg, "wal"), r.off, r.seq)
                }
                None => "in the checkpoint (not in the log)".into(),
            };
            format!(
                "; it equals the model after the first {p} of {n} ops: op {p} ({at}) and the {} after it are missing",
                n - p - 1
            )
        }
    }
}

pub fn model_aggs(pts: &BTreeMap<i64, u64>, from: i64, until: i64, bucket: i64) -> Vec<Agg> {
    let mut out: Vec<Agg> = Vec::new();
    let mut valued = 0u64;
    for (&t, &bits) in pts.range(from..until) {
        let v = f64::from_bits(bits);
        let k = ((t as i128 - from as i128) / bucket as i128) as i64;
        let start = from + k * bucket;
        if out.last().is_none_or(|a| a.start != start) {
            if let Some(a) = out.last_mut() {
                finish_agg(a, valued);
            }
            valued = 0;
            out.push(Agg {
                start,
                count: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                sum: 0.0,
                first: v,
                last: v,
                first_ts: t,
                last_ts: t,
            });
        }
        let a = out.last_mut().unwrap();
        a.count += 1;
        a.last = v;
        a.last_ts = t;
        if !v.is_nan() {
            valued += 1;
            a.min = a.min.min(v);
            a.max = a.max.max(v);
            a.sum += v;
        }
    }
    if let Some(a) = out.last_mut() {
        finish_agg(a, valued);
    }
    out
}

pub fn finish_agg(a: &mut Agg, valued: u64) {
    if valued == 0 {
        (a.min, a.max, a.sum) = (f64::NAN, f64::NAN, f64::NAN);
    }
}

pub fn same_f(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Aggregates agree: everything exactly, the sum too when the values add exactly in any
/// order (quarter integers), else within rounding.
pub fn agg_eq(a: &Agg, b: &Agg, exact_sum: bool) -> bool {
    let sum_ok = same_f(a.sum, b.sum)
        || (!exact_sum
            && a.sum.is_finite()
            && b.sum.is_finite()
            && (a.sum - b.sum).abs() <= 1e-9 * a.sum.abs().max(b.sum.abs()))
        || (!exact_sum && (!a.sum.is_finite() || !b.sum.is_finite()));
    a.start == b.start
        && a.count == b.count
        && a.first_ts == b.first_ts
        && a.last_ts == b.last_ts
        && a.first.to_bits() == b.first.to_bits()
        && a.last.to_bits() == b.last.to_bits()
        && same_f(a.min, b.min)
        && same_f(a.max, b.max)
        && sum_ok
}

/// Range scans and aggregates of every metric: each exact, or an error naming the file.
/// Returns whether any read failed.
pub fn queries(db: &Database, model: &Model, files: &[String]) -> Result<bool, String> {
    let s = db.begin();
    let mut failed = false;
    for (id, (name, pts)) in &model.metrics {
        let (Some((&lo, _)), Some((&hi, _))) = (pts.first_key_value(), pts.last_key_value()) else {
            continue;
        };
        let span = hi - lo + 1;
        let mut windows: Vec<(i64, i64)> =
            (0..4).map(|k| (lo + k * span / 4, lo + (k + 1) * span / 4)).collect();
        windows.push((lo + span / 2 - span / 50, lo + span / 2 + span / 50 + 1));
        for &(from, until) in &windows {
            let want: Points = pts.range(from..until).map(|(t, v)| (*t, *v)).collect();
            match scan(&s, MetricId(*id), from, until) {
                Ok(got) if got == want => {}
                Ok(got) => {
                    let code = if got.len() < want.len() { "LESS-DATA" } else { "WRONG-DATA" };
                    return Err(format!(
                        "{code}: metric {id} {name:?}: range [{from}, {until}) returned {} points, the model has {}",
                        got.len(),
                        want.len()
                    ));
                }
                Err(e) => {
                    acceptable(&e, files)?;
                    failed = true;
                }
            }
        }
        let exact_sum = pts.values().all(|&b| {
            let v = f64::from_bits(b);
            v.is_finite() && (v * 4.0).fract() == 0.0 && v.abs() < 1e9
        });
        let mid = windows[4];
        for (from, until, bucket) in
            [(lo, hi + 1, span / 7 + 1), (mid.0, mid.1, ((mid.1 - mid.0) / 5).max(1))]
        {
            let want = model_aggs(pts, from, until, bucket);
            let mut got = Vec::new();
            match s.aggregate(MetricId(*id), from, until, bucket, usize::MAX, &mut got) {
                Ok(()) => {
                    if got.len() != want.len() || got.iter().zip(&want).any(|(a, b)| !agg_eq(a, b, exact_sum))
                    {
                        let at = got.iter().zip(&want).position(|(a, b)| !agg_eq(a, b, exact_sum));
                        let code = if got.iter().map(|a| a.count).sum::<u64>()
                            < want.iter().map(|a| a.count).sum()
                        {
                            "LESS-DATA"
                        } else {
                            "WRONG-DATA"
                        };
                        return Err(format!(
                            "{code}: metric {id} {name:?}: aggregate over [{from}, {until}) by {bucket}: {} buckets, \
                             the model has {}; first difference {:?} vs {:?}",
                            got.len(),
                            want.len(),
                            at.map(|i| got[i]),
                            at.map(|i| want[i])
                        ));
                    }
                }
                Err(e) => {
                    acceptable(&e, files)?;
                    failed = true;
                }
            }
        }
    }
    Ok(failed)
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Opened with exactly the data (some reads may have failed naming the file).
    Exact {
        reads_failed: bool,
    },
    /// Opened under the torn-write allowance, `lost` trailing ops gone.
    Torn {
        lost: usize,
    },
    /// Refused, naming the file, changing nothing.
    Refused(String),
    Fail(String),
}

impl Verdict {
    pub fn encode(&self) -> String {
        match self {
            Verdict::Exact { reads_failed } => format!("exact {}", u8::from(*reads_failed)),
            Verdict::Torn { lost } => format!("torn {lost}"),
            Verdict::Refused(m) => format!("refused {}", escape(m)),
            Verdict::Fail(m) => format!("fail {}", escape(m)),
        }
    }

    pub fn decode(s: &str) -> Verdict {
        let (tag, rest) = s.split_once(' ').unwrap_or((s, ""));
        match tag {
            "exact" => Verdict::Exact { reads_failed: rest == "1" },
            "torn" => Verdict::Torn { lost: rest.parse().unwrap_or(0) },
            "refused" => Verdict::Refused(rest.to_string()),
            _ => Verdict::Fail(rest.to_string()),
        }
    }

    pub fn cell(&self) -> char {
        match self {
            Verdict::Exact { reads_failed: false } => '.',
            Verdict::Exact { reads_failed: true } => 'r',
            Verdict::Torn { .. } => 't',
            Verdict::Refused(_) => 'e',
            Verdict::Fail(_) => 'X',
        }
    }

    pub fn class(&self) -> String {
        match self {
            Verdict::Exact { reads_failed: false } => "pass: opened, exact data".into(),
            Verdict::Exact { reads_failed: true } => {
                "pass: opened, exact data, reads of the damage failed naming the file".into()
            }
            Verdict::Torn { .. } => "pass: opened under the torn-write allowance".into(),
            Verdict::Refused(_) => "pass: refused naming the file, nothing changed".into(),
            Verdict::Fail(m) => format!("FAIL {}", m.split(':').next().unwrap_or("?")),
        }
    }
}

pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Run `tsdb check DIR`: exit code and stdout + stderr.
pub fn cli_check(bin: &Path, dir: &Path) -> (i32, String) {
    let out = Command::new(bin).arg("check").arg(dir).output().expect("run tsdb");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// One case, in a directory under `scratch`.
pub fn run_case(t: &Template, case: &Case, scratch: &Path, cli: Option<&Path>) -> Verdict {
    let dir = scratch.join("db");
    let cli_dir = scratch.join("cli");
    let mut img = t.image.clone();
    case.what.apply(&mut img);
    img.write(&dir);
    if cli.is_some() {
        img.write(&cli_dir);
    }
    judge(t, case, &img, &dir, cli.map(|b| (b, cli_dir.as_path()))).unwrap_or_else(Verdict::Fail)
}

pub fn judge(
    t: &Template,
    case: &Case,
    img: &DirImg,
    dir: &Path,
    cli: Option<(&Path, &Path)>,
) -> Result<Verdict, String> {
    let files = &case.files;
    let db = match Database::open(dir, &opts()) {
        Err(e) => {
            let msg = acceptable(&e, files)?;
            let after = DirImg::read(dir);
            if after.data_files() != img.data_files() {
                let (what, created_only) = changed(img, &after);
                let code = if created_only { "FILES-CREATED" } else { "FILES-CHANGED" };
                return Err(format!(
                    "{code}: the failed open changed the directory: {what} (its error: {e})"
                ));
            }
            if case.expect == Expect::MustOpen {
                return Err(format!("REFUSED: open must succeed here: {e}"));
            }
            if let Some((bin, cdir)) = cli {
                let (code, text) = cli_check(bin, cdir);
                let want = if matches!(e, Error::Corruption(_)) { 3 } else { 1 };
                // The same message, but about the copy the command checked.
                let msg = msg.replace(&dir.display().to_string(), &cdir.display().to_string());
                if code != want || !text.contains(&msg) {
                    return Err(format!(
                        "CLI: open failed ({e}) but `tsdb check` exited {code}: {}",
                        escape(&text)
                    ));
                }
            }
            return Ok(Verdict::Refused(msg));
        }
        Ok(db) => db,
    };
    let obs = observe(&db, files)?;
    let (model, lost) = reference(t, case, &obs).map_err(|m| {
        // An open that lost data: say too which files it deleted, if any.
        let (what, _) = changed(img, &DirImg::read(dir));
        let gone: Vec<&str> = what.split(", ").filter_map(|w| w.strip_suffix(" deleted")).collect();
        if gone.is_empty() { m } else { format!("{m}; the open deleted files: {}", gone.join(", ")) }
    })?;
    let reads_failed = queries(&db, &model, files)? || obs.scans.values().any(Result::is_err);
    let report = db.check().map_err(|e| format!("CHECK: the check could not run: {e}"))?;
    let named = report.damage.iter().any(|m| names_one(m, files));
    if reads_failed || case.check_sees {
        if !named {
            return Err(format!(
                "CHECK: {} but the check reports {:?}",
                if reads_failed { "reads failed" } else { "the damage is one the check sees" },
                report.damage
            ));
        }
    } else if !report.is_ok() {
        return Err(format!("CHECK: every read was exact but the check reports {:?}", report.damage));
    }
    if let Some((bin, cdir)) = cli {
        let (code, text) = cli_check(bin, cdir);
        let agree = if report.is_ok() { code == 0 } else { code == 3 && names_one(&text, files) };
        if !agree {
            return Err(format!(
                "CLI: the check reports {} damage(s) but `tsdb check` exited {code}: {}",
                report.damage.len(),
                escape(&text)
            ));
        }
    }
    match db.close() {
        Ok(()) => {}
        Err((_, e)) => {
            acceptable(&e, files).map_err(|m| format!("CLOSE: {m}"))?;
        }
    }
    let again = Database::open(dir, &opts()).map_err(|e| format!("REOPEN: the second open failed: {e}"))?;
    let obs2 = observe(&again, files).map_err(|m| format!("REOPEN: {m}"))?;
    let same = obs2.names == obs.names
        && obs.scans.iter().zip(&obs2.scans).all(|((a, x), (b, y))| {
            a == b
                && match (x, y) {
                    (Ok(p), Ok(q)) => p == q,
                    (Err(_), Err(_)) => true,
                    _ => false,
                }
        });
    if !same {
        let d = diff(&model, &obs2).unwrap_or_else(|| "a failed read became readable or the reverse".into());
        return Err(format!("REOPEN: the second open disagrees with the first: {d}"));
    }
    let _ = again.close();
    Ok(if case.torn_at.is_some() && lost > 0 {
        Verdict::Torn { lost }
    } else {
        Verdict::Exact { reads_failed }
    })
}

/// What differs between two directory images (LOCK aside), and whether files were only
/// created (none deleted or changed).
pub fn changed(before: &DirImg, after: &DirImg) -> (String, bool) {
    let (b, a) = (before.data_files(), after.data_files());
    let mut out = Vec::new();
    let mut created_only = true;
    for (k, f) in &b {
        match a.get(k) {
            None => out.push(format!("{k} deleted")),
            Some(g) if g != f => out.push(format!("{k} changed ({} -> {} bytes)", f.len, g.len)),
            _ => continue,
        }
        created_only = false;
    }
    for k in a.keys().filter(|k| !b.contains_key(*k)) {
        out.push(format!("{k} created"));
    }
    (out.join(", "), created_only)
}
