//! `veritrail ingest FILE.jsonl`: bulk load through the same validation and chaining as the API.
//!
//! The file is validated completely before the first write, so a bad line stores nothing. Events
//! with an `id` are idempotent, so re-running after an interruption does not duplicate them.
//! A regular file is read twice (validate, then write) so its size does not matter; anything else
//! (`-` for standard input, a pipe) cannot be read twice and is held in memory.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use veritrail_core::event::{NewEvent, TenantId};
use veritrail_core::validate::{Limits, validate_client_event};
use veritrail_store::Store;

/// Counts of one ingest run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestSummary {
    pub created: u64,
    pub duplicates: u64,
}

/// Validates every line of `path`, then appends them in batches of `batch_size`.
pub async fn ingest_file(
    store: &Store,
    tenant: &TenantId,
    path: &Path,
    limits: &Limits,
    batch_size: usize,
    show_progress: bool,
) -> anyhow::Result<IngestSummary> {
    let source = Source::open(path)?;
    let mut total = 0;
    for event in EventLines::new(path, source.reader()?, limits) {
        event?;
        total += 1;
    }
    let progress = if show_progress { ProgressBar::new(total) } else { ProgressBar::hidden() };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = IngestSummary::default();
    let mut lines = EventLines::new(path, source.reader()?, limits);
    let mut written = 0;
    loop {
        let batch: Vec<NewEvent> = lines.by_ref().take(batch_size.max(1)).collect::<anyhow::Result<_>>()?;
        if batch.is_empty() {
            break;
        }
        let n_events = batch.len() as u64;
        written += n_events;
        let appended = store.events.append(tenant, batch).await?;
        let created = appended.iter().filter(|appended| appended.created).count() as u64;
        summary.created += created;
        summary.duplicates += n_events - created;
        progress.inc(n_events);
    }
    progress.finish();
    anyhow::ensure!(
        written == total,
        "{} changed while it was being ingested: {total} events validated, {written} read afterwards",
        path.display()
    );
    Ok(summary)
}

/// Where the lines come from: a regular file (read twice) or a stream held in memory.
enum Source {
    File(PathBuf),
    Memory(Vec<u8>),
}

impl Source {
    fn open(path: &Path) -> anyhow::Result<Self> {
        if path == Path::new("-") {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes).context("read standard input")?;
            return Ok(Self::Memory(bytes));
        }
        let metadata = std::fs::metadata(path).with_context(|| format!("open {}", path.display()))?;
        if metadata.is_file() {
            Ok(Self::File(path.to_owned()))
        } else {
            Ok(Self::Memory(std::fs::read(path).with_context(|| format!("read {}", path.display()))?))
        }
    }

    fn reader(&self) -> anyhow::Result<Box<dyn BufRead + '_>> {
        Ok(match self {
            Self::File(path) => {
                Box::new(BufReader::new(File::open(path).with_context(|| format!("open {}", path.display()))?))
            }
            Self::Memory(bytes) => Box::new(bytes.as_slice()),
        })
    }
}

/// The valid events of a JSON Lines source, in order; blank lines are skipped.
struct EventLines<'a> {
    path: PathBuf,
    lines: std::iter::Enumerate<std::io::Split<Box<dyn BufRead + 'a>>>,
    limits: &'a Limits,
}

impl<'a> EventLines<'a> {
    fn new(path: &Path, reader: Box<dyn BufRead + 'a>, limits: &'a Limits) -> Self {
        Self { path: path.to_owned(), lines: reader.split(b'\n').enumerate(), limits }
    }

    fn parse(&self, line_no: usize, line: &[u8]) -> anyhow::Result<NewEvent> {
        let path = self.path.display();
        let raw: serde_json::Value = match serde_json::from_slice(line) {
            Ok(raw) => raw,
            Err(err) => bail!("{path}:{line_no}: not valid JSON: {err}; nothing was stored"),
        };
        match validate_client_event(&raw, self.limits, || uuid::Uuid::now_v7().to_string()) {
            Ok(event) => Ok(event),
            Err(err) => bail!("{path}:{line_no}: {}; nothing was stored", err.message),
        }
    }
}

impl Iterator for EventLines<'_> {
    type Item = anyhow::Result<NewEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        for (idx, line) in self.lines.by_ref() {
            let line = match line {
                Ok(line) => line,
                Err(err) => return Some(Err(anyhow::Error::new(err).context(format!("read {}", self.path.display())))),
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(self.parse(idx + 1, &line));
        }
        None
    }
}

/// `veritrail import --format cloudtrail FILES...`: every file is read and validated before the
/// first write; then each file is stored as one all-or-nothing append. `eventID` is the
/// idempotency key, so importing a file again adds nothing.
pub async fn import_cloudtrail(
    store: &Store,
    tenant: &TenantId,
    files: &[PathBuf],
    limits: &Limits,
) -> anyhow::Result<IngestSummary> {
    let mut prepared = Vec::with_capacity(files.len());
    for path in files {
        let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        let document: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON; nothing was stored", path.display()))?;
        let items = veritrail_core::cloudtrail::events_from_document(&document)
            .with_context(|| format!("{}; nothing was stored", path.display()))?;
        let events = items
            .iter()
            .enumerate()
            .map(|(idx, item)| {
                validate_client_event(item, limits, || uuid::Uuid::now_v7().to_string()).map_err(|err| {
                    anyhow::anyhow!(
                        "{}: Records[{idx}].{}: {}; nothing was stored",
                        path.display(),
                        err.field,
                        err.message
                    )
                })
            })
            .collect::<anyhow::Result<Vec<NewEvent>>>()?;
        prepared.push(events);
    }
    let mut summary = IngestSummary::default();
    for events in prepared.into_iter().filter(|events| !events.is_empty()) {
        let n_events = events.len() as u64;
        let appended = store.events.append(tenant, events).await?;
        let created = appended.iter().filter(|appended| appended.created).count() as u64;
        summary.created += created;
        summary.duplicates += n_events - created;
    }
    Ok(summary)
}
