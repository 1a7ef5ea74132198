//! The search index conformance suite: every behaviour of `SearchIndex` the rest of Veritrail
//! relies on, run against SQLite always and PostgreSQL (with pgvector) when
//! `VERITRAIL_TEST_PG_URL` is set (required under CI=true or VERITRAIL_TEST_REQUIRE_PG=1).

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use veritrail_core::event::{Outcome, TenantId};
use veritrail_core::search::{SearchDocument, SearchFilter, SearchHit, SearchIndex, TextHash};
use veritrail_core::validate::{Limits, validate_event};
use veritrail_store::search::VECTOR_DIMENSIONS;
use veritrail_store::testing::TestDatabase;

const MODEL: &str = "test-model";

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

fn hash_of(text: &str) -> TextHash {
    *veritrail_core::hash::sha256(text.as_bytes()).as_bytes()
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).single().expect("valid time") + Duration::minutes(minute)
}

/// A document with plain defaults; tests change the fields they look at.
fn document(seq: u64, text: &str) -> SearchDocument {
    SearchDocument {
        seq,
        occurred_at: at(seq as i64),
        actor_id: "alice".into(),
        actor_name: None,
        action: "user.login".into(),
        resource_type: Some("session".into()),
        outcome: Outcome::Success,
        ip: None,
        text: text.into(),
        text_hash: hash_of(text),
    }
}

/// Documents for `texts`, seqs from 0.
fn documents(texts: &[&str]) -> Vec<SearchDocument> {
    texts.iter().enumerate().map(|(seq, text)| document(seq as u64, text)).collect()
}

/// A unit vector from a few `(component, weight)` pairs.
fn vector(components: &[(usize, f32)]) -> Vec<f32> {
    let mut out = vec![0.0; VECTOR_DIMENSIONS];
    for &(component, weight) in components {
        out[component] = weight;
    }
    let norm = out.iter().map(|value| value * value).sum::<f32>().sqrt();
    out.iter_mut().for_each(|value| *value /= norm);
    out
}

fn seqs(hits: &[SearchHit]) -> Vec<u64> {
    hits.iter().map(|hit| hit.seq).collect()
}

fn terms(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

async fn pending_hashes(search: &dyn SearchIndex, tenant: &TenantId, model: &str, limit: u32) -> Vec<TextHash> {
    let pending = search.pending_texts(tenant, model, limit).await.expect("pending texts");
    pending.iter().map(|text| text.text_hash).collect()
}

#[tokio::test]
async fn documents_are_idempotent_and_indexed_until_moves() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        assert_eq!(search.indexed_until(&acme).await.expect("indexed_until"), 0, "{:?}", db.backend);

        let docs = documents(&["alpha one", "beta two", "gamma three", "delta four", "epsilon five"]);
        search.put_documents(&acme, &docs[..3]).await.expect("first batch");
        assert_eq!(search.indexed_until(&acme).await.expect("indexed_until"), 3, "{:?}", db.backend);

        // A retry, an overlapping batch, and a changed copy of a stored document.
        search.put_documents(&acme, &docs[..3]).await.expect("retry");
        search.put_documents(&acme, &docs[1..5]).await.expect("overlapping batch");
        let mut changed = document(0, "rewritten zeta");
        changed.actor_id = "mallory".into();
        search.put_documents(&acme, &[changed]).await.expect("existing document");
        assert_eq!(search.indexed_until(&acme).await.expect("indexed_until"), 5, "{:?}", db.backend);

        let all = search.filtered(&acme, &SearchFilter::default(), 100).await.expect("filtered");
        assert_eq!(seqs(&all), vec![4, 3, 2, 1, 0], "{:?}: one document per seq, newest first", db.backend);
        assert!(all.iter().all(|hit| hit.score == 1.0));
        let zeta = search.fulltext(&acme, &terms(&["zeta"]), &SearchFilter::default(), 10).await.expect("fulltext");
        assert!(zeta.is_empty(), "{:?}: an existing document is left as it is", db.backend);
        let alpha = search.fulltext(&acme, &terms(&["alpha"]), &SearchFilter::default(), 10).await.expect("fulltext");
        assert_eq!(seqs(&alpha), vec![0], "{:?}", db.backend);

        // Documents must continue the index without gaps.
        let gap = search.put_documents(&acme, &[document(7, "eta")]).await;
        assert!(gap.is_err(), "{:?}: a batch after a gap is refused", db.backend);
        let holey = search.put_documents(&acme, &[document(5, "eta"), document(7, "theta")]).await;
        assert!(holey.is_err(), "{:?}: a batch with a hole is refused", db.backend);
        assert_eq!(search.indexed_until(&acme).await.expect("indexed_until"), 5, "{:?}", db.backend);
        search.put_documents(&acme, &[]).await.expect("empty batch");
    }
}

#[tokio::test]
async fn pending_texts_dedup_and_disappear_once_embedded() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        assert!(pending_hashes(search, &acme, MODEL, 10).await.is_empty(), "{:?}: nothing indexed", db.backend);
        let texts = ["text a", "text b", "text a", "text c", "text b"];
        search.put_documents(&acme, &documents(&texts)).await.expect("documents");

        let (a, b, c) = (hash_of("text a"), hash_of("text b"), hash_of("text c"));
        let pending = search.pending_texts(&acme, MODEL, 10).await.expect("pending");
        assert_eq!(pending.iter().map(|text| text.text_hash).collect::<Vec<_>>(), vec![a, b, c], "{:?}", db.backend);
        assert_eq!(pending[0].text, "text a");
        assert_eq!(pending_hashes(search, &acme, MODEL, 2).await, vec![a, b], "{:?}: oldest first", db.backend);

        search.put_vectors(&acme, MODEL, &[(a, vector(&[(0, 1.0)])), (b, vector(&[(1, 1.0)]))]).await.expect("put");
        assert_eq!(pending_hashes(search, &acme, MODEL, 10).await, vec![c], "{:?}", db.backend);
        // Idempotent, and a vector for a known text is kept as first stored.
        search.put_vectors(&acme, MODEL, &[(a, vector(&[(5, 1.0)]))]).await.expect("put again");
        let near_a = search.nearest(&acme, MODEL, &vector(&[(0, 1.0)]), &SearchFilter::default(), 1).await.expect("nn");
        assert_eq!(seqs(&near_a), vec![2], "{:?}: the first vector of text a stays", db.backend);

        search.put_vectors(&acme, MODEL, &[(c, vector(&[(2, 1.0)]))]).await.expect("put c");
        assert!(pending_hashes(search, &acme, MODEL, 10).await.is_empty(), "{:?}", db.backend);
        assert_eq!(
            pending_hashes(search, &acme, "other-model", 10).await,
            vec![a, b, c],
            "{:?}: vectors are per model",
            db.backend
        );

        // New documents: only their new text is pending.
        search.put_documents(&acme, &[document(5, "text c"), document(6, "text d")]).await.expect("more");
        assert_eq!(pending_hashes(search, &acme, MODEL, 10).await, vec![hash_of("text d")], "{:?}", db.backend);
    }
}

