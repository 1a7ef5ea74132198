//! `veritrail-bench reports`: report rendering and CSV export, each next to a baseline measured
//! in the same run.
//!
//! - PDF: a 10,000-event activity report rendered by `veritrail_reports::document::render_pdf`
//!   and, from the same rows, numbers and charts (written to a JSON file first), by ReportLab
//!   (`bench/reportlab_activity.py`). Each renderer runs as its own child process, three times;
//!   each run reports its render time and its peak RSS (`VmHWM`).
//! - CSV: the export of 1,000,000 events from PostgreSQL through `veritrail_reports::export::pages`
//!   (the code behind `GET /api/v1/export/events.csv` and `veritrail export`) against
//!   PostgreSQL's own `COPY (SELECT ...) TO STDOUT (FORMAT csv)` of the same rows, with the
//!   process's resident memory sampled throughout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, TimeZone, Utc};
use clap::Args;
use futures::StreamExt;
use serde_json::{Value, json};
use veritrail_core::anomalies::{AnomalySeverity, AnomalyStatus, Feature, StoredAnomaly, Subject};
use veritrail_core::event::{Actor, Outcome, Resource, Severity, StoredEvent, TenantId};
use veritrail_core::hash::Hash;
use veritrail_core::reports::{ReportFormat, ReportKind, ReportSpec, ReportStatus, StoredReport};
use veritrail_core::store::StoredCheckpoint;
use veritrail_reports::data::{Numbers, ReportData};

#[derive(Debug, Clone, Args)]
pub struct ReportsArgs {
    /// Events in the activity PDF.
    #[arg(long, default_value_t = 10_000)]
    pdf_events: usize,
    /// Runs of each renderer (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Python with ReportLab installed (a venv outside the repository).
    #[arg(long, env = "VERITRAIL_BENCH_REPORTLAB_PYTHON")]
    reportlab_python: PathBuf,
    /// PostgreSQL for the CSV export (a scratch database is created and dropped); none: skip it.
    #[arg(long, env = "VERITRAIL_BENCH_PG_URL")]
    pg_url: Option<String>,
    /// Events in the CSV export.
    #[arg(long, default_value_t = 1_000_000)]
    csv_events: u64,
    /// Markdown report [default: bench/results/reports-<UTC date>.md]; the JSON goes next to it.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Renders the synthetic activity report once in this process (a child of `reports`).
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    #[arg(long)]
    events: usize,
    #[arg(long)]
    out: PathBuf,
}

const ACTIONS: [&str; 12] = [
    "repo.read",
    "repo.write",
    "repo.delete",
    "iam.role.grant",
    "iam.user.create",
    "auth.login",
    "auth.logout",
    "billing.invoice.read",
    "secrets.read",
    "deploy.start",
    "deploy.finish",
    "export.download",
];
const NAMES: [&str; 8] = [
    "Zoë Martin",
    "Иван Петров",
    "Ana Núñez",
    "Bjørn Ødegård",
    "Chloé Dubois",
    "Łukasz Nowak",
    "Sam O'Neil",
    "Ayşe Yılmaz",
];

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn period() -> (DateTime<Utc>, DateTime<Utc>) {
    let since = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single().unwrap_or_default();
    (since, since + Duration::days(30))
}

/// The same events every time: 50 actors, 12 actions, 30 days, mostly successes.
pub fn synthetic_events(count: usize) -> Vec<StoredEvent> {
    let tenant = TenantId::parse("acme").unwrap_or_else(|_| unreachable!("a valid tenant"));
    let (since, _) = period();
    let step = Duration::days(30).num_seconds() / count.max(1) as i64;
    (0..count)
        .map(|n| {
            let r = mix(n as u64);
            let actor = (r % 50) as usize;
            let outcome = match (r >> 8) % 20 {
                0 | 1 => Outcome::Failure,
                2 => Outcome::Denied,
                _ => Outcome::Success,
            };
            let at = since + Duration::seconds(step * n as i64 + ((r >> 16) % 60) as i64);
            StoredEvent {
                tenant: tenant.clone(),
                seq: n as u64,
                id: format!("evt-{n:08}"),
                occurred_at: at,
                received_at: at,
                actor: Actor {
                    id: format!("user-{actor:02}"),
                    kind: "user".to_owned(),
                    name: Some(NAMES[actor % NAMES.len()].to_owned()),
                    ip: Some(format!("10.0.{}.{}", actor / 10, actor)),
                    user_agent: None,
                },
                action: ACTIONS[((r >> 24) % ACTIONS.len() as u64) as usize].to_owned(),
                resource: Some(Resource {
                    kind: "repo".to_owned(),
                    id: format!("r{}", (r >> 32) % 300),
                    name: Some(format!("service-{}", (r >> 32) % 300)),
                }),
                outcome,
                severity: Severity::Info,
                details: serde_json::Map::new(),
                tags: Vec::new(),
                prev_hash: Hash::GENESIS,
                hash: Hash::GENESIS,
            }
        })
        .collect()
}

