//! The storage conformance suite: every behaviour the rest of Veritrail relies on, run against
//! SQLite always and PostgreSQL when `VERITRAIL_TEST_PG_URL` is set. A backend passes only if it
//! passes all of it.

use std::sync::Arc;

use serde_json::{Value, json};
use veritrail_core::event::{NewEvent, Outcome, TenantId};
use veritrail_core::store::{AppendError, EventLog, EventQuery, SeqRange};
use veritrail_core::validate::{Limits, validate_event};
use veritrail_core::verify::BreakKind;
use veritrail_store::testing::TestDatabase;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

fn new_event(raw: Value) -> NewEvent {
    validate_event(&raw, &Limits::default(), || uuid::Uuid::now_v7().to_string()).expect("valid event")
}

fn event_by(actor: &str, action: &str, seq_hint: usize) -> NewEvent {
    new_event(json!({
        "actor": {"id": actor, "type": "user", "ip": "198.51.100.4"},
        "action": action,
        "resource": {"type": "repository", "id": format!("r{}", seq_hint % 3)},
        "outcome": if seq_hint.is_multiple_of(4) { "denied" } else { "success" },
        "occurred_at": format!("2026-05-01T10:{:02}:00Z", seq_hint % 60),
        "details": {"n": seq_hint, "note": "héllo"},
        "tags": ["t"],
    }))
}

async fn fill(log: &dyn EventLog, tenant: &TenantId, count: usize) {
    let events = (0..count).map(|idx| event_by("alice", "repo.read", idx)).collect();
    log.append(tenant, events).await.expect("append");
}

#[tokio::test]
async fn appends_chain_gap_free_and_read_back_exactly() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        let first = store.events.append(&acme, vec![event_by("alice", "repo.create", 0)]).await.expect("append");
        assert_eq!(first[0].receipt.seq, 0, "{:?}", db.backend);
        assert!(first[0].created);
        let batch: Vec<NewEvent> = (1..6).map(|idx| event_by("bob", "repo.read", idx)).collect();
        let receipts = store.events.append(&acme, batch).await.expect("append batch");
        let seqs: Vec<u64> = receipts.iter().map(|appended| appended.receipt.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        assert_eq!(receipts[0].receipt.prev_hash, first[0].receipt.hash);

        let stored = store.events.get(&acme, &first[0].receipt.id).await.expect("get").expect("found");
        assert_eq!(stored.receipt(), first[0].receipt, "{:?}: stored event reads back as acknowledged", db.backend);
        assert_eq!(stored.details["note"], json!("héllo"));
        assert_eq!(stored.actor.ip.as_deref(), Some("198.51.100.4"));

        let head = store.events.head(&acme).await.expect("head").expect("has head");
        assert_eq!(head.next_seq, 6);
        assert_eq!(head.head_hash, receipts[4].receipt.hash);
        let report = store.events.verify(&acme, SeqRange::default()).await.expect("verify");
        assert!(report.ok, "{:?}: {report:?}", db.backend);
        assert_eq!(report.checked, 6);
        assert_eq!(report.head_seq, Some(5));

        // Tenants have separate chains.
        let other = store.events.append(&tenant("other"), vec![event_by("eve", "x", 1)]).await.expect("append");
        assert_eq!(other[0].receipt.seq, 0);
        assert_eq!(store.events.tenants().await.expect("tenants"), vec![acme, tenant("other")]);
    }
}

