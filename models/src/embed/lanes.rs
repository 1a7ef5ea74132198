//! Two lanes for local inference: interactive (a question being asked) before background (the
//! back-fill).
//!
//! With one pool, a question's single text queued behind whatever back-fill batches were already
//! in it: minutes, when the back-fill was busy. Now each lane has its own rayon pool, so a
//! question starts at once, and the background lane steps aside between its (small) batches
//! while a question is being embedded, so the question has the cores to itself after at most one
//! batch.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::EmbedError;
use crate::priority::BACKGROUND_NICE;

/// How often a waiting background batch looks whether the questions are done.
const YIELD_POLL: Duration = Duration::from_millis(2);

/// The longest a background batch waits for questions before it runs anyway, so a steady stream
/// of questions slows the back-fill down but never stops it.
const MAX_YIELD: Duration = Duration::from_secs(2);

pub(crate) struct Lanes {
    interactive: rayon::ThreadPool,
    background: rayon::ThreadPool,
    /// Interactive calls being run now.
    interactive_in_flight: AtomicUsize,
    /// Whether candle's own worker threads were found and made nicer.
    candle_pool_lowered: AtomicBool,
}

impl Lanes {
    /// Both lanes with `threads` threads each: each may use every core it is given, and the
    /// background lane leaves them to the interactive one while it waits.
    pub(crate) fn new(threads: usize) -> Result<Self, EmbedError> {
        let pool = |lane: &'static str, nice: Option<i32>| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads.max(1))
                .thread_name(move |i| format!("minilm-{lane}-{i}"))
                .start_handler(move |_| {
                    if let Some(nice) = nice {
                        crate::priority::lower_current_thread(nice);
                    }
                })
                .build()
                .map_err(|e| EmbedError::Inference(format!("cannot start inference threads: {e}")))
        };
        Ok(Self {
            interactive: pool("q", None)?,
            // The back-fill runs on what the write path leaves (see `crate::priority`).
            background: pool("bg", Some(BACKGROUND_NICE))?,
            interactive_in_flight: AtomicUsize::new(0),
            candle_pool_lowered: AtomicBool::new(false),
        })
    }

    /// Threads of each lane.
    pub(crate) fn threads(&self) -> usize {
        self.background.current_num_threads()
    }

    /// Runs `work` on the interactive lane.
    pub(crate) fn interactive<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.interactive_in_flight.fetch_add(1, Ordering::SeqCst);
        let _done = InFlight(&self.interactive_in_flight);
        self.interactive.install(work)
    }

    /// Runs one background batch: first waits (at most [`MAX_YIELD`]) while questions are being
    /// embedded.
    pub(crate) fn background<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        let started = Instant::now();
        while self.interactive_in_flight.load(Ordering::SeqCst) > 0 && started.elapsed() < MAX_YIELD {
            std::thread::sleep(YIELD_POLL);
        }
        let result = self.background.install(work);
        // candle starts a pool of its own (`candle-bp-*`) at its first use and runs part of every
        // forward pass there; the back-fill is by far its main user, so it is made as nice as the
        // background lane (questions then share it at that priority: they are short and rare).
        // The pool is created once, so one look after it exists is enough.
        if !self.candle_pool_lowered.load(Ordering::Relaxed)
            && crate::priority::lower_threads_named("candle-bp", BACKGROUND_NICE) > 0
        {
            self.candle_pool_lowered.store(true, Ordering::Relaxed);
        }
        result
    }
}

/// Counts an interactive call out when it ends, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