/// The report data both renderers draw: the synthetic events, their numbers, five anomalies.
pub fn synthetic_data(count: usize) -> ReportData {
    let (since, until) = period();
    let events = synthetic_events(count);
    let tenant =
        events.first().map_or_else(|| TenantId::parse("acme").unwrap_or_else(|_| unreachable!()), |e| e.tenant.clone());
    let numbers = Numbers::of(&events, since, until);
    let anomalies = (0..5)
        .map(|i| StoredAnomaly {
            id: format!("anomaly-{i}"),
            tenant: tenant.clone(),
            subject: Subject::actor(format!("user-{:02}", i * 7)),
            window_start: since + Duration::days(i * 5),
            window_end: since + Duration::days(i * 5) + Duration::hours(1),
            reason: "unusual_action_mix".to_owned(),
            score: 0.7 + i as f64 * 0.05,
            severity: AnomalySeverity::High,
            detectors: vec!["robust-z".to_owned()],
            features: vec![Feature {
                name: "repo.delete count".to_owned(),
                observed: 12.0,
                expected: 1.0,
                contribution: 0.7,
            }],
            narrative: format!(
                "user-{:02} deleted 12 repositories in one hour where 1 is usual, from an address never seen before.",
                i * 7
            ),
            event_ids: Vec::new(),
            status: AnomalyStatus::Open,
            feedback: None,
            created_at: since,
        })
        .collect();
    let report = StoredReport {
        id: "bench-report".to_owned(),
        tenant: tenant.clone(),
        spec: ReportSpec {
            kind: ReportKind::Activity,
            format: ReportFormat::Pdf,
            since,
            until,
            filter: json!({}),
            subject: None,
        },
        status: ReportStatus::Running,
        requested_by: "bench".to_owned(),
        schedule_id: None,
        attempts: 1,
        created_at: until,
        started_at: Some(until),
        finished_at: None,
        pages: None,
        events: None,
        sha256: None,
        checkpoint_size: Some(count as u64),
        checkpoint_root: None,
        error: None,
    };
    let mut data = ReportData {
        report,
        filter: Default::default(),
        generated_at: until,
        checkpoint: Some(StoredCheckpoint {
            tree_size: count as u64,
            root_hash: Hash::from_hex(&"ab".repeat(32)).unwrap_or(Hash::GENESIS),
            note: String::new(),
            created_at: until,
        }),
        origin: "veritrail.bench/acme".to_owned(),
        log_key: "veritrail.bench+01234567+AAAA".to_owned(),
        events,
        numbers,
        anomalies,
        anomaly_events: Default::default(),
        checkpoints: Vec::new(),
        verification: None,
        summary: String::new(),
        summary_by: "extractive".to_owned(),
    };
    data.summary = veritrail_reports::summary::facts(&data).join(" ");
    data
}

