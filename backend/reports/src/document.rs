//! The report files: PDF (cover, summary, charts, anomalies, tables, evidence) and CSV.

use veritrail_core::anomalies::StoredAnomaly;
use veritrail_core::event::{Outcome, StoredEvent, format_time};
use veritrail_core::reports::ReportKind;

use crate::data::ReportData;
use crate::export::{csv_rows, csv_table};
use crate::pdf::charts::{self, Series};
use crate::pdf::{
    ACCENT, Attachment, BLACK, CONTENT_WIDTH, Canvas, Face, GREEN, GREY, LIGHT, MARGIN, ORANGE, RED, Rendered,
};
use crate::summary::period;

/// The name of the evidence bundle attached to a report.
pub fn evidence_name(data: &ReportData) -> String {
    format!("veritrail-evidence-{}-{}.tar", data.tenant(), data.report.id)
}

fn title(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::Activity => "Activity report",
        ReportKind::Anomalies => "Anomalies report",
        ReportKind::Integrity => "Integrity report",
        ReportKind::Subject => "Subject access report",
    }
}

fn outcome_colour(outcome: Outcome) -> (f32, f32, f32) {
    match outcome {
        Outcome::Success => GREEN,
        Outcome::Failure => ORANGE,
        Outcome::Denied => RED,
        Outcome::Unknown => GREY,
    }
}

/// A label: value line on the cover.
fn field(canvas: &mut Canvas, label: &str, value: &str) {
    let width = CONTENT_WIDTH - 120.0;
    let lines = canvas.wrap(Face::Regular, 10.0, value, width);
    canvas.ensure(16.0 * lines.len() as f32);
    canvas.y -= 16.0;
    canvas.text_at(MARGIN, canvas.y, 9.0, Face::Bold, GREY, label);
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            canvas.y -= 14.0;
        }
        canvas.text_at(MARGIN + 120.0, canvas.y, 10.0, Face::Regular, BLACK, line);
    }
}