#[tokio::test]
async fn retries_are_idempotent_and_conflicts_store_nothing() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        let raw = json!({"id": "order-1", "actor": {"id": "a", "type": "user"}, "action": "order.create", "outcome": "success"});
        let first = store.events.append(&acme, vec![new_event(raw.clone())]).await.expect("append");
        let retry = store.events.append(&acme, vec![new_event(raw.clone())]).await.expect("retry");
        assert!(!retry[0].created, "{:?}", db.backend);
        assert_eq!(retry[0].receipt, first[0].receipt);

        let mut changed = raw.clone();
        changed["outcome"] = json!("failure");
        let conflict = store
            .events
            .append(&acme, vec![new_event(json!({"id": "fresh", "actor": {"id": "a", "type": "user"}, "action": "x", "outcome": "success"})), new_event(changed)])
            .await;
        assert!(matches!(conflict, Err(AppendError::IdConflict { ref id }) if id == "order-1"), "{conflict:?}");
        assert!(store.events.get(&acme, "fresh").await.expect("get").is_none(), "nothing of a refused batch is stored");

        let twice = store.events.append(&acme, vec![new_event(raw.clone()), new_event(raw)]).await;
        assert!(matches!(twice, Err(AppendError::DuplicateInRequest { .. })));
        assert_eq!(db.count_events().await, 1);
        assert_eq!(store.events.head(&acme).await.expect("head").map(|head| head.next_seq), Some(1));
    }
}

