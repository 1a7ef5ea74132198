//! Group commit: concurrent appends queue up here and are written together, one transaction per
//! group, each caller waiting for the commit that holds its events.
//!
//! Why: a durable commit costs one fsync (SQLite WAL) or one WAL flush (PostgreSQL), and that,
//! not hashing or SQL, bounds single-event ingest. While one group commits, the next one fills.
//!
//! Fairness between tenants: the queue is shared, so admission bounds both all waiting requests
//! (`queue_capacity`) and each tenant's (`max_queued_per_tenant`): a tenant flooding the queue
//! is refused before the others are, and the others' appends are still admitted. Groups are formed
//! round-robin over the tenants with waiting requests, so an admitted append goes into the next
//! group however much another tenant has waiting. Within a tenant, requests keep their order.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use veritrail_core::event::{NewEvent, TenantId};
use veritrail_core::store::{AppendError, Appended, StoreError};

use super::plan::{AppendRequest, AppendResult};

/// Writes a group of requests in one transaction.
#[async_trait]
pub(crate) trait GroupWriter: Send + Sync + 'static {
    /// Returns one result per request, or an error that failed the whole transaction.
    async fn write_group(&self, requests: &[AppendRequest]) -> Result<Vec<AppendResult>, StoreError>;
}

/// How much may wait for a commit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    /// Append requests waiting or being committed, all tenants together.
    pub(crate) capacity: usize,
    /// Of those, one tenant's.
    pub(crate) per_tenant: usize,
    /// Most events in one transaction.
    pub(crate) max_group_events: usize,
}

struct Pending {
    request: AppendRequest,
    reply: oneshot::Sender<AppendResult>,
    /// Held until the request's commit is over (not until its caller stops waiting: a caller
    /// that went away leaves its request queued, and it still counts).
    slot: Slot,
}

/// The front of the group-commit queue.
#[derive(Clone)]
pub(crate) struct Sequencer {
    // Unbounded: what may wait is bounded by `admission`, which refuses before anything is sent.
    queue: mpsc::UnboundedSender<Pending>,
    admission: Arc<Admission>,
}

impl Sequencer {
    /// Starts the commit loop.
    pub(crate) fn spawn(writer: Arc<dyn GroupWriter>, limits: QueueLimits) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let admission = Arc::new(Admission {
            capacity: limits.capacity.max(1),
            per_tenant: limits.per_tenant.max(1),
            counts: Mutex::default(),
        });
        tokio::spawn(commit_loop(writer, receiver, limits.max_group_events.max(1)));
        Self { queue, admission }
    }

    /// Queues an append and waits until it is committed (or refused).
    pub(crate) async fn append(&self, tenant: &TenantId, events: Vec<NewEvent>) -> Result<Vec<Appended>, AppendError> {
        let slot = self.admission.admit(tenant)?;
        let (reply, answer) = oneshot::channel();
        let pending = Pending { request: AppendRequest { tenant: tenant.clone(), events }, reply, slot };
        self.queue.send(pending).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Counts what waits, overall and per tenant.
struct Admission {
    capacity: usize,
    per_tenant: usize,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    /// Only tenants with something waiting: the map does not grow with the number of tenants
    /// ever seen.
    tenants: HashMap<TenantId, usize>,
}

impl Admission {
    fn admit(self: &Arc<Self>, tenant: &TenantId) -> Result<Slot, StoreError> {
        let mut counts = self.counts.lock().map_err(|_| StoreError::Closed)?;
        if counts.total >= self.capacity {
            return Err(StoreError::Overloaded);
        }
        let waiting = counts.tenants.entry(tenant.clone()).or_insert(0);
        if *waiting >= self.per_tenant {
            return Err(StoreError::TenantOverloaded { limit: self.per_tenant });
        }
        *waiting += 1;
        counts.total += 1;
        Ok(Slot { admission: Arc::clone(self), tenant: tenant.clone() })
    }

    fn release(&self, tenant: &TenantId) {
        // A poisoned lock means a panic while counting; the sequencer is unusable then anyway.
        let Ok(mut counts) = self.counts.lock() else { return };
        counts.total = counts.total.saturating_sub(1);
        if let Entry::Occupied(mut waiting) = counts.tenants.entry(tenant.clone()) {
            *waiting.get_mut() -= 1;
            if *waiting.get() == 0 {
                waiting.remove();
            }
        }
    }
}

/// One admitted request's place in the queue, given back when dropped.
struct Slot {
    admission: Arc<Admission>,
    tenant: TenantId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(&self.tenant);
    }
}

