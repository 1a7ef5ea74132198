//! `veritrail eval anomalies`: anomaly-detection quality on a labelled CloudTrail data set.
//!
//! Loads the data set's CloudTrail files through the same mapping and validation as
//! `veritrail import --format cloudtrail` (events get seqs in time order; nothing is stored),
//! runs the detector over the whole capture with 60-minute and 5-minute windows and reports:
//!
//! - per actor-window: ROC-AUC and precision@k (k = number of positives) against
//!   `labels/actor_windows_{60,5}min.jsonl`;
//! - per event: precision@10 and ROC-AUC of the event scores against `labels/event_labels.jsonl`
//!   (`malicious`);
//! - the same with only background activity as negatives ("detonation vs background": the
//!   simulation's own scaffolding, which uses the attacker's credentials, is left out);
//! - an IsolationForest baseline (scikit-learn, fixed `random_state`) fitted on the very same
//!   feature matrix, run by `scripts/eval/isolation_forest.py` in a cached virtualenv.
//!
//! The labels are for measuring only: nothing in the detector knows this data set.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use veritrail_core::anomalies::SubjectKind;
use veritrail_core::event::{StoredEvent, TenantId};
use veritrail_core::hash::Hash;
use veritrail_core::validate::{Limits, validate_event};
use veritrail_models::anomaly::{self, AnomalyConfig, KnownFeedback};

/// The baseline script, embedded so the binary does not depend on where the repository is.
const ISOLATION_FOREST_PY: &str = include_str!("../../../scripts/eval/isolation_forest.py");
/// Ranks scored at event level.
const EVENT_K: usize = 10;

/// Options of `veritrail eval anomalies`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalAnomaliesArgs {
    /// The data set directory (CloudTrail files under `raw/CloudTrail/`, labels under `labels/`).
    #[arg(long, default_value = "../shared/data/invictus-aws-stratus")]
    pub dataset: PathBuf,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the IsolationForest baseline (no Python needed).
    #[arg(long)]
    pub no_baseline: bool,
}

#[derive(Debug, Deserialize)]
struct EventLabel {
    #[serde(rename = "eventID")]
    event_id: String,
    actor: String,
    phase: String,
    malicious: bool,
}

#[derive(Debug, Deserialize)]
struct WindowLabel {
    actor: String,
    window_start: DateTime<Utc>,
    phases: BTreeMap<String, usize>,
    anomalous: bool,
}

/// Ranking quality of one scorer on one labelled set.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ranking {
    pub auc: f64,
    pub precision: f64,
    pub k: usize,
    pub positives: usize,
    pub negatives: usize,
}

/// ROC-AUC (probability that a positive outscores a negative, ties counting half) and
/// precision@k of `scored` = (score, is_positive).
pub fn ranking(scored: &[(f64, bool)], k: usize) -> Ranking {
    let positives = scored.iter().filter(|(_, positive)| *positive).count();
    let negatives = scored.len() - positives;
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|left, right| scored[*left].0.total_cmp(&scored[*right].0));
    // Average ranks over ties (Mann-Whitney U).
    let mut ranks = vec![0.0; scored.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scored[order[end + 1]].0 == scored[order[start]].0 {
            end += 1;
        }
        let average = (start + end) as f64 / 2.0 + 1.0;
        for &index in &order[start..=end] {
            ranks[index] = average;
        }
        start = end + 1;
    }
    let positive_ranks: f64 =
        scored.iter().zip(&ranks).filter(|((_, positive), _)| *positive).map(|(_, rank)| rank).sum();
    let auc = if positives == 0 || negatives == 0 {
        f64::NAN
    } else {
        (positive_ranks - (positives * (positives + 1)) as f64 / 2.0) / (positives * negatives) as f64
    };
    // Precision@k with ties at the cut broken against the scorer (the pessimistic reading).
    let mut descending: Vec<(f64, bool)> = scored.to_vec();
    descending.sort_by(|left, right| right.0.total_cmp(&left.0).then(left.1.cmp(&right.1)));
    let k = k.min(descending.len());
    let hits = descending[..k].iter().filter(|(_, positive)| *positive).count();
    let precision = if k == 0 { f64::NAN } else { hits as f64 / k as f64 };
    Ranking { auc, precision, k, positives, negatives }
}

