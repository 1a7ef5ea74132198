//! A webhook receiver for the product mode's alert channel: accepts every POST on 127.0.0.1,
//! answers `204 No Content`, and counts the deliveries. Hand-written on a TCP listener (a dozen
//! lines of HTTP/1.1) because the benchmark has no HTTP server dependency and needs none of one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub struct Receiver {
    pub url: String,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::with_capacity(8192);
                    let mut chunk = [0u8; 8192];
                    loop {
                        let Ok(read) = socket.read(&mut chunk).await else { return };
                        if read == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..read]);
                        // One request at a time: headers, then Content-Length bytes of body.
                        while let Some(length) = complete_request(&buffer) {
                            buffer.drain(..length);
                            counter.fetch_add(1, Ordering::Relaxed);
                            let answer = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
                            if socket.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Ok(Self { url, received, task })
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The length of the first complete request in `buffer` (headers and `Content-Length` body).
fn complete_request(buffer: &[u8]) -> Option<usize> {
    let end = buffer.windows(4).position(|window| window == b"\r\n\r\n")? + 4;
    let headers = String::from_utf8_lossy(&buffer[..end]);
    let body = headers
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buffer.len() >= end + body).then_some(end + body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_end_after_their_body() {
        let request = b"POST /hook HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST";
        assert_eq!(complete_request(request), Some(request.len() - 4));
        assert_eq!(complete_request(b"POST /hook HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"), None);
        assert_eq!(complete_request(b"GET / HTTP/1.1\r\n\r\n"), Some(18));
    }
}
