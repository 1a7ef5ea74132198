//! The short answer above the results, always citing the events it is based on.
//!
//! - **Extractive** (no chat model configured, or the model failed): counts, who, when, what and
//!   how it ended, computed from the results, citing the top events.
//! - **Generated** (an OpenAI-compatible chat model is configured): the model sees the question
//!   and the top results, each tagged with its event id, and must cite ids in square brackets.
//!   Any cited id that is not among the results is removed from the text and logged; an answer
//!   left with no valid citation is replaced by the extractive one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use veritrail_core::event::{Outcome, StoredEvent, format_time};
use veritrail_core::query::Interpretation;
use veritrail_core::render::render;
use veritrail_models::chat::ChatModel;

use crate::engine::SearchResult;

/// Events cited by an extractive answer.
const EXTRACTIVE_CITATIONS: usize = 5;
/// Results shown to a chat model.
const GENERATED_CONTEXT: usize = 10;

/// One cited event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Citation {
    pub id: String,
    pub seq: u64,
}

/// The answer and what it cites.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub text: String,
    pub citations: Vec<Citation>,
    /// `extractive`, or the chat model's id.
    pub generated_by: String,
}

/// Answers `question` from `results`.
pub async fn answer(
    question: &str,
    interpretation: &Interpretation,
    results: &[SearchResult],
    chat: Option<&dyn ChatModel>,
) -> Answer {
    if let (Some(chat), false) = (chat, results.is_empty()) {
        match generated(question, results, chat).await {
            Some(answer) => return answer,
            None => tracing::warn!(model = chat.model_id(), "falling back to an extractive answer"),
        }
    }
    extractive(interpretation, results)
}

/// Counts, who, when, what and outcome of the results.
pub fn extractive(interpretation: &Interpretation, results: &[SearchResult]) -> Answer {
    if results.is_empty() {
        let mut text = "No matching events".to_owned();
        if let (Some(since), Some(until)) = (interpretation.since, interpretation.until) {
            let _ = write!(text, " between {} and {}", format_time(&since), format_time(&until));
        } else if let Some(since) = interpretation.since {
            let _ = write!(text, " since {}", format_time(&since));
        }
        text.push('.');
        return Answer { text, citations: Vec::new(), generated_by: "extractive".to_owned() };
    }
    let events: Vec<&StoredEvent> = results.iter().map(|result| &result.event).collect();
    let first = events.iter().map(|event| event.occurred_at).min().unwrap_or_default();
    let last = events.iter().map(|event| event.occurred_at).max().unwrap_or_default();

    let mut text = format!(
        "{} matching event{} between {} and {}.",
        events.len(),
        if events.len() == 1 { "" } else { "s" },
        format_time(&first),
        format_time(&last)
    );
    let actors =
        top_counts(events.iter().map(|event| event.actor.name.clone().unwrap_or_else(|| event.actor.id.clone())));
    let _ = write!(text, " By {}.", actors);
    let actions = top_counts(events.iter().map(|event| event.action.clone()));
    let _ = write!(text, " Actions: {}.", actions);
    let outcomes = top_counts(events.iter().map(|event| outcome_word(event.outcome).to_owned()));
    let _ = write!(text, " Outcomes: {}.", outcomes);
    let _ = write!(text, " Best match: {} [{}]", render(events[0]), events[0].id);

    let citations = events
        .iter()
        .take(EXTRACTIVE_CITATIONS)
        .map(|event| Citation { id: event.id.clone(), seq: event.seq })
        .collect();
    Answer { text, citations, generated_by: "extractive".to_owned() }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "succeeded",
        Outcome::Failure => "failed",
        Outcome::Denied => "denied",
        Outcome::Unknown => "unknown",
    }
}

/// "alice (3), bob (1)": the three most frequent values with their counts.
fn top_counts(values: impl Iterator<Item = String>) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let more = ranked.len().saturating_sub(3);
    let mut text =
        ranked.iter().take(3).map(|(value, count)| format!("{value} ({count})")).collect::<Vec<_>>().join(", ");
    if more > 0 {
        let _ = write!(text, " and {more} more");
    }
    text
}

const SYSTEM_PROMPT: &str = "You answer questions about an audit log for a security analyst. Use only the events \
     given; each starts with its id in square brackets. Answer in at most four sentences and cite every event you \
     rely on by writing its id in square brackets, e.g. [evt-1]. Never cite an id that is not in the list. If the \
     events do not answer the question, say so.";

/// Asks the chat model; `None` when it failed or cited nothing valid.
async fn generated(question: &str, results: &[SearchResult], chat: &dyn ChatModel) -> Option<Answer> {
    let context: Vec<&StoredEvent> = results.iter().take(GENERATED_CONTEXT).map(|result| &result.event).collect();
    let mut prompt = format!("Question: {question}\n\nEvents:\n");
    for event in &context {
        let _ = writeln!(prompt, "[{}] {} {}", event.id, format_time(&event.occurred_at), render(event));
    }
    let reply = match chat.complete(SYSTEM_PROMPT, &prompt).await {
        Ok(reply) => reply,
        Err(err) => {
            tracing::warn!(model = chat.model_id(), error = %err, "the chat model failed");
            return None;
        }
    };
    let (text, citations) = keep_valid_citations(&reply, &context);
    if citations.is_empty() {
        tracing::warn!(model = chat.model_id(), "the generated answer cited no event of the results");
        return None;
    }
    Some(Answer { text, citations, generated_by: chat.model_id().to_owned() })
}

/// Removes bracketed citations of ids that are not in `events` (logging each) and returns the
/// cleaned text with the valid citations in order of first mention.
pub fn keep_valid_citations(reply: &str, events: &[&StoredEvent]) -> (String, Vec<Citation>) {
    let mut text = String::with_capacity(reply.len());
    let mut citations: Vec<Citation> = Vec::new();
    let mut rest = reply;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|offset| open + offset) else {
            break;
        };
        text.push_str(&rest[..open]);
        let inside = &rest[open + 1..close];
        // One bracket may hold several ids: "[a, b]".
        let mut kept: Vec<&str> = Vec::new();
        for id in inside.split([',', ';']).map(str::trim).filter(|id| !id.is_empty()) {
            match events.iter().find(|event| event.id == id) {
                Some(event) => {
                    kept.push(id);
                    if !citations.iter().any(|citation| citation.id == id) {
                        citations.push(Citation { id: event.id.clone(), seq: event.seq });
                    }
                }
                None => tracing::warn!(cited = id, "removed a citation of an event that is not in the results"),
            }
        }
        if !kept.is_empty() {
            let _ = write!(text, "[{}]", kept.join(", "));
        }
        rest = &rest[close + 1..];
    }
    text.push_str(rest);
    (text.replace("  ", " ").trim().to_owned(), citations)
}
