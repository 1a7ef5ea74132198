//! The indexing job rebuilds a tenant's search documents when the event rendering changes, on
//! both backends (PostgreSQL when `VERITRAIL_TEST_PG_URL` is set).

use serde_json::json;
use veritrail_core::event::TenantId;
use veritrail_core::render::RENDERING_VERSION;
use veritrail_core::search::{SearchDocument, SearchFilter};
use veritrail_core::validate::{Limits, validate_event};
use veritrail_search::EmbedderSlot;
use veritrail_search::indexer::{Indexer, IndexerSettings, document_of, text_hash};
use veritrail_store::testing::TestDatabase;

#[tokio::test]
async fn documents_of_an_older_rendering_are_rebuilt_once() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let tenant = TenantId::parse("acme").expect("tenant");
        let mut id = 0;
        let events = ["repo.delete", "repo.create", "user.login"]
            .into_iter()
            .map(|action| {
                let raw = json!({"actor": {"id": "alice", "type": "user"}, "action": action, "outcome": "success"});
                validate_event(&raw, &Limits::default(), || {
                    id += 1;
                    format!("event-{id}")
                })
                .expect("valid event")
            })
            .collect();
        store.events.append(&tenant, events).await.expect("append");
        let stored = store.events.scan(&tenant, 0, 10).await.expect("scan");

        // Documents as an older version rendered them (the progress row predates versions: 0).
        let stale: Vec<SearchDocument> = stored
            .iter()
            .map(|event| {
                let mut document = document_of(event);
                document.text = format!("obsolete wording {}", event.seq);
                document.text_hash = text_hash(&document.text);
                document
            })
            .collect();
        store.search.put_documents(&tenant, &stale).await.expect("stale documents");
        let any = SearchFilter::default();
        let obsolete = vec!["obsolete".to_owned()];
        assert_eq!(store.search.fulltext(&tenant, &obsolete, &any, 10).await.expect("fulltext").len(), 3);

        let indexer = Indexer::new(
            store.events.clone(),
            store.search.clone(),
            EmbedderSlot::new(None),
            IndexerSettings::default(),
        );
        let report = indexer.index_tenant(&tenant).await.expect("index");
        assert_eq!(report.documents_added, 3, "{:?}: every event rendered again", db.backend);
        assert_eq!(store.search.rendering(&tenant).await.expect("rendering"), RENDERING_VERSION, "{:?}", db.backend);
        assert!(
            store.search.fulltext(&tenant, &obsolete, &any, 10).await.expect("fulltext").is_empty(),
            "{:?}: no stale text is left",
            db.backend
        );
        let deleted = store.search.fulltext(&tenant, &["delete".to_owned()], &any, 10).await.expect("fulltext");
        assert_eq!(deleted.len(), 1, "{:?}: the current rendering is searchable", db.backend);

        let again = indexer.index_tenant(&tenant).await.expect("index again");
        assert_eq!(again.documents_added, 0, "{:?}: rebuilt once, not on every run", db.backend);
    }
}
