//! Sending one alert to one channel, once. Retrying is the caller's (outbox's) business, guided
//! by [`DeliveryError::retryable`] and [`crate::backoff::RetryPolicy`].
//!
//! Classification: HTTP 2xx is success; 408, 425, 429 and 5xx, time-outs and network errors are
//! retryable (with the service's `Retry-After` if it sent one); other 4xx, refused redirects,
//! targets refused by the [`TargetPolicy`] and configuration errors are permanent. For SMTP, 4xx
//! replies and network errors are retryable, 5xx replies and TLS failures permanent.

mod http;
mod smtp;

pub use smtp::FileMail;
pub(crate) use smtp::send_file as smtp_send_file;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::channel::{ChannelConfig, ConfigError, EnvLookup, ResolvedChannel};
use crate::message::AlertMessage;
use crate::render;
use crate::ssrf::{TargetError, TargetPolicy};

/// Connect and whole-request time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Sent as `User-Agent` on every HTTP delivery.
pub const USER_AGENT: &str = concat!("Veritrail-Alerts/", env!("CARGO_PKG_VERSION"));

/// Settings of a delivery beyond the channel itself.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Limit for connecting and for the whole exchange.
    pub timeout: Duration,
    /// PEM certificates trusted in addition to the system's roots (a private CA, a test server).
    pub extra_root_certs_pem: Vec<Vec<u8>>,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self { timeout: DEFAULT_TIMEOUT, extra_root_certs_pem: Vec::new() }
    }
}

/// What the service answered to a successful delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// HTTP status, or the SMTP reply code.
    pub status: u16,
    /// The start of the response (body or SMTP reply text), on one line.
    pub detail: String,
    /// The address the request actually went to.
    pub remote_addr: Option<SocketAddr>,
    pub elapsed: Duration,
}

/// A failed delivery. Its message never contains a channel secret (URLs are redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// Whether trying again later can succeed.
    pub retryable: bool,
    /// How long the service asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// HTTP status or SMTP reply code, if the service answered.
    pub status: Option<u16>,
    pub message: String,
}

impl DeliveryError {
    pub(crate) fn permanent(message: impl Into<String>) -> Self {
        Self { retryable: false, retry_after: None, status: None, message: message.into() }
    }

    pub(crate) fn transient(message: impl Into<String>) -> Self {
        Self { retryable: true, retry_after: None, status: None, message: message.into() }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.retryable { "retryable" } else { "permanent" };
        write!(f, "{kind} delivery failure: {}", self.message)
    }
}

impl std::error::Error for DeliveryError {}

impl From<ConfigError> for DeliveryError {
    fn from(error: ConfigError) -> Self {
        Self::permanent(format!("channel configuration: {error}"))
    }
}

impl From<TargetError> for DeliveryError {
    fn from(error: TargetError) -> Self {
        let retryable = error.is_retryable();
        Self { retryable, retry_after: None, status: None, message: error.to_string() }
    }
}

/// Sends `message` to `channel` once, with the default options and no environment: a channel
/// with `*_env` references needs [`deliver_with`] and the lookup its declarer may use.
pub async fn deliver(
    channel: &ChannelConfig,
    message: &AlertMessage,
    delivery_id: &str,
    policy: &TargetPolicy,
) -> Result<DeliveryReceipt, DeliveryError> {
    deliver_with(channel, message, delivery_id, policy, &DeliveryOptions::default(), &|_| None).await
}

/// Sends `message` to `channel` once. `delivery_id` identifies the delivery across retries
/// (webhook `id` and `X-Veritrail-Delivery`, e-mail `Message-ID`); `env` reads `*_env` secrets.
pub async fn deliver_with(
    channel: &ChannelConfig,
    message: &AlertMessage,
    delivery_id: &str,
    policy: &TargetPolicy,
    options: &DeliveryOptions,
    env: EnvLookup<'_>,
) -> Result<DeliveryReceipt, DeliveryError> {
    if delivery_id.is_empty() || delivery_id.len() > 200 || !delivery_id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(DeliveryError::permanent("delivery id must be 1 to 200 printable ASCII characters"));
    }
    let json = |value: serde_json::Value| serde_json::to_vec(&value).expect("rendered payloads are JSON values");
    let json_headers = [("Content-Type", "application/json".to_owned())];
    match channel.resolve(policy, env)? {
        ResolvedChannel::Slack { url } => {
            http::post(&url, json(render::slack::render(message)), &json_headers, policy, options).await
        }
        ResolvedChannel::Discord { url } => {
            http::post(&url, json(render::discord::render(message)), &json_headers, policy, options).await
        }
        ResolvedChannel::Teams { url } => {
            http::post(&url, json(render::teams::render(message)), &json_headers, policy, options).await
        }
        ResolvedChannel::Webhook { url, secret } => {
            let request = render::webhook::render(message, delivery_id, secret.as_bytes(), unix_now());
            http::post(&url, request.body, &request.headers, policy, options).await
        }
        ResolvedChannel::Email(email) => smtp::send(&email, message, delivery_id, policy, options).await,
    }
}

/// Resolves the channel's host now and checks it against the policy, for feedback when a
/// channel is created (delivery checks again, as addresses change); `env` reads `*_env` values.
pub async fn check_target(
    channel: &ChannelConfig,
    policy: &TargetPolicy,
    env: EnvLookup<'_>,
) -> Result<(), DeliveryError> {
    match channel.resolve(policy, env)? {
        ResolvedChannel::Slack { url }
        | ResolvedChannel::Discord { url }
        | ResolvedChannel::Teams { url }
        | ResolvedChannel::Webhook { url, .. } => policy.check_url(&url).await.map(|_| ())?,
        ResolvedChannel::Email(email) => policy.check_host(&email.host, email.port).await.map(|_| ())?,
    }
    Ok(())
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs() as i64).unwrap_or(0)
}

/// True when a TLS peer's certificate was refused (untrusted, expired, wrong name) or no TLS
/// version or cipher could be agreed: configuration problems that retrying does not fix.
pub(crate) fn tls_setup_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
                    | rustls::Error::PeerIncompatible(_)
            );
        }
        // io::Error hides a wrapped error from `source()`; `get_ref()` reaches it.
        if let Some(inner) = cause.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref)
            && tls_setup_refused(inner)
        {
            return true;
        }
        current = cause.source();
    }
    false
}

/// An error and its causes on one line, each cause once (many errors repeat their source).
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        current = cause.source();
    }
    excerpt(&text)
}

/// Response text on one line, cut short, for receipts and error messages.
pub(crate) fn excerpt(text: &str) -> String {
    render::text::truncate(render::text::single_line(text).trim(), 300)
}
