//! How busy the write path is, and how much of the machine background work may take meanwhile.
//!
//! Ingest comes first: an audit trail that slows its callers while it indexes, embeds or
//! evaluates rules is one teams turn off. Every append tells [`IngestActivity`] (one relaxed
//! atomic store); background work (the search back-fill, the event-rule evaluator, the jobs)
//! asks it how long to pause after each piece of work. While appends keep coming, the pauses hold
//! background work to [`BackgroundSettings::busy_share`] of the wall time; once ingest has been
//! quiet for [`BackgroundSettings::quiet_after`], there is no pause and background work catches
//! up at full speed. Nothing is skipped, only delayed: the lag this leaves is visible on
//! `/api/v1/search/status` and in the job run records.
//!
//! Pure bookkeeping, no runtime: callers sleep for the returned durations themselves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How much background work may run while ingest is busy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackgroundSettings {
    /// Share of wall time background work may keep working while appends keep coming, from
    /// 0.01 to 1.0 (1.0: never pause).
    pub busy_share: f64,
    /// Ingest counts as quiet this long after the last append.
    pub quiet_after: Duration,
    /// The longest single pause, so progress never stops for long even under endless ingest.
    pub max_pause: Duration,
}

impl Default for BackgroundSettings {
    fn default() -> Self {
        // 5% of one core per kind of background work: on the two-core machine of
        // bench/results/ingest-2026-12-07.md, 10% left PostgreSQL batched ingest at 0.82x of
        // running without background work, short of the 0.9x it must keep.
        Self { busy_share: 0.05, quiet_after: Duration::from_millis(500), max_pause: Duration::from_secs(30) }
    }
}

/// The write path's activity, shared by ingest (which reports appends) and background work
/// (which yields to it).
#[derive(Debug)]
pub struct IngestActivity {
    settings: BackgroundSettings,
    started: Instant,
    /// Milliseconds from `started` to the last append, plus one; 0 before the first.
    last_append: AtomicU64,
    /// Milliseconds background work has paused for ingest, in total.
    paused_ms: AtomicU64,
}

impl Default for IngestActivity {
    fn default() -> Self {
        Self::new(BackgroundSettings::default())
    }
}

