//! The per-tenant hash chain.
//!
//! Format version 1, fixed forever once events exist (golden vectors in `tests/golden.rs`):
//!
//! - `canonical = JCS(object)` where the object has exactly these members (see
//!   [`canonical_event`]): `v` (the format version, `1`), `tenant`, `seq`, `id`, `occurred_at`,
//!   `received_at`, `actor {id, type, name, ip, user_agent}`, `action`,
//!   `resource {type, id, name}` or `null`, `outcome`, `severity`, `details`, `tags`.
//!   Absent optional values are `null`; times are UTC with microseconds and `Z`.
//! - `leaf = SHA-256(0x00 || canonical)` (the RFC 6962 leaf hash, shared with the Merkle tree),
//! - `hash = SHA-256(prev_hash || leaf)`, and the first event of a tenant has
//!   `prev_hash = 32 zero bytes`.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::canonical::{write_object, write_string};
use crate::event::{StoredEvent, format_time};
use crate::hash::Hash;

/// The version of the canonical encoding and chaining rules written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// Returns the object whose JCS form is hashed for `event` (format version 1).
///
/// `prev_hash` and `hash` are not part of it: they are derived from it.
pub fn canonical_event(event: &StoredEvent) -> Value {
    json!({
        "v": FORMAT_VERSION,
        "tenant": event.tenant.as_str(),
        "seq": event.seq,
        "id": event.id,
        "occurred_at": format_time(&event.occurred_at),
        "received_at": format_time(&event.received_at),
        "actor": {
            "id": event.actor.id,
            "type": event.actor.kind,
            "name": event.actor.name,
            "ip": event.actor.ip,
            "user_agent": event.actor.user_agent,
        },
        "action": event.action,
        "resource": event.resource.as_ref().map(|resource| json!({
            "type": resource.kind,
            "id": resource.id,
            "name": resource.name,
        })),
        "outcome": event.outcome.as_str(),
        "severity": event.severity.as_str(),
        "details": event.details,
        "tags": event.tags,
    })
}

/// Returns the canonical bytes of `event` (what the leaf hash covers).
///
/// Writes the JCS form of [`canonical_event`] directly, members in their sorted order, without
/// building a JSON tree first: verification and ingest run this for every event. A property test
/// (`tests/canonical_fast_path.rs`) checks it against the general encoder.
pub fn canonical_event_bytes(event: &StoredEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let optional = |out: &mut Vec<u8>, value: &Option<String>| match value {
        Some(text) => write_string(out, text),
        None => out.extend_from_slice(b"null"),
    };
    out.extend_from_slice(b"{\"action\":");
    write_string(&mut out, &event.action);
    out.extend_from_slice(b",\"actor\":{\"id\":");
    write_string(&mut out, &event.actor.id);
    out.extend_from_slice(b",\"ip\":");
    optional(&mut out, &event.actor.ip);
    out.extend_from_slice(b",\"name\":");
    optional(&mut out, &event.actor.name);
    out.extend_from_slice(b",\"type\":");
    write_string(&mut out, &event.actor.kind);
    out.extend_from_slice(b",\"user_agent\":");
    optional(&mut out, &event.actor.user_agent);
    out.extend_from_slice(b"},\"details\":");
    write_object(&mut out, &event.details);
    out.extend_from_slice(b",\"id\":");
    write_string(&mut out, &event.id);
    out.extend_from_slice(b",\"occurred_at\":");
    write_string(&mut out, &format_time(&event.occurred_at));
    out.extend_from_slice(b",\"outcome\":");
    write_string(&mut out, event.outcome.as_str());
    out.extend_from_slice(b",\"received_at\":");
    write_string(&mut out, &format_time(&event.received_at));
    out.extend_from_slice(b",\"resource\":");
    match &event.resource {
        Some(resource) => {
            out.extend_from_slice(b"{\"id\":");
            write_string(&mut out, &resource.id);
            out.extend_from_slice(b",\"name\":");
            optional(&mut out, &resource.name);
            out.extend_from_slice(b",\"type\":");
            write_string(&mut out, &resource.kind);
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(event.seq.to_string().as_bytes());
    out.extend_from_slice(b",\"severity\":");
    write_string(&mut out, event.severity.as_str());
    out.extend_from_slice(b",\"tags\":[");
    for (idx, tag) in event.tags.iter().enumerate() {
        if idx > 0 {
            out.push(b',');
        }
        write_string(&mut out, tag);
    }
    out.extend_from_slice(b"],\"tenant\":");
    write_string(&mut out, event.tenant.as_str());
    out.extend_from_slice(format!(",\"v\":{FORMAT_VERSION}}}").as_bytes());
    out
}

/// Returns the RFC 6962 leaf hash `SHA-256(0x00 || canonical)`.
pub fn leaf_hash(canonical: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(canonical);
    Hash(hasher.finalize().into())
}

/// Returns the chain link `SHA-256(prev_hash || leaf)`.
pub fn chain_hash(prev_hash: &Hash, leaf: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.0);
    hasher.update(leaf.0);
    Hash(hasher.finalize().into())
}

/// Returns the hash `event` must carry given its content and its `prev_hash` field.
pub fn expected_hash(event: &StoredEvent) -> Hash {
    chain_hash(&event.prev_hash, &leaf_hash(&canonical_event_bytes(event)))
}
