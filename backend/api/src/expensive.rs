//! The route class of expensive reads: verifying the chain, search, exports, evidence bundles
//! and report requests. One such request can keep the database and the cores busy for a long
//! time, so the class has
//!
//! - a cap on the requests running at once (`limits.expensive.max_concurrent`) and on those of
//!   one caller (`max_per_caller`: one API key or one signed-in user never takes every slot). A
//!   request that finds no free slot is refused at once with `429 overloaded` and `Retry-After`,
//!   never queued;
//! - a time limit (`timeout_ms`) on producing the answer's status and headers: past it the
//!   handler is dropped (its database work with it) and the caller gets `504 timed_out`.
//!
//! A streamed answer (exports, evidence bundles) keeps its slot until its body has been sent or
//! the client has gone, since sending it is the work. Its body is not cut by a whole-request
//! time limit, however long a large export runs while it makes progress: instead each piece of
//! the body must be ready within `timeout_ms` of being asked for (tower-http's `TimeoutBody`),
//! so a stalled database read ends the stream, while a slow reader, which holds only its own
//! caller's slots, is left alone.
//!
//! Written here rather than composed from tower's `ConcurrencyLimit`, `LoadShed` and tower-http's
//! `TimeoutLayer`: those give the slot back when the headers are out (not when a streamed body
//! ends), know nothing of callers, and answer with their own errors instead of the API's shape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::timeout::TimeoutBody;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

/// How many expensive requests may run, and for how long (`limits.expensive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpensiveLimits {
    /// Expensive requests running at once, over all callers.
    pub max_concurrent: usize,
    /// Expensive requests running at once for one API key or one signed-in user.
    pub max_per_caller: usize,
    /// Time to produce the answer's status and headers; for a streamed body, the longest wait
    /// for each next piece.
    pub timeout_ms: u64,
}

impl Default for ExpensiveLimits {
    fn default() -> Self {
        Self { max_concurrent: 8, max_per_caller: 2, timeout_ms: 120_000 }
    }
}

impl ExpensiveLimits {
    /// Refuses settings that would let no expensive request run.
    pub fn check(&self) -> Result<(), String> {
        if self.max_concurrent == 0 || self.max_per_caller == 0 || self.timeout_ms == 0 {
            return Err(format!(
                "limits.expensive.max_concurrent, max_per_caller and timeout_ms must be at least 1 (got {}, {}, {})",
                self.max_concurrent, self.max_per_caller, self.timeout_ms
            ));
        }
        Ok(())
    }
}

/// The slots of the expensive class, shared by all its routes.
#[derive(Debug)]
pub(crate) struct Gate {
    limits: ExpensiveLimits,
    slots: Arc<Semaphore>,
    /// Slots held per caller; a caller holding none has no entry, so the map never holds more
    /// entries than there are slots.
    per_caller: Mutex<HashMap<String, usize>>,
}

/// A slot taken: given back when dropped.
struct Slot {
    _slot: OwnedSemaphorePermit,
    gate: Arc<Gate>,
    caller: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.gate.per_caller.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.caller);
            }
        }
    }
}

impl Gate {
    pub(crate) fn new(limits: ExpensiveLimits) -> Arc<Self> {
        // `check` refuses 0 at start-up; tests that build the router directly get at least one.
        let slots = Arc::new(Semaphore::new(limits.max_concurrent.max(1)));
        Arc::new(Self { limits, slots, per_caller: Mutex::default() })
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.limits.timeout_ms.max(1))
    }

    /// Takes a slot for `caller`, or refuses at once.
    fn try_admit(self: &Arc<Self>, caller: &str) -> Result<Slot, ApiError> {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return Err(ApiError::new(
                ErrorCode::Overloaded,
                format!(
                    "the server is already running {} expensive requests (verify, search, exports, evidence bundles, \
                     reports); retry in a moment",
                    self.limits.max_concurrent
                ),
            ));
        };
        let mut running = self.per_caller.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = running.entry(caller.to_owned()).or_default();
        if *count >= self.limits.max_per_caller.max(1) {
            return Err(ApiError::new(
                ErrorCode::Overloaded,
                format!(
                    "this caller is already running {} expensive requests (verify, search, exports, evidence bundles, \
                     reports); retry when one has finished",
                    self.limits.max_per_caller
                ),
            ));
        }
        *count += 1;
        Ok(Slot { _slot: slot, gate: self.clone(), caller: caller.to_owned() })
    }
}

