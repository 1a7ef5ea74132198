//! The direct canonical encoder of events must produce exactly what the general RFC 8785 encoder
//! produces for the event's canonical object.

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use veritrail_core::canonical::to_canonical_bytes;
use veritrail_core::chain::{canonical_event, canonical_event_bytes};
use veritrail_core::event::{Actor, Outcome, Resource, Severity, StoredEvent, TenantId};
use veritrail_core::hash::Hash;

fn any_text() -> impl Strategy<Value = String> {
    // Quotes, backslashes, control characters, non-ASCII and astral characters included.
    "(\\PC|[\"\\\\\u{0}-\u{1f}\u{7f}\u{e9}\u{20ac}\u{1f600}]){0,12}"
}

fn details() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::vec(
        (
            any_text(),
            prop_oneof![
                any_text().prop_map(Value::from),
                any::<i32>().prop_map(Value::from),
                (-1e9f64..1e9).prop_map(|number| json!(number)),
                any::<bool>().prop_map(Value::from),
                Just(Value::Null),
                proptest::collection::vec(any_text(), 0..3).prop_map(|items| json!(items)),
            ],
        ),
        0..5,
    )
    .prop_map(|members| members.into_iter().collect())
}

proptest! {
    #[test]
    fn direct_encoding_equals_the_general_encoder(
        texts in proptest::collection::vec(any_text(), 9),
        optional in proptest::collection::vec(proptest::option::of(any_text()), 4),
        has_resource in any::<bool>(),
        seq in 0u64..(1 << 53),
        micros in 0i64..4_000_000_000_000_000,
        kinds in (0usize..4, 0usize..6),
        details in details(),
        tags in proptest::collection::vec(any_text(), 0..4),
    ) {
        let time = Utc.timestamp_opt(0, 0).single().unwrap_or_default() + Duration::microseconds(micros);
        let event = StoredEvent {
            tenant: TenantId::parse("tenant-1").unwrap_or_else(|_| unreachable!()),
            seq,
            id: texts[0].clone(),
            occurred_at: time,
            received_at: time + Duration::microseconds(1),
            actor: Actor { id: texts[1].clone(), kind: texts[2].clone(), name: optional[0].clone(), ip: optional[1].clone(), user_agent: optional[2].clone() },
            action: texts[3].clone(),
            resource: has_resource.then(|| Resource { kind: texts[4].clone(), id: texts[5].clone(), name: optional[3].clone() }),
            outcome: Outcome::ALL[kinds.0],
            severity: Severity::ALL[kinds.1],
            details,
            tags,
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        };
        prop_assert_eq!(canonical_event_bytes(&event), to_canonical_bytes(&canonical_event(&event)));
    }
}