/// `veritrail eval anomalies`.
pub async fn run(args: EvalAnomaliesArgs) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || run_blocking(&args)).await.context("evaluation thread")?
}

fn run_blocking(args: &EvalAnomaliesArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let events = load_events(&args.dataset)?;
    let event_labels: Vec<EventLabel> = read_jsonl(&args.dataset.join("labels/event_labels.jsonl"))?;
    ensure!(
        event_labels.len() == events.len(),
        "{} events but {} event labels: is this the right data set?",
        events.len(),
        event_labels.len()
    );
    let load_time = started.elapsed();

    let mut report = String::new();
    writeln!(report, "# Anomaly detection on `{}`\n", args.dataset.display())?;
    writeln!(report, "{} events loaded in {:.2} s.\n", events.len(), load_time.as_secs_f64())?;
    let mut rows = Vec::new();
    let mut details = String::new();
    for minutes in [60, 5] {
        let outcome = evaluate_window(args, &events, &event_labels, minutes)?;
        rows.extend(outcome.rows);
        details.push_str(&outcome.details);
    }
    writeln!(report, "| set | scorer | positives / negatives | ROC-AUC | precision@k |")?;
    writeln!(report, "| --- | --- | --- | --- | --- |")?;
    for (set, scorer, ranking) in &rows {
        writeln!(
            report,
            "| {set} | {scorer} | {} / {} | {:.3} | {:.3} (k={}) |",
            ranking.positives, ranking.negatives, ranking.auc, ranking.precision, ranking.k
        )?;
    }
    report.push('\n');
    report.push_str(&details);
    println!("{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report).with_context(|| format!("write {}", out.display()))?;
    }
    Ok(())
}

struct WindowOutcome {
    rows: Vec<(String, String, Ranking)>,
    details: String,
}

