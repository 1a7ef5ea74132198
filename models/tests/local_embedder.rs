//! The local MiniLM embedder against vectors from the reference implementation
//! (sentence-transformers; see `fixtures/README.md`).
//!
//! Needs the model files in the default model directory: `veritrail models fetch` puts them
//! there. Without them every test here fails, by design.

use std::sync::OnceLock;

use serde::Deserialize;
use veritrail_models::embed::{Embedder, LocalEmbedder, MINILM_DIMENSIONS, MINILM_MODEL_ID};
use veritrail_models::fetch::{default_model_dir, model_present};

#[derive(Deserialize)]
struct Reference {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    text: String,
    tokens_untruncated: usize,
    vector: Vec<f32>,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("fixtures/minilm_reference.json")).expect("fixture is valid JSON")
}

/// One model per test binary: loading takes a while and the model is read-only.
fn embedder() -> &'static LocalEmbedder {
    static EMBEDDER: OnceLock<LocalEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let dir = default_model_dir();
        assert!(model_present(&dir), "model not found in {}: run `veritrail models fetch`", dir.display());
        LocalEmbedder::load(&dir).expect("model files are present, so they load")
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn matches_sentence_transformers_on_every_reference_text() {
    let reference = reference();
    assert!(reference.entries.len() >= 10, "fixture lost its entries");
    let texts: Vec<&str> = reference.entries.iter().map(|e| e.text.as_str()).collect();
    let vectors = embedder().embed_blocking(&texts).expect("reference texts embed");
    assert_eq!(vectors.len(), texts.len());
    let mut worst = f32::MAX;
    for (entry, vector) in reference.entries.iter().zip(&vectors) {
        assert_eq!(entry.vector.len(), MINILM_DIMENSIONS);
        assert_eq!(vector.len(), MINILM_DIMENSIONS);
        let c = cosine(vector, &entry.vector);
        assert!(c >= 0.999, "cosine {c} for {:?}", entry.text);
        worst = worst.min(c);
    }
    println!("lowest cosine against the reference: {worst:.7}");
}

#[test]
fn a_batch_gives_the_same_vectors_as_one_text_at_a_time() {
    let reference = reference();
    let texts: Vec<&str> = reference.entries.iter().map(|e| e.text.as_str()).collect();
    let batch = embedder().embed_blocking(&texts).expect("batch embeds");
    for (text, from_batch) in texts.iter().zip(&batch) {
        let alone = embedder().embed_blocking(&[text]).expect("single text embeds");
        let diff = max_abs_diff(&alone[0], from_batch);
        // Padding changes matrix shapes, so float rounding differs slightly; nothing more.
        assert!(diff < 1e-5, "batch and single differ by {diff} for {text:?}");
    }
}

#[test]
fn order_is_kept_across_internal_batches() {
    let reference = reference();
    // 70 texts: three internal batches of at most 32, the texts in a shuffled repeating order.
    let texts: Vec<&str> =
        (0..70).map(|i| reference.entries[(i * 7) % reference.entries.len()].text.as_str()).collect();
    let vectors = embedder().embed_blocking(&texts).expect("texts embed");
    assert_eq!(vectors.len(), texts.len());
    for (i, vector) in vectors.iter().enumerate() {
        let entry = &reference.entries[(i * 7) % reference.entries.len()];
        let c = cosine(vector, &entry.vector);
        assert!(c >= 0.999, "position {i}: cosine {c} against {:?}", entry.text);
    }
}

#[test]
fn vectors_are_unit_length() {
    let texts = ["a", "actor x called y", "ünïcödé ✓", ""];
    for vector in embedder().embed_blocking(&texts).expect("texts embed") {
        let norm = dot(&vector, &vector).sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
}

#[test]
fn text_past_the_token_limit_is_truncated_not_refused() {
    let reference = reference();
    let long = reference.entries.iter().find(|e| e.tokens_untruncated > 256).expect("fixture has a long text");
    let longer = format!("{} and a tail that lies entirely past the token limit", long.text);
    let vectors = embedder().embed_blocking(&[&long.text, &longer]).expect("long texts embed");
    assert!(cosine(&vectors[0], &long.vector) >= 0.999);
    // Only the first 256 tokens count, so text appended after them changes nothing.
    assert!(max_abs_diff(&vectors[0], &vectors[1]) < 1e-6);
}

#[tokio::test]
async fn async_embed_agrees_with_blocking_and_handles_empty_input() {
    let embedder = embedder();
    assert_eq!(embedder.model_id(), MINILM_MODEL_ID);
    assert_eq!(embedder.dimensions(), MINILM_DIMENSIONS);
    assert!(embedder.embed(&[]).await.expect("empty input is fine").is_empty());
    assert!(embedder.embed_blocking(&[]).expect("empty input is fine").is_empty());

    let texts = vec!["actor bert-jan called cloudtrail StopLogging".to_owned(), "outcome failure".to_owned()];
    let from_async = embedder.embed(&texts).await.expect("texts embed");
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let from_blocking = embedder.embed_blocking(&refs).expect("texts embed");
    assert_eq!(from_async, from_blocking);
}

#[tokio::test]
async fn usable_as_a_shared_trait_object() {
    let shared: std::sync::Arc<dyn Embedder> = std::sync::Arc::new(embedder().clone());
    let vectors = shared.embed(&["user login failed".to_owned()]).await.expect("text embeds");
    assert_eq!(vectors.len(), 1);
    assert_eq!(vectors[0].len(), shared.dimensions());
}