#[tokio::test]
async fn nearest_orders_by_similarity_then_newest() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let texts = ["exact", "close", "far", "close", "orthogonal"];
        search.put_documents(&acme, &documents(&texts)).await.expect("documents");
        let vectors = vec![
            (hash_of("exact"), vector(&[(0, 1.0)])),
            (hash_of("close"), vector(&[(0, 0.8), (1, 0.6)])),
            (hash_of("far"), vector(&[(0, 0.3), (1, 0.95)])),
            (hash_of("orthogonal"), vector(&[(2, 1.0)])),
        ];
        search.put_vectors(&acme, MODEL, &vectors).await.expect("vectors");

        let query = vector(&[(0, 1.0)]);
        let hits = search.nearest(&acme, MODEL, &query, &SearchFilter::default(), 10).await.expect("nearest");
        assert_eq!(seqs(&hits), vec![0, 3, 1, 2, 4], "{:?}: best first, newest first within a text", db.backend);
        assert!((hits[0].score - 1.0).abs() < 1e-4, "{:?}: cosine similarity {}", db.backend, hits[0].score);
        assert!((hits[1].score - 0.8).abs() < 1e-4, "{:?}: cosine similarity {}", db.backend, hits[1].score);
        assert!(hits[4].score.abs() < 1e-4, "{:?}", db.backend);

        let top = search.nearest(&acme, MODEL, &query, &SearchFilter::default(), 2).await.expect("nearest");
        assert_eq!(seqs(&top), vec![0, 3], "{:?}", db.backend);
        let none = search.nearest(&acme, "other-model", &query, &SearchFilter::default(), 5).await.expect("nearest");
        assert!(none.is_empty(), "{:?}: no vectors for that model", db.backend);
    }
}

/// Texts whose similarity to `vector(&[(0, 1.0)])` falls steadily with their index.
fn falling_vectors(texts: &[String]) -> Vec<(TextHash, Vec<f32>)> {
    let count = texts.len();
    texts
        .iter()
        .enumerate()
        .map(|(idx, text)| (hash_of(text), vector(&[(0, (count - idx) as f32), (1, idx as f32 * 3.0)])))
        .collect()
}

#[tokio::test]
async fn nearest_finds_the_few_documents_a_selective_filter_lets_through() {
    const TEXTS: usize = 300;
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let texts: Vec<String> = (0..TEXTS).map(|idx| format!("event number {idx}")).collect();
        let mut docs: Vec<SearchDocument> =
            texts.iter().enumerate().map(|(seq, text)| document(seq as u64, text)).collect();
        // The only document the filter lets through belongs to one of the least similar texts.
        docs[290].actor_id = "needle".into();
        search.put_documents(&acme, &docs).await.expect("documents");
        search.put_vectors(&acme, MODEL, &falling_vectors(&texts)).await.expect("vectors");

        let query = vector(&[(0, 1.0)]);
        let unfiltered = search.nearest(&acme, MODEL, &query, &SearchFilter::default(), 3).await.expect("nearest");
        assert_eq!(seqs(&unfiltered), vec![0, 1, 2], "{:?}", db.backend);

        let needle = SearchFilter { actors: vec!["needle".into()], ..SearchFilter::default() };
        let hits = search.nearest(&acme, MODEL, &query, &needle, 3).await.expect("nearest");
        assert_eq!(seqs(&hits), vec![290], "{:?}: found far down the list", db.backend);

        let nobody = SearchFilter { actors: vec!["nobody".into()], ..SearchFilter::default() };
        let hits = search.nearest(&acme, MODEL, &query, &nobody, 3).await.expect("nearest");
        assert!(hits.is_empty(), "{:?}: none passes", db.backend);
    }
}

