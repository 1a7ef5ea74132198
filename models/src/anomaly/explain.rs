//! From a score back to the evidence: which events carry the top features, and a narrative
//! made only of those facts.

use std::collections::HashMap;

use chrono::Duration;
use veritrail_core::anomalies::SubjectKind;
use veritrail_core::event::StoredEvent;

use super::action_class::ActionClass;
use super::facts::EventFacts;
use super::features::{FeatureSpec, Row, col};
use super::scoring::{Part, RowScore, reason_family};

/// Support at or above which an event counts as being behind a feature.
const STRONG_SUPPORT: f64 = 0.5;

/// How much event `position` of `row` stands behind feature `feature` (0..1).
pub fn support(row: &Row, position: usize, fact: &EventFacts, feature: usize) -> f64 {
    let tenant_row = row.key.subject.kind == SubjectKind::Tenant;
    let flag = |value: bool| if value { 1.0 } else { 0.0 };
    match feature {
        col::READ => 0.5 * flag(fact.class == ActionClass::Read),
        col::WRITE => 0.5 * flag(fact.class == ActionClass::Write),
        col::SENSITIVE => flag(fact.class == ActionClass::Sensitive),
        col::RARE_SENSITIVE => flag(fact.class == ActionClass::Sensitive) * fact.rarity,
        col::DISTINCT_IPS => flag(fact.new_ip || fact.tenant_new_ip).max(0.1),
        col::DISTINCT_USER_AGENTS => flag(fact.new_user_agent || fact.tenant_new_user_agent).max(0.1),
        col::FAILED | col::FAILURE_RATIO => flag(fact.failed),
        col::DENIED | col::DENIED_RATIO => flag(fact.denied),
        col::NEW_ACTIONS => flag(if tenant_row { fact.tenant_new_action } else { fact.new_action }),
        col::NEW_RESOURCES => flag(fact.new_resource),
        col::NEW_IPS => flag(if tenant_row { fact.tenant_new_ip } else { fact.new_ip }),
        col::NEW_USER_AGENTS => flag(if tenant_row { fact.tenant_new_user_agent } else { fact.new_user_agent }),
        col::TENANT_NEW_IPS => flag(fact.tenant_new_ip),
        col::TENANT_NEW_USER_AGENTS => flag(fact.tenant_new_user_agent),
        col::TENANT_NEW_ACTIONS => flag(fact.tenant_new_action),
        col::NEW_ACTOR => flag(fact.tenant_new_actor).max(0.2),
        col::OFF_HOURS => flag(row.off_hours.get(position).copied().unwrap_or(false)),
        col::MAX_RARITY | col::MEAN_RARITY => fact.rarity * fact.rarity,
        col::CONTENT_DISTANCE => {
            let max = row.content_distance.iter().copied().fold(0.0, f64::max);
            if max > 0.0 { row.content_distance.get(position).copied().unwrap_or(0.0) / max } else { 0.0 }
        }
        // Volume features: every event is a little behind them.
        _ => 0.1,
    }
}

/// Weight of each event of a row: the points of the features it stands behind.
pub fn event_weights(row: &Row, facts: &[EventFacts], score: &RowScore) -> Vec<f64> {
    row.events
        .iter()
        .enumerate()
        .map(|(position, &index)| {
            score.parts.iter().map(|part| part.points * support(row, position, &facts[index], part.feature)).sum()
        })
        .collect()
}

/// Positions (in `row.events`) of the events behind the top parts, most telling first.
pub fn evidence(row: &Row, facts: &[EventFacts], score: &RowScore, top: usize, cap: usize) -> Vec<usize> {
    let weights = event_weights(row, facts, score);
    let top_parts = &score.parts[..score.parts.len().min(top)];
    let mut chosen: Vec<usize> = (0..row.events.len())
        .filter(|&position| {
            top_parts
                .iter()
                .any(|part| support(row, position, &facts[row.events[position]], part.feature) >= STRONG_SUPPORT)
        })
        .collect();
    if chosen.is_empty() {
        chosen = (0..row.events.len()).collect();
    }
    chosen.sort_by(|left, right| weights[*right].total_cmp(&weights[*left]).then(left.cmp(right)));
    chosen.truncate(cap);
    chosen
}

