//! Continuous verification: the `integrity-check` job's work.
//!
//! Each run checks, per tenant, only what is new since its last run — the events appended since
//! (and the link into them, so an already verified event that was changed is caught too) and every
//! checkpoint published since (it must still match the stored tree, and extend the checkpoint
//! before it). The first run after start-up checks everything. A failure is logged by the caller,
//! kept in [`IntegrityMonitor::status`] for `/readyz`, and raised as an `integrity` alert.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::checkpoint::NoteVerifier;
use crate::event::TenantId;
use crate::hash::Hash;
use crate::jobs::JobScope;
use crate::merkle::verify_consistency;
use crate::store::{CheckpointStore, EventLog, ProofError, SeqRange, StoreError};
use crate::validate::{Limits, SYSTEM_ACTION_PREFIX, SYSTEM_ID_PREFIX, validate_event};

/// Where the last successful check of a tenant ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityCursor {
    /// Events `0..verified_size` are verified.
    pub verified_size: u64,
    /// The hash of event `verified_size - 1` when it was verified.
    pub verified_hash: Hash,
    /// The last checkpoint checked: size and signed root.
    pub checkpoint: Option<(u64, Hash)>,
}

/// A broken invariant, as reported and alerted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityFailure {
    pub tenant: TenantId,
    /// `chain` (events), or `checkpoint` (tree heads and signed checkpoints).
    pub check: &'static str,
    pub first_bad_seq: Option<u64>,
    pub kind: String,
    pub reason: String,
}

/// Receives integrity failures. The default sink records them in the tenant's own chain.
#[async_trait]
pub trait IntegrityAlertSink: Send + Sync {
    async fn integrity_failure(&self, failure: &IntegrityFailure);
}

/// The alert until a delivery system exists: a `critical` event in the tenant's chain, so the
/// failure itself becomes tamper-evident. The id is derived from the failure, so a failure seen
/// on every run is recorded once.
pub struct RecordInChain<'a> {
    pub events: &'a dyn EventLog,
}

#[async_trait]
impl IntegrityAlertSink for RecordInChain<'_> {
    async fn integrity_failure(&self, failure: &IntegrityFailure) {
        let seq = failure.first_bad_seq.map_or_else(|| "none".to_owned(), |seq| seq.to_string());
        let raw = json!({
            "id": format!("{SYSTEM_ID_PREFIX}{}-{}-{seq}", failure.check, failure.kind),
            "actor": {"id": "veritrail", "type": "system", "name": "integrity-check"},
            "action": format!("{SYSTEM_ACTION_PREFIX}integrity.failure"),
            "outcome": "failure",
            "severity": "critical",
            "details": {"check": failure.check, "kind": failure.kind, "first_bad_seq": failure.first_bad_seq, "reason": failure.reason},
            "tags": ["integrity"],
        });
        let result = match validate_event(&raw, &Limits::default(), String::new) {
            Ok(event) => {
                self.events.append(&failure.tenant, vec![event]).await.map(|_| ()).map_err(|err| err.to_string())
            }
            Err(err) => Err(err.message),
        };
        if let Err(err) = result {
            tracing::error!(tenant = %failure.tenant, error = %err, "could not record the integrity alert");
        }
    }
}

/// Records a failure in the chain first, then tells the alert channels, if any.
struct BothSinks<'a> {
    first: &'a dyn IntegrityAlertSink,
    second: Option<&'a dyn IntegrityAlertSink>,
}

#[async_trait]
impl IntegrityAlertSink for BothSinks<'_> {
    async fn integrity_failure(&self, failure: &IntegrityFailure) {
        self.first.integrity_failure(failure).await;
        if let Some(second) = self.second {
            second.integrity_failure(failure).await;
        }
    }
}

/// The last run's result, for `/readyz`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntegrityStatus {
    /// `not_run`, `ok` or `failed`.
    pub status: &'static str,
    #[serde(with = "crate::event::timestamp::option")]
    pub last_run: Option<DateTime<Utc>>,
    pub events_checked: u64,
    /// Every tenant checked.
    pub tenants: Vec<TenantId>,
    /// The events checked per tenant (for the run record, where each tenant sees its own).
    #[serde(skip)]
    pub checked_by_tenant: HashMap<TenantId, u64>,
    pub failures: Vec<IntegrityFailure>,
}