#[tokio::test]
async fn nearest_widens_until_a_filter_is_satisfied() {
    // More matching documents than the store ranks directly, so the search has to widen from the
    // most similar texts: 250 similar texts with 2 successes each, then 50 less similar texts with
    // 110 failures each.
    const TEXTS: usize = 300;
    const SIMILAR: usize = 250;
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let texts: Vec<String> = (0..TEXTS).map(|idx| format!("event number {idx}")).collect();
        let mut docs: Vec<SearchDocument> = (0..SIMILAR * 2).map(|seq| document(seq as u64, &texts[seq / 2])).collect();
        for seq in SIMILAR * 2..SIMILAR * 2 + 5_500 {
            let mut failure = document(seq as u64, &texts[SIMILAR + (seq - SIMILAR * 2) % (TEXTS - SIMILAR)]);
            failure.outcome = Outcome::Failure;
            docs.push(failure);
        }
        search.put_documents(&acme, &docs).await.expect("documents");
        let vectors = falling_vectors(&texts);
        search.put_vectors(&acme, MODEL, &vectors).await.expect("vectors");
        search.put_vectors(&acme, "similar-only", &vectors[..SIMILAR]).await.expect("vectors");

        let query = vector(&[(0, 1.0)]);
        let failures = SearchFilter { outcome: Some(Outcome::Failure), ..SearchFilter::default() };
        let hits = search.nearest(&acme, MODEL, &query, &failures, 3).await.expect("nearest");
        // The most similar failing text is text 250: its newest documents.
        assert_eq!(seqs(&hits), vec![5_950, 5_900, 5_850], "{:?}", db.backend);
        let hits = search.nearest(&acme, "similar-only", &query, &failures, 3).await.expect("nearest");
        assert!(hits.is_empty(), "{:?}: every text considered, none passes", db.backend);
        let successes = SearchFilter { outcome: Some(Outcome::Success), ..SearchFilter::default() };
        let hits = search.nearest(&acme, MODEL, &query, &successes, 3).await.expect("nearest");
        assert_eq!(seqs(&hits), vec![1, 0, 3], "{:?}", db.backend);
    }
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let (acme, globex) = (tenant("acme"), tenant("globex"));
        search.put_documents(&acme, &documents(&["shared login text", "acme only text"])).await.expect("acme");
        search.put_documents(&globex, &documents(&["shared login text"])).await.expect("globex");
        let shared = hash_of("shared login text");
        search
            .put_vectors(
                &acme,
                MODEL,
                &[(shared, vector(&[(0, 1.0)])), (hash_of("acme only text"), vector(&[(1, 1.0)]))],
            )
            .await
            .expect("acme vectors");

        // globex has a document with the same text but no vector of its own.
        let query = vector(&[(0, 1.0)]);
        let near = search.nearest(&globex, MODEL, &query, &SearchFilter::default(), 10).await.expect("nearest");
        assert!(near.is_empty(), "{:?}: acme's vectors are not globex's", db.backend);
        assert_eq!(pending_hashes(search, &globex, MODEL, 10).await, vec![shared], "{:?}", db.backend);

        search.put_vectors(&globex, MODEL, &[(shared, vector(&[(0, 1.0)]))]).await.expect("globex vector");
        let near = search.nearest(&globex, MODEL, &query, &SearchFilter::default(), 10).await.expect("nearest");
        assert_eq!(seqs(&near), vec![0], "{:?}: only globex's document", db.backend);
        let text = search.fulltext(&globex, &terms(&["acme", "login"]), &SearchFilter::default(), 10).await;
        assert_eq!(seqs(&text.expect("fulltext")), vec![0], "{:?}", db.backend);
        let all = search.filtered(&globex, &SearchFilter::default(), 10).await.expect("filtered");
        assert_eq!(seqs(&all), vec![0], "{:?}", db.backend);
        assert_eq!(search.indexed_until(&globex).await.expect("indexed_until"), 1);
        assert_eq!(search.indexed_until(&tenant("initech")).await.expect("indexed_until"), 0);
        let acme_near = search.nearest(&acme, MODEL, &query, &SearchFilter::default(), 10).await.expect("nearest");
        assert_eq!(seqs(&acme_near), vec![0, 1], "{:?}", db.backend);
    }
}

/// A tenant's texts for [`another_tenants_texts_never_change_a_tenants_scores`]: words common and
/// rare among them, texts of different lengths, two actors (so a filter reads few documents).
fn scored_tenant_documents() -> Vec<SearchDocument> {
    let texts = [
        "alice failed login from the office",
        "alice login succeeded",
        "bob failed login from home after a long weekend away from the office network",
        "bob exported the quarterly report",
        "alice read the report",
        "carol attached a policy to user bob",
        "user alice signed in",
        "alice failed login",
        "bob deleted the report",
        "login failed login failed for user carol",
    ];
    texts
        .iter()
        .enumerate()
        .map(|(seq, text)| {
            let mut document = document(seq as u64, text);
            if seq % 3 == 0 {
                document.actor_id = "bob".into();
            }
            document
        })
        .collect()
}

/// Everything a tenant can observe of its full-text searches: each search's hits with their
/// scores, in order, and the scores of given documents.
async fn observed_fulltext(search: &dyn SearchIndex, tenant: &TenantId) -> Vec<Vec<SearchHit>> {
    let any = SearchFilter::default();
    let by_bob = SearchFilter { actors: vec!["bob".into()], ..SearchFilter::default() };
    let questions: [&[&str]; 7] = [
        &["login"],
        &["failed", "login"],
        &["report", "office"],
        &["policy", "user"],
        &["zebra"],
        &["zebra", "login"],
        &["quarterly", "zebra", "read", "login"],
    ];
    let mut observed = Vec::new();
    for words in questions {
        for filter in [&any, &by_bob] {
            observed.push(search.fulltext(tenant, &terms(words), filter, 50).await.expect("fulltext"));
        }
        let every_seq: Vec<u64> = (0..12).collect();
        let mut scored = search.fulltext_scores(tenant, &terms(words), &every_seq).await.expect("fulltext scores");
        scored.sort_by_key(|hit| hit.seq);
        observed.push(scored);
    }
    observed
}

#[tokio::test]
async fn another_tenants_texts_never_change_a_tenants_scores() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let (acme, globex, initech) = (tenant("acme"), tenant("globex"), tenant("initech"));
        search.put_documents(&acme, &scored_tenant_documents()).await.expect("acme");
        let alone = observed_fulltext(search, &acme).await;
        assert!(alone[0].len() >= 5, "{:?}: the searches find something: {alone:?}", db.backend);

        // globex stores many texts: some with the searched words (more common there than in
        // acme), long ones without them (other lengths), and a word acme never uses. Ranking
        // statistics shared between tenants would move acme's scores and let acme tell whether
        // "zebra" occurs in globex's events.
        let mut texts: Vec<String> = (0..300).map(|n| format!("login failed for user {n}")).collect();
        texts
            .extend((0..300).map(|n| format!("service {n} rotated the signing keys of cluster {n} in region eu west")));
        texts.extend((0..50).map(|n| format!("zebra crossing {n} reported by the office")));
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        search.put_documents(&globex, &documents(&refs)).await.expect("globex");
        assert_eq!(observed_fulltext(search, &acme).await, alone, "{:?}: acme after globex wrote", db.backend);

        // The same texts stored after globex's give the same scores; a rebuild of globex
        // changes nothing either.
        search.put_documents(&initech, &scored_tenant_documents()).await.expect("initech");
        assert_eq!(observed_fulltext(search, &initech).await, alone, "{:?}: initech", db.backend);
        search.reset_documents(&globex, 3).await.expect("reset globex");
        search.put_documents(&globex, &documents(&refs[..40])).await.expect("globex again");
        assert_eq!(observed_fulltext(search, &acme).await, alone, "{:?}: acme after globex's rebuild", db.backend);
        let zebra = search.fulltext(&globex, &terms(&["zebra"]), &SearchFilter::default(), 10).await;
        assert!(zebra.expect("fulltext").is_empty(), "{:?}: globex's rebuilt index", db.backend);
    }
}

