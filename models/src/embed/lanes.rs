//! Two lanes for local inference: interactive (a question being asked) before background (the
//! back-fill).
//!
//! With one pool, a question's single text queued behind whatever back-fill batches were already
//! in it: minutes, when the back-fill was busy. Now each lane has its own rayon pool, so a
//! question starts at once, and the background lane steps aside between its (small) batches
//! while a question is being embedded, so the question has the cores to itself after at most one
//! batch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::EmbedError;

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
}

impl Lanes {
    /// Both lanes with `threads` threads each: each may use every core it is given, and the
    /// background lane leaves them to the interactive one while it waits.
    pub(crate) fn new(threads: usize) -> Result<Self, EmbedError> {
        let pool = |lane: &'static str| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads.max(1))
                .thread_name(move |i| format!("minilm-{lane}-{i}"))
                .build()
                .map_err(|e| EmbedError::Inference(format!("cannot start inference threads: {e}")))
        };
        Ok(Self { interactive: pool("q")?, background: pool("bg")?, interactive_in_flight: AtomicUsize::new(0) })
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
        self.background.install(work)
    }
}

/// Counts an interactive call out when it ends, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