/// A short name for an actor: the part of an ARN after its resource type
/// (`arn:aws:iam::1:user/bert-jan` → `bert-jan`), else the id itself.
pub fn short_name(actor_id: &str) -> String {
    if let Some(resource) = actor_id.strip_prefix("arn:").and_then(|rest| rest.splitn(5, ':').nth(4)) {
        if let Some((_, name)) = resource.split_once('/')
            && !name.is_empty()
        {
            return name.to_owned();
        }
        return resource.to_owned();
    }
    actor_id.to_owned()
}

/// The action without its namespace: `ec2.amazonaws.com:GetPasswordData` → `GetPasswordData`.
pub fn display_action(action: &str) -> &str {
    action.rsplit_once(':').map_or(action, |(_, name)| name)
}

/// Builds the narrative of a window from its top parts and the events behind them.
pub fn narrative(
    row: &Row,
    events: &[&StoredEvent],
    facts: &[EventFacts],
    parts: &[Part],
    specs: &[FeatureSpec],
    evidence: &[usize],
    window: Duration,
) -> String {
    let members: Vec<(&StoredEvent, &EventFacts)> =
        row.events.iter().map(|&index| (events[index], &facts[index])).collect();
    let subject = match row.key.subject.kind {
        SubjectKind::Actor => short_name(&row.key.subject.id),
        SubjectKind::Tenant => format!("tenant {}", row.key.subject.id),
    };
    let total = members.len();
    let minutes = window.num_minutes();
    let behind: Vec<&StoredEvent> = evidence.iter().map(|&position| members[position].0).collect();
    let (main_action, main_count) = most_common(members.iter().map(|(event, _)| display_action(&event.action)));
    let opening = if main_count * 5 >= total * 4 {
        let all = if main_count < total { format!(" ({total} calls in all)") } else { String::new() };
        format!(
            "{subject} made {main_count} {main_action} {} in {minutes} minutes{all}",
            plural(main_count, "call", "calls")
        )
    } else {
        let (evidence_action, _) = most_common(behind.iter().map(|event| display_action(&event.action)));
        format!(
            "{subject} made {total} {} in {minutes} minutes, mostly {evidence_action}",
            plural(total, "call", "calls")
        )
    };
    let mut clauses: Vec<String> = Vec::new();
    let mut families: Vec<&str> = Vec::new();
    for part in parts {
        let name = specs[part.feature].name;
        let family = reason_family(name);
        if families.contains(&family) {
            continue;
        }
        families.push(family);
        if let Some(clause) = clause(part, name, family, &members, &behind, row) {
            clauses.push(clause);
        }
    }
    if clauses.is_empty() { format!("{opening}.") } else { format!("{opening}, {}.", clauses.join(", ")) }
}

