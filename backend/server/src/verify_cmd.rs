//! `veritrail verify`: checks chains straight from the database, no server needed.

use veritrail_core::event::TenantId;
use veritrail_core::store::SeqRange;
use veritrail_core::verify::VerifyReport;
use veritrail_store::Store;

/// Verifies one tenant, or all of them; returns each tenant's report.
pub async fn verify_tenants(
    store: &Store,
    tenant: Option<TenantId>,
    range: SeqRange,
) -> anyhow::Result<Vec<(TenantId, VerifyReport)>> {
    let tenants = match tenant {
        Some(tenant) => vec![tenant],
        None => store.events.tenants().await?,
    };
    let mut reports = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let report = store.events.verify(&tenant, range).await?;
        reports.push((tenant, report));
    }
    Ok(reports)
}

/// Renders a report as one line a person reads.
pub fn describe(tenant: &TenantId, report: &VerifyReport) -> String {
    let head = match (report.head_seq, report.head_hash) {
        (Some(seq), Some(hash)) => format!("head seq {seq} hash {hash}"),
        _ => "empty chain".to_owned(),
    };
    if report.ok {
        format!("tenant {tenant}: ok, {} events checked, {head}", report.checked)
    } else {
        format!(
            "tenant {tenant}: BROKEN at seq {} ({}): {} [{} events checked before it; {head}]",
            report.first_bad_seq.map_or("?".to_owned(), |seq| seq.to_string()),
            report
                .kind
                .map(|kind| serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default())
                .unwrap_or_default(),
            report.reason.as_deref().unwrap_or("unknown reason"),
            report.checked,
        )
    }
}
