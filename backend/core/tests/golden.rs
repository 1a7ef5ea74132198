//! Golden vectors for event format version 1.
//!
//! These bytes and hashes were computed independently of this crate (Python's `json` with
//! `sort_keys=True, separators=(",", ":"), ensure_ascii=False` and `hashlib.sha256`; for these
//! inputs that equals RFC 8785). If a test here fails, the canonical encoding or the chain rule
//! changed, and every stored chain would stop verifying: bump `FORMAT_VERSION` instead.

use chrono::{DateTime, Utc};
use serde_json::json;
use veritrail_core::chain::{FORMAT_VERSION, canonical_event_bytes, chain_hash, expected_hash, leaf_hash};
use veritrail_core::event::{Actor, Outcome, Resource, Severity, StoredEvent, TenantId};
use veritrail_core::hash::Hash;

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
}

fn vectors() -> Vec<StoredEvent> {
    let tenant = TenantId::parse("acme").expect("tenant");
    let first = StoredEvent {
        tenant: tenant.clone(),
        seq: 0,
        id: "evt-0001".to_owned(),
        occurred_at: time("2026-01-02T03:04:05.123456Z"),
        received_at: time("2026-01-02T03:04:06Z"),
        actor: Actor {
            id: "alice@example.com".to_owned(),
            kind: "user".to_owned(),
            name: Some("Alice".to_owned()),
            ip: Some("203.0.113.7".to_owned()),
            user_agent: Some("curl/8.5.0".to_owned()),
        },
        action: "repo.delete".to_owned(),
        resource: Some(Resource {
            kind: "repository".to_owned(),
            id: "r-42".to_owned(),
            name: Some("billing".to_owned()),
        }),
        outcome: Outcome::Success,
        severity: Severity::High,
        details: json!({"reason": "cleanup", "files": 12, "ratio": 0.5}).as_object().cloned().expect("object"),
        tags: vec!["prod".to_owned(), "git".to_owned()],
        prev_hash: Hash::GENESIS,
        hash: Hash::GENESIS,
    };
    let second = StoredEvent {
        seq: 1,
        id: "0190b5a8-0000-7000-8000-000000000001".to_owned(),
        occurred_at: time("2026-01-02T03:05:00Z"),
        received_at: time("2026-01-02T03:05:00.000001Z"),
        actor: Actor {
            id: "svc-deploy".to_owned(),
            kind: "service".to_owned(),
            name: None,
            ip: None,
            user_agent: None,
        },
        action: "login".to_owned(),
        resource: None,
        outcome: Outcome::Denied,
        severity: Severity::Info,
        details: json!({"z": {"b": [true, null, "é\n"], "a": -1}, "A": 1e21}).as_object().cloned().expect("object"),
        tags: vec![],
        ..first.clone()
    };
    vec![first, second]
}

/// Canonical bytes, leaf hash and chain hash of each vector, in order.
const EXPECTED: [(&str, &str, &str); 2] = [
    (
        r#"{"action":"repo.delete","actor":{"id":"alice@example.com","ip":"203.0.113.7","name":"Alice","type":"user","user_agent":"curl/8.5.0"},"details":{"files":12,"ratio":0.5,"reason":"cleanup"},"id":"evt-0001","occurred_at":"2026-01-02T03:04:05.123456Z","outcome":"success","received_at":"2026-01-02T03:04:06.000000Z","resource":{"id":"r-42","name":"billing","type":"repository"},"seq":0,"severity":"high","tags":["prod","git"],"tenant":"acme","v":1}"#,
        "88911112a6b1a28906ed02e4e31448455ecc7bee321d684130806665ced458d1",
        "899e2794f72716b86c1cd50fb4d55311e3ce9e958de22381da986027fd3ae2d1",
    ),
    (
        "{\"action\":\"login\",\"actor\":{\"id\":\"svc-deploy\",\"ip\":null,\"name\":null,\"type\":\"service\",\"user_agent\":null},\"details\":{\"A\":1e+21,\"z\":{\"a\":-1,\"b\":[true,null,\"é\\n\"]}},\"id\":\"0190b5a8-0000-7000-8000-000000000001\",\"occurred_at\":\"2026-01-02T03:05:00.000000Z\",\"outcome\":\"denied\",\"received_at\":\"2026-01-02T03:05:00.000001Z\",\"resource\":null,\"seq\":1,\"severity\":\"info\",\"tags\":[],\"tenant\":\"acme\",\"v\":1}",
        "2e793dc7391a0b365551aefbebaf0026be98c04279a88065e0c6cdbae0936cab",
        "828c6ec51eefdf633b766e16e587163d7f0760330e05aad63ec180ead5001224",
    ),
];

#[test]
fn format_version_is_one() {
    assert_eq!(FORMAT_VERSION, 1);
}

#[test]
fn golden_vectors_are_stable() {
    let mut prev_hash = Hash::GENESIS;
    for (mut event, (canonical, leaf, hash)) in vectors().into_iter().zip(EXPECTED) {
        let bytes = canonical_event_bytes(&event);
        assert_eq!(String::from_utf8(bytes.clone()).expect("utf-8"), canonical, "seq {}", event.seq);
        let computed_leaf = leaf_hash(&bytes);
        assert_eq!(computed_leaf.to_hex(), leaf, "leaf of seq {}", event.seq);
        let computed_hash = chain_hash(&prev_hash, &computed_leaf);
        assert_eq!(computed_hash.to_hex(), hash, "hash of seq {}", event.seq);
        event.prev_hash = prev_hash;
        event.hash = computed_hash;
        assert_eq!(expected_hash(&event), computed_hash);
        prev_hash = computed_hash;
    }
}