/// Five documents that differ in every filtered field; all texts mention "event".
fn filter_fixture() -> Vec<SearchDocument> {
    let mut docs = documents(&[
        "alice event login",
        "bob event logout",
        "backup event export",
        "carol event login",
        "dave event login",
    ]);
    docs[0].actor_name = Some("Alice Liddell".into());
    docs[0].action = "User.Login".into();
    docs[0].resource_type = Some("Session".into());
    docs[0].ip = Some("10.1.2.3".into());
    docs[1].actor_id = "bob".into();
    docs[1].action = "user.logout".into();
    docs[1].resource_type = None;
    docs[1].outcome = Outcome::Failure;
    docs[1].ip = Some("10.2.0.1".into());
    docs[2].actor_id = "svc-backup".into();
    docs[2].actor_name = Some("Backup Service".into());
    docs[2].action = "repo.export".into();
    docs[2].resource_type = Some("Repository".into());
    docs[2].outcome = Outcome::Denied;
    docs[2].ip = Some("2001:db8::5".into());
    docs[3].actor_id = "carol".into();
    docs[4].actor_id = "dave".into();
    docs[4].outcome = Outcome::Failure;
    docs[4].ip = Some("not-an-ip".into());
    docs
}

#[tokio::test]
async fn every_filter_kind_applies_in_every_query() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let docs = filter_fixture();
        search.put_documents(&acme, &docs).await.expect("documents");
        let vectors: Vec<(TextHash, Vec<f32>)> =
            docs.iter().enumerate().map(|(idx, doc)| (doc.text_hash, vector(&[(0, 1.0), (idx + 1, 0.1)]))).collect();
        search.put_vectors(&acme, MODEL, &vectors).await.expect("vectors");

        let strings = |values: &[&str]| values.iter().map(|value| value.to_string()).collect::<Vec<_>>();
        let cases: Vec<(&str, SearchFilter, Vec<u64>)> = vec![
            ("no filter", SearchFilter::default(), vec![4, 3, 2, 1, 0]),
            ("since is inclusive", SearchFilter { since: Some(at(1)), ..Default::default() }, vec![4, 3, 2, 1]),
            ("until is exclusive", SearchFilter { until: Some(at(2)), ..Default::default() }, vec![1, 0]),
            ("time range", SearchFilter { since: Some(at(1)), until: Some(at(3)), ..Default::default() }, vec![2, 1]),
            ("actor id, any case", SearchFilter { actors: strings(&["ALICE"]), ..Default::default() }, vec![0]),
            (
                "actor name, any case",
                SearchFilter { actors: strings(&["alice liddell"]), ..Default::default() },
                vec![0],
            ),
            (
                "several actors",
                SearchFilter { actors: strings(&["Backup SERVICE", "Bob"]), ..Default::default() },
                vec![2, 1],
            ),
            (
                "action, any case",
                SearchFilter { actions: strings(&["user.login"]), ..Default::default() },
                vec![4, 3, 0],
            ),
            (
                "resource type, any case",
                SearchFilter { resource_types: strings(&["SESSION"]), ..Default::default() },
                vec![4, 3, 0],
            ),
            ("outcome", SearchFilter { outcome: Some(Outcome::Failure), ..Default::default() }, vec![4, 1]),
            ("IPv4 address", SearchFilter { ips: strings(&["10.1.2.3"]), ..Default::default() }, vec![0]),
            ("IPv4 CIDR", SearchFilter { ips: strings(&["10.0.0.0/8"]), ..Default::default() }, vec![1, 0]),
            ("narrow IPv4 CIDR", SearchFilter { ips: strings(&["10.2.0.0/16"]), ..Default::default() }, vec![1]),
            ("IPv6 CIDR", SearchFilter { ips: strings(&["2001:db8::/32"]), ..Default::default() }, vec![2]),
            ("IPv6 address", SearchFilter { ips: strings(&["2001:db8:0::5"]), ..Default::default() }, vec![2]),
            (
                "invalid IP entries are ignored",
                SearchFilter { ips: strings(&["nonsense"]), ..Default::default() },
                vec![4, 3, 2, 1, 0],
            ),
            (
                "invalid next to valid",
                SearchFilter { ips: strings(&["nonsense", "10.2.0.1"]), ..Default::default() },
                vec![1],
            ),
            (
                "filters combine",
                SearchFilter {
                    actions: strings(&["USER.LOGIN"]),
                    outcome: Some(Outcome::Failure),
                    ..Default::default()
                },
                vec![4],
            ),
        ];
        let query = vector(&[(0, 1.0)]);
        for (name, filter, expected) in cases {
            let filtered = search.filtered(&acme, &filter, 10).await.expect("filtered");
            assert_eq!(seqs(&filtered), expected, "{:?}: filtered, {name}", db.backend);

            let fulltext = search.fulltext(&acme, &terms(&["event"]), &filter, 10).await.expect("fulltext");
            let mut found = seqs(&fulltext);
            found.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(found, expected, "{:?}: fulltext, {name}", db.backend);

            let nearest = search.nearest(&acme, MODEL, &query, &filter, 10).await.expect("nearest");
            let mut found = seqs(&nearest);
            found.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(found, expected, "{:?}: nearest, {name}", db.backend);
        }
        let limited = search.filtered(&acme, &SearchFilter::default(), 2).await.expect("filtered");
        assert_eq!(seqs(&limited), vec![4, 3], "{:?}: newest first, at most limit", db.backend);
    }
}

