//! The summary paragraph of a report: sentences written from the period's numbers and anomalies
//! (extractive, deterministic: the same data always gives the same words), optionally rewritten
//! by the configured chat model from those sentences only.

use veritrail_core::event::format_time;
use veritrail_core::reports::ReportKind;
use veritrail_models::chat::ChatModel;

use crate::data::ReportData;

const SYSTEM_PROMPT: &str = "You write the summary paragraph of an audit report for compliance staff. \
Rewrite the facts you are given as one clear paragraph of plain prose. Use only those facts: add no \
number, name, cause or judgement that they do not state, and keep every number exactly as given.";

fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 { "0%".to_owned() } else { format!("{:.1}%", part as f64 * 100.0 / whole as f64) }
}

/// The period as shown everywhere in a report.
pub fn period(data: &ReportData) -> String {
    format!("{} to {}", format_time(&data.report.spec.since), format_time(&data.report.spec.until))
}

/// The facts of the period, one sentence each, in a fixed order.
pub fn facts(data: &ReportData) -> Vec<String> {
    let spec = &data.report.spec;
    let numbers = &data.numbers;
    let mut facts = Vec::new();
    let scope = match (&spec.kind, &spec.subject) {
        (ReportKind::Subject, Some(subject)) => format!("actor {subject} of tenant {}", data.tenant()),
        _ => format!("tenant {}", data.tenant()),
    };
    let filtered = if data.filter.is_empty() || spec.kind == ReportKind::Subject { "" } else { " matching the filter" };
    match spec.kind {
        ReportKind::Integrity => {
            facts.push(format!(
                "Between {} and {}, {} were published for {scope}.",
                format_time(&spec.since),
                format_time(&spec.until),
                plural(data.checkpoints.len() as u64, "signed checkpoint", "signed checkpoints")
            ));
            match &data.verification {
                Some(report) if report.ok => facts.push(format!(
                    "Verification of the hash chain up to the checkpoint found it intact ({} checked).",
                    plural(report.checked, "event", "events")
                )),
                Some(report) => facts.push(format!(
                    "Verification of the hash chain FAILED at seq {}: {}.",
                    report.first_bad_seq.map_or_else(|| "?".to_owned(), |seq| seq.to_string()),
                    report.reason.as_deref().unwrap_or("no reason given")
                )),
                None => facts.push("The log holds no events yet, so there was nothing to verify.".to_owned()),
            }
        }
        ReportKind::Anomalies => {}
        ReportKind::Activity | ReportKind::Subject if numbers.total == 0 => facts.push(format!(
            "No events{filtered} were recorded for {scope} between {} and {}.",
            format_time(&spec.since),
            format_time(&spec.until)
        )),
        ReportKind::Activity | ReportKind::Subject => {
            let [success, failure, denied, unknown] = numbers.outcomes;
            facts.push(format!(
                "Between {} and {}, {} {} recorded for {scope}{filtered}, by {} across {}.",
                format_time(&spec.since),
                format_time(&spec.until),
                plural(numbers.total, "event", "events"),
                if numbers.total == 1 { "was" } else { "were" },
                plural(numbers.actors as u64, "actor", "actors"),
                plural(numbers.actions as u64, "action", "actions"),
            ));
            let unknown = if unknown > 0 { format!(", {unknown} had an unknown outcome") } else { String::new() };
            facts.push(format!(
                "{success} succeeded, {failure} failed and {denied} were denied{unknown} ({} of all events did not succeed).",
                percent(numbers.total - success, numbers.total)
            ));
            if let Some((day, counts)) = numbers
                .per_day
                .iter()
                .max_by_key(|(day, counts)| (counts.iter().sum::<u64>(), std::cmp::Reverse(day.as_str())))
            {
                facts.push(format!(
                    "The busiest day was {day}, with {}.",
                    plural(counts.iter().sum(), "event", "events")
                ));
            }
            if let (Some((actor, actor_count)), Some((action, action_count))) =
                (numbers.top_actors.first(), numbers.top_actions.first())
            {
                facts.push(format!(
                    "The most active actor was {actor} ({}); the most frequent action was {action} ({}).",
                    plural(*actor_count, "event", "events"),
                    plural(*action_count, "event", "events")
                ));
            }
        }
    }
    if spec.kind != ReportKind::Integrity {
        match data.anomalies.iter().max_by(|a, b| a.score.total_cmp(&b.score)) {
            None => facts.push("No anomalies were detected in the period.".to_owned()),
            Some(top) => facts.push(format!(
                "{} detected; the highest scoring ({:.2}, {}) concerns {} {}: {}.",
                plural(data.anomalies.len() as u64, "anomaly was", "anomalies were"),
                top.score,
                top.severity.as_str(),
                top.subject.kind.as_str(),
                top.subject.id,
                top.reason
            )),
        }
    }
    match &data.checkpoint {
        Some(checkpoint) => facts.push(format!(
            "The report is built against the signed checkpoint of tree size {} (root hash {}).",
            checkpoint.tree_size,
            checkpoint.root_hash.to_hex()
        )),
        None => facts.push("The log holds no events yet, so no signed checkpoint covers this report.".to_owned()),
    }
    facts
}

/// The summary: the facts as one paragraph, or the chat model's rewrite of them when one is
/// configured and answers; with who wrote it.
pub async fn summarise(data: &ReportData, chat: Option<&dyn ChatModel>) -> (String, String) {
    let facts = facts(data);
    let extractive = facts.join(" ");
    let Some(chat) = chat else {
        return (extractive, "extractive".to_owned());
    };
    let prompt = format!("Facts:\n- {}", facts.join("\n- "));
    match chat.complete(SYSTEM_PROMPT, &prompt).await {
        Ok(reply) if !reply.trim().is_empty() && reply.len() < 4 * extractive.len() + 400 => {
            (reply.trim().to_owned(), chat.model_id().to_owned())
        }
        Ok(_) => {
            tracing::warn!(
                model = chat.model_id(),
                "the chat model's summary was empty or too long; using the extractive one"
            );
            (extractive, "extractive".to_owned())
        }
        Err(error) => {
            tracing::warn!(model = chat.model_id(), %error, "the chat model failed; using the extractive summary");
            (extractive, "extractive".to_owned())
        }
    }
}
