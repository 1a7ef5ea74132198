//! `veritrail export-bundle` and `veritrail verify-bundle`.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use veritrail_core::bundle::{Bundle, BundleReport};
use veritrail_core::checkpoint::NoteVerifier;
use veritrail_core::event::TenantId;
use veritrail_core::transparency::{LogIdentity, assemble_bundle};
use veritrail_store::Store;

fn parse_time(name: &str, raw: Option<String>) -> anyhow::Result<Option<DateTime<Utc>>> {
    raw.map(|text| {
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .with_context(|| format!("--{name} {text:?} is not an RFC 3339 time"))
    })
    .transpose()
}

/// Assembles the bundle of a tenant's events in `[since, until)`.
pub async fn export(
    store: &Store,
    identity: &LogIdentity,
    tenant: &TenantId,
    since: Option<String>,
    until: Option<String>,
) -> anyhow::Result<Bundle> {
    let since = parse_time("since", since)?;
    let until = parse_time("until", until)?;
    Ok(assemble_bundle(store.events.as_ref(), store.checkpoints.as_ref(), identity, tenant, since, until, Utc::now())
        .await?)
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