fn filter_text(data: &ReportData) -> String {
    let filter = serde_json::to_value(&data.filter).unwrap_or_default();
    match filter.as_object() {
        Some(members) if !members.is_empty() => members
            .iter()
            .map(|(name, value)| {
                format!("{name} = {}", value.as_str().map_or_else(|| value.to_string(), str::to_owned))
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none: every event of the period".to_owned(),
    }
}

fn cover(canvas: &mut Canvas, data: &ReportData, evidence_events: usize) {
    let spec = &data.report.spec;
    canvas.space(30.0);
    canvas.text_at(MARGIN, canvas.y, 26.0, Face::Bold, ACCENT, title(spec.kind));
    canvas.space(22.0);
    canvas.text_at(MARGIN, canvas.y, 12.0, Face::Regular, GREY, "Veritrail tamper-evident audit trail");
    canvas.space(18.0);
    field(canvas, "Tenant", data.tenant().as_str());
    field(canvas, "Period", &period(data));
    if let Some(subject) = &spec.subject {
        field(canvas, "Subject (actor)", subject);
    }
    field(canvas, "Filter", &filter_text(data));
    field(canvas, "Generated", &format_time(&data.generated_at));
    field(canvas, "Requested by", &data.report.requested_by);
    field(canvas, "Report id", &data.report.id);
    canvas.space(14.0);

    // The evidence box: what the report is proved against and how to check it.
    let (size, root) = match &data.checkpoint {
        Some(checkpoint) => (checkpoint.tree_size.to_string(), checkpoint.root_hash.to_hex()),
        None => ("0 (the log is empty)".to_owned(), "none".to_owned()),
    };
    let lines = [
        format!("Signed checkpoint: {}, tree size {size}", data.origin),
        format!("Root hash: {root}"),
        format!(
            "Evidence bundle: {} ({evidence_events} events with inclusion proofs), attached to this PDF",
            evidence_name(data)
        ),
        "Check it offline: veritrail verify-bundle BUNDLE.tar --key LOG_KEY".to_owned(),
        format!("Log key: {}", data.log_key.trim()),
    ];
    let wrapped: Vec<String> =
        lines.iter().flat_map(|line| canvas.wrap(Face::Regular, 8.5, line, CONTENT_WIDTH - 20.0)).collect();
    let height = 26.0 + 12.5 * wrapped.len() as f32;
    canvas.ensure(height + 4.0);
    canvas.rect(MARGIN, canvas.y - height, CONTENT_WIDTH, height, LIGHT);
    canvas.rect(MARGIN, canvas.y - height, 3.0, height, ACCENT);
    canvas.space(16.0);
    canvas.text_at(MARGIN + 10.0, canvas.y, 10.0, Face::Bold, BLACK, "Evidence");
    for line in wrapped {
        canvas.space(12.5);
        canvas.text_at(MARGIN + 10.0, canvas.y, 8.5, Face::Regular, BLACK, &line);
    }
    canvas.space(16.0);
}

fn summary(canvas: &mut Canvas, data: &ReportData) {
    canvas.heading("Summary", 40.0);
    canvas.paragraph(&data.summary, 10.0, Face::Regular, BLACK);
    let by = if data.summary_by == "extractive" {
        "Written from the numbers of the period (extractive).".to_owned()
    } else {
        format!("Rewritten by {} from the numbers of the period.", data.summary_by)
    };
    canvas.paragraph(&by, 7.5, Face::Regular, GREY);
}

fn activity_charts(canvas: &mut Canvas, data: &ReportData) {
    let numbers = &data.numbers;
    canvas.heading("Activity", 210.0);
    let days: Vec<String> = numbers.per_day.keys().map(|day| day.get(5..).unwrap_or(day).to_owned()).collect();
    let column = |index: usize| numbers.per_day.values().map(|counts| counts[index] as f64).collect::<Vec<_>>();
    canvas.ensure(200.0);
    let top = canvas.y;
    charts::stacked_columns(
        canvas,
        "Events per day by outcome",
        (MARGIN, top, CONTENT_WIDTH, 190.0),
        &days,
        &[
            Series { label: "success", rgb: GREEN, values: column(0) },
            Series { label: "failure", rgb: ORANGE, values: column(1) },
            Series { label: "denied", rgb: RED, values: column(2) },
            Series { label: "unknown", rgb: GREY, values: column(3) },
        ],
    );
    canvas.y = top - 200.0;
    canvas.ensure(190.0);
    let top = canvas.y;
    let half = (CONTENT_WIDTH - 20.0) / 2.0;
    charts::bars(canvas, "Top actors", (MARGIN, top, half, 180.0), &numbers.top_actors, ACCENT);
    charts::bars(canvas, "Top actions", (MARGIN + half + 20.0, top, half, 180.0), &numbers.top_actions, ACCENT);
    canvas.y = top - 190.0;
    canvas.ensure(160.0);
    let top = canvas.y;
    charts::lines(
        canvas,
        "Failed and denied events per day",
        (MARGIN, top, CONTENT_WIDTH, 150.0),
        &days,
        &[
            Series { label: "failure", rgb: ORANGE, values: column(1) },
            Series { label: "denied", rgb: RED, values: column(2) },
        ],
    );
    canvas.y = top - 158.0;
}

fn anomaly_block(canvas: &mut Canvas, anomaly: &StoredAnomaly, detailed: bool, data: &ReportData) {
    canvas.ensure(60.0);
    canvas.space(16.0);
    let severity_colour = match anomaly.severity.as_str() {
        "high" | "critical" => RED,
        "medium" => ORANGE,
        _ => ACCENT,
    };
    canvas.rect(MARGIN, canvas.y - 2.0, 4.0, 12.0, severity_colour);
    let heading = format!("{} {} — {}", anomaly.subject.kind.as_str(), anomaly.subject.id, anomaly.reason);
    let heading = canvas.fit(Face::Bold, 10.0, &heading, CONTENT_WIDTH - 10.0);
    canvas.text_at(MARGIN + 10.0, canvas.y, 10.0, Face::Bold, BLACK, &heading);
    canvas.space(2.0);
    let meta = format!(
        "score {:.2} · severity {} · status {} · window {} to {} · {} events",
        anomaly.score,
        anomaly.severity.as_str(),
        anomaly.status.as_str(),
        format_time(&anomaly.window_start),
        format_time(&anomaly.window_end),
        anomaly.event_ids.len()
    );
    canvas.paragraph_at(MARGIN + 10.0, CONTENT_WIDTH - 10.0, &meta, 7.5, Face::Regular, GREY);
    canvas.paragraph_at(MARGIN + 10.0, CONTENT_WIDTH - 10.0, &anomaly.narrative, 9.0, Face::Regular, BLACK);
    if !detailed {
        return;
    }
    if !anomaly.features.is_empty() {
        canvas.space(4.0);
        let columns = [("feature", 200.0), ("observed", 90.0), ("expected", 90.0), ("share", 80.0)];
        let rows: Vec<Vec<String>> = anomaly
            .features
            .iter()
            .map(|feature| {
                vec![
                    feature.name.clone(),
                    format!("{:.2}", feature.observed),
                    format!("{:.2}", feature.expected),
                    format!("{:.0}%", feature.contribution * 100.0),
                ]
            })
            .collect();
        table(canvas, MARGIN + 10.0, &columns, &rows);
    }
    let feedback = match &anomaly.feedback {
        Some(feedback) => format!(
            "Feedback: {} by {} at {}{}",
            feedback.verdict.as_str(),
            feedback.key_id.as_deref().unwrap_or("unknown"),
            format_time(&feedback.created_at),
            feedback.note.as_ref().map(|note| format!(": {note}")).unwrap_or_default()
        ),
        None => "Feedback: none yet.".to_owned(),
    };
    canvas.paragraph_at(MARGIN + 10.0, CONTENT_WIDTH - 10.0, &feedback, 8.0, Face::Regular, GREY);
    let events: Vec<&StoredEvent> = anomaly.event_ids.iter().filter_map(|id| data.anomaly_events.get(id)).collect();
    if !events.is_empty() {
        canvas.space(4.0);
        event_table(canvas, &events, false);
    }
}

fn anomalies_section(canvas: &mut Canvas, data: &ReportData, detailed: bool) {
    canvas.heading("Anomalies", 40.0);
    if data.anomalies.is_empty() {
        canvas.paragraph("No anomalies were detected in the period.", 9.5, Face::Regular, BLACK);
        return;
    }
    for anomaly in &data.anomalies {
        anomaly_block(canvas, anomaly, detailed, data);
    }
}

/// A simple table with a header row; breaks pages, repeating the header.
fn table(canvas: &mut Canvas, x: f32, columns: &[(&str, f32)], rows: &[Vec<String>]) {
    let header: Vec<(String, f32)> = columns.iter().map(|(name, width)| ((*name).to_owned(), *width)).collect();
    let draw_header = move |canvas: &mut Canvas| {
        canvas.y -= 13.0;
        let total: f32 = header.iter().map(|(_, width)| width).sum();
        canvas.rect(x, canvas.y - 3.0, total, 13.0, LIGHT);
        let mut pen = x + 3.0;
        for (name, width) in &header {
            canvas.text_at(pen, canvas.y + 0.5, 7.5, Face::Bold, BLACK, name);
            pen += width;
        }
    };
    canvas.ensure(30.0);
    draw_header(canvas);
    canvas.set_page_hook(draw_header.clone());
    for row in rows {
        canvas.ensure(11.0);
        canvas.y -= 11.0;
        let mut pen = x + 3.0;
        for (cell, (_, width)) in row.iter().zip(columns) {
            let text = canvas.fit(Face::Regular, 7.5, cell, width - 6.0);
            canvas.text_at(pen, canvas.y, 7.5, Face::Regular, BLACK, &text);
            pen += width;
        }
    }
    canvas.clear_page_hook();
    canvas.space(6.0);
}

/// The event table: seq, time, actor, action, resource, outcome; with each event's details
/// beneath it when `details` is set (subject reports).
fn event_table(canvas: &mut Canvas, events: &[&StoredEvent], details: bool) {
    const COLUMNS: [(&str, f32); 6] = [
        ("seq", 44.0),
        ("time (UTC)", 92.0),
        ("actor", 96.0),
        ("action", 112.0),
        ("resource", 104.0),
        ("outcome", 51.0),
    ];
    let draw_header = |canvas: &mut Canvas| {
        canvas.y -= 14.0;
        canvas.rect(MARGIN, canvas.y - 3.5, CONTENT_WIDTH, 14.0, LIGHT);
        let mut pen = MARGIN + 3.0;
        for (name, width) in COLUMNS {
            canvas.text_at(pen, canvas.y + 0.5, 7.5, Face::Bold, BLACK, name);
            pen += width;
        }
    };
    canvas.ensure(40.0);
    draw_header(canvas);
    canvas.set_page_hook(draw_header);
    for (index, event) in events.iter().enumerate() {
        let detail_lines = if details {
            let text = serde_json::to_string(&event.details).unwrap_or_default();
            canvas.wrap(Face::Regular, 6.5, &format!("details {text}"), CONTENT_WIDTH - 50.0)
        } else {
            Vec::new()
        };
        canvas.ensure(11.0 + 9.0 * detail_lines.len() as f32);
        canvas.y -= 11.0;
        if index % 2 == 1 {
            canvas.rect(MARGIN, canvas.y - 3.0, CONTENT_WIDTH, 11.0, (0.975, 0.978, 0.985));
        }
        let resource = event.resource.as_ref().map_or_else(String::new, |resource| {
            format!("{}:{}", resource.kind, resource.name.as_deref().unwrap_or(&resource.id))
        });
        let actor = match &event.actor.name {
            Some(name) if name != &event.actor.id => format!("{} ({name})", event.actor.id),
            _ => event.actor.id.clone(),
        };
        let time = event.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string();
        let cells = [event.seq.to_string(), time, actor, event.action.clone(), resource];
        let mut pen = MARGIN + 3.0;
        for (cell, (_, width)) in cells.iter().zip(COLUMNS) {
            let text = canvas.fit(Face::Regular, 7.0, cell, width - 6.0);
            canvas.text_at(pen, canvas.y, 7.0, Face::Regular, BLACK, &text);
            pen += width;
        }
        canvas.text_at(pen, canvas.y, 7.0, Face::Bold, outcome_colour(event.outcome), event.outcome.as_str());
        for line in detail_lines {
            canvas.y -= 9.0;
            canvas.text_at(MARGIN + 47.0, canvas.y, 6.5, Face::Regular, GREY, &line);
        }
    }
    canvas.clear_page_hook();
    canvas.space(6.0);
}

fn events_section(canvas: &mut Canvas, data: &ReportData, details: bool) {
    canvas.heading("Events", 60.0);
    if data.events.is_empty() {
        canvas.paragraph("No events were recorded in the period.", 9.5, Face::Regular, BLACK);
        return;
    }
    let events: Vec<&StoredEvent> = data.events.iter().collect();
    canvas.paragraph(
        &format!(
            "{} events, oldest first; each is in the attached evidence bundle with its inclusion proof.",
            events.len()
        ),
        8.0,
        Face::Regular,
        GREY,
    );
    event_table(canvas, &events, details);
}

fn integrity_sections(canvas: &mut Canvas, data: &ReportData) {
    canvas.heading("Verification", 40.0);
    let result = match &data.verification {
        Some(report) if report.ok => format!(
            "The hash chain of tenant {} was verified from seq 0 to the checkpoint: intact, {} events checked.",
            data.tenant(),
            report.checked
        ),
        Some(report) => format!(
            "The hash chain of tenant {} is BROKEN at seq {}: {}",
            data.tenant(),
            report.first_bad_seq.map_or_else(|| "?".to_owned(), |seq| seq.to_string()),
            report.reason.as_deref().unwrap_or("no reason given")
        ),
        None => "The log holds no events: there was nothing to verify.".to_owned(),
    };
    canvas.paragraph(&result, 9.5, Face::Regular, BLACK);
    canvas.heading("Checkpoints of the period", 40.0);
    if data.checkpoints.is_empty() {
        canvas.paragraph("No checkpoint was published in the period.", 9.5, Face::Regular, BLACK);
    } else {
        let rows: Vec<Vec<String>> = data
            .checkpoints
            .iter()
            .map(|checkpoint| {
                vec![
                    checkpoint.tree_size.to_string(),
                    format_time(&checkpoint.created_at),
                    checkpoint.root_hash.to_hex(),
                ]
            })
            .collect();
        table(
            canvas,
            MARGIN,
            &[("tree size", 60.0), ("published (UTC)", 130.0), ("root hash", CONTENT_WIDTH - 190.0)],
            &rows,
        );
    }
    canvas.heading("The log's key", 40.0);
    canvas.paragraph(
        "Checkpoints are Ed25519-signed notes (C2SP signed-note format). The verifier key of this log is:",
        9.0,
        Face::Regular,
        BLACK,
    );
    canvas.paragraph(data.log_key.trim(), 8.5, Face::Bold, BLACK);
    canvas.heading("How to check offline", 40.0);
    for step in [
        "1. Obtain the log's verifier key from the operator by a channel you trust, and compare it with the key above.",
        "2. Extract the evidence bundle attached to this PDF (for example with pdfdetach -saveall), or download it beside the report.",
        "3. Run: veritrail verify-bundle BUNDLE.tar --key \"LOG_KEY\". It checks the signed checkpoint, every event's hash chain link and its Merkle inclusion proof, and names the first event that fails.",
        "4. Compare the tree size and root hash it prints with the ones on the cover of this report.",
    ] {
        canvas.paragraph(step, 9.0, Face::Regular, BLACK);
    }
}

/// Renders the PDF of a report with `evidence` (the bundle's tar bytes) attached.
pub fn render_pdf(data: &ReportData, evidence: Option<(&[u8], usize)>) -> Result<Rendered, String> {
    let spec = &data.report.spec;
    let mut canvas = Canvas::new(&format!("{} — {}", title(spec.kind), data.tenant()))?;
    cover(&mut canvas, data, evidence.map_or(0, |(_, events)| events));
    summary(&mut canvas, data);
    match spec.kind {
        ReportKind::Activity => {
            canvas.new_page();
            activity_charts(&mut canvas, data);
            anomalies_section(&mut canvas, data, false);
            events_section(&mut canvas, data, false);
        }
        ReportKind::Anomalies => anomalies_section(&mut canvas, data, true),
        ReportKind::Integrity => integrity_sections(&mut canvas, data),
        ReportKind::Subject => {
            canvas.new_page();
            activity_charts(&mut canvas, data);
            anomalies_section(&mut canvas, data, false);
            events_section(&mut canvas, data, true);
        }
    }
    let header = format!("{} · tenant {} · {}", title(spec.kind), data.tenant(), period(data));
    let footer = match &data.checkpoint {
        Some(checkpoint) => {
            format!("Checkpoint {} · root {}", checkpoint.tree_size, checkpoint.root_hash.to_hex())
        }
        None => "No signed checkpoint: the log is empty".to_owned(),
    };
    let attachments: Vec<Attachment> = evidence
        .map(|(bytes, events)| Attachment {
            name: evidence_name(data),
            mime: "application/x-tar".to_owned(),
            description: format!(
                "Evidence bundle: {events} events with inclusion proofs in the signed checkpoint; verify with veritrail verify-bundle"
            ),
            bytes: bytes.to_vec(),
        })
        .into_iter()
        .collect();
    canvas.finish(&header, &footer, data.generated_at, &attachments)
}

/// Renders the CSV of a report: the events (activity, subject), the anomalies, or the
/// checkpoints (integrity).
pub fn render_csv(data: &ReportData) -> Vec<u8> {
    match data.report.spec.kind {
        ReportKind::Activity | ReportKind::Subject => csv_rows(&data.events, true),
        ReportKind::Anomalies => {
            let header = [
                "id",
                "window_start",
                "window_end",
                "subject_kind",
                "subject_id",
                "reason",
                "score",
                "severity",
                "status",
                "narrative",
                "features",
                "event_ids",
                "feedback_verdict",
                "feedback_note",
            ]
            .map(str::to_owned)
            .to_vec();
            let rows = data.anomalies.iter().map(|anomaly| {
                vec![
                    anomaly.id.clone(),
                    format_time(&anomaly.window_start),
                    format_time(&anomaly.window_end),
                    anomaly.subject.kind.as_str().to_owned(),
                    anomaly.subject.id.clone(),
                    anomaly.reason.clone(),
                    format!("{}", anomaly.score),
                    anomaly.severity.as_str().to_owned(),
                    anomaly.status.as_str().to_owned(),
                    anomaly.narrative.clone(),
                    serde_json::to_string(&anomaly.features).unwrap_or_default(),
                    serde_json::to_string(&anomaly.event_ids).unwrap_or_default(),
                    anomaly.feedback.as_ref().map(|f| f.verdict.as_str().to_owned()).unwrap_or_default(),
                    anomaly.feedback.as_ref().and_then(|f| f.note.clone()).unwrap_or_default(),
                ]
            });
            csv_table(std::iter::once(header).chain(rows), 4096)
        }
        ReportKind::Integrity => {
            let header = ["tree_size", "root_hash", "created_at", "signed_note"].map(str::to_owned).to_vec();
            let rows = data.checkpoints.iter().map(|checkpoint| {
                vec![
                    checkpoint.tree_size.to_string(),
                    checkpoint.root_hash.to_hex(),
                    format_time(&checkpoint.created_at),
                    checkpoint.note.clone(),
                ]
            });
            csv_table(std::iter::once(header).chain(rows), 4096)
        }
    }
}
