//! Where a child process spends its own CPU: `perf record` of one run, summarised by symbol and by
//! coarse category (hashing, canonical encoding, JSON decoding, database driver, allocator,
//! kernel). Optional: used when `perf` is installed and allowed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

/// One symbol's share of the samples (self time).
#[derive(Debug, Clone, Serialize)]
pub struct SymbolShare {
    pub percent: f64,
    pub dso: String,
    pub symbol: String,
    pub category: String,
}

/// A summarised profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub command: String,
    pub wall_seconds: f64,
    /// Percent of samples by category, largest first.
    pub categories: Vec<(String, f64)>,
    /// The busiest symbols (self time).
    pub top_symbols: Vec<SymbolShare>,
}

/// Whether `perf` can be run at all.
pub fn available() -> bool {
    crate::report::command_output("perf", &["--version"]).is_some()
}

/// Assigns a symbol to a category by name; first match wins.
fn categorise(dso: &str, symbol: &str, kernel: bool) -> &'static str {
    let has = |needle: &str| symbol.contains(needle);
    if kernel || dso.starts_with("[kernel") {
        return "kernel (syscalls, network, page faults)";
    }
    if has("sha2::") || has("sha256") || has("Sha256") || has("digest_blocks") || has("compress256") {
        return "SHA-256";
    }
    if has("canonical") || has("write_string") || has("write_object") || has("write_value") || has("write_number") {
        return "canonical encoding";
    }
    if has("chrono") || has("format_time") || has("DelayedFormat") || has("fmt::") || has("core::fmt") {
        return "time formatting / fmt";
    }
    if has("serde_json") || has("serde::") || has("serde_core::") {
        return "JSON decoding (details, tags)";
    }
    if has("sqlite3") || dso.contains("sqlite") {
        return "SQLite engine";
    }
    // Columns are looked up by name (a hash map) and text columns checked as UTF-8 while rows are
    // decoded.
    if has("sqlx") || has("hashbrown") || has("from_utf8") {
        return "sqlx (driver, row decoding)";
    }
    if has("malloc")
        || has("free")
        || has("realloc")
        || has("mi_")
        || has("_mi_")
        || has("alloc::")
        || has("drop_in_place")
        || has("memcpy")
        || has("memmove")
        || has("memset")
    {
        return "memory (allocation, copies, drops)";
    }
    if has("merkle") || has("Frontier") || has("ChainVerifier") || has("verify::") {
        return "chain / Merkle bookkeeping";
    }
    if has("tokio") || has("futures") || has("mio") {
        return "async runtime";
    }
    if dso.contains("libc") || dso.contains("ld-linux") {
        return "libc (other)";
    }
    "other"
}

/// Runs `program args` under `perf record` (its own threads only) with output in `dir`, and
/// summarises the samples. Errors are returned as text for the report.
pub fn record(program: &Path, args: &[String], env: &[(&str, &str)], dir: &Path) -> Result<Profile, String> {
    let data = dir.join("perf.data");
    let start = std::time::Instant::now();
    let output = std::process::Command::new("perf")
        .arg("record")
        .arg("-F")
        .arg("999")
        .arg("-o")
        .arg(&data)
        .arg("--")
        .arg(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| format!("cannot run perf: {err}"))?;
    let wall_seconds = start.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!("perf record failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr)));
    }
    let report = std::process::Command::new("perf")
        .arg("report")
        .arg("-i")
        .arg(&data)
        .args(["--stdio", "--no-children", "--sort", "dso,sym", "-q"])
        .env("DEBUGINFOD_URLS", "")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| format!("cannot run perf report: {err}"))?;
    let _ = std::fs::remove_file(&data);
    if !report.status.success() {
        return Err(format!("perf report failed ({}): {}", report.status, String::from_utf8_lossy(&report.stderr)));
    }
    let text = String::from_utf8_lossy(&report.stdout);
    let symbols = parse_report(&text);
    if symbols.is_empty() {
        return Err("perf recorded no samples".to_owned());
    }
    let mut categories: BTreeMap<String, f64> = BTreeMap::new();
    for symbol in &symbols {
        *categories.entry(symbol.category.clone()).or_default() += symbol.percent;
    }
    let mut categories: Vec<(String, f64)> = categories.into_iter().collect();
    categories.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut top_symbols = symbols;
    top_symbols.sort_by(|a, b| b.percent.total_cmp(&a.percent));
    top_symbols.truncate(15);
    let shown: Vec<String> = args
        .iter()
        .map(|arg| match arg {
            _ if arg.contains("://") => "URL".to_owned(),
            _ if arg.starts_with('/') => "DIR".to_owned(),
            _ => arg.clone(),
        })
        .collect();
    Ok(Profile {
        command: format!("perf record -F 999 -- <target>/release/veritrail {}", shown.join(" ")),
        wall_seconds,
        categories,
        top_symbols,
    })
}

/// Reads `perf report --stdio --no-children --sort dso,sym -q` lines:
/// `    12.34%  veritrail  [.] symbol name`.
fn parse_report(text: &str) -> Vec<SymbolShare> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((percent, rest)) = line.split_once('%') else { continue };
        let Ok(percent) = percent.trim().parse::<f64>() else { continue };
        let rest = rest.trim_start();
        let (dso, symbol_part) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let symbol_part = symbol_part.trim_start();
        let kernel = symbol_part.starts_with("[k]");
        let symbol = symbol_part.trim_start_matches("[k]").trim_start_matches("[.]").trim();
        let mut shown: String = symbol.chars().take(110).collect();
        if shown.len() < symbol.len() {
            shown.push('…');
        }
        out.push(SymbolShare {
            percent,
            dso: dso.to_owned(),
            category: categorise(dso, symbol, kernel).to_owned(),
            symbol: shown,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_perf_report_lines() {
        let text = "    25.10%  veritrail         [.] sha2::sha256::x86::digest_blocks\n\
                    \n     3.00%  [kernel.kallsyms]  [k] copy_user_generic\n\
                         1.50%  libc.so.6          [.] __memmove_avx_unaligned_erms\n";
        let symbols = parse_report(text);
        assert_eq!(symbols.len(), 3);
        assert_eq!(symbols[0].category, "SHA-256");
        assert!((symbols[0].percent - 25.1).abs() < 1e-9);
        assert_eq!(symbols[1].category, "kernel (syscalls, network, page faults)");
        assert_eq!(symbols[2].category, "memory (allocation, copies, drops)");
    }
}
