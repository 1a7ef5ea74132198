//! What is left of a request's body after its answer is decided is read and thrown away before
//! the answer goes out, as servers with a lingering close do.
//!
//! Why: a request refused before its body was read to the end (a `413` from the body limit, a
//! `401` before a large upload) leaves bytes unread on the connection. When the connection is then
//! closed, the kernel answers the unread bytes with a reset, and a client still sending, or
//! reading after the reset arrived, sees "connection reset" instead of the `413` it was sent.
//! Reading the rest first lets the client finish sending and read the answer. The read is bounded
//! ([`DRAIN_MAX_BYTES`], [`DRAIN_MAX_TIME`]); past the bound the answer says `Connection: close`
//! and the connection is closed as before.
//!
//! Written by hand: neither tower-http nor hyper offers it (hyper only reads what has already
//! arrived before it closes).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use http_body::{Body as _, Frame, SizeHint};
use tokio::sync::oneshot;

/// Most bytes read and thrown away after an answer.
pub const DRAIN_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Longest time spent reading them (a client that sends slowly is not waited for).
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(3);

/// Middleware: gives the handler a body that hands back, when dropped unfinished, what was not
/// read; reads that (bounded) before answering.
pub async fn drain_unread_body(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let (give_back, mut returned) = oneshot::channel();
    let body = Body::new(HandsBackUnread { inner: Some(body), give_back: Some(give_back) });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // The handler has finished, so its body has been dropped and what was left, if anything,
    // handed back (a body something still holds is read there, and nothing comes back).
    if let Ok(rest) = returned.try_recv()
        && !drain(rest).await
    {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and discards `body` up to the bounds; `true` when it reached its end.
async fn drain(body: Body) -> bool {
    let read = async {
        let mut chunks = body.into_data_stream();
        let mut read = 0usize;
        while let Some(chunk) = chunks.next().await {
            let Ok(chunk) = chunk else { return false };
            read += chunk.len();
            if read > DRAIN_MAX_BYTES {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_MAX_TIME, read).await.unwrap_or(false)
}

/// A request body that, dropped before its end, sends what is left to the middleware.
struct HandsBackUnread {
    inner: Option<Body>,
    give_back: Option<oneshot::Sender<Body>>,
}

impl http_body::Body for HandsBackUnread {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for HandsBackUnread {
    fn drop(&mut self) {
        if let (Some(inner), Some(give_back)) = (self.inner.take(), self.give_back.take())
            && !inner.is_end_stream()
        {
            let _ = give_back.send(inner);
        }
    }
}
