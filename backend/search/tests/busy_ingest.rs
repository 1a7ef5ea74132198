//! While ingest is busy the indexer holds back (short batches, a pause after each) but still
//! indexes every event, on both backends (PostgreSQL when `VERITRAIL_TEST_PG_URL` is set).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use veritrail_core::activity::{BackgroundSettings, IngestActivity};
use veritrail_core::event::TenantId;
use veritrail_core::validate::{Limits, validate_event};
use veritrail_search::EmbedderSlot;
use veritrail_search::indexer::{Indexer, IndexerSettings};
use veritrail_store::testing::TestDatabase;

#[tokio::test]
async fn a_busy_write_path_delays_documents_but_loses_none() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let tenant = TenantId::parse("acme").expect("tenant");
        let events = (0..25)
            .map(|n| {
                let raw = json!({"actor": {"id": format!("user-{n}"), "type": "user"}, "action": "repo.read", "outcome": "success"});
                validate_event(&raw, &Limits::default(), || format!("event-{n}")).expect("valid event")
            })
            .collect();
        store.events.append(&tenant, events).await.expect("append");

        // Ingest stays busy for the whole test; half a core for indexing keeps the pauses short.
        let activity = Arc::new(IngestActivity::new(BackgroundSettings {
            busy_share: 0.5,
            quiet_after: Duration::from_secs(3600),
            max_pause: Duration::from_secs(1),
        }));
        activity.appended();
        let indexer = Indexer::new(
            store.events.clone(),
            store.search.clone(),
            EmbedderSlot::new(None),
            IndexerSettings { busy_document_batch: 10, ..IndexerSettings::default() },
        )
        .with_activity(activity.clone());
        let report = indexer.index_tenant(&tenant).await.expect("index");
        assert_eq!(report.documents_added, 25, "{:?}: every event, in batches of 10", db.backend);
        assert_eq!((report.events, report.indexed), (25, 25), "{:?}", db.backend);
        assert!(activity.is_busy());
        assert_eq!(indexer.index_tenant(&tenant).await.expect("again").documents_added, 0, "{:?}", db.backend);
    }
}