#[tokio::test]
async fn lists_newest_first_with_filters_and_cursor() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        let events: Vec<NewEvent> = (0..20usize)
            .map(|idx| {
                event_by(
                    if idx.is_multiple_of(2) { "alice" } else { "bob" },
                    if idx.is_multiple_of(5) { "repo.delete" } else { "repo.read" },
                    idx,
                )
            })
            .collect();
        store.events.append(&acme, events).await.expect("append");

        let page = store.events.list(&acme, &EventQuery { limit: 7, ..Default::default() }).await.expect("list");
        let seqs: Vec<u64> = page.iter().map(|event| event.seq).collect();
        assert_eq!(seqs, (13..20).rev().collect::<Vec<u64>>());
        let next = store
            .events
            .list(&acme, &EventQuery { limit: 7, before_seq: Some(13), ..Default::default() })
            .await
            .expect("list");
        assert_eq!(next.first().map(|event| event.seq), Some(12));

        let alice_deletes = store
            .events
            .list(
                &acme,
                &EventQuery {
                    actor_id: Some("alice".into()),
                    action: Some("repo.delete".into()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .expect("list");
        assert_eq!(alice_deletes.iter().map(|event| event.seq).collect::<Vec<_>>(), vec![10, 0]);

        let denied = store
            .events
            .list(&acme, &EventQuery { outcome: Some(Outcome::Denied), limit: 100, ..Default::default() })
            .await
            .expect("list");
        assert_eq!(denied.len(), 5);

        let resource = store
            .events
            .list(
                &acme,
                &EventQuery {
                    resource_type: Some("repository".into()),
                    resource_id: Some("r1".into()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .expect("list");
        assert!(resource.iter().all(|event| event.resource.as_ref().is_some_and(|r| r.id == "r1")));
        assert_eq!(resource.len(), 7);

        let window = store
            .events
            .list(
                &acme,
                &EventQuery {
                    since: Some("2026-05-01T10:05:00Z".parse().expect("time")),
                    until: Some("2026-05-01T10:08:00Z".parse().expect("time")),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .expect("list");
        assert_eq!(window.iter().map(|event| event.seq).collect::<Vec<_>>(), vec![7, 6, 5]);
    }
}

#[tokio::test]
async fn concurrent_appenders_never_fork_the_chain() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        let mut tasks = Vec::new();
        for client in 0..32 {
            let log = Arc::clone(&store.events);
            let acme = acme.clone();
            tasks.push(tokio::spawn(async move {
                for idx in 0..20 {
                    let event = event_by(&format!("client-{client}"), "repo.read", idx);
                    log.append(&acme, vec![event]).await.expect("append");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let report = store.events.verify(&acme, SeqRange::default()).await.expect("verify");
        assert!(report.ok, "{:?}: {report:?}", db.backend);
        assert_eq!(report.checked, 640);
        assert_eq!(db.count_events().await, 640);
    }
}

#[tokio::test]
async fn the_database_refuses_updates_and_deletes() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        fill(store.events.as_ref(), &tenant("acme"), 3).await;
        let update = db.execute("UPDATE events SET action = 'forged' WHERE seq = 1").await;
        assert!(update.is_err(), "{:?}: update must be refused", db.backend);
        let delete = db.execute("DELETE FROM events WHERE seq = 1").await;
        assert!(delete.is_err(), "{:?}: delete must be refused", db.backend);
        assert!(update.expect_err("refused").to_string().contains("append-only"));
        assert_eq!(db.count_events().await, 3);
    }
}

/// Runs `tamper` on a fresh 10-event chain and returns what verification says.
async fn verify_after(db: &TestDatabase, tamper: &[&str]) -> veritrail_core::verify::VerifyReport {
    let store = db.connect().await;
    let acme = tenant("acme");
    fill(store.events.as_ref(), &acme, 10).await;
    assert!(store.events.verify(&acme, SeqRange::default()).await.expect("verify").ok);
    db.tamper(tamper).await;
    store.events.verify(&acme, SeqRange::default()).await.expect("verify")
}

#[tokio::test]
async fn verification_names_the_first_tampered_seq() {
    let changed = "UPDATE events SET actor_id = 'mallory' WHERE seq = 4";
    let details = "UPDATE events SET details = '{\"n\":7,\"note\":\"hello\"}' WHERE seq = 7";
    let deleted = "DELETE FROM events WHERE seq = 3";
    let tail_cut = "DELETE FROM events WHERE seq = 9";
    let swap = [
        "UPDATE events SET seq = -1 WHERE seq = 2",
        "UPDATE events SET seq = 2 WHERE seq = 6",
        "UPDATE events SET seq = 6 WHERE seq = -1",
    ];
    // An insertion copies seq 8 to seq 10 (beyond the head), as a forger appending would.
    let appended = "INSERT INTO events SELECT tenant, 10, 'forged', occurred_at, received_at, actor_id, actor_type, actor_name, actor_ip, \
        actor_user_agent, action, resource_type, resource_id, resource_name, outcome, severity, details, tags, prev_hash, hash, request_hash \
        FROM events WHERE seq = 8";
    // An insertion in the middle shifts every later event up by one.
    let shift = [
        "UPDATE events SET seq = -seq - 100 WHERE seq >= 5",
        "UPDATE events SET seq = -seq - 99 WHERE seq < 0",
        "INSERT INTO events SELECT tenant, 5, 'forged', occurred_at, received_at, 'mallory', actor_type, actor_name, actor_ip, \
         actor_user_agent, action, resource_type, resource_id, resource_name, outcome, severity, details, tags, prev_hash, hash, request_hash \
         FROM events WHERE seq = 4",
    ];
    for db in TestDatabase::all().await {
        let cases: Vec<(&str, Vec<&str>, u64, BreakKind)> = vec![
            ("changed field", vec![changed], 4, BreakKind::HashMismatch),
            ("changed details", vec![details], 7, BreakKind::HashMismatch),
            ("deleted row", vec![deleted], 3, BreakKind::Gap),
            ("deleted last row", vec![tail_cut], 9, BreakKind::Gap),
            ("swapped rows", swap.to_vec(), 2, BreakKind::Reorder),
            ("row appended past the head", vec![appended], 10, BreakKind::Insertion),
            ("row inserted in the middle", shift.to_vec(), 5, BreakKind::HashMismatch),
        ];
        for (name, statements, bad_seq, kind) in cases {
            let fresh = match db.backend {
                veritrail_store::Backend::Sqlite => TestDatabase::sqlite(),
                veritrail_store::Backend::Postgres => TestDatabase::postgres().await.expect("postgres"),
            };
            let report = verify_after(&fresh, &statements).await;
            assert!(!report.ok, "{:?} {name}: not detected", db.backend);
            assert_eq!(report.first_bad_seq, Some(bad_seq), "{:?} {name}: {report:?}", db.backend);
            assert_eq!(report.kind, Some(kind), "{:?} {name}: {report:?}", db.backend);
        }
    }
}

#[tokio::test]
async fn partial_ranges_verify_and_check_the_link_into_them() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        fill(store.events.as_ref(), &acme, 30).await;
        let middle =
            store.events.verify(&acme, SeqRange { from_seq: Some(10), to_seq: Some(19) }).await.expect("verify");
        assert!(middle.ok && middle.checked == 10, "{middle:?}");
        db.tamper(&["UPDATE events SET action = 'x' WHERE seq = 25"]).await;
        let before =
            store.events.verify(&acme, SeqRange { from_seq: Some(0), to_seq: Some(24) }).await.expect("verify");
        assert!(before.ok, "{before:?}");
        let after = store.events.verify(&acme, SeqRange { from_seq: Some(20), to_seq: None }).await.expect("verify");
        assert_eq!(after.first_bad_seq, Some(25));
    }
}

#[tokio::test]
async fn data_survives_reopening_and_a_foreign_format_is_refused() {
    for db in TestDatabase::all().await {
        {
            let store = db.connect().await;
            fill(store.events.as_ref(), &tenant("acme"), 5).await;
        }
        let reopened = db.connect().await;
        let report = reopened.events.verify(&tenant("acme"), SeqRange::default()).await.expect("verify");
        assert!(report.ok && report.checked == 5, "{report:?}");
        reopened.readiness.check_ready().await.expect("ready");

        db.execute("UPDATE meta SET value = '99' WHERE key = 'event_format_version'").await.expect("update meta");
        let refused = veritrail_store::connect(&db.url, &Default::default()).await;
        let message = refused.expect_err("must refuse").to_string();
        assert!(message.contains("format version 99"), "{message}");
    }
}

#[tokio::test]
async fn merkle_tree_heads_and_proofs_come_from_stored_nodes() {
    use veritrail_core::chain::{canonical_event_bytes, leaf_hash};
    use veritrail_core::merkle::{root_of, verify_consistency, verify_inclusion};
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        // Uneven batches, so group commits cross subtree boundaries at odd places.
        for size in [1, 2, 5, 13, 16] {
            fill(store.events.as_ref(), &acme, size).await;
        }
        let events = store.events.scan(&acme, 0, 1000).await.expect("scan");
        let leaves: Vec<_> = events.iter().map(|event| leaf_hash(&canonical_event_bytes(event))).collect();
        let total = leaves.len() as u64;
        assert_eq!(total, 37);
        let frontier = store.events.tree_head(&acme).await.expect("tree head").expect("has tree").frontier;
        assert_eq!(frontier.size(), total);
        assert_eq!(frontier.root(), root_of(&leaves));
        for size in 1..=total {
            let root = store.events.tree_root(&acme, size).await.expect("root");
            assert_eq!(root, root_of(&leaves[..size as usize]), "{:?} root at {size}", db.backend);
            for index in [0, size / 2, size - 1] {
                let proof = store.events.inclusion_proof(&acme, index, size).await.expect("inclusion");
                assert!(verify_inclusion(index, size, &leaves[index as usize], &proof, &root), "{index}/{size}");
            }
            let first = (size / 3).max(1);
            let first_root = root_of(&leaves[..first as usize]);
            let proof = store.events.consistency_proof(&acme, first, size).await.expect("consistency");
            assert!(verify_consistency(first, size, &first_root, &root, &proof), "{first}->{size}");
        }
        assert!(store.events.tree_root(&acme, total + 1).await.is_err(), "no tree heads beyond the log");
        assert!(store.events.inclusion_proof(&acme, total, total).await.is_err());

        // A forged tree head is caught by verification.
        let zeros = match db.backend {
            veritrail_store::Backend::Sqlite => "zeroblob(96)",
            veritrail_store::Backend::Postgres => "decode(repeat('00', 96), 'hex')",
        };
        db.execute(&format!("UPDATE chain_heads SET frontier = {zeros}")).await.expect("forge frontier");
        let report = store.events.verify(&acme, SeqRange::default()).await.expect("verify");
        assert_eq!(report.kind, Some(BreakKind::HeadMismatch), "{report:?}");
    }
}
