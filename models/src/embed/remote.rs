//! Calling OpenAI-compatible endpoints: the HTTP client, the retry policy and the error type.
//!
//! Shared by [`super::OpenAiEmbedder`] and [`crate::chat::OpenAiChat`]. async-openai sends the
//! requests; retrying is done here so the policy is explicit and tested: transient failures
//! (HTTP 429, 5xx, timeouts, connection errors) are retried with exponential backoff and jitter,
//! any other 4xx is returned at once because sending the same request again cannot succeed.

use std::future::Future;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;

/// Delay before the first retry; doubles on every further retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Longest delay between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A failed call to a remote model, after the retries its kind allowed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The endpoint answered with an HTTP error status.
    #[error("endpoint answered HTTP {status} after {attempts} attempt(s): {message}")]
    Status {
        /// The HTTP status of the last answer.
        status: u16,
        /// The error message the endpoint gave.
        message: String,
        /// How many requests were sent.
        attempts: u32,
    },
    /// No answer arrived within the configured per-request timeout.
    #[error("endpoint did not answer within the timeout, {attempts} attempt(s)")]
    Timeout {
        /// How many requests were sent.
        attempts: u32,
    },
    /// The connection failed, or the answer could not be read or decoded.
    #[error("request to endpoint failed after {attempts} attempt(s): {message}")]
    Transport {
        /// What failed.
        message: String,
        /// How many requests were sent.
        attempts: u32,
    },
    /// The endpoint answered with a body that is not in OpenAI's format (never retried: the
    /// endpoint is probably not OpenAI-compatible, or the base URL points elsewhere).
    #[error("endpoint answer is not in OpenAI's format: {0}")]
    Undecodable(String),
    /// The request could not be built (a configuration error, never retried).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl RemoteError {
    /// Whether sending the same request again may succeed.
    fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || (500..600).contains(status),
            Self::Timeout { .. } => true,
            Self::Transport { .. } => true,
            Self::Undecodable(_) | Self::InvalidRequest(_) => false,
        }
    }

    fn set_attempts(&mut self, n: u32) {
        match self {
            Self::Status { attempts, .. } | Self::Timeout { attempts } | Self::Transport { attempts, .. } => {
                *attempts = n
            }
            Self::Undecodable(_) | Self::InvalidRequest(_) => {}
        }
    }
}

/// Classifies an async-openai error (before the attempt count is known).
pub(crate) fn map_openai_error(error: OpenAIError) -> RemoteError {
    match error {
        OpenAIError::ApiError(api) => {
            RemoteError::Status { status: api.status_code.as_u16(), message: api.api_error.message, attempts: 0 }
        }
        OpenAIError::Reqwest(e) if e.is_timeout() => RemoteError::Timeout { attempts: 0 },
        OpenAIError::Reqwest(e) => RemoteError::Transport { message: error_chain(&e), attempts: 0 },
        // A success body that does not decode, or an error body that is not OpenAI's error JSON
        // (async-openai drops the status then, so even a 503 with an HTML body lands here).
        OpenAIError::JSONDeserialize(e, body) => RemoteError::Undecodable(format!("{e}: {}", truncate(&body, 300))),
        OpenAIError::InvalidArgument(message) => RemoteError::InvalidRequest(message),
        other => RemoteError::Transport { message: other.to_string(), attempts: 0 },
    }
}

/// async-openai's endpoint settings, all set explicitly: its defaults read `OPENAI_API_KEY`,
/// `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID` from the environment and would send them to whatever
/// endpoint is configured.
fn api_config(base_url: &str, api_key: Option<&str>) -> OpenAIConfig {
    OpenAIConfig::new()
        .with_api_base(base_url.trim_end_matches('/'))
        .with_api_key(api_key.unwrap_or_default())
        .with_org_id("")
        .with_project_id("")
}

/// An async-openai client for `base_url` whose requests each time out after `timeout` (from
/// connecting to the last byte of the answer) and are sent exactly once: async-openai's own
/// retry layer is left out so [`with_retries`] alone decides what is retried.
pub(crate) fn client(
    base_url: &str,
    api_key: Option<&str>,
    timeout: Duration,
) -> Result<Client<OpenAIConfig>, RemoteError> {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| RemoteError::InvalidRequest(format!("cannot build HTTP client: {}", error_chain(&e))))?;
    Ok(Client::build(http.clone(), api_config(base_url, api_key)).with_http_service(ReqwestService::new(http)))
}

/// Runs `attempt` until it succeeds, fails permanently, or `max_retries` retries are spent.
pub(crate) async fn with_retries<T, F, Fut>(max_retries: u32, what: &str, mut attempt: F) -> Result<T, RemoteError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OpenAIError>>,
{
    let mut sent = 0;
    loop {
        sent += 1;
        let mut error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) => map_openai_error(e),
        };
        error.set_attempts(sent);
        if !error.is_transient() || sent > max_retries {
            return Err(error);
        }
        let delay = backoff(sent);
        tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "{what} failed, retrying");
        tokio::time::sleep(delay).await;
    }
}

/// Delay after the `n`-th failed attempt (n ≥ 1): exponential, capped, with "equal jitter" (half
/// fixed, half random) so many clients hitting a rate limit at once spread out.
fn backoff(n: u32) -> Duration {
    let exp = FIRST_BACKOFF.saturating_mul(1u32 << (n - 1).min(16)).min(MAX_BACKOFF);
    let half = exp / 2;
    // Jitter is a nicety: if the OS random source fails, fall back to no jitter.
    let random = getrandom::u32().unwrap_or(0);
    half + half.mul_f64(f64::from(random) / f64::from(u32::MAX))
}

/// `error` with its sources, which is where reqwest keeps the useful part ("connection refused").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_stays_within_its_jitter_band() {
        for n in 1..=20 {
            let exp = FIRST_BACKOFF.saturating_mul(1u32 << (n - 1).min(16)).min(MAX_BACKOFF);
            let delay = backoff(n);
            assert!(delay >= exp / 2 && delay <= exp, "attempt {n}: {delay:?} outside [{:?}, {exp:?}]", exp / 2);
        }
        assert!(backoff(30) <= MAX_BACKOFF);
    }

    #[test]
    fn only_rate_limits_server_errors_and_network_failures_are_transient() {
        let status = |status| RemoteError::Status { status, message: String::new(), attempts: 1 };
        assert!(status(429).is_transient());
        assert!(status(500).is_transient());
        assert!(status(503).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(401).is_transient());
        assert!(!status(404).is_transient());
        assert!(RemoteError::Timeout { attempts: 1 }.is_transient());
        assert!(!RemoteError::InvalidRequest(String::new()).is_transient());
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
