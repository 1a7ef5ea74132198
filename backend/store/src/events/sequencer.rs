//! Group commit: concurrent appends queue up here and are written together, one transaction per
//! group, each caller waiting for the commit that holds its events.
//!
//! Why: a durable commit costs one fsync (SQLite WAL) or one WAL flush (PostgreSQL), and that,
//! not hashing or SQL, bounds single-event ingest. While one group commits, the next one fills.

use std::sync::Arc;

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

struct Pending {
    request: AppendRequest,
    reply: oneshot::Sender<AppendResult>,
}

/// The front of the group-commit queue.
#[derive(Clone)]
pub(crate) struct Sequencer {
    queue: mpsc::Sender<Pending>,
}

impl Sequencer {
    /// Starts the commit loop. `max_group_events` bounds the events in one transaction.
    pub(crate) fn spawn(writer: Arc<dyn GroupWriter>, queue_capacity: usize, max_group_events: usize) -> Self {
        let (queue, receiver) = mpsc::channel(queue_capacity.max(1));
        tokio::spawn(commit_loop(writer, receiver, max_group_events.max(1)));
        Self { queue }
    }

    /// Queues an append and waits until it is committed (or refused).
    pub(crate) async fn append(&self, tenant: &TenantId, events: Vec<NewEvent>) -> Result<Vec<Appended>, AppendError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending { request: AppendRequest { tenant: tenant.clone(), events }, reply };
        self.queue.try_send(pending).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
        })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn commit_loop(writer: Arc<dyn GroupWriter>, mut receiver: mpsc::Receiver<Pending>, max_group_events: usize) {
    while let Some(first) = receiver.recv().await {
        let mut n_events = first.request.events.len();
        let mut group = vec![first];
        while n_events < max_group_events {
            match receiver.try_recv() {
                Ok(next) => {
                    n_events += next.request.events.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<AppendRequest>, Vec<oneshot::Sender<AppendResult>>) =
            group.into_iter().map(|pending| (pending.request, pending.reply)).unzip();
        let results = commit_group(writer.as_ref(), &requests).await;
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