fn clause(
    part: &Part,
    name: &str,
    family: &str,
    members: &[(&StoredEvent, &EventFacts)],
    behind: &[&StoredEvent],
    row: &Row,
) -> Option<String> {
    let total = members.len();
    let usual = |unit: &str| format!("usually {}{unit}", round(part.expected));
    let usual_share = || format!("usually {:.0}%", part.expected * 100.0);
    Some(match family {
        "denials" => {
            let denied = members.iter().filter(|(_, fact)| fact.denied).count();
            let (action, _) = most_common(
                members.iter().filter(|(_, fact)| fact.denied).map(|(event, _)| display_action(&event.action)),
            );
            let expected = if name == "denied_ratio" { usual_share() } else { usual("") };
            let only_action = members.iter().filter(|(event, _)| display_action(&event.action) == action).count();
            if denied == total || (denied == only_action && denied * 5 >= total * 4) {
                format!("all denied ({expected})")
            } else {
                format!("{denied} denied, mostly {action} ({expected})")
            }
        }
        "failures" => {
            let failed = members.iter().filter(|(_, fact)| fact.failed).count();
            let expected = if name == "failure_ratio" { usual_share() } else { usual("") };
            if failed == total {
                format!("all failed ({expected})")
            } else {
                let (action, _) = most_common(
                    members.iter().filter(|(_, fact)| fact.failed).map(|(event, _)| display_action(&event.action)),
                );
                format!("{failed} failed, mostly {action} ({expected})")
            }
        }
        "sensitive_actions" => {
            let sensitive: Vec<&str> = members
                .iter()
                .filter(|(_, fact)| fact.class == ActionClass::Sensitive)
                .map(|(event, _)| display_action(&event.action))
                .collect();
            let (action, _) = most_common(sensitive.iter().copied());
            format!("{} security-sensitive, e.g. {action} ({})", sensitive.len(), usual(""))
        }
        "new_ip" => {
            let tenant_new = members.iter().find(|(_, fact)| fact.tenant_new_ip);
            let actor_new = members.iter().find(|(_, fact)| fact.new_ip);
            match (tenant_new, actor_new, name) {
                (Some((event, _)), _, "tenant_new_ips") | (Some((event, _)), None, _) => {
                    format!("from {}, an address new to this tenant", event.actor.ip.as_deref().unwrap_or("?"))
                }
                (_, Some((event, _)), _) => {
                    format!("from {}, first seen for this actor", event.actor.ip.as_deref().unwrap_or("?"))
                }
                _ => {
                    let ips = distinct(members.iter().filter_map(|(event, _)| event.actor.ip.as_deref()));
                    format!("from {} addresses ({})", ips.len(), ips.join(", "))
                }
            }
        }
        "new_user_agent" => {
            let tenant_new = members.iter().find(|(_, fact)| fact.tenant_new_user_agent);
            let actor_new = members.iter().find(|(_, fact)| fact.new_user_agent);
            let agent = |event: &StoredEvent| clip(event.actor.user_agent.as_deref().unwrap_or("?"), 48);
            match (tenant_new, actor_new, name) {
                (Some((event, _)), _, "tenant_new_user_agents") | (Some((event, _)), None, _) => {
                    format!("with user agent \"{}\", new to this tenant", agent(event))
                }
                (_, Some((event, _)), _) => format!("with user agent \"{}\", first seen for this actor", agent(event)),
                _ => {
                    let agents = distinct(members.iter().filter_map(|(event, _)| event.actor.user_agent.as_deref()));
                    format!("with {} different user agents", agents.len())
                }
            }
        }
        "new_action" => {
            let new: Vec<&str> = distinct(
                members
                    .iter()
                    .filter(|(_, fact)| fact.new_action || fact.tenant_new_action)
                    .map(|(event, _)| display_action(&event.action)),
            );
            let example = new.first()?;
            format!("{} {} it had not used before, e.g. {example}", new.len(), plural(new.len(), "action", "actions"))
        }
        "new_resource" => format!("{} resources it had not touched before", round(part.observed)),
        "new_principal" => "a principal not seen before in this tenant".to_owned(),
        "off_hours" => format!("{:.0}% outside its usual hours", part.observed * 100.0),
        "rare_action" => {
            let rarest = members.iter().max_by(|left, right| left.1.rarity.total_cmp(&right.1.rarity))?;
            format!("{} is rarely seen in this tenant", display_action(&rarest.0.action))
        }
        "unusual_content" => "events unlike its usual ones".to_owned(),
        _ => {
            if row.events.is_empty() || behind.is_empty() {
                return None;
            }
            match name {
                "events" | "rate_vs_baseline" => usual(" calls"),
                "distinct_actions" => format!("{} distinct actions ({})", round(part.observed), usual("")),
                "read_events" => format!("{} lookups ({})", round(part.observed), usual("")),
                "write_events" => {
                    let count = round(part.observed);
                    format!("{count} {} ({})", plural(part.observed.round() as usize, "change", "changes"), usual(""))
                }
                _ => return None,
            }
        }
    })
}

fn most_common<'a>(values: impl Iterator<Item = &'a str>) -> (&'a str, usize) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut order = Vec::new();
    for value in values {
        let count = counts.entry(value).or_insert(0);
        if *count == 0 {
            order.push(value);
        }
        *count += 1;
    }
    // Ties go to the value seen first, so the narrative is deterministic.
    order
        .into_iter()
        .map(|value| (value, counts[value]))
        .fold(("", 0), |best, item| if item.1 > best.1 { item } else { best })
}

fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

fn round(value: f64) -> String {
    if (value - value.round()).abs() < 0.05 { format!("{:.0}", value.round()) } else { format!("{value:.1}") }
}

fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max_chars).collect::<String>())
    }
}
