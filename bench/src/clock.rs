//! Clocks of the running process and the machine's load (Linux /proc; `None`/NaN elsewhere).

use std::collections::BTreeMap;

/// CPU time of this process in seconds (Linux `/proc/self/stat`, utime +
/// stime at 100 ticks/s), so a busy shared machine does not distort the
/// one-core figure; `None` elsewhere.
pub fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0)
}

/// CPU time of the calling thread in seconds, nanosecond resolution
/// (Linux `/proc/thread-self/schedstat`: time spent running); falls back to
/// [`cpu_seconds`]. The solves are single-threaded, so this is their CPU
/// time, unaffected by other processes on a busy machine.
pub fn thread_cpu_seconds() -> Option<f64> {
    // The kernel brings a running thread's total up to date only when it is
    // scheduled: yield first, or runs shorter than a tick would read 0.
    std::thread::yield_now();
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat") {
        if let Some(ns) = s
            .split_whitespace()
            .next()
            .and_then(|x| x.parse::<u64>().ok())
        {
            return Some(ns as f64 * 1e-9);
        }
    }
    cpu_seconds()
}

/// The 1-minute load average (`/proc/loadavg`), for beside absolute times.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}


pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}

/// Run time so far of every thread of this process, ns (Linux
/// `/proc/self/task/*/schedstat`; empty elsewhere).
pub fn task_cpu_ns() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else { return out };
    for e in rd.flatten() {
        let tid = e.file_name().to_string_lossy().into_owned();
        if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
            if let Some(ns) = s.split_whitespace().next().and_then(|x| x.parse::<u64>().ok()) {
                out.insert(tid, ns);
            }
        }
    }
    out
}

