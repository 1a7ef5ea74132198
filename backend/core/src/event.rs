//! Audit event domain types: what a client submits ([`NewEvent`]), what the log stores
//! ([`StoredEvent`]) and what a client gets back ([`Receipt`]).

use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::hash::Hash;
use crate::wire_enum;

/// A tenant name: `[a-z0-9_-]{1,64}`. Each tenant owns one hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Parses a tenant name, refusing anything outside `[a-z0-9_-]{1,64}`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid_chars =
            raw.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-');
        if raw.is_empty() || raw.len() > 64 || !valid_chars {
            return Err(format!("tenant {raw:?} is invalid: use 1 to 64 characters from a-z, 0-9, '_' and '-'"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Returns the tenant name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<TenantId> for String {
    fn from(tenant: TenantId) -> Self {
        tenant.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

wire_enum! {
    /// What happened to the attempted action.
    pub enum Outcome ("outcome") {
        Success => "success",
        Failure => "failure",
        Denied => "denied",
        Unknown => "unknown",
    }
}

wire_enum! {
    /// How much the event matters, from `debug` (least) to `critical` (most). Ordered.
    #[derive(PartialOrd, Ord)]
    pub enum Severity ("severity") {
        Debug => "debug",
        Info => "info",
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
}

/// Who performed the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    /// Normalised textual form of an IPv4 or IPv6 address.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What the action was performed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: Option<String>,
}

/// A validated event as submitted by a client, before the log assigns it a place.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The client's idempotency key, or a server-assigned UUIDv7.
    pub id: String,
    /// `true` when the client chose `id`; only those can collide with an earlier event.
    pub id_from_client: bool,
    /// `None` when the client did not say; the log fills in the receive time.
    pub occurred_at: Option<DateTime<Utc>>,
    pub actor: Actor,
    pub action: String,
    pub resource: Option<Resource>,
    pub outcome: Outcome,
    pub severity: Severity,
    /// Always a JSON object.
    pub details: Map<String, Value>,
    pub tags: Vec<String>,
    /// Fingerprint of the request content, used to tell a retry from a conflicting reuse of an id.
    pub request_hash: Hash,
}

/// An event as it sits in a tenant's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub tenant: TenantId,
    pub seq: u64,
    pub id: String,
    #[serde(with = "timestamp")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "timestamp")]
    pub received_at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub resource: Option<Resource>,
    pub outcome: Outcome,
    pub severity: Severity,
    pub details: Map<String, Value>,
    pub tags: Vec<String>,
    pub prev_hash: Hash,
    pub hash: Hash,
}

impl StoredEvent {
    /// `event` as `tenant`'s log keeps it at `seq`, chained after `prev_hash` and received at
    /// `received_at`, which is also when it occurred if the client did not say.
    ///
    /// `hash` is left at [`Hash::GENESIS`]: it covers the canonical form of the returned value, so
    /// the caller computes it from that (`chain::expected_hash`, or `chain::leaf_hash` and
    /// `chain::chain_hash` when it needs the leaf as well).
    pub fn from_new(tenant: TenantId, seq: u64, event: NewEvent, received_at: DateTime<Utc>, prev_hash: Hash) -> Self {
        Self {
            tenant,
            seq,
            id: event.id,
            occurred_at: event.occurred_at.unwrap_or(received_at),
            received_at,
            actor: event.actor,
            action: event.action,
            resource: event.resource,
            outcome: event.outcome,
            severity: event.severity,
            details: event.details,
            tags: event.tags,
            prev_hash,
            hash: Hash::GENESIS,
        }
    }

    /// Returns the receipt a client got (or gets again) for this event.
    pub fn receipt(&self) -> Receipt {
        Receipt {
            id: self.id.clone(),
            seq: self.seq,
            hash: self.hash,
            prev_hash: self.prev_hash,
            received_at: self.received_at,
        }
    }
}

/// Proof of acceptance handed back for every stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: String,
    pub seq: u64,
    pub hash: Hash,
    pub prev_hash: Hash,
    #[serde(with = "timestamp")]
    pub received_at: DateTime<Utc>,
}

/// Truncates a time to the microsecond precision every backend stores exactly.
pub fn normalize_time(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(6)
}

/// Formats a time the one way Veritrail writes times: UTC, microseconds, `Z`.
///
/// Written by hand rather than with a chrono format string: every canonical encoding formats two
/// times, and parsing the format string each time dominated encoding in profiles. Years are
/// 1970..=9999 (validation refuses others), so four digits always suffice.
pub fn format_time(time: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // "YYYY-MM-DDTHH:MM:SS.ffffffZ": each field's digits go to a fixed place.
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |value: u32, end: usize, width: usize| {
        let mut rest = value;
        for slot in out[end - width..end].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
    };
    put(time.year().clamp(0, 9999) as u32, 4, 4);
    put(time.month(), 7, 2);
    put(time.day(), 10, 2);
    put(time.hour(), 13, 2);
    put(time.minute(), 16, 2);
    put(time.second(), 19, 2);
    // chrono carries a leap second in the nanoseconds; like the stored form, keep microseconds.
    put((time.nanosecond() % 1_000_000_000) / 1_000, 26, 6);
    String::from_utf8_lossy(&out).into_owned()
}

/// Serde helpers that write times with [`format_time`] and read any RFC 3339 time.
pub mod timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_time(time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&raw).map(|time| time.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }

    /// The same for optional times.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::Serializer;

        pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
            match time {
                Some(time) => serializer.serialize_str(&super::super::format_time(time)),
                None => serializer.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::format_time;

    #[test]
    fn hand_written_time_format_matches_chrono() {
        let start = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).single().unwrap_or_default();
        let mut time = start;
        // Steps of a prime number of microseconds walk through every field's values.
        for _ in 0..20_000 {
            assert_eq!(format_time(&time), time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            time += Duration::microseconds(1_234_567_890_123);
        }
        let last = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single().unwrap_or_default();
        assert_eq!(format_time(&(last + Duration::microseconds(999_999))), "9999-12-31T23:59:59.999999Z");
    }
}