impl IntegrityStatus {
    /// This status with `tenant`'s findings replaced by those of `run`, a run over that tenant.
    fn merge_tenant(&self, tenant: &TenantId, run: &IntegrityStatus) -> IntegrityStatus {
        let mut failures: Vec<_> = self.failures.iter().filter(|failure| &failure.tenant != tenant).cloned().collect();
        failures.extend(run.failures.iter().cloned());
        let mut tenants = self.tenants.clone();
        if !tenants.contains(tenant) {
            tenants.push(tenant.clone());
            tenants.sort();
        }
        IntegrityStatus {
            status: if failures.is_empty() { "ok" } else { "failed" },
            last_run: run.last_run,
            events_checked: self.events_checked,
            tenants,
            checked_by_tenant: {
                let mut checked = self.checked_by_tenant.clone();
                checked.extend(run.checked_by_tenant.clone());
                checked
            },
            failures,
        }
    }
}

/// Runs the checks and remembers where each tenant's check ended.
#[derive(Debug, Default)]
pub struct IntegrityMonitor {
    cursors: Mutex<HashMap<TenantId, IntegrityCursor>>,
    status: Mutex<IntegrityStatus>,
}

impl IntegrityMonitor {
    /// Forgets the cursors of the tenants of `scope`, so their next check covers everything again:
    /// incremental runs only look at what is new, and an old event changed since it was checked is
    /// found by a full run.
    pub fn forget(&self, scope: &JobScope) {
        if let Ok(mut cursors) = self.cursors.lock() {
            cursors.retain(|tenant, _| !scope.covers(tenant));
        }
    }

    /// Returns the outcome of the last run.
    pub fn status(&self) -> IntegrityStatus {
        let status = self.status.lock().map(|status| status.clone()).unwrap_or_default();
        if status.last_run.is_none() { IntegrityStatus { status: "not_run", ..status } } else { status }
    }

    /// Runs the check as the `integrity-check` job does: checkpoints verified with the log's own
    /// key, failures logged at ERROR and recorded in the tenants' chains.
    pub async fn run_job(
        &self,
        events: &dyn EventLog,
        checkpoints: &dyn CheckpointStore,
        identity: &crate::transparency::LogIdentity,
        full: bool,
        now: DateTime<Utc>,
    ) -> Result<IntegrityStatus, StoreError> {
        self.run_job_alerting(events, checkpoints, identity, &JobScope::AllTenants, full, None, now).await
    }

    /// [`Self::run_job`] over the tenants of `scope`, also handing every failure to `alerts` (the
    /// alert channels).
    #[allow(clippy::too_many_arguments)] // the job's inputs; a struct would only rename them
    pub async fn run_job_alerting(
        &self,
        events: &dyn EventLog,
        checkpoints: &dyn CheckpointStore,
        identity: &crate::transparency::LogIdentity,
        scope: &JobScope,
        full: bool,
        alerts: Option<&dyn IntegrityAlertSink>,
        now: DateTime<Utc>,
    ) -> Result<IntegrityStatus, StoreError> {
        if full {
            self.forget(scope);
        }
        let verifier = NoteVerifier::new(identity.signer.name(), &identity.signer.public_key())
            .map_err(|err| StoreError::Corrupt(format!("the log key cannot verify: {err}")))?;
        let in_chain = RecordInChain { events };
        let sink = BothSinks { first: &in_chain, second: alerts };
        let status = self.run(events, checkpoints, Some(&verifier), &sink, scope, now).await?;
        for failure in &status.failures {
            tracing::error!(job = "integrity-check", tenant = %failure.tenant, first_bad_seq = ?failure.first_bad_seq, kind = %failure.kind, reason = %failure.reason, "INTEGRITY FAILURE");
        }
        Ok(status)
    }

    /// Checks the tenants of `scope`; failures go to `sink`. Returns this run's status; the status
    /// `/readyz` shows keeps every tenant's latest findings (a tenant's run replaces only its own).
    pub async fn run(
        &self,
        events: &dyn EventLog,
        checkpoints: &dyn CheckpointStore,
        verifier: Option<&NoteVerifier>,
        sink: &dyn IntegrityAlertSink,
        scope: &JobScope,
        now: DateTime<Utc>,
    ) -> Result<IntegrityStatus, StoreError> {
        let mut failures = Vec::new();
        let mut events_checked = 0;
        let mut checked_by_tenant = HashMap::new();
        let tenants = scope.tenants(events).await?;
        for tenant in &tenants {
            let cursor = self.cursors.lock().ok().and_then(|cursors| cursors.get(tenant).cloned()).unwrap_or_default();
            let (next, checked, failure) = check_tenant(events, checkpoints, verifier, tenant, cursor).await?;
            events_checked += checked;
            checked_by_tenant.insert(tenant.clone(), checked);
            if let Ok(mut cursors) = self.cursors.lock() {
                cursors.insert(tenant.clone(), next);
            }
            if let Some(failure) = failure {
                sink.integrity_failure(&failure).await;
                failures.push(failure);
            }
        }
        let status = IntegrityStatus {
            status: if failures.is_empty() { "ok" } else { "failed" },
            last_run: Some(now),
            events_checked,
            tenants,
            checked_by_tenant,
            failures,
        };
        if let Ok(mut current) = self.status.lock() {
            *current = match scope {
                JobScope::AllTenants => status.clone(),
                JobScope::Tenant(tenant) => current.merge_tenant(tenant, &status),
            };
        }
        Ok(status)
    }
}