fn evaluate_window(
    args: &EvalAnomaliesArgs,
    events: &[StoredEvent],
    event_labels: &[EventLabel],
    minutes: i64,
) -> anyhow::Result<WindowOutcome> {
    let config = AnomalyConfig::with_window(Duration::minutes(minutes));
    let started = Instant::now();
    let analysis = anomaly::analyse(events, &config, None, KnownFeedback::default());
    let detect_time = started.elapsed();

    // Label actors are CloudTrail's `userIdentity.arn`-style names; join them to the mapped
    // actor ids through the events they label.
    let actor_of_event: HashMap<&str, &str> =
        events.iter().map(|event| (event.id.as_str(), event.actor.id.as_str())).collect();
    let mut actor_ids: HashMap<&str, &str> = HashMap::new();
    for label in event_labels {
        let actor = actor_of_event
            .get(label.event_id.as_str())
            .with_context(|| format!("labelled event {} is not in the data", label.event_id))?;
        actor_ids.insert(label.actor.as_str(), actor);
    }
    let windows: Vec<WindowLabel> = read_jsonl(&args.dataset.join(format!("labels/actor_windows_{minutes}min.jsonl")))?;
    let row_of: HashMap<(&str, DateTime<Utc>), usize> = analysis
        .table
        .rows
        .iter()
        .enumerate()
        .filter(|(_, key)| key.subject.kind == SubjectKind::Actor)
        .map(|(index, key)| ((key.subject.id.as_str(), key.window_start), index))
        .collect();
    let mut labelled = Vec::with_capacity(windows.len());
    for window in &windows {
        let actor = actor_ids.get(window.actor.as_str()).with_context(|| format!("no events for {}", window.actor))?;
        let row = row_of
            .get(&(*actor, window.window_start))
            .with_context(|| format!("no {minutes}-minute window for {} at {}", window.actor, window.window_start))?;
        let background_only = window.phases.keys().all(|phase| phase == "background");
        labelled.push((*row, window.anomalous, background_only));
    }
    ensure!(labelled.len() == row_of.len(), "{} labelled windows but {} actor windows", labelled.len(), row_of.len());

    let window_scores: Vec<f64> = analysis.windows.iter().map(|window| window.score).collect();
    let set = format!("{minutes}-min actor windows");
    let mut rows = Vec::new();
    let (all, background) = window_sets(&labelled, &window_scores);
    rows.push((set.clone(), "veritrail".to_owned(), ranking(&all, count_positive(&all))));
    rows.push((
        format!("{set}, background negatives"),
        "veritrail".to_owned(),
        ranking(&background, count_positive(&background)),
    ));

    let baseline_time = if args.no_baseline {
        None
    } else {
        let started = Instant::now();
        let forest = isolation_forest(&analysis.table, &labelled)?;
        let (all, background) = window_sets(&labelled, &forest);
        rows.push((set.clone(), "IsolationForest".to_owned(), ranking(&all, count_positive(&all))));
        rows.push((
            format!("{set}, background negatives"),
            "IsolationForest".to_owned(),
            ranking(&background, count_positive(&background)),
        ));
        Some(started.elapsed())
    };

    // Event level.
    let event_score: HashMap<&str, f64> =
        analysis.events.iter().map(|event| (event.id.as_str(), event.score)).collect();
    let mut scored_events = Vec::with_capacity(event_labels.len());
    let mut background_events = Vec::new();
    for label in event_labels {
        let score =
            *event_score.get(label.event_id.as_str()).with_context(|| format!("no score for {}", label.event_id))?;
        scored_events.push((score, label.malicious));
        if label.malicious || label.phase == "background" {
            background_events.push((score, label.malicious));
        }
    }
    rows.push((format!("{minutes}-min events"), "veritrail".to_owned(), ranking(&scored_events, EVENT_K)));
    rows.push((
        format!("{minutes}-min events, background negatives"),
        "veritrail".to_owned(),
        ranking(&background_events, EVENT_K),
    ));

    let mut details = String::new();
    writeln!(details, "## {minutes}-minute windows\n")?;
    writeln!(
        details,
        "Detection over {} rows ({} actor windows) in {:.3} s{}.\n",
        analysis.table.rows.len(),
        labelled.len(),
        detect_time.as_secs_f64(),
        baseline_time
            .map(|time| format!("; IsolationForest (incl. Python start) {:.2} s", time.as_secs_f64()))
            .unwrap_or_default()
    )?;
    writeln!(details, "| score | label | actor | window | reason | top features |")?;
    writeln!(details, "| --- | --- | --- | --- | --- | --- |")?;
    let mut order: Vec<&(usize, bool, bool)> = labelled.iter().collect();
    order.sort_by(|left, right| window_scores[right.0].total_cmp(&window_scores[left.0]));
    for (row, anomalous, _) in order {
        let window = &analysis.windows[*row];
        let features: Vec<String> = window
            .contributions
            .iter()
            .take(3)
            .map(|part| format!("{} {:.2} vs {:.2}", part.name, part.observed, part.expected))
            .collect();
        writeln!(
            details,
            "| {:.3} | {} | {} | {} | {} | {} |",
            window.score,
            if *anomalous { "anomalous" } else { "normal" },
            anomaly::explain::short_name(&window.key.subject.id),
            window.key.window_start.format("%H:%M"),
            window.reason.rsplit(':').next().unwrap_or(""),
            features.join("; ")
        )?;
    }
    details.push('\n');
    Ok(WindowOutcome { rows, details })
}

fn count_positive(scored: &[(f64, bool)]) -> usize {
    scored.iter().filter(|(_, positive)| *positive).count()
}

/// (all windows, windows whose negatives are background-only) as (score, label) pairs.
/// (score, is_positive) pairs.
type Scored = Vec<(f64, bool)>;

fn window_sets(labelled: &[(usize, bool, bool)], scores: &[f64]) -> (Scored, Scored) {
    let all = labelled.iter().map(|(row, anomalous, _)| (scores[*row], *anomalous)).collect();
    let background = labelled
        .iter()
        .filter(|(_, anomalous, background_only)| *anomalous || *background_only)
        .map(|(row, anomalous, _)| (scores[*row], *anomalous))
        .collect();
    (all, background)
}

