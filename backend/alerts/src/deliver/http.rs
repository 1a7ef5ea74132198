//! POSTing a payload to a vetted URL.

use std::time::{Duration, Instant, SystemTime};

use reqwest::dns::{Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, redirect};
use url::Url;

use super::{DeliveryError, DeliveryOptions, DeliveryReceipt, USER_AGENT, error_chain, excerpt, tls_setup_refused};
use crate::channel::redact_url;
use crate::ssrf::TargetPolicy;

/// Bytes of a response body kept for the receipt or the error.
const BODY_EXCERPT_BYTES: usize = 2048;

/// A resolver that resolves nothing: every name the client may reach is pinned with
/// `resolve_to_addrs` to addresses the policy checked, so any other lookup is a bug.
struct NoDns;

impl Resolve for NoDns {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move { Err(format!("refusing an unvetted DNS lookup of {name}").into()) })
    }
}

pub(super) async fn post(
    url: &Url,
    body: Vec<u8>,
    headers: &[(&str, String)],
    policy: &TargetPolicy,
    options: &DeliveryOptions,
) -> Result<DeliveryReceipt, DeliveryError> {
    let target = policy.check_url(url).await?;
    let mut builder = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .no_proxy()
        .dns_resolver(NoDns)
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .user_agent(USER_AGENT);
    if let Some(host) = url.domain() {
        // Keyed by the URL's own host string, so the client finds the pin for exactly this name.
        builder = builder.resolve_to_addrs(host, &target.addrs);
    }
    for pem in &options.extra_root_certs_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|error| DeliveryError::permanent(format!("extra root certificate: {error}")))?;
        builder = builder.tls_certs_merge(certs);
    }
    let client = builder.build().map_err(|error| DeliveryError::permanent(format!("HTTP client: {error}")))?;

    let mut request = client.post(url.clone()).body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let started = Instant::now();
    let mut response = request.send().await.map_err(|error| network_error(error, url, options.timeout))?;
    let status = response.status();
    let remote_addr = response.remote_addr();
    let response_headers = response.headers().clone();
    let mut body = Vec::new();
    // A body that breaks off still leaves the status to judge by.
    while body.len() < BODY_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(BODY_EXCERPT_BYTES);
    let text = excerpt(&String::from_utf8_lossy(&body));
    // What the target said stays in the server's log: echoed to whoever configured the channel,
    // it would let them read internal services through the server.
    if !status.is_success() && !text.is_empty() {
        tracing::warn!(target = %redact_url(url.as_str()), status = status.as_u16(), body = %text, "alert target answered with an error");
    }
    classify(status, &response_headers, &text, url).map(|()| DeliveryReceipt {
        status: status.as_u16(),
        detail: status_line(status),
        remote_addr,
        elapsed: started.elapsed(),
    })
}

/// `HTTP 200 OK`: the status, never the body.
fn status_line(status: StatusCode) -> String {
    format!("HTTP {} {}", status.as_u16(), status.canonical_reason().unwrap_or("")).trim_end().to_owned()
}

/// Success, or the error a status stands for. `text` (the body) only feeds `Retry-After` parsing.
fn classify(status: StatusCode, headers: &HeaderMap, text: &str, url: &Url) -> Result<(), DeliveryError> {
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    let described = status_line(status);
    let retryable = matches!(code, 408 | 425 | 429) || status.is_server_error();
    let message = if status.is_redirection() {
        let location = headers.get(LOCATION).and_then(|value| value.to_str().ok()).map(redact_url).unwrap_or_default();
        format!(
            "{} answered HTTP {code} redirecting to {location}; redirects are not followed",
            redact_url(url.as_str())
        )
    } else {
        described
    };
    let retry_after = if retryable { retry_after(headers, text, SystemTime::now()) } else { None };
    Err(DeliveryError { retryable, retry_after, status: Some(code), message })
}

/// `Retry-After` as seconds (integer or, as Discord sends, fractional) or an HTTP date; else
/// Discord's JSON `retry_after` (seconds) in a 429 body.
pub(crate) fn retry_after(headers: &HeaderMap, body: &str, now: SystemTime) -> Option<Duration> {
    let header = headers.get(RETRY_AFTER).and_then(|value| value.to_str().ok()).map(str::trim);
    if let Some(value) = header {
        if let Ok(secs) = value.parse::<f64>() {
            return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0 * 7.0)));
        }
        if let Ok(when) = httpdate::parse_http_date(value) {
            return Some(when.duration_since(now).unwrap_or_default());
        }
    }
    let parsed: serde_json::Value = serde_json::from_str(body).ok()?;
    let secs = parsed.get("retry_after")?.as_f64()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0 * 7.0)))
}

/// A failure before any response. The URL (with its token) is stripped from reqwest's message.
fn network_error(error: reqwest::Error, url: &Url, timeout: Duration) -> DeliveryError {
    let target = redact_url(url.as_str());
    if error.is_builder() {
        return DeliveryError::permanent(format!("cannot build the request to {target}: {}", chain(error)));
    }
    if error.is_timeout() {
        return DeliveryError::transient(format!("{target} did not answer within {} s", timeout.as_secs()));
    }
    let what = if error.is_connect() { "cannot connect to" } else { "request failed to" };
    let permanent = tls_setup_refused(&error);
    let message = format!("{what} {target}: {}", chain(error));
    if permanent { DeliveryError::permanent(message) } else { DeliveryError::transient(message) }
}

/// The error and its causes on one line, without the URL (which may hold a token).
fn chain(error: reqwest::Error) -> String {
    error_chain(&error.without_url())
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("ascii"));
        map
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_400); // 2015-10-21 07:26:40 GMT
        assert_eq!(retry_after(&headers("120"), "", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&headers("1.5"), "", now), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT"), "", now), Some(Duration::from_secs(80)));
        assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:00:00 GMT"), "", now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon"), "", now), None);
        assert_eq!(
            retry_after(&HeaderMap::new(), r#"{"retry_after": 0.25, "global": false}"#, now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(&HeaderMap::new(), "rate limited", now), None);
    }
}