/// The state of [`admit`]: the app (to authenticate) and the slots.
#[derive(Clone)]
pub(crate) struct Gated {
    pub app: AppState,
    pub gate: Arc<Gate>,
}

/// The middleware of the expensive routes: authenticates the caller (the handler reuses it),
/// takes a slot, runs the handler within the time limit and keeps the slot while a streamed body
/// is sent.
pub(crate) async fn admit(State(gated): State<Gated>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &gated.app).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let key = format!("{}/{}", caller.tenant(), caller.label());
    let slot = match gated.gate.try_admit(&key) {
        Ok(slot) => slot,
        Err(error) => {
            tracing::info!(caller = %key, path = %parts.uri.path(), "expensive request refused: no free slot");
            return error.into_response();
        }
    };
    parts.extensions.insert(caller);
    let timeout = gated.gate.timeout();
    let Ok(response) = tokio::time::timeout(timeout, next.run(Request::from_parts(parts, body))).await else {
        tracing::warn!(caller = %key, ?timeout, "expensive request timed out");
        return ApiError::new(
            ErrorCode::TimedOut,
            format!(
                "no answer within {} ms (limits.expensive.timeout_ms); narrow the request (a shorter time or seq \
                 range) or retry later",
                timeout.as_millis()
            ),
        )
        .into_response();
    };
    if response.body().size_hint().exact().is_some() {
        // Answered whole: the work is done and the slot goes back here.
        return response;
    }
    let (parts, body) = response.into_parts();
    let pieces = Body::new(TimeoutBody::new(timeout, body)).into_data_stream().map(move |piece| {
        let _held_until_the_body_ends = &slot;
        piece.inspect_err(|error| tracing::warn!(caller = %key, %error, "streamed answer stopped"))
    });
    Response::from_parts(parts, Body::from_stream(pieces))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_overall_and_per_caller_and_come_back() {
        let gate = Gate::new(ExpensiveLimits { max_concurrent: 3, max_per_caller: 2, timeout_ms: 1_000 });
        let first = gate.try_admit("acme/k1").expect("first");
        let second = gate.try_admit("acme/k1").expect("second");
        let refused = gate.try_admit("acme/k1").err().expect("a third for one caller is refused");
        assert_eq!(refused.code, ErrorCode::Overloaded);
        assert!(refused.message.contains("this caller"), "{}", refused.message);
        let other = gate.try_admit("acme/k2").expect("another caller still gets the last slot");
        let full = gate.try_admit("acme/k3").err().expect("no slot left");
        assert!(full.message.contains("the server"), "{}", full.message);
        drop(first);
        let again = gate.try_admit("acme/k3").expect("a slot came back");
        drop((second, other, again));
        assert!(gate.per_caller.lock().expect("lock").is_empty(), "callers without slots leave no entry");
        assert_eq!(gate.slots.available_permits(), 3);
    }

    /// A body that yields a piece every `every`, `count` times.
    fn slow_body(count: usize, every: Duration) -> Body {
        let pieces = futures::stream::iter(0..count).then(move |idx| async move {
            tokio::time::sleep(every).await;
            Ok::<_, std::io::Error>(axum::body::Bytes::from(format!("piece {idx}\n")))
        });
        Body::from_stream(pieces)
    }

    #[tokio::test]
    async fn a_streaming_body_making_progress_outlives_the_time_limit_and_a_stalled_one_ends() {
        let limit = Duration::from_millis(200);
        // Six pieces 80 ms apart: 480 ms in all, more than twice the limit, each well within it.
        let steady = Body::new(TimeoutBody::new(limit, slow_body(6, Duration::from_millis(80))));
        let all = axum::body::to_bytes(steady, usize::MAX).await.expect("the steady body is sent whole");
        assert_eq!(all.iter().filter(|byte| **byte == b'\n').count(), 6);
        let stalled = Body::new(TimeoutBody::new(limit, slow_body(2, Duration::from_millis(600))));
        assert!(axum::body::to_bytes(stalled, usize::MAX).await.is_err(), "a piece later than the limit ends it");
    }
}
