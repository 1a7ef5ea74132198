//! Lower scheduling priority for the threads of background inference, so that a busy write path
//! (HTTP, hashing, the group commit) gets the cores first and the back-fill runs on what is left.
//!
//! Linux only: `setpriority(PRIO_PROCESS, tid, nice)` applies to one thread there (POSIX says
//! process, Linux means thread). Elsewhere these do nothing. Raising the nice value needs no
//! privilege; lowering it again would, so a thread is only ever made nicer, never restored,
//! which is why only threads that do nothing but background inference are touched.

/// Nice value of background inference threads: the weakest claim on a CPU (a nice-19 thread
/// gets about 1.5% of a core that a nice-0 thread also wants).
pub const BACKGROUND_NICE: i32 = 19;

/// Makes the calling thread's nice value at least `nice`. Returns whether it is now that nice.
pub fn lower_current_thread(nice: i32) -> bool {
    imp::lower(None, nice)
}

/// Makes every thread of this process whose name starts with `prefix` at least `nice`; returns
/// how many are. For worker threads a library starts by itself (candle's `candle-bp-*` pool).
pub fn lower_threads_named(prefix: &str, nice: i32) -> usize {
    imp::lower_named(prefix, nice)
}

#[cfg(target_os = "linux")]
mod imp {
    use rustix::process::{Pid, getpriority_process, setpriority_process};

    pub(super) fn lower(tid: Option<Pid>, nice: i32) -> bool {
        let tid = tid.unwrap_or_else(rustix::thread::gettid);
        match getpriority_process(Some(tid)) {
            Ok(current) if current >= nice => true,
            _ => setpriority_process(Some(tid), nice).is_ok(),
        }
    }

    pub(super) fn lower_named(prefix: &str, nice: i32) -> usize {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
        tasks
            .flatten()
            .filter_map(|task| {
                let tid = task.file_name().to_str()?.parse::<i32>().ok()?;
                let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
                name.starts_with(prefix).then(|| Pid::from_raw(tid)).flatten()
            })
            .filter(|tid| lower(Some(*tid), nice))
            .count()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn lower(_tid: Option<()>, _nice: i32) -> bool {
        false
    }

    pub(super) fn lower_named(_prefix: &str, _nice: i32) -> usize {
        0
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_lowers_its_own_priority_and_only_its_own() {
        let main_nice = rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("nice");
        let lowered = std::thread::Builder::new()
            .name("vt-prio-test".to_owned())
            .spawn(move || {
                let ok = lower_current_thread((main_nice + 5).min(19));
                (ok, rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("nice"))
            })
            .expect("spawn")
            .join()
            .expect("join");
        assert_eq!(lowered, (true, (main_nice + 5).min(19)));
        let after = rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("nice");
        assert_eq!(after, main_nice);
    }

    #[test]
    fn named_threads_are_found_and_lowered() {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("vt-named-prio".to_owned())
            .spawn(move || {
                ready_tx.send(()).expect("ready");
                let _ = done_rx.recv();
                rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("nice")
            })
            .expect("spawn");
        ready_rx.recv().expect("ready");
        assert_eq!(lower_threads_named("vt-named-prio", 3), 1);
        done_tx.send(()).expect("done");
        assert!(worker.join().expect("join") >= 3);
    }
}
