//! `veritrail export`: the same export as `GET /api/v1/export/events.csv|jsonl`
//! ([`veritrail_reports::export::pages`]), written to a file with a progress bar.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use veritrail_core::event::TenantId;
use veritrail_reports::export::{self, EventFilter, ExportFormat};
use veritrail_store::Store;

/// Which events: the filters and the period `[since, until)` on `occurred_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub filter: EventFilter,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub events: u64,
    pub bytes: u64,
}

/// Parses an optional RFC 3339 flag value.
pub fn parse_time(name: &str, raw: Option<&str>) -> anyhow::Result<Option<DateTime<Utc>>> {
    raw.map(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .with_context(|| format!("--{name} {text:?} is not an RFC 3339 time"))
    })
    .transpose()
}

/// Writes the tenant's events matching `filter` in `[since, until)` to `output` (written to a
/// temporary file beside it and renamed, so a failed export leaves no partial file). The
/// progress bar counts through the log's seqs up to its head, so it shows a real proportion
/// even when the filters select few events.
pub async fn export_file(
    store: &Store,
    tenant: &TenantId,
    selection: &Selection,
    format: ExportFormat,
    output: &Path,
    show_progress: bool,
) -> anyhow::Result<ExportSummary> {
    let Selection { filter, since, until } = selection;
    let head = store.events.head(tenant).await?.map_or(0, |head| head.next_seq);
    let progress = if show_progress { ProgressBar::new(head) } else { ProgressBar::hidden() };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} seq {pos}/{len} · {msg} ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let dir = output.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut file =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("create a file in {}", dir.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file.as_file_mut());
    let mut summary = ExportSummary::default();
    let mut pages =
        std::pin::pin!(export::pages(store.events.clone(), tenant.clone(), filter.query(*since, *until), format));
    while let Some(chunk) = pages.next().await {
        let chunk = chunk.context("read events")?;
        writer.write_all(&chunk.bytes).with_context(|| format!("write {}", output.display()))?;
        summary.events += chunk.events as u64;
        summary.bytes += chunk.bytes.len() as u64;
        if let Some(seq) = chunk.last_seq {
            progress.set_position((seq + 1).min(head));
        }
        progress.set_message(format!("{} events exported", summary.events));
    }
    writer.flush().with_context(|| format!("write {}", output.display()))?;
    drop(writer);
    file.as_file().sync_all().with_context(|| format!("sync {}", output.display()))?;
    file.persist(output).with_context(|| format!("write {}", output.display()))?;
    progress.set_position(head);
    progress.finish();
    Ok(summary)
}