#[tokio::test]
async fn fulltext_ranks_more_matching_terms_first_and_stems() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let texts = [
            "alice failed login from the office network",
            "bob login succeeded",
            "carol exported the customer report",
            "dave login failed twice",
        ];
        search.put_documents(&acme, &documents(&texts)).await.expect("documents");
        let any = SearchFilter::default();

        let hits = search.fulltext(&acme, &terms(&["failed", "login", "office"]), &any, 10).await.expect("fulltext");
        assert_eq!(seqs(&hits)[0], 0, "{:?}: three matching terms beat two: {hits:?}", db.backend);
        assert_eq!(seqs(&hits)[1], 3, "{:?}: two matching terms beat one: {hits:?}", db.backend);
        assert_eq!(seqs(&hits).len(), 3, "{:?}: any term may match, not all: {hits:?}", db.backend);
        assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score), "{:?}: best first", db.backend);

        let stemmed = search.fulltext(&acme, &terms(&["logins"]), &any, 10).await.expect("fulltext");
        let mut found = seqs(&stemmed);
        found.sort_unstable();
        assert_eq!(found, vec![0, 1, 3], "{:?}: \"logins\" finds \"login\"", db.backend);
        let exports = search.fulltext(&acme, &terms(&["exporting"]), &any, 10).await.expect("fulltext");
        assert_eq!(seqs(&exports), vec![2], "{:?}", db.backend);

        assert!(search.fulltext(&acme, &[], &any, 10).await.expect("fulltext").is_empty(), "{:?}", db.backend);
        let limited = search.fulltext(&acme, &terms(&["login"]), &any, 1).await.expect("fulltext");
        assert_eq!(limited.len(), 1, "{:?}", db.backend);
    }
}

#[tokio::test]
async fn fulltext_terms_cannot_inject_query_syntax() {
    let nasty = [
        "\"",
        "*",
        "NEAR",
        "near(",
        "a:b",
        "&|!",
        "'",
        "''",
        "\"login\"",
        "login*",
        "-login",
        "(",
        ")",
        "OR",
        "AND",
        "NOT",
        "^login",
        "{login}",
        "text:login",
        "login & !x",
        "<->",
        "\\",
        "%",
        "a\"b",
        ":*",
    ];
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        search.put_documents(&acme, &documents(&["alice login near the office", "bob logout"])).await.expect("docs");
        for term in nasty {
            let result = search.fulltext(&acme, &terms(&[term]), &SearchFilter::default(), 10).await;
            assert!(result.is_ok(), "{:?}: term {term:?} failed: {result:?}", db.backend);
        }
        let all_at_once = search.fulltext(&acme, &terms(&nasty), &SearchFilter::default(), 10).await.expect("fulltext");
        assert!(seqs(&all_at_once).contains(&0), "{:?}: the words inside still match", db.backend);
        let quoted = search.fulltext(&acme, &terms(&["\"logout\""]), &SearchFilter::default(), 10).await;
        assert_eq!(seqs(&quoted.expect("fulltext")), vec![1], "{:?}", db.backend);
    }
}

#[tokio::test]
async fn vectors_of_the_wrong_dimension_are_refused() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        search.put_documents(&acme, &documents(&["short vector"])).await.expect("documents");
        let hash = hash_of("short vector");
        let err = search.put_vectors(&acme, MODEL, &[(hash, vec![1.0, 0.0, 0.0])]).await.expect_err("3 dimensions");
        assert!(err.to_string().contains("384"), "{:?}: {err}", db.backend);
        // The caller's mistake, not the database's: a 4xx at the API, never a 503.
        assert!(matches!(err, veritrail_core::store::StoreError::InvalidInput(_)), "{:?}: {err:?}", db.backend);
        let long = vec![0.1; VECTOR_DIMENSIONS + 1];
        assert!(search.put_vectors(&acme, MODEL, &[(hash, long)]).await.is_err(), "{:?}", db.backend);
        // A good vector next to a bad one: nothing is stored.
        let mixed = [(hash, vector(&[(0, 1.0)])), (hash_of("other"), vec![1.0; 10])];
        assert!(search.put_vectors(&acme, MODEL, &mixed).await.is_err(), "{:?}", db.backend);
        assert_eq!(pending_hashes(search, &acme, MODEL, 10).await, vec![hash], "{:?}: still pending", db.backend);
        let query = search.nearest(&acme, MODEL, &[1.0, 0.0], &SearchFilter::default(), 5).await;
        assert!(query.is_err(), "{:?}: a query vector of the wrong length is refused", db.backend);
    }
}

#[tokio::test]
async fn progress_counts_events_documents_and_embedded_documents() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let events = (0..6)
            .map(|idx| {
                let raw = json!({"actor": {"id": "alice", "type": "user"}, "action": format!("a{idx}"), "outcome": "success"});
                validate_event(&raw, &Limits::default(), || uuid::Uuid::now_v7().to_string()).expect("valid event")
            })
            .collect();
        store.events.append(&acme, events).await.expect("append");
        let progress = |events, indexed, embedded| veritrail_core::search::IndexProgress { events, indexed, embedded };
        assert_eq!(search.progress(&acme, MODEL).await.expect("progress"), progress(6, 0, 0), "{:?}", db.backend);

        search.put_documents(&acme, &documents(&["a", "a", "b", "c"])).await.expect("documents");
        assert_eq!(search.progress(&acme, MODEL).await.expect("progress"), progress(6, 4, 0), "{:?}", db.backend);

        // `embedded` counts documents from seq 0 up to the first one whose text has no vector.
        search.put_vectors(&acme, MODEL, &[(hash_of("a"), vector(&[(0, 1.0)]))]).await.expect("a");
        assert_eq!(search.progress(&acme, MODEL).await.expect("progress"), progress(6, 4, 2), "{:?}", db.backend);
        search.put_vectors(&acme, MODEL, &[(hash_of("c"), vector(&[(2, 1.0)]))]).await.expect("c");
        assert_eq!(search.progress(&acme, MODEL).await.expect("progress"), progress(6, 4, 2), "{:?}", db.backend);
        search.put_vectors(&acme, MODEL, &[(hash_of("b"), vector(&[(1, 1.0)]))]).await.expect("b");
        assert_eq!(search.progress(&acme, MODEL).await.expect("progress"), progress(6, 4, 4), "{:?}", db.backend);

        // Documents whose texts already have vectors count once pending texts are looked up.
        search.put_documents(&acme, &[document(4, "a"), document(5, "b")]).await.expect("more documents");
        assert!(search.pending_texts(&acme, MODEL, 10).await.expect("pending").is_empty());
        assert_eq!(search.progress(&acme, MODEL).await.expect("progress"), progress(6, 6, 6), "{:?}", db.backend);
        assert_eq!(search.progress(&acme, "other").await.expect("progress"), progress(6, 6, 0), "{:?}", db.backend);
        let nobody = tenant("nobody");
        assert_eq!(search.progress(&nobody, MODEL).await.expect("progress"), progress(0, 0, 0), "{:?}", db.backend);
    }
}

