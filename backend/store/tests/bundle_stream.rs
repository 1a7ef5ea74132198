//! Evidence bundles streamed from the database page by page, on every backend: byte for byte the
//! archive the in-memory writer makes of the same selection, verifiable offline, bounded before
//! anything is written, and proved against the checkpoint given (nothing is signed).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use futures::TryStreamExt;
use serde_json::json;
use veritrail_core::bundle::Bundle;
use veritrail_core::checkpoint::{LogSigner, NoteVerifier};
use veritrail_core::event::{NewEvent, TenantId};
use veritrail_core::store::{EventLog, EventQuery};
use veritrail_core::transparency::{BundleBuildError, LogIdentity, bundle_of_events, plan_bundle, publish_checkpoint};
use veritrail_core::validate::{Limits, validate_event};
use veritrail_store::testing::TestDatabase;

fn event(idx: usize) -> NewEvent {
    let raw = json!({
        "actor": {"id": format!("user-{}", idx % 7), "type": "user"},
        "action": "repo.read",
        "outcome": "success",
        // Minutes cycle, so a time window selects seqs with gaps between them.
        "occurred_at": format!("2026-05-01T10:{:02}:00Z", idx % 60),
        "details": {"n": idx, "pad": "x".repeat(idx % 50)},
    });
    validate_event(&raw, &Limits::default(), || uuid::Uuid::now_v7().to_string()).expect("valid event")
}

async fn fill(log: &dyn EventLog, tenant: &TenantId, range: std::ops::Range<usize>) {
    let events: Vec<NewEvent> = range.map(event).collect();
    for batch in events.chunks(500) {
        log.append(tenant, batch.to_vec()).await.expect("append");
    }
}

#[tokio::test]
async fn a_streamed_bundle_is_the_in_memory_archive_and_verifies() {
    let identity = LogIdentity { signer: LogSigner::from_seed("audit.example", [3u8; 32]).expect("signer") };
    let verifier = NoteVerifier::from_verifier_key(&identity.signer.verifier_key()).expect("verifier");
    let acme = TenantId::parse("acme").expect("tenant");
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single().expect("now");
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let events: Arc<dyn EventLog> = store.events.clone();
        // More than two pages of 1,000 below the checkpoint, and events after it.
        fill(events.as_ref(), &acme, 0..2_345).await;
        let checkpoint = publish_checkpoint(events.as_ref(), store.checkpoints.as_ref(), &identity, &acme, now)
            .await
            .expect("publish")
            .expect("a checkpoint");
        fill(events.as_ref(), &acme, 2_345..2_400).await;

        for (since, until) in [
            (None, None),
            (Some("2026-05-01T10:05:00Z"), Some("2026-05-01T10:40:00Z")),
            (Some("2027-01-01T00:00:00Z"), None),
        ] {
            let time = |text: Option<&str>| text.map(|text| text.parse::<chrono::DateTime<Utc>>().expect("time"));
            let (since, until) = (time(since), time(until));
            let plan = plan_bundle(events.as_ref(), &identity, &acme, &checkpoint, since, until, now, u64::MAX)
                .await
                .expect("plan");
            let length = plan.archive_len();
            let pieces: Vec<Vec<u8>> = plan.stream(events.clone()).try_collect().await.expect("stream");
            assert!(pieces.len() >= 3, "written in pieces (head, pages of events, pages of proofs), not at once");
            let streamed = pieces.concat();
            assert_eq!(streamed.len() as u64, length, "{:?}: the announced length is the archive's", db.backend);

            // The same selection gathered in memory and written by `Bundle::to_tar`.
            let mut selected = Vec::new();
            let mut query = EventQuery {
                since,
                until,
                before_seq: Some(checkpoint.tree_size),
                ascending: true,
                limit: 1_000,
                ..Default::default()
            };
            loop {
                let page = events.list(&acme, &query).await.expect("list");
                let full = page.len() == 1_000;
                query.after_seq = page.last().map(|last| last.seq);
                selected.extend(page);
                if !full {
                    break;
                }
            }
            let in_memory =
                bundle_of_events(events.as_ref(), &identity, &acme, &checkpoint, &selected, since, until, now)
                    .await
                    .expect("bundle")
                    .to_tar()
                    .expect("tar");
            assert!(streamed == in_memory, "{:?} {since:?}..{until:?}: the streamed archive differs", db.backend);

            let report = Bundle::from_tar(&streamed).expect("readable").verify(&verifier).expect("verifies");
            assert_eq!(report.events_verified, selected.len() as u64);
            assert_eq!(report.tree_size, 2_345, "proved against the checkpoint given, not the head");
        }

        // Bounded: more events than allowed is refused while counting, before anything is written.
        let refused = plan_bundle(events.as_ref(), &identity, &acme, &checkpoint, None, None, now, 2_344).await;
        assert!(matches!(refused, Err(BundleBuildError::TooManyEvents { max: 2_344 })), "{refused:?}");
        assert!(plan_bundle(events.as_ref(), &identity, &acme, &checkpoint, None, None, now, 2_345).await.is_ok());
        let latest = store.checkpoints.latest_checkpoint(&acme).await.expect("latest").expect("one");
        assert_eq!(latest.tree_size, 2_345, "{:?}: building bundles signed nothing", db.backend);
    }
}
