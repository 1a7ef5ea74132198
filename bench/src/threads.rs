//! Where the server's own CPU went, by thread: `/proc/PID/task/*/stat` before and after a phase,
//! grouped by thread name without its number: `tokio-rt-worker` (the async runtime: requests,
//! the group commit, and the async part of jobs, indexing and rule evaluation),
//! `tokio-runtime-w` (tokio's blocking pool), `minilm-bg` / `minilm-q` (inference for the
//! back-fill and for questions), `candle-bp` (candle's own inference workers),
//! `sqlx-sqlite-wor` (one per SQLite connection: every statement runs there, whoever asked). Linux
//! only; elsewhere every figure reads as zero.
//!
//! A thread that ended during the phase (an idle blocking-pool thread, a closed SQLite
//! connection) is missing from the second sample, so its last ticks are lost: the groups are a
//! lower bound, and `unattributed` is the process total minus their sum.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;

/// Cumulative ticks of each thread of one process at one instant.
#[derive(Debug, Clone)]
pub struct ThreadSample {
    at: Instant,
    /// tid -> (name, utime + stime)
    threads: HashMap<u32, (String, u64)>,
    /// The whole process (its threads, dead ones included).
    process_ticks: u64,
}

/// Cores per group of threads over a phase (1.0 = one core the whole time).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThreadCpu {
    /// By group name, busiest first when shown.
    pub groups: BTreeMap<String, f64>,
    /// The process total minus the groups: threads that ended during the phase.
    pub unattributed: f64,
    pub process: f64,
}

/// `utime + stime` and the name from a `stat` file's text.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    // The name sits between the first '(' and the last ')' and may contain either.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(').map_or("", |(_, name)| name).to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    Some((name, field(14)? + field(15)?))
}

/// The group a thread name belongs to: the name without a trailing number (`minilm-bg-1` ->
/// `minilm-bg`, `sqlx-sqlite-worker-12` -> `sqlx-sqlite-worker`).
pub fn group_of(name: &str) -> String {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let trimmed = trimmed.trim_end_matches(['-', '_', ' ', '#']);
    if trimmed.is_empty() { name.to_owned() } else { trimmed.to_owned() }
}

impl ThreadSample {
    pub fn take(pid: u32) -> Self {
        let mut threads = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for entry in entries.flatten() {
                let Some(tid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                    continue;
                };
                if let Some(parsed) =
                    std::fs::read_to_string(entry.path().join("stat")).ok().as_deref().and_then(parse_stat)
                {
                    threads.insert(tid, parsed);
                }
            }
        }
        let process_ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parse_stat)
            .map_or(0, |(_, ticks)| ticks);
        Self { at: Instant::now(), threads, process_ticks }
    }

    /// Usage between `self` (earlier) and `later`, grouped.
    pub fn usage_until(&self, later: &ThreadSample, ticks_per_second: u64) -> ThreadCpu {
        let seconds = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let to_cores = |ticks: u64| ticks as f64 / ticks_per_second.max(1) as f64 / seconds;
        let mut groups: BTreeMap<String, u64> = BTreeMap::new();
        for (tid, (name, ticks)) in &later.threads {
            let before = self.threads.get(tid).map_or(0, |(_, ticks)| *ticks);
            let delta = ticks.saturating_sub(before);
            if delta > 0 {
                *groups.entry(group_of(name)).or_default() += delta;
            }
        }
        let attributed: u64 = groups.values().sum();
        let process_delta = later.process_ticks.saturating_sub(self.process_ticks);
        ThreadCpu {
            groups: groups.into_iter().map(|(group, ticks)| (group, to_cores(ticks))).collect(),
            unattributed: to_cores(process_delta.saturating_sub(attributed)),
            process: to_cores(process_delta),
        }
    }
}

impl ThreadCpu {
    /// E.g. `tokio-rt-worker 0.61, minilm-bg 0.20, sqlx-sqlite-wor 0.05`, busiest first, groups under
    /// 0.01 cores left out.
    pub fn describe(&self) -> String {
        let mut busiest: Vec<(&String, &f64)> = self.groups.iter().filter(|(_, cores)| **cores >= 0.01).collect();
        busiest.sort_by(|a, b| b.1.total_cmp(a.1));
        let mut parts: Vec<String> = busiest.iter().map(|(group, cores)| format!("{group} {cores:.2}")).collect();
        if self.unattributed >= 0.01 {
            parts.push(format!("ended threads {:.2}", self.unattributed));
        }
        if parts.is_empty() { "-".to_owned() } else { parts.join(", ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_drop_the_thread_number() {
        assert_eq!(group_of("minilm-bg-1"), "minilm-bg");
        assert_eq!(group_of("sqlx-sqlite-worker-12"), "sqlx-sqlite-worker");
        assert_eq!(group_of("tokio-runtime-w"), "tokio-runtime-w");
        assert_eq!(group_of("42"), "42");
    }

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let stat = "123 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 70 30 0 0 20 0 1 0 5 6 7";
        assert_eq!(parse_stat(stat), Some(("a (b) c".to_owned(), 100)));
    }
}