#[tokio::test]
async fn vocabulary_lists_most_frequent_first() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let mut docs = documents(&["v0", "v1", "v2", "v3", "v4", "v5"]);
        for doc in &mut docs[3..] {
            doc.actor_id = "bob".into();
            doc.actor_name = Some("Bob Smith".into());
        }
        docs[5].actor_id = "carol".into();
        docs[5].actor_name = None;
        docs[5].action = "report.export".into();
        docs[5].resource_type = Some("report".into());
        docs[4].resource_type = None;
        search.put_documents(&acme, &docs[..4]).await.expect("documents");
        search.put_documents(&acme, &docs).await.expect("documents again, overlapping");
        search.put_documents(&tenant("globex"), &documents(&["x"])).await.expect("other tenant");

        let vocabulary = search.vocabulary(&acme, 10).await.expect("vocabulary");
        // alice 3, bob 2, Bob Smith 2, carol 1; ties alphabetically.
        assert_eq!(vocabulary.actors, vec!["alice", "Bob Smith", "bob", "carol"], "{:?}", db.backend);
        assert_eq!(vocabulary.actions, vec!["user.login", "report.export"], "{:?}", db.backend);
        assert_eq!(vocabulary.resource_types, vec!["session", "report"], "{:?}", db.backend);

        let top = search.vocabulary(&acme, 1).await.expect("vocabulary");
        assert_eq!(top.actors, vec!["alice"], "{:?}", db.backend);
        assert_eq!(top.actions, vec!["user.login"], "{:?}", db.backend);
        assert!(search.vocabulary(&tenant("initech"), 10).await.expect("vocabulary").actors.is_empty());
    }
}

#[tokio::test]
async fn broad_filters_rank_texts_and_check_every_document() {
    // More documents pass the filters than the store ranks directly, and one text is shared by
    // two actors at different times: texts are ranked, but each returned document must pass the
    // filter itself. 6,000 documents of "console login failed" alternate bob (even seqs) and
    // alice; 6,000 of "bucket policy changed" are all bob's.
    const EACH: u64 = 6_000;
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let login = "console login failed";
        let bucket = "bucket policy changed";
        let mut docs: Vec<SearchDocument> = Vec::new();
        for seq in 0..EACH * 2 {
            let mut doc = document(seq, if seq < EACH { login } else { bucket });
            if seq < EACH && seq % 2 == 1 {
                doc.actor_id = "alice".into();
            } else {
                doc.actor_id = "bob".into();
            }
            docs.push(doc);
        }
        for chunk in docs.chunks(2_000) {
            search.put_documents(&acme, chunk).await.expect("documents");
        }
        search
            .put_vectors(&acme, MODEL, &[(hash_of(login), vector(&[(0, 1.0)])), (hash_of(bucket), vector(&[(1, 1.0)]))])
            .await
            .expect("vectors");

        let bob = SearchFilter { actors: vec!["Bob".into()], ..SearchFilter::default() };
        let hits = search.fulltext(&acme, &terms(&["login"]), &bob, 3).await.expect("fulltext");
        assert_eq!(seqs(&hits), vec![5_998, 5_996, 5_994], "{:?}: bob's newest logins, none of alice's", db.backend);
        let hits = search.nearest(&acme, MODEL, &vector(&[(0, 1.0)]), &bob, 3).await.expect("nearest");
        assert_eq!(seqs(&hits), vec![5_998, 5_996, 5_994], "{:?}", db.backend);

        // A time range inside the login text's span: its newest documents before `until`.
        let window = SearchFilter { since: Some(at(100)), until: Some(at(200)), ..SearchFilter::default() };
        let hits = search.fulltext(&acme, &terms(&["login", "bucket"]), &window, 2).await.expect("fulltext");
        assert_eq!(seqs(&hits), vec![199, 198], "{:?}", db.backend);
        // Past the login text's span, only the bucket text has documents, however similar
        // the login text is.
        let late = SearchFilter { since: Some(at(EACH as i64 + 10)), ..bob.clone() };
        let hits = search.nearest(&acme, MODEL, &vector(&[(0, 1.0)]), &late, 2).await.expect("nearest");
        assert_eq!(seqs(&hits), vec![EACH * 2 - 1, EACH * 2 - 2], "{:?}", db.backend);
        // Few enough documents by the facets' count: read through their texts.
        let alice = SearchFilter { actors: vec!["alice".into()], ..SearchFilter::default() };
        let hits = search.fulltext(&acme, &terms(&["login", "bucket"]), &alice, 3).await.expect("fulltext");
        assert_eq!(seqs(&hits), vec![5_999, 5_997, 5_995], "{:?}", db.backend);
        let hits = search.nearest(&acme, MODEL, &vector(&[(1, 1.0)]), &alice, 2).await.expect("nearest");
        assert_eq!(seqs(&hits), vec![5_999, 5_997], "{:?}: alice has no bucket events", db.backend);
        let nobody = SearchFilter { actors: vec!["carol".into()], ..SearchFilter::default() };
        assert!(search.fulltext(&acme, &terms(&["login"]), &nobody, 3).await.expect("fulltext").is_empty());
    }
}