/// Admitted requests not yet in a group, in a queue per tenant, and the tenants with waiting
/// requests in the order they are served.
#[derive(Default)]
struct Waiting {
    by_tenant: HashMap<TenantId, VecDeque<Pending>>,
    turn: VecDeque<TenantId>,
}

impl Waiting {
    fn is_empty(&self) -> bool {
        self.turn.is_empty()
    }

    fn push(&mut self, pending: Pending) {
        match self.by_tenant.entry(pending.request.tenant.clone()) {
            Entry::Occupied(mut queue) => queue.get_mut().push_back(pending),
            Entry::Vacant(vacant) => {
                self.turn.push_back(vacant.key().clone());
                vacant.insert(VecDeque::from([pending]));
            }
        }
    }

    /// Takes one request from each tenant in turn until the group holds `max_events` events (the
    /// first request always goes in, however large); a tenant left with requests waits at the
    /// back of the turn, so the next group starts with the tenants this one did not reach.
    fn take_group(&mut self, max_events: usize) -> Vec<Pending> {
        let mut group = Vec::new();
        let mut n_events = 0;
        while n_events < max_events {
            let Some(tenant) = self.turn.pop_front() else { break };
            let Some(queue) = self.by_tenant.get_mut(&tenant) else { continue };
            if let Some(next) = queue.pop_front() {
                n_events += next.request.events.len();
                group.push(next);
            }
            if queue.is_empty() {
                self.by_tenant.remove(&tenant);
            } else {
                self.turn.push_back(tenant);
            }
        }
        group
    }
}

async fn commit_loop(
    writer: Arc<dyn GroupWriter>,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
    max_group_events: usize,
) {
    let mut waiting = Waiting::default();
    loop {
        if waiting.is_empty() {
            match receiver.recv().await {
                Some(first) => waiting.push(first),
                None => return,
            }
        }
        while let Ok(next) = receiver.try_recv() {
            waiting.push(next);
        }
        let group = waiting.take_group(max_group_events);
        let mut requests = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        let mut slots = Vec::with_capacity(group.len());
        for pending in group {
            requests.push(pending.request);
            replies.push(pending.reply);
            slots.push(pending.slot);
        }
        let results = commit_group(writer.as_ref(), &requests).await;
        // Places are given back before the answers, so a caller that appends again as soon as
        // it is answered finds its own place free.
        drop(slots);
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that went away (client disconnected) still had its events committed.
            let _ = reply.send(result);
        }
    }
}

