//! Helpers shared by the benchmark programs (`mod common;` in each): number formatting,
//! medians, and what the other processes and this thread got of the machine's CPUs.
#![allow(dead_code)] // each program uses its own subset

pub mod capi;

/// Three significant digits, no exponent.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

pub fn human(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}K", n / 1_000)
    } else {
        n.to_string()
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU time counters, to tell how busy the machine was with other processes.
#[derive(Clone, Copy)]
pub struct CpuTimes {
    /// All CPUs: total and busy (non-idle) ticks, from /proc/stat.
    pub total: u64,
    pub busy: u64,
    /// This process (all threads, plus waited-for children), from /proc/self/stat.
    pub own: u64,
}

impl CpuTimes {
    pub fn now() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let f: Vec<u64> =
            stat.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal [guest guest_nice, included in user]
        let total: u64 = f.iter().take(8).sum();
        let idle = f.get(3)? + f.get(4)?;
        let me = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after = &me[me.rfind(')')? + 2..];
        let g: Vec<u64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
        // Fields 14..=17 of proc(5): utime stime cutime cstime; `after` starts at field 3.
        let own = g.get(11)? + g.get(12)? + g.get(13)? + g.get(14)?;
        Some(CpuTimes { total, busy: total - idle, own })
    }

    /// Share of the machine's CPU time used by other processes since `self` (0..1).
    pub fn others_since(&self) -> Option<f64> {
        let now = CpuTimes::now()?;
        let total = now.total.checked_sub(self.total)?;
        if total == 0 {
            return None;
        }
        let others = (now.busy - self.busy).saturating_sub(now.own - self.own);
        Some(others as f64 / total as f64)
    }
}

/// (on-CPU ns, runnable-but-waiting ns) of the calling thread, from /proc/thread-self/schedstat.
pub fn thread_sched_ns() -> Option<(u64, u64)> {
    let st = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut f = st.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some((f.next()??, f.next()??))
}