#[tokio::test]
async fn rare_terms_outweigh_common_ones_in_a_large_tenant() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        // 1,500 distinct texts hold "user"; three also hold the rare "policy", one holds only
        // "policy": a common term must not drown the rare one, nor be ignored altogether.
        let mut texts: Vec<String> = (0..1_500).map(|n| format!("user number {n} signed in")).collect();
        for n in [100, 700, 1_400] {
            texts[n] = format!("user number {n} attached a policy");
        }
        texts.push("a policy was attached by a service".into());
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        search.put_documents(&acme, &documents(&refs)).await.expect("documents");
        let any = SearchFilter::default();

        let hits = search.fulltext(&acme, &terms(&["user", "policy"]), &any, 10).await.expect("fulltext");
        let mut top = seqs(&hits[..4.min(hits.len())]);
        top.sort_unstable();
        assert_eq!(top, vec![100, 700, 1_400, 1_500], "{:?}: the rare term's texts first: {hits:?}", db.backend);
        assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score), "{:?}: best first", db.backend);

        let common = search.fulltext(&acme, &terms(&["user", "signed"]), &any, 10).await.expect("fulltext");
        assert_eq!(common.len(), 10, "{:?}: only common terms still find texts: {common:?}", db.backend);
        let unknown = search.fulltext(&acme, &terms(&["nowhere"]), &any, 10).await.expect("fulltext");
        assert!(unknown.is_empty(), "{:?}", db.backend);
    }
}

#[tokio::test]
async fn filtered_finds_old_matches_and_nothing_fast() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        // The matching documents are the oldest: a newest-first walk must not stop short.
        let mut docs: Vec<SearchDocument> = (0..400).map(|seq| document(seq, &format!("event {seq}"))).collect();
        for doc in docs.iter_mut().take(3) {
            doc.actor_id = "mallory".into();
            doc.ip = Some("198.51.100.7".into());
        }
        search.put_documents(&acme, &docs).await.expect("documents");

        let mallory = SearchFilter { actors: vec!["Mallory".into()], ..SearchFilter::default() };
        let found = search.filtered(&acme, &mallory, 10).await.expect("filtered");
        assert_eq!(seqs(&found), vec![2, 1, 0], "{:?}: newest first among old matches", db.backend);
        let limited = search.filtered(&acme, &mallory, 2).await.expect("filtered");
        assert_eq!(seqs(&limited), vec![2, 1], "{:?}", db.backend);

        let nobody = SearchFilter {
            actors: vec!["mallory".into()],
            ips: vec!["203.0.113.0/24".into()],
            ..SearchFilter::default()
        };
        assert!(search.filtered(&acme, &nobody, 10).await.expect("filtered").is_empty(), "{:?}", db.backend);
        let window = SearchFilter { since: Some(at(1)), until: Some(at(2)), ..mallory.clone() };
        assert_eq!(seqs(&search.filtered(&acme, &window, 10).await.expect("filtered")), vec![1], "{:?}", db.backend);

        // A document indexed right after a search with the same filter is found by the next one.
        let mut late = document(400, "event 400");
        late.actor_id = "mallory".into();
        search.put_documents(&acme, &[late]).await.expect("documents");
        let found = search.filtered(&acme, &mallory, 10).await.expect("filtered");
        assert_eq!(seqs(&found), vec![400, 2, 1, 0], "{:?}: nothing stale", db.backend);
        let found = search.fulltext(&acme, &terms(&["event"]), &mallory, 10).await.expect("fulltext");
        assert_eq!(found.len(), 4, "{:?}: nothing stale", db.backend);
    }
}

#[tokio::test]
async fn words_inside_paths_names_and_hosts_are_found() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let texts = [
            "ci called secret read on secret staging/checkout/api-key",
            "alice called ec2 RunInstances, instance type p2.xlarge",
            "bob called secretsmanager.amazonaws.com on arn:aws:iam::123456789012:role/deployer",
        ];
        search.put_documents(&acme, &documents(&texts)).await.expect("documents");
        let any = SearchFilter::default();
        for (words, expected) in
            [(&["checkout"][..], 0), (&["api", "key"][..], 0), (&["xlarge"][..], 1), (&["deployer"][..], 2)]
        {
            let hits = search.fulltext(&acme, &terms(words), &any, 10).await.expect("fulltext");
            assert_eq!(seqs(&hits), vec![expected], "{:?}: {words:?}", db.backend);
        }
        let dotted = search.fulltext(&acme, &terms(&["p2.xlarge"]), &any, 10).await.expect("fulltext");
        assert_eq!(seqs(&dotted), vec![1], "{:?}: a term with a separator matches as its words", db.backend);
    }
}

