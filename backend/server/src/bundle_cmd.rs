//! `veritrail export-bundle` and `veritrail verify-bundle`.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use veritrail_core::bundle::{Bundle, BundleReport, Manifest};
use veritrail_core::checkpoint::NoteVerifier;
use veritrail_core::event::TenantId;
use veritrail_core::transparency::{LogIdentity, plan_bundle, publish_checkpoint};
use veritrail_store::Store;

fn parse_time(name: &str, raw: Option<String>) -> anyhow::Result<Option<DateTime<Utc>>> {
    raw.map(|text| {
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .with_context(|| format!("--{name} {text:?} is not an RFC 3339 time"))
    })
    .transpose()
}

/// Writes the bundle of a tenant's events in `[since, until)` to `output`, streamed page by page
/// from the database. The operator's tool publishes a checkpoint first when the tree grew (the
/// `checkpoint` job's work, with the key this process holds), so the bundle covers every event;
/// the API never signs on a read. The file appears whole or not at all.
pub async fn export(
    store: &Store,
    identity: &LogIdentity,
    tenant: &TenantId,
    since: Option<String>,
    until: Option<String>,
    output: &Path,
) -> anyhow::Result<Manifest> {
    use std::io::Write;

    use futures::StreamExt;

    let since = parse_time("since", since)?;
    let until = parse_time("until", until)?;
    let now = Utc::now();
    publish_checkpoint(store.events.as_ref(), store.checkpoints.as_ref(), identity, tenant, now).await?;
    let checkpoint = store
        .checkpoints
        .latest_checkpoint(tenant)
        .await?
        .with_context(|| format!("tenant {tenant} has no events to put in a bundle"))?;
    let plan = plan_bundle(store.events.as_ref(), identity, tenant, &checkpoint, since, until, now, u64::MAX).await?;
    let manifest = plan.manifest().clone();
    let dir = output.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut file =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("create a file in {}", dir.display()))?;
    let mut pieces = std::pin::pin!(plan.stream(store.events.clone()));
    while let Some(piece) = pieces.next().await {
        file.write_all(&piece?).with_context(|| format!("write {}", output.display()))?;
    }
    file.as_file().sync_all().with_context(|| format!("write {}", output.display()))?;
    file.persist(output).with_context(|| format!("write {}", output.display()))?;
    Ok(manifest)
}

/// Verifies a bundle file with a verifier key given inline or in a file.
pub fn verify_file(file: &Path, key: &str) -> anyhow::Result<BundleReport> {
    let key_text = if Path::new(key).is_file() {
        std::fs::read_to_string(key).with_context(|| format!("read key file {key}"))?
    } else {
        key.to_owned()
    };
    let verifier = NoteVerifier::from_verifier_key(&key_text)?;
    let bytes = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
    let bundle = Bundle::from_tar(&bytes)?;
    if bundle.verifier_key.trim() != key_text.trim() {
        anyhow::bail!("the bundle names another log key ({}) than the one given", bundle.verifier_key.trim());
    }
    Ok(bundle.verify(&verifier)?)
}