/// Checks one tenant from `cursor`; returns the new cursor (unchanged where a check failed, so the
/// failure is seen again next run), the events checked, and the first failure.
pub async fn check_tenant(
    events: &dyn EventLog,
    checkpoints: &dyn CheckpointStore,
    verifier: Option<&NoteVerifier>,
    tenant: &TenantId,
    cursor: IntegrityCursor,
) -> Result<(IntegrityCursor, u64, Option<IntegrityFailure>), StoreError> {
    let failure = |check: &'static str, first_bad_seq: Option<u64>, kind: &str, reason: String| IntegrityFailure {
        tenant: tenant.clone(),
        check,
        first_bad_seq,
        kind: kind.to_owned(),
        reason,
    };
    // The link into the new events: the last verified event must be unchanged.
    if cursor.verified_size > 0 {
        let last = cursor.verified_size - 1;
        let row = events.scan(tenant, last, 1).await?.into_iter().next();
        if row.as_ref().map(|event| (event.seq, event.hash)) != Some((last, cursor.verified_hash)) {
            let reason = format!("seq {last} changed or disappeared after it was verified");
            return Ok((cursor, 0, Some(failure("chain", Some(last), "hash_mismatch", reason))));
        }
    }
    let report = events.verify(tenant, SeqRange { from_seq: Some(cursor.verified_size), to_seq: None }).await?;
    if !report.ok {
        let kind = report.kind.map(|kind| format!("{kind:?}").to_lowercase()).unwrap_or_default();
        let reason = report.reason.clone().unwrap_or_default();
        return Ok((cursor, report.checked, Some(failure("chain", report.first_bad_seq, &kind, reason))));
    }
    let mut next = cursor.clone();
    if let (Some(seq), Some(hash)) = (report.head_seq, report.head_hash)
        && seq + 1 > next.verified_size
    {
        next.verified_size = seq + 1;
        next.verified_hash = hash;
    }
    // Checkpoints published since the last run.
    let mut previous = cursor.checkpoint;
    loop {
        let after = previous.map_or(0, |(size, _)| size);
        let page = checkpoints.checkpoints_after(tenant, after, 500).await?;
        if page.is_empty() {
            break;
        }
        for checkpoint in page {
            let size = checkpoint.tree_size;
            let bad =
                |kind: &str, reason: String| Some(failure("checkpoint", Some(size.saturating_sub(1)), kind, reason));
            if let Some(verifier) = verifier {
                match verifier.verify(&checkpoint.note) {
                    Ok(signed) if signed.tree_size == size && signed.root_hash == checkpoint.root_hash => {}
                    Ok(_) => {
                        let reason = format!("the stored checkpoint of size {size} differs from its signed note");
                        return Ok((next, report.checked, bad("checkpoint_altered", reason)));
                    }
                    Err(err) => {
                        let reason = format!("the checkpoint of size {size} does not verify: {err}");
                        return Ok((next, report.checked, bad("bad_signature", reason)));
                    }
                }
            }
            match events.tree_root(tenant, size).await {
                Ok(root) if root == checkpoint.root_hash => {}
                Ok(_) | Err(ProofError::Store(StoreError::Corrupt(_))) | Err(ProofError::OutOfRange(_)) => {
                    let reason =
                        format!("the stored tree no longer has the root signed at size {size}: history was rewritten");
                    return Ok((next, report.checked, bad("tree_rewritten", reason)));
                }
                Err(ProofError::Store(err)) => return Err(err),
            }
            if let Some((previous_size, previous_root)) = previous {
                let proof = match events.consistency_proof(tenant, previous_size, size).await {
                    Ok(proof) => proof,
                    Err(ProofError::Store(err)) => return Err(err),
                    Err(ProofError::OutOfRange(reason)) => {
                        return Ok((next, report.checked, bad("inconsistent", reason)));
                    }
                };
                if !verify_consistency(previous_size, size, &previous_root, &checkpoint.root_hash, &proof) {
                    let reason = format!("the checkpoints of sizes {previous_size} and {size} are not consistent");
                    return Ok((next, report.checked, bad("inconsistent", reason)));
                }
            }
            previous = Some((size, checkpoint.root_hash));
            next.checkpoint = previous;
        }
    }
    Ok((next, report.checked, None))
}