impl IngestActivity {
    pub fn new(settings: BackgroundSettings) -> Self {
        let busy_share = if settings.busy_share.is_finite() { settings.busy_share.clamp(0.01, 1.0) } else { 1.0 };
        Self {
            settings: BackgroundSettings { busy_share, ..settings },
            started: Instant::now(),
            last_append: AtomicU64::new(0),
            paused_ms: AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> BackgroundSettings {
        self.settings
    }

    /// Ingest calls this after every append (cheap: a clock read and an atomic store).
    pub fn appended(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_append.store(now + 1, Ordering::Relaxed);
    }

    /// Whether an append happened within the last [`BackgroundSettings::quiet_after`].
    pub fn is_busy(&self) -> bool {
        self.since_last_append().is_some_and(|since| since < self.settings.quiet_after)
    }

    /// Time since the last append; `None` before the first.
    pub fn since_last_append(&self) -> Option<Duration> {
        match self.last_append.load(Ordering::Relaxed) {
            0 => None,
            at => {
                let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                Some(Duration::from_millis(now.saturating_sub(at - 1)))
            }
        }
    }

    /// How long to pause after a piece of background work that took `worked` and kept `cores`
    /// cores busy meanwhile (1.0 for work on one thread or in the database, the thread count for
    /// inference): nothing while ingest is quiet; while it is busy, long enough that the work
    /// takes the busy share of one core, at most [`BackgroundSettings::max_pause`]. The pause is
    /// counted in [`Self::paused`]; the caller sleeps it.
    pub fn pause_after(&self, worked: Duration, cores: f64) -> Duration {
        if !self.is_busy() || self.settings.busy_share >= 1.0 {
            return Duration::ZERO;
        }
        let share = self.settings.busy_share;
        let cores = if cores.is_finite() { cores.clamp(0.0, 1024.0) } else { 1.0 };
        // work × cores = share × (work + pause), for the busy share of one core.
        let pause_seconds = (worked.as_secs_f64() * cores / share - worked.as_secs_f64()).max(0.0);
        let pause = Duration::from_secs_f64(pause_seconds.min(self.settings.max_pause.as_secs_f64()));
        self.paused_ms.fetch_add(u64::try_from(pause.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        pause
    }

    /// How long background work has paused for ingest since start-up, in total.
    pub fn paused(&self) -> Duration {
        Duration::from_millis(self.paused_ms.load(Ordering::Relaxed))
    }
}

/// Measures one piece of background work and says how long to pause after it.
#[derive(Debug)]
pub struct Pacer<'a> {
    activity: &'a IngestActivity,
    started: Instant,
}

impl<'a> Pacer<'a> {
    /// Starts timing a piece of work.
    pub fn start(activity: &'a IngestActivity) -> Self {
        Self { activity, started: Instant::now() }
    }

    /// The pause owed for the work since [`Pacer::start`], done on one thread or in the
    /// database (see [`IngestActivity::pause_after`]).
    pub fn pause(&self) -> Duration {
        self.pause_for_cores(1.0)
    }

    /// As [`Pacer::pause`], for work that kept `cores` cores busy.
    pub fn pause_for_cores(&self, cores: f64) -> Duration {
        self.activity.pause_after(self.started.elapsed(), cores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_ingest_never_pauses_background_work() {
        let activity = IngestActivity::default();
        assert!(!activity.is_busy());
        assert_eq!(activity.since_last_append(), None);
        assert_eq!(activity.pause_after(Duration::from_secs(1), 1.0), Duration::ZERO);
    }

    #[test]
    fn busy_ingest_holds_background_work_to_its_share() {
        let activity = IngestActivity::new(BackgroundSettings {
            busy_share: 0.2,
            quiet_after: Duration::from_secs(60),
            max_pause: Duration::from_secs(10),
        });
        activity.appended();
        assert!(activity.is_busy());
        // 100 ms of work at a 20% share: 400 ms of pause; on two cores, 900 ms.
        assert_eq!(activity.pause_after(Duration::from_millis(100), 1.0), Duration::from_millis(400));
        assert_eq!(activity.pause_after(Duration::from_millis(100), 2.0), Duration::from_millis(900));
        // Capped.
        assert_eq!(activity.pause_after(Duration::from_secs(60), 1.0), Duration::from_secs(10));
        assert_eq!(activity.paused(), Duration::from_millis(11_300));
        // Work that took no CPU here (a remote model) owes nothing.
        assert_eq!(activity.pause_after(Duration::from_secs(1), 0.0), Duration::ZERO);
    }

    #[test]
    fn ingest_is_quiet_again_after_the_quiet_time() {
        let activity = IngestActivity::new(BackgroundSettings { quiet_after: Duration::ZERO, ..Default::default() });
        activity.appended();
        assert!(!activity.is_busy());
        assert_eq!(activity.pause_after(Duration::from_secs(1), 1.0), Duration::ZERO);
    }

    #[test]
    fn a_full_share_never_pauses_and_odd_shares_are_clamped() {
        let activity = IngestActivity::new(BackgroundSettings { busy_share: 7.0, ..Default::default() });
        activity.appended();
        assert_eq!(activity.pause_after(Duration::from_secs(1), 1.0), Duration::ZERO);
        let activity = IngestActivity::new(BackgroundSettings { busy_share: f64::NAN, ..Default::default() });
        assert_eq!(activity.settings().busy_share, 1.0);
        let activity = IngestActivity::new(BackgroundSettings { busy_share: 0.0, ..Default::default() });
        assert_eq!(activity.settings().busy_share, 0.01);
    }
}
