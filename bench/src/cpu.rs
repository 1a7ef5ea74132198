//! Where the CPU went during a phase, from /proc: the server process, this benchmark process,
//! every `postgres` process on the machine, and the rest of the machine (other users' builds on a
//! shared box show up there, by command name). Linux only; elsewhere every figure reads as zero.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;

/// CPU ticks of one process: its own, and its own plus those of its children it has reaped
/// (which keeps the CPU time of short-lived processes, e.g. a PostgreSQL connection that closed
/// or a compiler a build tool ran, once they are gone).
#[derive(Debug, Clone)]
struct ProcessTicks {
    comm: String,
    ppid: u32,
    own: u64,
    with_children: u64,
}

/// Cumulative counters at one instant.
#[derive(Debug, Clone)]
pub struct CpuSample {
    at: Instant,
    server_pid: Option<u32>,
    processes: HashMap<u32, ProcessTicks>,
    system_busy_ticks: u64,
    system_iowait_ticks: u64,
    system_steal_ticks: u64,
    system_total_ticks: u64,
}

/// CPU use over an interval, in cores (1.0 = one core busy the whole time).
#[derive(Debug, Clone, Serialize)]
pub struct CpuUsage {
    pub server_cores: f64,
    pub bench_cores: f64,
    pub postgres_cores: f64,
    /// Busy cores not accounted for by the three above: other processes (a build someone runs on a
    /// shared machine), kernel interrupt work, steal.
    pub other_cores: f64,
    /// The busiest other processes by command name, in cores (approximate: a process that both
    /// started and ended during the phase counts only if its parent reaped it and is still alive).
    pub other_processes: BTreeMap<String, f64>,
    /// Share of all CPU time that was busy, in percent.
    pub system_busy_percent: f64,
    /// Share of all CPU time spent idle waiting for I/O, in percent.
    pub iowait_percent: f64,
    /// Share of all CPU time the hypervisor gave to other guests, in percent.
    pub steal_percent: f64,
}

/// Clock ticks per second of /proc counters (`getconf CLK_TCK`, practically always 100).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

/// Reads /proc/PID/stat.
fn process_ticks(pid: &str) -> Option<ProcessTicks> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: it sits between the first '(' and the
    // last ')'; the numbered fields follow.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(').map_or("", |(_, comm)| comm).to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime, stime, cutime, cstime are fields 14 to 17.
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    let own = field(14)? + field(15)?;
    let ppid = u32::try_from(field(4)?).ok()?;
    Some(ProcessTicks { comm, ppid, own, with_children: own + field(16)? + field(17)? })
}

fn all_processes() -> HashMap<u32, ProcessTicks> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashMap::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let pid: u32 = name.parse().ok()?;
            Some((pid, process_ticks(&name)?))
        })
        .collect()
}

/// (busy, iowait, steal, total) ticks of all CPUs from the first line of /proc/stat.
fn system_ticks() -> (u64, u64, u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return (0, 0, 0, 0) };
    let Some(line) = stat.lines().next() else { return (0, 0, 0, 0) };
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|field| field.parse().ok()).collect();
    let get = |idx: usize| values.get(idx).copied().unwrap_or(0);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    let total = busy + get(3) + get(4);
    (busy, get(4), get(7), total)
}

impl CpuSample {
    /// Reads the counters now. `server_pid`: the server child, if one runs.
    pub fn take(server_pid: Option<u32>) -> Self {
        let (system_busy_ticks, system_iowait_ticks, system_steal_ticks, system_total_ticks) = system_ticks();
        Self {
            at: Instant::now(),
            server_pid,
            processes: all_processes(),
            system_busy_ticks,
            system_iowait_ticks,
            system_steal_ticks,
            system_total_ticks,
        }
    }

    /// Usage between `self` (earlier) and `later`.
    pub fn usage_until(&self, later: &CpuSample, ticks_per_second: u64) -> CpuUsage {
        let seconds = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let to_cores = |ticks: u64| ticks as f64 / ticks_per_second as f64 / seconds;
        let self_pid = std::process::id();
        let own_delta = |pid: Option<u32>| -> u64 {
            let Some(pid) = pid else { return 0 };
            let before = self.processes.get(&pid).map_or(0, |process| process.own);
            later.processes.get(&pid).map_or(0, |process| process.own.saturating_sub(before))
        };
        let server_ticks = own_delta(later.server_pid);
        let bench_ticks = own_delta(Some(self_pid));
        // Ticks of every process during the interval, children it reaped included...
        let mut deltas: HashMap<u32, u64> = later
            .processes
            .iter()
            .filter(|(pid, _)| Some(**pid) != later.server_pid && **pid != self_pid)
            .map(|(pid, process)| {
                // Same pid, same process (pids are not reused within seconds); its name may change.
                let before = self.processes.get(pid).map_or(0, |earlier| earlier.with_children);
                (*pid, process.with_children.saturating_sub(before))
            })
            .collect();
        // ...minus what a process that ended during the interval had used before it began: that went
        // into the reaped-children counters of its nearest ancestor still alive.
        for (pid, earlier) in &self.processes {
            if later.processes.contains_key(pid) {
                continue;
            }
            let mut ancestor = earlier.ppid;
            for _ in 0..64 {
                if let Some(delta) = deltas.get_mut(&ancestor) {
                    *delta = delta.saturating_sub(earlier.with_children);
                    break;
                }
                match self.processes.get(&ancestor) {
                    Some(process) if process.ppid != ancestor => ancestor = process.ppid,
                    _ => break,
                }
            }
        }
        let mut postgres_ticks = 0;
        let mut others: BTreeMap<String, u64> = BTreeMap::new();
        for (pid, delta) in deltas {
            let comm = later.processes.get(&pid).map_or("", |process| process.comm.as_str());
            if comm == "postgres" {
                postgres_ticks += delta;
            } else if delta > 0 {
                // Kernel workers rename themselves after their current work item.
                let name = if comm.starts_with("kworker/") { "kworker" } else { comm };
                *others.entry(name.to_owned()).or_default() += delta;
            }
        }
        let mut other_processes: Vec<(String, f64)> = others
            .into_iter()
            .map(|(comm, ticks)| (comm, to_cores(ticks)))
            .filter(|(_, cores)| *cores >= 0.05)
            .collect();
        other_processes.sort_by(|a, b| b.1.total_cmp(&a.1));
        other_processes.truncate(5);

        let (server_cores, bench_cores, postgres_cores) =
            (to_cores(server_ticks), to_cores(bench_ticks), to_cores(postgres_ticks));
        let busy_cores = to_cores(later.system_busy_ticks.saturating_sub(self.system_busy_ticks));
        let total = later.system_total_ticks.saturating_sub(self.system_total_ticks).max(1) as f64;
        let percent = |before: u64, after: u64| 100.0 * after.saturating_sub(before) as f64 / total;
        CpuUsage {
            server_cores,
            bench_cores,
            postgres_cores,
            other_cores: (busy_cores - server_cores - bench_cores - postgres_cores).max(0.0),
            other_processes: other_processes.into_iter().collect(),
            system_busy_percent: percent(self.system_busy_ticks, later.system_busy_ticks),
            iowait_percent: percent(self.system_iowait_ticks, later.system_iowait_ticks),
            steal_percent: percent(self.system_steal_ticks, later.system_steal_ticks),
        }
    }
}
