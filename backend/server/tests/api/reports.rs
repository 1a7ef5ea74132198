//! Exports from the command line, reports (PDF and CSV, made by the worker), their evidence,
//! and scheduled reports sent by e-mail, checked with real tools: Python's `csv` module, qpdf,
//! poppler's pdftotext, pdftoppm and pdffonts, `veritrail verify-bundle`, a real SMTP server.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, assert_error, spawn_apps};
use crate::receivers::SmtpSink;

const BIN: &str = env!("CARGO_BIN_EXE_veritrail");

/// Runs a tool to completion; panics with its output when it fails or is missing.
fn tool(program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{program} is needed (scripts/test.sh installs it): {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Reads a CSV file with Python's csv module: every row, the header first.
fn python_csv(path: &Path) -> Vec<Vec<String>> {
    let script = "import csv, json, sys\nwith open(sys.argv[1], newline='', encoding='utf-8') as f:\n    print(json.dumps(list(csv.reader(f))))";
    let out = tool("python3", &["-c", script, path.to_str().expect("utf-8 path")]);
    serde_json::from_slice(&out).expect("python prints JSON")
}

/// Events whose text needs quoting, escaping or neutralising, in several scripts.
fn awkward_events() -> Vec<Value> {
    let names = [
        "Zoë, \"the admin\"",
        "line one\nline two",
        "=HYPERLINK(\"http://evil\")",
        "+1-555",
        "@SUM(A1)",
        "-2+3",
        "Иван Петров",
        "山田太郎",
        "tab\tinside",
        "plain",
    ];
    (0..30)
        .map(|n| {
            let outcome = ["success", "failure", "denied"][n % 3];
            json!({
                "actor": {"id": format!("user-{}", n % 3), "type": "user", "name": names[n % names.len()], "ip": "10.0.0.1"},
                "action": if n % 4 == 0 { "iam.role.grant" } else { "repo.read" },
                "resource": {"type": "repo", "id": format!("r{n}"), "name": "web, \"api\""},
                "outcome": outcome,
                "occurred_at": format!("2026-03-{:02}T10:{:02}:00Z", 1 + n % 5, n),
                "tags": ["prod", "eu"],
                "details": {"note": "a,b \"c\"\nd", "n": n},
            })
        })
        .collect()
}

/// The API's events (all of them, oldest first) as the cells of the export.
async fn api_events(app: &TestApp, query: &str) -> Vec<Value> {
    let listed = app.get_json(&format!("/api/v1/events?limit=1000&{query}")).await;
    let mut events = listed["events"].as_array().expect("events").clone();
    events.reverse();
    events
}

fn neutralised(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_owned() }
}

#[tokio::test]
async fn cli_export_writes_the_api_file_and_python_reads_back_the_events() {
    for app in spawn_apps().await {
        assert_eq!(app.post_batch(awkward_events()).await.status(), StatusCode::CREATED);
        let work = tempfile::tempdir().expect("work dir");
        let csv_path = work.path().join("out.csv");
        let jsonl_path = work.path().join("out.jsonl");
        let filters = ["--action", "repo.*", "--since", "2026-03-02T00:00:00Z", "--until", "2026-03-05T00:00:00Z"];
        for (format, path) in [("csv", &csv_path), ("jsonl", &jsonl_path)] {
            let mut args = vec!["export", "--database-url", &app.db.url, "--format", format];
            args.extend(filters);
            args.extend(["-o", path.to_str().expect("utf-8 path")]);
            let out = String::from_utf8(tool(BIN, &args)).expect("utf-8");
            assert!(out.contains("events of tenant default"), "{out}");
        }
        // The same bytes as the API's export with the same filters.
        let query = "action=repo.*&since=2026-03-02T00:00:00Z&until=2026-03-05T00:00:00Z";
        let api_csv = app.get(&format!("/api/v1/export/events.csv?{query}"), ADMIN_KEY).await;
        assert_eq!(api_csv.status(), StatusCode::OK);
        assert_eq!(api_csv.bytes().await.expect("body").as_ref(), std::fs::read(&csv_path).expect("csv").as_slice());
        let api_jsonl = app.get(&format!("/api/v1/export/events.jsonl?{query}"), ADMIN_KEY).await;
        assert_eq!(api_jsonl.bytes().await.expect("body").as_ref(), std::fs::read(&jsonl_path).expect("jsonl"));

        // Python's csv module reads back exactly the API's events.
        let rows = python_csv(&csv_path);
        let events = api_events(&app, query).await;
        assert!(events.len() >= 10, "{}", events.len());
        assert_eq!(rows.len(), events.len() + 1, "{:?}", app.db.backend);
        assert_eq!(rows[0][0], "seq");
        for (row, event) in rows[1..].iter().zip(&events) {
            assert_eq!(row[0], event["seq"].to_string());
            assert_eq!(row[1], event["id"].as_str().expect("id"));
            assert_eq!(row[6], neutralised(event["actor"]["name"].as_str().expect("name")), "{event}");
            assert_eq!(row[8], event["action"].as_str().expect("action"));
            assert_eq!(row[11], "web, \"api\"");
            assert_eq!(row[12], event["outcome"].as_str().expect("outcome"));
            assert_eq!(serde_json::from_str::<Value>(&row[15]).expect("details JSON"), event["details"]);
            assert_eq!(row[16], event["hash"].as_str().expect("hash"));
        }
        assert!(rows.iter().any(|row| row[6] == "line one\nline two"), "newlines survive quoting");
        assert!(rows.iter().any(|row| row[6] == "山田太郎") && rows.iter().any(|row| row[6] == "Иван Петров"));

        // Bad flags fail before a file is written.
        let bad = Command::new(BIN)
            .args(["export", "--database-url", &app.db.url, "--format", "xml", "-o"])
            .arg(work.path().join("bad.xml"))
            .output()
            .expect("run");
        assert!(!bad.status.success() && !work.path().join("bad.xml").exists());
        let bad = Command::new(BIN)
            .args(["export", "--database-url", &app.db.url, "--format", "csv", "--outcome", "maybe", "-o"])
            .arg(work.path().join("bad.csv"))
            .output()
            .expect("run");
        assert!(!bad.status.success() && !work.path().join("bad.csv").exists());
    }
}

/// Asks for a report and waits for the worker to finish it; returns its final view.
async fn make_report(app: &TestApp, key: &str, body: Value) -> Value {
    let response = app.post_json("/api/v1/reports", key, &body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{body}");
    let created: Value = response.json().await.expect("json");
    assert!(["pending", "running", "done"].contains(&created["status"].as_str().expect("status")), "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    for _ in 0..600 {
        let report: Value = app.get(&format!("/api/v1/reports/{id}"), key).await.json().await.expect("json");
        match report["status"].as_str() {
            Some("done" | "failed") => return report,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("report {id} was not finished within a minute");
}

async fn download(app: &TestApp, key: &str, report: &Value, path: &Path) -> String {
    let id = report["id"].as_str().expect("id");
    let response = app.get(&format!("/api/v1/reports/{id}/download"), key).await;
    assert_eq!(response.status(), StatusCode::OK, "{report}");
    let content_type = response.headers()["content-type"].to_str().expect("text").to_owned();
    std::fs::write(path, response.bytes().await.expect("body")).expect("write");
    content_type
}

/// The text of a PDF as pdftotext extracts it (layout kept, so table rows stay on one line).
fn pdf_text(path: &Path) -> String {
    let path = path.to_str().expect("utf-8 path");
    String::from_utf8(tool("pdftotext", &["-layout", "-enc", "UTF-8", path, "-"])).expect("utf-8")
}

/// The checks every PDF passes: qpdf's structure check, embedded fonts only, every page renders.
fn check_pdf(path: &Path, pages: u64) {
    let file = path.to_str().expect("utf-8 path");
    tool("qpdf", &["--check", file]);
    let fonts = String::from_utf8(tool("pdffonts", &[file])).expect("utf-8");
    for line in fonts.lines().skip(2) {
        // name type encoding emb sub uni object ID: every font embedded, with a ToUnicode map.
        let columns: Vec<&str> = line.split_whitespace().collect();
        let n = columns.len();
        assert!(n >= 7 && columns[n - 5] == "yes" && columns[n - 3] == "yes", "font not embedded or unmapped: {line}");
    }
    let info = String::from_utf8(tool("pdfinfo", &[file])).expect("utf-8");
    let counted = info.lines().find_map(|line| line.strip_prefix("Pages:")).map(|count| count.trim().parse::<u64>());
    assert_eq!(counted, Some(Ok(pages)), "{info}");
    assert!(!info.contains("1970"), "dates are set: {info}");
    let out = tempfile::tempdir().expect("dir");
    let prefix = out.path().join("page");
    tool("pdftoppm", &["-r", "40", "-png", file, prefix.to_str().expect("utf-8")]);
    let rendered = std::fs::read_dir(out.path()).expect("dir").count() as u64;
    assert_eq!(rendered, pages, "every page renders");
}

/// Extracts the evidence bundle embedded in a PDF.
fn detach_evidence(pdf: &Path, dir: &Path) -> std::path::PathBuf {
    tool("pdfdetach", &["-saveall", "-o", dir.to_str().expect("utf-8"), pdf.to_str().expect("utf-8")]);
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "tar"))
        .expect("an embedded .tar evidence bundle")
}

async fn save_anomaly(app: &TestApp, actor: &str, narrative: &str, event_ids: Vec<String>) {
    use veritrail_core::anomalies::{AnomalySeverity, Feature, NewAnomaly, Subject};
    let store = app.db.connect().await;
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z").expect("time").to_utc();
    let anomaly = NewAnomaly {
        subject: Subject::actor(actor),
        window_start: start,
        window_end: start + chrono::Duration::hours(1),
        reason: "unusual_role_grants".to_owned(),
        score: 0.91,
        severity: AnomalySeverity::High,
        detectors: vec!["robust-z".to_owned()],
        features: vec![Feature {
            name: "iam.role.grant count".to_owned(),
            observed: 8.0,
            expected: 0.5,
            contribution: 0.8,
        }],
        narrative: narrative.to_owned(),
        event_ids,
    };
    let tenant = veritrail_core::event::TenantId::parse("default").expect("tenant");
    store.anomalies.save_anomalies(&tenant, &[anomaly], chrono::Utc::now()).await.expect("save anomaly");
}

#[tokio::test]
async fn reports_of_every_kind_are_made_by_the_worker_and_pass_real_pdf_tools() {
    for app in spawn_apps().await {
        let created = app.post_batch(awkward_events()).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let receipts: Value = created.json().await.expect("receipts");
        let ids: Vec<String> = receipts["receipts"]
            .as_array()
            .expect("receipts")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect();
        let narrative = "user-1 granted 8 roles in one hour where 0.5 is usual, from 10.0.0.1.";
        save_anomaly(&app, "user-1", narrative, ids[..4].to_vec()).await;
        let key: Value = app.get_json("/api/v1/log/key").await;
        let verifier_key = key["verifier_key"].as_str().expect("key").to_owned();
        let work = tempfile::tempdir().expect("work dir");
        let period = json!({"since": "2026-03-01T00:00:00Z", "until": "2026-03-08T00:00:00Z"});
        let body = |kind: &str, format: &str| {
            let mut body = period.clone();
            body["kind"] = kind.into();
            body["format"] = format.into();
            body
        };

        // activity: cover, summary, charts, anomalies with narratives, every event.
        let report = make_report(&app, ADMIN_KEY, body("activity", "pdf")).await;
        assert_eq!(report["status"], "done", "{report}");
        assert_eq!(report["events"], 30, "{report}");
        let root = report["checkpoint"]["root_hash"].as_str().expect("root").to_owned();
        let latest = app.get_json("/api/v1/checkpoints/latest").await;
        assert_eq!(latest["root_hash"].as_str(), Some(root.as_str()), "the report names the signed checkpoint");
        let pdf = work.path().join("activity.pdf");
        assert_eq!(download(&app, ADMIN_KEY, &report, &pdf).await, "application/pdf");
        let bytes = std::fs::read(&pdf).expect("pdf");
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert_eq!(report["sha256"].as_str(), Some(digest.as_str()), "the sha256 of the file served");
        check_pdf(&pdf, report["pages"].as_u64().expect("pages"));
        let text = pdf_text(&pdf);
        for needle in [
            "Activity report",
            "default",
            "2026-03-01T00:00:00.000000Z",
            "2026-03-08T00:00:00.000000Z",
            root.as_str(),
            narrative,
            "Иван Петров",
            "山田太郎",
            "Zoë",
            "iam.role.grant",
            "Events per day by outcome",
            "Top actors",
            "Page 1 of",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from the activity PDF:\n{text}");
        }
        for event in api_events(&app, "").await {
            let line = format!("{} ", event["seq"]);
            assert!(text.lines().any(|l| l.trim_start().starts_with(&line) && l.contains(event["action"].as_str().expect("action"))), "event {} missing", event["seq"]);
        }

        // The embedded evidence verifies offline, and fails once an event is changed.
        let detached = work.path().join("detached");
        std::fs::create_dir(&detached).expect("dir");
        let bundle_path = detach_evidence(&pdf, &detached);
        let out = String::from_utf8(tool(
            BIN,
            &["verify-bundle", bundle_path.to_str().expect("utf-8"), "--key", &verifier_key],
        ))
        .expect("utf-8");
        assert!(out.starts_with("OK: 30 events"), "{out}");
        assert!(out.contains(&root), "{out}");
        let mut bundle =
            veritrail_core::bundle::Bundle::from_tar(&std::fs::read(&bundle_path).expect("tar")).expect("bundle");
        let line = String::from_utf8(bundle.events[3].clone()).expect("utf-8").replace("repo.read", "repo.wipe");
        bundle.events[3] = line.into_bytes();
        std::fs::write(&bundle_path, bundle.to_tar().expect("tar")).expect("write");
        let tampered = Command::new(BIN)
            .args(["verify-bundle"])
            .arg(&bundle_path)
            .args(["--key", &verifier_key])
            .output()
            .expect("run");
        assert_eq!(tampered.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&tampered.stdout).contains("line 4 (seq 3)"),
            "{}",
            String::from_utf8_lossy(&tampered.stdout)
        );
        // The same bundle is served beside the report.
        let beside =
            app.get(&format!("/api/v1/reports/{}/evidence", report["id"].as_str().expect("id")), ADMIN_KEY).await;
        assert_eq!(beside.headers()["content-type"], "application/x-tar");

        // anomalies: narratives, features observed vs expected, feedback, their events.
        let report = make_report(&app, ADMIN_KEY, body("anomalies", "pdf")).await;
        assert_eq!(report["status"], "done", "{report}");
        let pdf = work.path().join("anomalies.pdf");
        download(&app, ADMIN_KEY, &report, &pdf).await;
        check_pdf(&pdf, report["pages"].as_u64().expect("pages"));
        let text = pdf_text(&pdf);
        for needle in [narrative, "iam.role.grant count", "8.00", "0.50", "Feedback: none yet.", root.as_str()] {
            assert!(text.contains(needle), "{needle:?} missing from the anomalies PDF:\n{text}");
        }

        // integrity: checkpoints, verification, the key, how to check offline.
        let report = make_report(&app, ADMIN_KEY, json!({"kind": "integrity", "format": "pdf", "since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"})).await;
        assert_eq!(report["status"], "done", "{report}");
        let pdf = work.path().join("integrity.pdf");
        download(&app, ADMIN_KEY, &report, &pdf).await;
        check_pdf(&pdf, report["pages"].as_u64().expect("pages"));
        let text = pdf_text(&pdf);
        for needle in [
            "Integrity report",
            "intact, 30 events checked",
            verifier_key.as_str(),
            "How to check offline",
            root.as_str(),
        ] {
            assert!(text.contains(needle), "{needle:?} missing from the integrity PDF:\n{text}");
        }

        // subject: one actor's events only, with their details.
        let mut subject = body("subject", "pdf");
        subject["subject"] = "user-2".into();
        let report = make_report(&app, ADMIN_KEY, subject).await;
        assert_eq!(report["status"], "done", "{report}");
        assert_eq!(report["events"], 10, "{report}");
        let pdf = work.path().join("subject.pdf");
        download(&app, ADMIN_KEY, &report, &pdf).await;
        check_pdf(&pdf, report["pages"].as_u64().expect("pages"));
        let text = pdf_text(&pdf);
        assert!(
            text.contains("Subject access report") && text.contains("user-2") && text.contains("山田太郎"),
            "{text}"
        );
        assert!(!text.contains("user-1 ("), "only the subject's events:\n{text}");

        // A period without events still gives a report that says so.
        let report = make_report(&app, ADMIN_KEY, json!({"kind": "activity", "format": "pdf", "since": "2025-01-01T00:00:00Z", "until": "2025-01-02T00:00:00Z"})).await;
        assert_eq!((report["status"].as_str(), report["events"].as_u64()), (Some("done"), Some(0)), "{report}");
        let pdf = work.path().join("empty.pdf");
        download(&app, ADMIN_KEY, &report, &pdf).await;
        check_pdf(&pdf, report["pages"].as_u64().expect("pages"));
        let text = pdf_text(&pdf);
        assert!(text.contains("No events were recorded") && text.contains(&root), "{text}");

        // CSV: Python reads back the events, with the filter applied.
        let mut csv_body = body("activity", "csv");
        csv_body["filter"] = json!({"outcome": "denied"});
        let report = make_report(&app, ADMIN_KEY, csv_body).await;
        assert_eq!(report["status"], "done", "{report}");
        let csv_path = work.path().join("activity.csv");
        assert_eq!(download(&app, ADMIN_KEY, &report, &csv_path).await, "text/csv; charset=utf-8");
        let rows = python_csv(&csv_path);
        let denied = api_events(&app, "outcome=denied").await;
        assert_eq!(rows.len(), denied.len() + 1);
        assert!(
            rows[1..]
                .iter()
                .zip(&denied)
                .all(|(row, event)| row[1] == event["id"].as_str().expect("id") && row[12] == "denied")
        );

        // Listed newest first, only this tenant's.
        let listed = app.get_json("/api/v1/reports").await;
        assert_eq!(listed["reports"].as_array().map(Vec::len), Some(6), "{listed}");
        assert_eq!(listed["reports"][0]["format"], "csv");
    }
}

/// Saves the attachment of a received message (parsed with Python's email package).
fn attachment_of(raw: &[u8], dir: &Path) -> (String, std::path::PathBuf) {
    let eml = dir.join("message.eml");
    std::fs::write(&eml, raw).expect("write");
    let script = "import email, email.policy, sys\nm = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)\nfor part in m.iter_attachments():\n    open(sys.argv[2], 'wb').write(part.get_content())\n    print(part.get_filename())\n    break";
    let out_path = dir.join("attachment.bin");
    let name = tool("python3", &["-c", script, eml.to_str().expect("utf-8"), out_path.to_str().expect("utf-8")]);
    (String::from_utf8(name).expect("utf-8").trim().to_owned(), out_path)
}

fn local_mail(config: &mut veritrail_server::config::Config) {
    config.alerts.allow_private_targets = true;
    config.alerts.secret_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into();
}

async fn email_channel(app: &TestApp, smtp: &SmtpSink) -> String {
    let response = app
        .post_json(
            "/api/v1/alerts/channels",
            ADMIN_KEY,
            &json!({"kind": "email", "name": "auditors", "config": {
                "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "tls": "none",
                "from": "Veritrail <reports@veritrail.example>", "to": ["audit@example.com"]}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let channel: Value = response.json().await.expect("json");
    channel["id"].as_str().expect("id").to_owned()
}

async fn wait_for_mail(smtp: &SmtpSink, count: usize) -> Vec<Value> {
    for _ in 0..300 {
        let messages = smtp.messages();
        if messages.len() >= count {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    smtp.messages()
}

#[tokio::test]
async fn a_schedule_run_emails_the_pdf_and_an_empty_period_says_so() {
    let smtp = SmtpSink::start().await;
    for db in veritrail_store::testing::TestDatabase::all().await {
        let app = crate::helpers::spawn_app_with(db, local_mail).await;
        let before = smtp.messages().len();
        let channel = email_channel(&app, &smtp).await;
        let response = app
            .post_json(
                "/api/v1/reports/schedules",
                ADMIN_KEY,
                &json!({"name": "daily activity", "cron": "0 0 6 * * *", "channels": [channel],
                        "report": {"kind": "activity", "format": "pdf", "period": "P1D"}}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let schedule: Value = response.json().await.expect("json");
        let id = schedule["id"].as_str().expect("id").to_owned();
        assert!(schedule["next_run_at"].as_str().expect("next").contains("T06:00:00"), "{schedule}");

        // The tenant has no events at all: the report still goes out and says so.
        let response = app.post_json(&format!("/api/v1/reports/schedules/{id}/run"), ADMIN_KEY, &json!({})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let run: Value = response.json().await.expect("json");
        assert_eq!(run["status"], "sent", "{run}");
        let messages = wait_for_mail(&smtp, before + 1).await;
        assert_eq!(messages.len(), before + 1);
        let mail = &messages[before]["parsed"];
        assert!(mail["subject"].as_str().expect("subject").contains("activity report for default"), "{mail}");
        let body = mail["parts"][0]["text"].as_str().expect("text");
        assert!(body.contains("No events were recorded in this period"), "{body}");
        let dir = tempfile::tempdir().expect("dir");
        let (name, pdf) = attachment_of(&smtp.raw(before + 1), dir.path());
        assert!(name.ends_with(".pdf"), "{name}");
        let report = app.get_json(&format!("/api/v1/reports/{}", run["report_id"].as_str().expect("report"))).await;
        check_pdf(&pdf, report["pages"].as_u64().expect("pages"));
        assert!(pdf_text(&pdf).contains("No events were recorded"));

        let runs = app.get_json(&format!("/api/v1/reports/schedules/{id}/runs")).await;
        assert_eq!(runs["runs"].as_array().map(Vec::len), Some(1), "{runs}");
        assert_eq!(runs["runs"][0]["trigger"], "manual");
    }
}

#[tokio::test]
async fn report_routes_refuse_bad_input_other_tenants_and_missing_permissions() {
    for db in veritrail_store::testing::TestDatabase::all().await {
        let app = crate::helpers::spawn_app_with(db, local_mail).await;
        assert_eq!(app.post_batch(awkward_events()).await.status(), StatusCode::CREATED);
        let ok = json!({"kind": "activity", "format": "csv", "since": "2026-03-01T00:00:00Z", "until": "2026-03-08T00:00:00Z"});
        let report = make_report(&app, ADMIN_KEY, ok.clone()).await;
        let id = report["id"].as_str().expect("id").to_owned();
        for bad in [
            json!({"kind": "weekly", "format": "pdf", "since": "2026-03-01T00:00:00Z", "until": "2026-03-08T00:00:00Z"}),
            json!({"kind": "activity", "format": "docx", "since": "2026-03-01T00:00:00Z", "until": "2026-03-08T00:00:00Z"}),
            json!({"kind": "activity", "format": "pdf", "since": "2026-03-08T00:00:00Z", "until": "2026-03-01T00:00:00Z"}),
            json!({"kind": "activity", "format": "pdf", "since": "2026-03-01T00:00:00Z", "until": "2026-03-08T00:00:00Z", "filter": {"outcome": "maybe"}}),
            json!({"kind": "subject", "format": "pdf", "since": "2026-03-01T00:00:00Z", "until": "2026-03-08T00:00:00Z"}),
            json!({"kind": "activity", "format": "pdf"}),
        ] {
            assert_error(
                app.post_json("/api/v1/reports", ADMIN_KEY, &bad).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            )
            .await;
        }
        let malformed =
            app.send(Method::POST, "/api/v1/reports", Some(ADMIN_KEY), Some("application/json"), b"{".to_vec()).await;
        assert_error(malformed, StatusCode::BAD_REQUEST, "malformed_json").await;
        assert_error(app.get("/api/v1/reports?limit=0", ADMIN_KEY).await, StatusCode::BAD_REQUEST, "invalid_query")
            .await;
        assert_error(app.get("/api/v1/reports/nope/download", ADMIN_KEY).await, StatusCode::NOT_FOUND, "not_found")
            .await;
        // Nothing half-written: only the one good report exists.
        assert_eq!(app.get_json("/api/v1/reports").await["reports"].as_array().map(Vec::len), Some(1));

        // Another tenant sees none of it, and its own requests never read this tenant's events.
        let other = app.create_key("globex", "read").await;
        for path in [
            format!("/api/v1/reports/{id}"),
            format!("/api/v1/reports/{id}/download"),
            format!("/api/v1/reports/{id}/evidence"),
        ] {
            assert_error(app.get(&path, &other).await, StatusCode::NOT_FOUND, "not_found").await;
        }
        let theirs: Value = app.get("/api/v1/reports", &other).await.json().await.expect("json");
        assert_eq!(theirs["reports"], json!([]));
        let their_report = make_report(&app, &other, ok.clone()).await;
        assert_eq!(
            (their_report["status"].as_str(), their_report["events"].as_u64()),
            (Some("done"), Some(0)),
            "{their_report}"
        );

        // The export permission is needed (an ingest key and a viewer have none).
        let ingest = app.create_key("default", "ingest").await;
        assert_error(app.post_json("/api/v1/reports", &ingest, &ok).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_error(app.get("/api/v1/reports", &ingest).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_error(
            app.get(&format!("/api/v1/reports/{id}/download"), &ingest).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_error(app.get("/api/v1/reports/schedules", &ingest).await, StatusCode::FORBIDDEN, "forbidden").await;

        // Schedules: bad input, channels that are not the tenant's e-mail channels, other tenants.
        let hook = app
            .post_json("/api/v1/alerts/channels", ADMIN_KEY, &json!({"kind": "webhook", "name": "hook", "config": {"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef0123456789abcdef"}}))
            .await;
        assert_eq!(hook.status(), StatusCode::CREATED);
        let hook_id = hook.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
        let schedule = |channels: Value, cron: &str| json!({"name": "weekly", "cron": cron, "channels": channels, "report": {"kind": "activity", "format": "pdf", "period": "P7D"}});
        let smtp = SmtpSink::start().await;
        let channel = email_channel(&app, &smtp).await;
        let their_channel = {
            let response = app
                .post_json("/api/v1/alerts/channels", &app.create_key("globex", "admin").await, &json!({"kind": "email", "name": "theirs", "config": {
                    "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "tls": "none", "from": "a@example.com", "to": ["b@example.com"]}}))
                .await;
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned()
        };
        for bad in [
            schedule(json!(["no-such-channel"]), "0 0 6 * * MON"),
            schedule(json!([their_channel]), "0 0 6 * * MON"),
            schedule(json!([hook_id]), "0 0 6 * * MON"),
            schedule(json!([]), "0 0 6 * * MON"),
            schedule(json!([channel]), "every monday"),
            schedule(json!([channel]), "0 6 * * *"),
            json!({"name": "weekly"}),
        ] {
            assert_error(
                app.post_json("/api/v1/reports/schedules", ADMIN_KEY, &bad).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            )
            .await;
        }
        assert!(app.get_json("/api/v1/reports/schedules").await["schedules"].as_array().is_some_and(Vec::is_empty));
        {
            let channel = json!({"id": channel});
            let created = app
                .post_json("/api/v1/reports/schedules", ADMIN_KEY, &schedule(json!([channel["id"]]), "0 0 6 * * MON"))
                .await;
            assert_eq!(created.status(), StatusCode::CREATED);
            let created: Value = created.json().await.expect("json");
            let sid = created["id"].as_str().expect("id");
            for path in [format!("/api/v1/reports/schedules/{sid}"), format!("/api/v1/reports/schedules/{sid}/runs")] {
                assert_error(app.get(&path, &other).await, StatusCode::NOT_FOUND, "not_found").await;
            }
            assert_error(
                app.post_json(&format!("/api/v1/reports/schedules/{sid}/run"), &other, &json!({})).await,
                StatusCode::NOT_FOUND,
                "not_found",
            )
            .await;
            let put = app
                .send(
                    Method::PUT,
                    &format!("/api/v1/reports/schedules/{sid}"),
                    Some(&other),
                    Some("application/json"),
                    schedule(json!([channel["id"]]), "0 0 7 * * *").to_string().into_bytes(),
                )
                .await;
            assert_error(put, StatusCode::NOT_FOUND, "not_found").await;
            let delete = app
                .send(Method::DELETE, &format!("/api/v1/reports/schedules/{sid}"), Some(&other), None, Vec::new())
                .await;
            assert_error(delete, StatusCode::NOT_FOUND, "not_found").await;
            // The owner updates it (bad input refused, nothing changed) and deletes it.
            let bad_put = app
                .send(
                    Method::PUT,
                    &format!("/api/v1/reports/schedules/{sid}"),
                    Some(ADMIN_KEY),
                    Some("application/json"),
                    schedule(json!([channel["id"]]), "bad").to_string().into_bytes(),
                )
                .await;
            assert_error(bad_put, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
            let put = app
                .send(
                    Method::PUT,
                    &format!("/api/v1/reports/schedules/{sid}"),
                    Some(ADMIN_KEY),
                    Some("application/json"),
                    schedule(json!([channel["id"]]), "0 30 7 * * *").to_string().into_bytes(),
                )
                .await;
            assert_eq!(put.status(), StatusCode::OK);
            let updated = app.get_json(&format!("/api/v1/reports/schedules/{sid}")).await;
            assert_eq!(updated["cron"], "0 30 7 * * *");
            let delete = app
                .send(Method::DELETE, &format!("/api/v1/reports/schedules/{sid}"), Some(ADMIN_KEY), None, Vec::new())
                .await;
            assert_eq!(delete.status(), StatusCode::NO_CONTENT);
        }
    }
}

#[tokio::test]
async fn a_due_schedule_is_sent_once_by_two_servers_on_one_postgres() {
    let Some(db) = veritrail_store::testing::TestDatabase::postgres().await else {
        return;
    };
    let smtp = SmtpSink::start().await;
    // Both servers run the `reports` job every second; the schedule is due once, a few seconds
    // from now.
    let every_second = |config: &mut veritrail_server::config::Config| {
        local_mail(config);
        config.reports.schedule = "* * * * * *".to_owned();
    };
    let first = crate::helpers::spawn_app_with(db, every_second).await;
    let (second_base, _second_dir) = crate::helpers::start_app(&first.db.url, every_second).await;
    // Events of the last month (the schedule's period ends when it runs).
    let recent: Vec<Value> = awkward_events()
        .into_iter()
        .map(|mut event| {
            event.as_object_mut().map(|fields| fields.remove("occurred_at"));
            event
        })
        .collect();
    assert_eq!(first.post_batch(recent).await.status(), StatusCode::CREATED);
    let channel = email_channel(&first, &smtp).await;
    let due = chrono::Utc::now() + chrono::Duration::seconds(4);
    let cron = due.format("%S %M %H %d %m *").to_string();
    let response = first
        .post_json(
            "/api/v1/reports/schedules",
            ADMIN_KEY,
            &json!({"name": "once", "cron": cron, "channels": [channel],
                    "report": {"kind": "activity", "format": "pdf", "period": "P30D"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let schedule: Value = response.json().await.expect("json");
    let id = schedule["id"].as_str().expect("id").to_owned();

    let messages = wait_for_mail(&smtp, 1).await;
    assert_eq!(messages.len(), 1, "the scheduled report arrived");
    // Both servers keep running the job every second for a while: nothing more is sent.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(smtp.messages().len(), 1, "sent exactly once");
    let runs = first.get_json(&format!("/api/v1/reports/schedules/{id}/runs")).await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(1), "{runs}");
    assert_eq!(
        (runs["runs"][0]["trigger"].as_str(), runs["runs"][0]["status"].as_str()),
        (Some("schedule"), Some("sent"))
    );
    let second_view: Value = reqwest::Client::new()
        .get(format!("{second_base}/api/v1/reports/schedules/{id}/runs"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(second_view, runs, "both servers see the one run");

    let dir = tempfile::tempdir().expect("dir");
    let (name, pdf) = attachment_of(&smtp.raw(1), dir.path());
    assert!(name.ends_with(".pdf"), "{name}");
    let text = pdf_text(&pdf);
    assert!(text.contains("Activity report") && text.contains("Иван Петров"), "{text}");
    let report =
        first.get_json(&format!("/api/v1/reports/{}", runs["runs"][0]["report_id"].as_str().expect("report"))).await;
    check_pdf(&pdf, report["pages"].as_u64().expect("pages"));
    assert!(text.contains(report["checkpoint"]["root_hash"].as_str().expect("root")));
}