/// Reads the CloudTrail files of a data set and turns them into stored events of one tenant,
/// with seqs in time order.
pub fn load_events(dataset: &Path) -> anyhow::Result<Vec<StoredEvent>> {
    let directory = dataset.join("raw/CloudTrail");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .with_context(|| format!("read {}: is --dataset right?", directory.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|extension| extension == "json"));
    files.sort();
    ensure!(!files.is_empty(), "no CloudTrail files in {}", directory.display());
    let tenant = TenantId::parse("eval").map_err(anyhow::Error::msg)?;
    let limits = Limits { max_details_bytes: 1024 * 1024, ..Limits::default() };
    let mut events = Vec::new();
    for path in files {
        let document: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        for item in veritrail_core::cloudtrail::events_from_document(&document)? {
            let new = validate_event(&item, &limits, String::new)
                .map_err(|err| anyhow::anyhow!("{}: {}: {}", path.display(), err.field, err.message))?;
            let occurred_at = new.occurred_at.context("CloudTrail events carry their time")?;
            // Seqs are given below, once the events are in time order.
            events.push(StoredEvent::from_new(tenant.clone(), 0, new, occurred_at, Hash::GENESIS));
        }
    }
    events.sort_by(|left, right| (left.occurred_at, &left.id).cmp(&(right.occurred_at, &right.id)));
    for (seq, event) in events.iter_mut().enumerate() {
        event.seq = seq as u64;
    }
    let ids: HashSet<&str> = events.iter().map(|event| event.id.as_str()).collect();
    ensure!(ids.len() == events.len(), "event ids are not unique");
    Ok(events)
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(number, line)| serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), number + 1)))
        .collect()
}

/// Fits the IsolationForest baseline on the actor rows of `table` and returns a score per row
/// of `table` (0 for rows it did not see).
fn isolation_forest(table: &anomaly::FeatureTable, labelled: &[(usize, bool, bool)]) -> anyhow::Result<Vec<f64>> {
    let python = eval_python()?;
    let scratch = tempfile::tempdir().context("temporary directory")?;
    let script = scratch.path().join("isolation_forest.py");
    std::fs::write(&script, ISOLATION_FOREST_PY)?;
    let features = scratch.path().join("features.csv");
    let scores_path = scratch.path().join("scores.csv");
    let mut csv = String::new();
    writeln!(csv, "row,actor,window_start,{}", table.names.join(","))?;
    for (row, _, _) in labelled {
        let key = &table.rows[*row];
        let values: Vec<String> = table.values[*row].iter().map(|value| format!("{value}")).collect();
        writeln!(
            csv,
            "{row},\"{}\",{},{}",
            key.subject.id.replace('"', "\"\""),
            key.window_start.to_rfc3339(),
            values.join(",")
        )?;
    }
    std::fs::write(&features, csv)?;
    let status = Command::new(&python)
        .arg(&script)
        .arg(&features)
        .arg(&scores_path)
        .status()
        .with_context(|| format!("run {}", python.display()))?;
    ensure!(status.success(), "the IsolationForest baseline failed ({status})");
    let mut scores = vec![0.0; table.rows.len()];
    let text = std::fs::read_to_string(&scores_path)?;
    let mut seen = 0;
    for line in text.lines().skip(1) {
        let (row, score) = line.split_once(',').context("scores.csv: row,score")?;
        let row: usize = row.parse().context("scores.csv: row")?;
        ensure!(row < scores.len(), "scores.csv: row {row} out of range");
        scores[row] = score.trim().parse().context("scores.csv: score")?;
        seen += 1;
    }
    ensure!(seen == labelled.len(), "the baseline scored {seen} rows of {}", labelled.len());
    Ok(scores)
}

/// The cached virtualenv with scikit-learn, created on first use:
/// `${XDG_CACHE_HOME:-$HOME/.cache}/veritrail/venv-eval`.
fn eval_python() -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set: cannot place the evaluation virtualenv")?;
    let venv = cache.join("veritrail/venv-eval");
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!("creating {} ...", venv.display());
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("python3 is required for the IsolationForest baseline (or pass --no-baseline)")?;
        ensure!(status.success(), "python3 -m venv {} failed ({status}); is python3-venv installed?", venv.display());
    }
    let has_sklearn = Command::new(&python)
        .args(["-c", "import sklearn"])
        .output()
        .with_context(|| format!("run {}", python.display()))?
        .status
        .success();
    if !has_sklearn {
        eprintln!("installing scikit-learn into {} ...", venv.display());
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "scikit-learn"])
            .status()
            .context("pip is required for the IsolationForest baseline")?;
        if !status.success() {
            bail!("pip install scikit-learn failed ({status}); the baseline needs it (or pass --no-baseline)");
        }
    }
    Ok(python)
}
