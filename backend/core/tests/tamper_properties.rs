//! Property: any single-byte change to any stored field of any event breaks verification, and the
//! verifier names that event's seq.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use veritrail_core::chain::expected_hash;
use veritrail_core::event::{Actor, Outcome, Resource, Severity, StoredEvent, TenantId};
use veritrail_core::hash::Hash;
use veritrail_core::verify::ChainVerifier;

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._@:/-]{1,24}"
}

fn event_strategy() -> impl Strategy<Value = StoredEvent> {
    (
        (text(), text(), proptest::option::of(text()), proptest::option::of(text())),
        (text(), proptest::option::of((text(), text(), proptest::option::of(text())))),
        (0usize..4, 0usize..6, 0i64..4_000_000_000, 0i64..1_000_000),
        (proptest::collection::vec((text(), text()), 0..4), proptest::collection::vec(text(), 0..3)),
    )
        .prop_map(
            |(
                (actor_id, actor_kind, name, agent),
                (action, resource),
                (outcome, severity, secs, micros),
                (details, tags),
            )| {
                let occurred_at: DateTime<Utc> =
                    Utc.timestamp_opt(secs, 0).single().unwrap_or_default() + Duration::microseconds(micros);
                let details: Map<String, Value> = details.into_iter().map(|(key, value)| (key, json!(value))).collect();
                StoredEvent {
                    tenant: TenantId::parse("t1").unwrap_or_else(|_| unreachable!()),
                    seq: 0,
                    id: format!("id-{secs}"),
                    occurred_at,
                    received_at: occurred_at + Duration::seconds(1),
                    actor: Actor {
                        id: actor_id,
                        kind: actor_kind,
                        name,
                        ip: Some("10.0.0.1".to_owned()),
                        user_agent: agent,
                    },
                    action,
                    resource: resource.map(|(kind, id, name)| Resource { kind, id, name }),
                    outcome: Outcome::ALL[outcome],
                    severity: Severity::ALL[severity],
                    details,
                    tags,
                    prev_hash: Hash::GENESIS,
                    hash: Hash::GENESIS,
                }
            },
        )
}

/// Builds a valid chain out of `events`.
fn chain(mut events: Vec<StoredEvent>) -> Vec<StoredEvent> {
    let mut prev_hash = Hash::GENESIS;
    for (seq, event) in events.iter_mut().enumerate() {
        event.seq = seq as u64;
        event.prev_hash = prev_hash;
        event.hash = expected_hash(event);
        prev_hash = event.hash;
    }
    events
}

/// Flips one byte of a string (kept ASCII, so the result is still valid UTF-8).
fn flip(text: &mut String, position: usize) {
    if text.is_empty() {
        text.push('x');
        return;
    }
    let idx = position % text.len();
    let mut bytes = text.clone().into_bytes();
    bytes[idx] = if bytes[idx] == b'a' { b'b' } else { b'a' };
    *text = String::from_utf8_lossy(&bytes).into_owned();
}

/// Changes one byte in the stored representation of field number `field`.
fn mutate(event: &mut StoredEvent, field: usize, position: usize) {
    match field % 16 {
        0 => flip(&mut event.id, position),
        1 => flip(&mut event.actor.id, position),
        2 => flip(&mut event.actor.kind, position),
        3 => flip(event.actor.name.get_or_insert_with(String::new), position),
        4 => event.actor.ip = Some("10.0.0.2".to_owned()),
        5 => flip(event.actor.user_agent.get_or_insert_with(String::new), position),
        6 => flip(&mut event.action, position),
        7 => match &mut event.resource {
            Some(resource) => flip(&mut resource.id, position),
            None => event.resource = Some(Resource { kind: "x".into(), id: "y".into(), name: None }),
        },
        8 => event.outcome = Outcome::ALL[(Outcome::ALL.iter().position(|o| *o == event.outcome).unwrap_or(0) + 1) % 4],
        9 => event.severity = Severity::ALL[(event.severity as usize + 1) % 6],
        10 => event.occurred_at += Duration::microseconds(1),
        11 => event.received_at -= Duration::microseconds(1),
        12 => match event.details.iter_mut().next() {
            Some((_, Value::String(value))) => flip(value, position),
            _ => {
                event.details.insert("k".into(), json!("v"));
            }
        },
        13 => match event.tags.first_mut() {
            Some(tag) => flip(tag, position),
            None => event.tags.push("t".into()),
        },
        14 => event.hash.0[position % 32] ^= 1 << (position % 8),
        _ => event.prev_hash.0[position % 32] ^= 1 << (position % 8),
    }
}

proptest! {
    #[test]
    fn every_single_change_is_detected_at_its_seq(
        events in proptest::collection::vec(event_strategy(), 1..8),
        victim in any::<prop::sample::Index>(),
        field in 0usize..16,
        position in 0usize..64,
    ) {
        let mut stored = chain(events);
        let victim = victim.index(stored.len());
        mutate(&mut stored[victim], field, position);

        let mut verifier = ChainVerifier::new(0, Hash::GENESIS);
        let first_failure = stored.iter().find_map(|event| verifier.check(event).err());
        let failure = first_failure.expect("the change must be detected");
        prop_assert_eq!(failure.seq, victim as u64);
    }

    #[test]
    fn untouched_chains_verify(events in proptest::collection::vec(event_strategy(), 0..8)) {
        let stored = chain(events);
        let mut verifier = ChainVerifier::new(0, Hash::GENESIS);
        for event in &stored {
            prop_assert!(verifier.check(event).is_ok());
        }
        prop_assert_eq!(verifier.checked(), stored.len() as u64);
    }
}