#[tokio::test]
async fn scores_of_given_documents_match_the_ranked_lists() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let acme = tenant("acme");
        let texts = ["alice failed login", "bob login succeeded", "carol exported a report", "alice failed login"];
        search.put_documents(&acme, &documents(&texts)).await.expect("documents");
        search.put_documents(&tenant("other"), &documents(&texts)).await.expect("documents");
        let vectors = vec![
            (hash_of(texts[0]), vector(&[(0, 1.0)])),
            (hash_of(texts[1]), vector(&[(0, 0.6), (1, 0.8)])),
            (hash_of(texts[2]), vector(&[(2, 1.0)])),
        ];
        search.put_vectors(&acme, MODEL, &vectors).await.expect("vectors");
        let words = terms(&["failed", "login"]);
        let any = SearchFilter::default();

        let ranked = search.fulltext(&acme, &words, &any, 10).await.expect("fulltext");
        let mut scored = search.fulltext_scores(&acme, &words, &[1, 2, 3, 99]).await.expect("fulltext scores");
        scored.sort_by_key(|hit| hit.seq);
        assert_eq!(seqs(&scored), vec![1, 3], "{:?}: no term in 2, no document 99", db.backend);
        for hit in &scored {
            let listed = ranked.iter().find(|listed| listed.seq == hit.seq).expect("ranked");
            assert!((listed.score - hit.score).abs() < 1e-9, "{:?}: {hit:?} vs {listed:?}", db.backend);
        }
        assert!(search.fulltext_scores(&acme, &words, &[]).await.expect("no seqs").is_empty());

        let query = vector(&[(0, 1.0)]);
        let mut similar = search.similarities(&acme, MODEL, &query, &[3, 1, 2]).await.expect("similarities");
        similar.sort_by_key(|hit| hit.seq);
        assert_eq!(seqs(&similar), vec![1, 2, 3], "{:?}", db.backend);
        let expected = [0.6, 0.0, 1.0];
        for (hit, expected) in similar.iter().zip(expected) {
            assert!((hit.score - expected).abs() < 1e-4, "{:?}: {hit:?} should be {expected}", db.backend);
        }
        let unembedded = search.similarities(&tenant("other"), MODEL, &query, &[0, 1]).await.expect("similarities");
        assert!(unembedded.is_empty(), "{:?}: another tenant's vectors are not used", db.backend);
        let wrong = search.similarities(&acme, MODEL, &[1.0, 0.0], &[0]).await;
        assert!(wrong.is_err(), "{:?}: a query vector of the wrong width is refused", db.backend);
    }
}

#[tokio::test]
async fn reset_documents_clears_a_tenant_and_prune_vectors_drops_what_no_text_uses() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let search = store.search.as_ref();
        let (acme, other) = (tenant("acme"), tenant("other"));
        assert_eq!(search.rendering(&acme).await.expect("rendering"), 0, "{:?}: no documents yet", db.backend);
        let texts = ["alice read the report", "bob deleted the report", "alice read the report"];
        for name in [&acme, &other] {
            search.put_documents(name, &documents(&texts)).await.expect("documents");
            let vectors = vec![(hash_of(texts[0]), vector(&[(0, 1.0)])), (hash_of(texts[1]), vector(&[(1, 1.0)]))];
            search.put_vectors(name, MODEL, &vectors).await.expect("vectors");
        }
        let any = SearchFilter::default();
        let report = terms(&["report"]);
        // A filtered search caches the filter's scope; a reset must not leave it behind.
        let by_alice = SearchFilter { actors: vec!["alice".into()], ..SearchFilter::default() };
        assert_eq!(search.filtered(&acme, &by_alice, 10).await.expect("filtered").len(), 3, "{:?}", db.backend);

        search.reset_documents(&acme, 7).await.expect("reset");
        assert_eq!(search.rendering(&acme).await.expect("rendering"), 7, "{:?}", db.backend);
        assert_eq!(search.indexed_until(&acme).await.expect("indexed"), 0, "{:?}", db.backend);
        assert!(search.fulltext(&acme, &report, &any, 10).await.expect("fulltext").is_empty(), "{:?}", db.backend);
        assert!(search.filtered(&acme, &by_alice, 10).await.expect("filtered").is_empty(), "{:?}", db.backend);
        let query = vector(&[(0, 1.0)]);
        assert!(search.nearest(&acme, MODEL, &query, &any, 10).await.expect("nearest").is_empty(), "{:?}", db.backend);
        let vocabulary = search.vocabulary(&acme, 10).await.expect("vocabulary");
        assert!(vocabulary.actors.is_empty() && vocabulary.actions.is_empty(), "{:?}", db.backend);
        assert_eq!(search.fulltext(&other, &report, &any, 10).await.expect("fulltext").len(), 3, "{:?}", db.backend);
        assert_eq!(search.rendering(&other).await.expect("rendering"), 0, "{:?}: other tenants untouched", db.backend);

        // Rebuilt with one text as before and one new: only the new one needs a vector.
        let rebuilt = ["alice read the report", "bob deleted the quarterly report"];
        search.put_documents(&acme, &documents(&rebuilt)).await.expect("documents again");
        assert_eq!(pending_hashes(search, &acme, MODEL, 10).await, vec![hash_of(rebuilt[1])], "{:?}", db.backend);
        let hits = search.nearest(&acme, MODEL, &query, &any, 10).await.expect("nearest");
        assert_eq!(seqs(&hits), vec![0], "{:?}: the kept vector serves the text again", db.backend);
        let found = search.fulltext(&acme, &terms(&["quarterly"]), &any, 10).await.expect("fulltext");
        assert_eq!(seqs(&found), vec![1], "{:?}", db.backend);
        assert_eq!(search.filtered(&acme, &by_alice, 10).await.expect("filtered").len(), 2, "{:?}", db.backend);
        assert_eq!(search.rendering(&acme).await.expect("rendering"), 7, "{:?}: kept by new documents", db.backend);

        // Once rebuilt, the old text's vector is deleted, once; other tenants keep theirs.
        assert_eq!(search.prune_vectors(&other).await.expect("prune"), 0, "{:?}: no reset there", db.backend);
        assert_eq!(search.prune_vectors(&acme).await.expect("prune"), 1, "{:?}", db.backend);
        assert_eq!(search.prune_vectors(&acme).await.expect("prune"), 0, "{:?}: done", db.backend);
        search.put_documents(&acme, &[document(2, texts[1])]).await.expect("the old text again");
        let pending = pending_hashes(search, &acme, MODEL, 10).await;
        assert!(pending.contains(&hash_of(texts[1])), "{:?}: its vector is gone: {pending:?}", db.backend);
        let hits = search.nearest(&acme, MODEL, &vector(&[(1, 1.0)]), &any, 10).await.expect("nearest");
        assert_eq!(seqs(&hits), vec![0], "{:?}: nor searched (SQLite's cached set is read again)", db.backend);
        let theirs = search.nearest(&other, MODEL, &vector(&[(1, 1.0)]), &any, 10).await.expect("nearest");
        assert_eq!(seqs(&theirs)[0], 1, "{:?}", db.backend);
    }
}
