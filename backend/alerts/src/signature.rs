//! Signatures on generic webhook deliveries, and how a receiver checks them.
//!
//! Each delivery carries three headers:
//!
//! | header | value |
//! | --- | --- |
//! | `X-Veritrail-Timestamp` | Unix time in seconds when the request was signed |
//! | `X-Veritrail-Signature` | `v1=` + lower-case hex HMAC-SHA256(secret, `"<timestamp>.<body>"`) |
//! | `X-Veritrail-Delivery` | the delivery id, the same on every retry of one alert (also `id` in the body) |
//!
//! To check a request, a receiver:
//!
//! 1. takes the raw body bytes **before** parsing the JSON (re-encoding changes the bytes);
//! 2. refuses the request if the timestamp is more than a few minutes (5 is usual) away from its
//!    own clock: a captured request cannot be replayed later;
//! 3. computes HMAC-SHA256 with the shared secret over the timestamp, a `.`, and the body;
//! 4. compares it with each `v1=` value of the signature header (comma-separated; more than one
//!    appears while a secret is being rotated) in constant time;
//! 5. remembers delivery ids it has processed if it must not act twice on one alert (a retry
//!    after a lost response carries the same id with a new timestamp and signature).
//!
//! In Python:
//!
//! ```text
//! import hashlib, hmac, time
//!
//! def verify(secret: bytes, headers, body: bytes, tolerance=300):
//!     ts = headers["X-Veritrail-Timestamp"]
//!     if abs(time.time() - int(ts)) > tolerance:
//!         raise ValueError("stale or future timestamp")
//!     expected = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
//!     sigs = [s.strip()[3:] for s in headers["X-Veritrail-Signature"].split(",") if s.strip().startswith("v1=")]
//!     if not any(hmac.compare_digest(expected, s) for s in sigs):
//!         raise ValueError("bad signature")
//! ```
//!
//! In Rust, with this crate: [`verify`].

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header with the Unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Veritrail-Timestamp";
/// Header with the `v1=<hex>` signature(s).
pub const SIGNATURE_HEADER: &str = "X-Veritrail-Signature";
/// Header with the delivery id.
pub const DELIVERY_HEADER: &str = "X-Veritrail-Delivery";
/// The tolerance receivers are advised to use.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

type HmacSha256 = Hmac<Sha256>;

/// Why a signed request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("timestamp header is not a Unix time in seconds")]
    MalformedTimestamp,
    #[error("timestamp is {age_secs} s old, more than the {tolerance_secs} s allowed (possible replay)")]
    Stale { age_secs: u64, tolerance_secs: u64 },
    #[error("timestamp is {ahead_secs} s in the future, more than the {tolerance_secs} s allowed")]
    Future { ahead_secs: u64, tolerance_secs: u64 },
    #[error("signature header has no v1= value")]
    NoSignature,
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// The `X-Veritrail-Signature` value for `body` signed at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Checks a signed request: timestamp within `tolerance` of `now` (Unix seconds) either way, and
/// one of the header's `v1=` signatures matching (compared in constant time).
pub fn verify(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let timestamp: i64 = timestamp_header.trim().parse().map_err(|_| SignatureError::MalformedTimestamp)?;
    let tolerance_secs = tolerance.as_secs();
    let skew = now.saturating_sub(timestamp);
    if skew > 0 && skew.unsigned_abs() > tolerance_secs {
        return Err(SignatureError::Stale { age_secs: skew.unsigned_abs(), tolerance_secs });
    }
    if skew < 0 && skew.unsigned_abs() > tolerance_secs {
        return Err(SignatureError::Future { ahead_secs: skew.unsigned_abs(), tolerance_secs });
    }
    let candidates: Vec<&str> =
        signature_header.split(',').filter_map(|part| part.trim().strip_prefix("v1=")).collect();
    if candidates.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    // Check every candidate (no early exit) so timing does not tell which one matched.
    let mut matched = false;
    for candidate in candidates {
        let Ok(bytes) = hex::decode(candidate) else { continue };
        matched |= mac(secret, timestamp, body).verify_slice(&bytes).is_ok();
    }
    if matched { Ok(()) } else { Err(SignatureError::Mismatch) }
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec-test";
    const NOW: i64 = 1_760_000_000;

    #[test]
    fn known_answer() {
        // HMAC-SHA256("key", "1.{}"), computed independently with Python's hmac module.
        assert_eq!(sign(b"key", 1, b"{}"), "v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224");
    }

    #[test]
    fn accepts_its_own_signature_within_tolerance() {
        let signature = sign(SECRET, NOW, b"{\"a\":1}");
        assert_eq!(verify(SECRET, &NOW.to_string(), &signature, b"{\"a\":1}", NOW + 299, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify(SECRET, &NOW.to_string(), &signature, b"{\"a\":1}", NOW - 300, DEFAULT_TOLERANCE), Ok(()));
    }

    #[test]
    fn refuses_replays_tampering_and_garbage() {
        let body = b"{\"a\":1}";
        let signature = sign(SECRET, NOW, body);
        let ts = NOW.to_string();
        let check = |ts: &str, sig: &str, body: &[u8], now: i64| verify(SECRET, ts, sig, body, now, DEFAULT_TOLERANCE);
        assert_eq!(
            check(&ts, &signature, body, NOW + 301),
            Err(SignatureError::Stale { age_secs: 301, tolerance_secs: 300 })
        );
        assert_eq!(
            check(&ts, &signature, body, NOW - 301),
            Err(SignatureError::Future { ahead_secs: 301, tolerance_secs: 300 })
        );
        assert_eq!(check(&ts, &signature, b"{\"a\":2}", NOW), Err(SignatureError::Mismatch));
        // The timestamp is signed too: moving it forward to dodge the replay check breaks the MAC.
        assert_eq!(check(&(NOW + 1000).to_string(), &signature, body, NOW + 1000), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", &ts, &signature, body, NOW, DEFAULT_TOLERANCE), Err(SignatureError::Mismatch));
        assert_eq!(check("yesterday", &signature, body, NOW), Err(SignatureError::MalformedTimestamp));
        assert_eq!(check(&ts, "sha256=abc", body, NOW), Err(SignatureError::NoSignature));
        assert_eq!(check(&ts, "v1=zz", body, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let body = b"x";
        let header = format!("v1={}, {}", "00".repeat(32), sign(SECRET, NOW, body));
        assert_eq!(verify(SECRET, &NOW.to_string(), &header, body, NOW, DEFAULT_TOLERANCE), Ok(()));
    }
}