/// What ReportLab draws: the same cover, summary, chart series, anomalies and table rows.
fn reportlab_input(data: &ReportData) -> Value {
    let numbers = &data.numbers;
    let rows: Vec<Value> = data
        .events
        .iter()
        .map(|event| {
            let resource = event
                .resource
                .as_ref()
                .map_or_else(String::new, |r| format!("{}:{}", r.kind, r.name.as_deref().unwrap_or(&r.id)));
            let actor = match &event.actor.name {
                Some(name) => format!("{} ({name})", event.actor.id),
                None => event.actor.id.clone(),
            };
            json!([
                event.seq,
                event.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                actor,
                event.action,
                resource,
                event.outcome.as_str()
            ])
        })
        .collect();
    json!({
        "title": "Activity report",
        "tenant": data.tenant().as_str(),
        "period": veritrail_reports::summary::period(data),
        "summary": data.summary,
        "root_hash": data.checkpoint.as_ref().map(|c| c.root_hash.to_hex()),
        "days": numbers.per_day.keys().collect::<Vec<_>>(),
        "per_day": numbers.per_day.values().collect::<Vec<_>>(),
        "top_actors": numbers.top_actors,
        "top_actions": numbers.top_actions,
        "anomalies": data.anomalies.iter().map(|a| json!({"title": format!("{} {} — {}", a.subject.kind.as_str(), a.subject.id, a.reason), "narrative": a.narrative})).collect::<Vec<_>>(),
        "rows": rows,
    })
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// The child: builds the data, renders, prints `{"seconds", "peak_rss_kib", "pages", "bytes"}`.
pub fn render_child(args: RenderArgs) -> anyhow::Result<()> {
    let data = synthetic_data(args.events);
    let started = Instant::now();
    let rendered = veritrail_reports::document::render_pdf(&data, None).map_err(anyhow::Error::msg)?;
    let seconds = started.elapsed().as_secs_f64();
    std::fs::write(&args.out, &rendered.bytes)?;
    println!(
        "{}",
        json!({"seconds": seconds, "peak_rss_kib": peak_rss_kib(), "pages": rendered.pages, "bytes": rendered.bytes.len()})
    );
    Ok(())
}

fn run_child(mut command: Command) -> anyhow::Result<Value> {
    let output = command.output().context("start a renderer")?;
    if !output.status.success() {
        bail!(
            "renderer failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("renderer output {last:?}"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn pdf_pages(path: &Path) -> Option<u64> {
    let output = Command::new("pdfinfo").arg(path).output().ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("Pages:").and_then(|v| v.trim().parse().ok()))
}

async fn csv_bench(pg_url: &str, count: u64) -> anyhow::Result<Value> {
    use sqlx::Connection;
    let name = format!("bench_reports_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(pg_url).await.context("connect to PostgreSQL")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    let (prefix, _) = pg_url.rsplit_once('/').context("the PostgreSQL URL needs a database path")?;
    let url = format!("{prefix}/{name}");
    let result = csv_bench_on(&url, count).await;
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).execute(&mut admin).await;
    result
}

async fn csv_bench_on(url: &str, count: u64) -> anyhow::Result<Value> {
    use sqlx::Connection;
    let store = veritrail_store::connect(url, &Default::default()).await?;
    let tenant = TenantId::parse("acme").map_err(anyhow::Error::msg)?;
    let load_started = Instant::now();
    let mut n = 0u64;
    while n < count {
        let batch: Vec<veritrail_core::event::NewEvent> = (n..(n + 5_000).min(count))
            .map(|i| {
                let raw = json!({
                    "id": format!("evt-{i:09}"),
                    "actor": {"id": format!("user-{}", i % 50), "type": "user", "name": NAMES[(i % 8) as usize], "ip": "10.0.0.1"},
                    "action": ACTIONS[(mix(i) % 12) as usize],
                    "resource": {"type": "repo", "id": format!("r{}", i % 300), "name": "service, \"api\""},
                    "outcome": if i % 17 == 0 { "denied" } else { "success" },
                    "occurred_at": "2026-03-02T10:00:00Z",
                    "tags": ["prod"],
                    "details": {"n": i, "note": "=cmd"},
                });
                veritrail_core::validate::validate_event(&raw, &Default::default(), || format!("gen-{i}")).map_err(|e| anyhow::anyhow!("{e:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        n += batch.len() as u64;
        store.events.append(&tenant, batch).await?;
    }
    let load_seconds = load_started.elapsed().as_secs_f64();
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql("VACUUM (ANALYZE) events").execute(&mut conn).await?;

    let mut results = Vec::new();
    for round in 0..2 {
        // The baseline: PostgreSQL writes the CSV itself.
        let copy = "COPY (SELECT seq, id, occurred_at, received_at, actor_id, actor_type, actor_name, actor_ip, action, \
                    resource_type, resource_id, resource_name, outcome, severity, tags, details, encode(hash, 'hex'), \
                    encode(prev_hash, 'hex') FROM events WHERE tenant = 'acme' ORDER BY seq) TO STDOUT (FORMAT csv, HEADER)";
        let started = Instant::now();
        let mut stream = conn.copy_out_raw(copy).await?;
        let (mut copy_bytes, mut copy_rows) = (0u64, 0u64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            copy_bytes += chunk.len() as u64;
            copy_rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        }
        drop(stream);
        let copy_seconds = started.elapsed().as_secs_f64();

        // Veritrail's export, as the API and CLI run it.
        let rss_before = rss_kib();
        let (mut rss_min, mut rss_max) = (u64::MAX, 0);
        let started = Instant::now();
        let mut pages = std::pin::pin!(veritrail_reports::export::pages(
            store.events.clone(),
            tenant.clone(),
            Default::default(),
            veritrail_reports::export::ExportFormat::Csv
        ));
        let (mut bytes, mut rows) = (0u64, 0u64);
        while let Some(chunk) = pages.next().await {
            let chunk = chunk?;
            bytes += chunk.bytes.len() as u64;
            rows += chunk.events as u64;
            let rss = rss_kib();
            rss_min = rss_min.min(rss);
            rss_max = rss_max.max(rss);
        }
        let seconds = started.elapsed().as_secs_f64();
        if rows != count || copy_rows != count + 1 {
            bail!("exported {rows} rows, COPY {copy_rows} lines, expected {count}");
        }
        results.push(json!({
            "round": round,
            "veritrail": {"seconds": seconds, "rows_per_s": rows as f64 / seconds, "bytes": bytes, "rss_before_kib": rss_before, "rss_min_kib": rss_min, "rss_max_kib": rss_max},
            "copy": {"seconds": copy_seconds, "rows_per_s": count as f64 / copy_seconds, "bytes": copy_bytes},
        }));
    }
    Ok(json!({"events": count, "load_seconds": load_seconds, "rounds": results}))
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| info.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned()))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpus} CPUs, {model}, {mem:.1} GiB RAM; load average {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    )
}

pub async fn run(args: ReportsArgs) -> anyhow::Result<()> {
    let started_at = Utc::now();
    let dir = tempfile::tempdir()?;
    let me = std::env::current_exe()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("reportlab_activity.py");
    let font = Path::new(env!("CARGO_MANIFEST_DIR")).join("../backend/reports/fonts/DejaVuSans.ttf");
    let input = dir.path().join("activity.json");
    std::fs::write(&input, serde_json::to_vec(&reportlab_input(&synthetic_data(args.pdf_events)))?)?;

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        let out = dir.path().join("veritrail.pdf");
        let mut command = Command::new(&me);
        command.args(["render-activity", "--events", &args.pdf_events.to_string(), "--out"]).arg(&out);
        let mut result = run_child(command)?;
        result["pdfinfo_pages"] = json!(pdf_pages(&out));
        ours.push(result);
        let out = dir.path().join("reportlab.pdf");
        let mut command = Command::new(&args.reportlab_python);
        command.arg(&script).arg(&input).arg(&out).arg(&font);
        let mut result = run_child(command)?;
        result["pdfinfo_pages"] = json!(pdf_pages(&out));
        theirs.push(result);
    }
    let stat = |runs: &[Value], key: &str| median(runs.iter().filter_map(|r| r[key].as_f64()).collect());
    let (our_s, their_s) = (stat(&ours, "seconds"), stat(&theirs, "seconds"));
    let (our_rss, their_rss) = (stat(&ours, "peak_rss_kib") / 1024.0, stat(&theirs, "peak_rss_kib") / 1024.0);

    let csv = match &args.pg_url {
        Some(url) => Some(csv_bench(url, args.csv_events).await?),
        None => None,
    };
    let finished_at = Utc::now();
    let json_report = json!({
        "started_at": started_at, "finished_at": finished_at, "machine": machine(),
        "pdf": {"events": args.pdf_events, "veritrail": ours, "reportlab": theirs},
        "csv": csv,
    });
    let mut md = format!(
        "# Veritrail reports benchmark, {}\n\nActivity PDF rendering (printpdf, `veritrail_reports::document::render_pdf`) next to ReportLab drawing the same rows, numbers and charts; CSV export of PostgreSQL events (`veritrail_reports::export::pages`, the code of `GET /api/v1/export/events.csv` and `veritrail export`) next to PostgreSQL's `COPY ... TO STDOUT (FORMAT csv)` of the same rows. Both sides of each comparison ran in the same run on the same machine; compare the ratios.\n\n## Setup\n\n- Date: {} to {}\n- Machine: {}\n- Build: release\n- PDF: {} synthetic events over 30 days (50 actors, 12 actions, names with accents and Cyrillic), 5 anomalies with narratives; cover, summary, four charts drawn as vectors (events per day by outcome, top actors, top actions, failed and denied per day), anomalies, the paged event table with running headers and page numbers. Both renderers embed DejaVu Sans: ReportLab a subset, Veritrail the whole font (printpdf subsets only with its `text_layout` feature, which pulls in a layout engine), hence most of the difference in file size. Each renderer is its own process, run {} times; the time is the render alone (data in memory to PDF bytes), the peak RSS is the process's `VmHWM`, medians reported. Veritrail's PDF here has no evidence attachment (ReportLab's has none either).\n",
        started_at.format("%Y-%m-%d %H:%M UTC"),
        started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        finished_at.format("%Y-%m-%d %H:%M:%S UTC"),
        machine(),
        args.pdf_events,
        args.runs
    );
    md.push_str(&format!(
        "\n## Activity PDF, {} events\n\n| renderer | render time (median) | peak RSS (median) | pages | file size |\n|---|---:|---:|---:|---:|\n| Veritrail (printpdf) | {:.3} s | {:.1} MB | {} | {:.1} MB |\n| ReportLab {} | {:.3} s | {:.1} MB | {} | {:.1} MB |\n| ratio ReportLab ÷ Veritrail | {:.2}× | {:.2}× | | |\n\nAll runs: Veritrail {}; ReportLab {}.\n",
        args.pdf_events,
        our_s, our_rss, ours[0]["pdfinfo_pages"], ours[0]["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        theirs[0]["version"].as_str().unwrap_or(""), their_s, their_rss, theirs[0]["pdfinfo_pages"], theirs[0]["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        their_s / our_s.max(1e-9), their_rss / our_rss.max(1e-9),
        serde_json::to_string(&ours)?, serde_json::to_string(&theirs)?,
    ));
    if let Some(csv) = &json_report["csv"].as_object() {
        md.push_str(&format!(
            "\n## CSV export, {} events from PostgreSQL\n\nLoaded through `EventLog::append` (5,000 per call) in {:.0} s, then `VACUUM (ANALYZE)`. Each round: the `COPY` baseline, then the export; the export's resident memory is sampled after every page (1,000 rows).\n\n| round | Veritrail export | rows/s | COPY (FORMAT csv) | rows/s | ratio COPY ÷ export | RSS during export (min–max) |\n|---|---:|---:|---:|---:|---:|---:|\n",
            csv["events"], csv["load_seconds"].as_f64().unwrap_or(0.0)
        ));
        for round in csv["rounds"].as_array().into_iter().flatten() {
            let (v, c) = (&round["veritrail"], &round["copy"]);
            md.push_str(&format!(
                "| {} | {:.2} s | {:.0} | {:.2} s | {:.0} | {:.2}× | {:.0}–{:.0} MB |\n",
                round["round"],
                v["seconds"].as_f64().unwrap_or(0.0),
                v["rows_per_s"].as_f64().unwrap_or(0.0),
                c["seconds"].as_f64().unwrap_or(0.0),
                c["rows_per_s"].as_f64().unwrap_or(0.0),
                v["rows_per_s"].as_f64().map_or(0.0, |ours| c["rows_per_s"].as_f64().unwrap_or(0.0) / ours.max(1e-9)),
                v["rss_min_kib"].as_f64().unwrap_or(0.0) / 1024.0,
                v["rss_max_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            ));
        }
    }
    let out = args.out.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("results/reports-{}.md", started_at.format("%Y-%m-%d")))
    });
    std::fs::write(&out, &md)?;
    std::fs::write(out.with_extension("json"), serde_json::to_vec_pretty(&json_report)?)?;
    println!("{md}");
    Ok(())
}