/// Commits a group; if the transaction fails as a whole, retries each request alone so one bad
/// request cannot fail its neighbours.
async fn commit_group(writer: &dyn GroupWriter, requests: &[AppendRequest]) -> Vec<AppendResult> {
    match writer.write_group(requests).await {
        Ok(results) => results,
        Err(err) if requests.len() == 1 => {
            tracing::error!(error = %err, "append failed");
            vec![Err(AppendError::Store(err))]
        }
        Err(err) => {
            tracing::warn!(error = %err, n_requests = requests.len(), "group commit failed; retrying requests one by one");
            let mut results = Vec::with_capacity(requests.len());
            for request in requests {
                let single = std::slice::from_ref(request);
                results.push(match writer.write_group(single).await {
                    Ok(mut result) => result.pop().unwrap_or(Err(AppendError::Store(StoreError::Closed))),
                    Err(err) => {
                        tracing::error!(error = %err, "append failed");
                        Err(AppendError::Store(err))
                    }
                });
            }
            results
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use tokio::sync::Semaphore;
    use veritrail_core::validate::{Limits, validate_event};

    use super::*;

    /// Records each group's requests (tenant and first event's action) and commits only when
    /// the test lets it: `gate` holds one permit per group allowed through.
    struct GatedWriter {
        gate: Semaphore,
        groups: StdMutex<Vec<Vec<(String, String)>>>,
    }

    #[async_trait]
    impl GroupWriter for GatedWriter {
        async fn write_group(&self, requests: &[AppendRequest]) -> Result<Vec<AppendResult>, StoreError> {
            self.gate.acquire().await.map_err(|_| StoreError::Closed)?.forget();
            let group = requests
                .iter()
                .map(|request| (request.tenant.as_str().to_owned(), request.events[0].action.clone()))
                .collect();
            self.groups.lock().expect("groups").push(group);
            Ok(requests.iter().map(|_| Ok(Vec::new())).collect())
        }
    }

    fn event(action: &str) -> NewEvent {
        let raw = serde_json::json!({"actor": {"id": "a", "type": "user"}, "action": action, "outcome": "success"});
        validate_event(&raw, &Limits::default(), String::new).expect("valid")
    }

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).expect("tenant")
    }

    /// Lets the commit loop run until it waits (on the gate or for requests).
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_flooding_tenant_is_refused_and_the_others_are_served_in_the_next_group() {
        let writer = Arc::new(GatedWriter { gate: Semaphore::new(0), groups: StdMutex::default() });
        let limits = QueueLimits { capacity: 100, per_tenant: 3, max_group_events: 2 };
        let sequencer = Sequencer::spawn(writer.clone(), limits);
        let (a, b) = (tenant("a"), tenant("b"));

        // A's first request is taken into a group whose commit is held at the gate.
        let first = tokio::spawn({
            let sequencer = sequencer.clone();
            let a = a.clone();
            async move { sequencer.append(&a, vec![event("a.0")]).await }
        });
        settle().await;
        // A floods: two more fit under its limit of three, the rest are refused at once.
        let mut queued = Vec::new();
        for idx in 1..3 {
            let sequencer = sequencer.clone();
            let a = a.clone();
            queued.push(tokio::spawn(async move { sequencer.append(&a, vec![event(&format!("a.{idx}"))]).await }));
        }
        settle().await;
        for idx in 3..10 {
            let refused = sequencer.append(&a, vec![event(&format!("a.{idx}"))]).await;
            assert!(
                matches!(refused, Err(AppendError::Store(StoreError::TenantOverloaded { limit: 3 }))),
                "a.{idx}: {refused:?}"
            );
        }
        // B is admitted, and served in the very next group, before A's queued requests finish.
        let from_b = tokio::spawn({
            let sequencer = sequencer.clone();
            let b = b.clone();
            async move { sequencer.append(&b, vec![event("b.0")]).await }
        });
        settle().await;
        writer.gate.add_permits(3);
        first.await.expect("task").expect("a.0 committed");
        from_b.await.expect("task").expect("b.0 committed");
        for task in queued {
            task.await.expect("task").expect("queued request committed");
        }
        let groups = writer.groups.lock().expect("groups").clone();
        let pairs = |items: &[(&str, &str)]| {
            items.iter().map(|(tenant, action)| ((*tenant).to_owned(), (*action).to_owned())).collect::<Vec<_>>()
        };
        // Round-robin: B's request goes into the group after the one committing, ahead of A's
        // older a.2 (groups hold two events here), not after everything A has waiting.
        assert_eq!(groups, [pairs(&[("a", "a.0")]), pairs(&[("a", "a.1"), ("b", "b.0")]), pairs(&[("a", "a.2")])]);

        // Once A's requests are committed it is admitted again.
        writer.gate.add_permits(1);
        sequencer.append(&a, vec![event("a.again")]).await.expect("admitted again");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_whole_queue_is_bounded_too() {
        let writer = Arc::new(GatedWriter { gate: Semaphore::new(0), groups: StdMutex::default() });
        let sequencer =
            Sequencer::spawn(writer.clone(), QueueLimits { capacity: 2, per_tenant: 2, max_group_events: 10 });
        let mut tasks = Vec::new();
        for name in ["a", "b"] {
            let sequencer = sequencer.clone();
            tasks.push(tokio::spawn(async move { sequencer.append(&tenant(name), vec![event("x.y")]).await }));
        }
        settle().await;
        let refused = sequencer.append(&tenant("c"), vec![event("x.y")]).await;
        assert!(matches!(refused, Err(AppendError::Store(StoreError::Overloaded))), "{refused:?}");
        writer.gate.add_permits(10);
        for task in tasks {
            task.await.expect("task").expect("committed");
        }
        sequencer.append(&tenant("c"), vec![event("x.y")]).await.expect("room again");
    }

    #[test]
    fn groups_take_tenants_in_turn_and_keep_each_tenants_order() {
        let mut waiting = Waiting::default();
        let admission = Arc::new(Admission { capacity: usize::MAX, per_tenant: usize::MAX, counts: Mutex::default() });
        for (name, action) in [("a", "a.0"), ("a", "a.1"), ("a", "a.2"), ("b", "b.0"), ("c", "c.0"), ("b", "b.1")] {
            let (reply, _) = oneshot::channel();
            let slot = admission.admit(&tenant(name)).expect("admitted");
            waiting.push(Pending {
                request: AppendRequest { tenant: tenant(name), events: vec![event(action)] },
                reply,
                slot,
            });
        }
        let actions =
            |group: Vec<Pending>| group.iter().map(|p| p.request.events[0].action.clone()).collect::<Vec<_>>();
        assert_eq!(actions(waiting.take_group(4)), ["a.0", "b.0", "c.0", "a.1"]);
        assert_eq!(actions(waiting.take_group(4)), ["b.1", "a.2"]);
        assert!(waiting.is_empty());
        assert_eq!(admission.counts.lock().expect("counts").total, 0, "places are given back");
    }
}
