//! Query understanding for natural-language search: turns a question such as "failed console
//! logins from 203.0.113.0/24 since Monday" into filters (time range, outcome, actors, actions,
//! resource types, IPs) and the text that is left for full-text and semantic retrieval.
//!
//! Pure and deterministic: times are relative to a `now` the caller passes (tests fix it), days
//! are UTC days, and actors, actions and resource types come from the tenant's own vocabulary.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use serde::Serialize;

use crate::event::Outcome;

/// What the tenant's log contains, to recognise names in a question.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Actor ids (and names) seen in the log.
    pub actors: Vec<String>,
    pub actions: Vec<String>,
    pub resource_types: Vec<String>,
}

/// How a question was understood.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Interpretation {
    #[serde(with = "crate::event::timestamp::option")]
    pub since: Option<DateTime<Utc>>,
    #[serde(with = "crate::event::timestamp::option")]
    pub until: Option<DateTime<Utc>>,
    pub actors: Vec<String>,
    pub actions: Vec<String>,
    pub resource_types: Vec<String>,
    pub outcome: Option<Outcome>,
    /// IP addresses and CIDR ranges, as written.
    pub ips: Vec<String>,
    /// The words left once the filters are taken out: the semantic part.
    pub text: String,
    /// The question without the words that became filters, stop words kept: what a sentence
    /// model embeds best ("someone tried to stop CloudTrail logging").
    #[serde(skip)]
    pub phrase: String,
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "who", "what", "which", "when", "where", "did", "do", "does", "was", "were", "is", "are", "has",
    "have", "any", "all", "show", "me", "list", "find", "from", "by", "of", "on", "in", "at", "to", "for", "with",
    "events", "event", "and", "or", "anyone", "someone", "there", "been", "their", "my", "our", "please", "that",
];

/// Understands `question` at time `now`.
pub fn interpret(question: &str, now: DateTime<Utc>, vocabulary: &Vocabulary) -> Interpretation {
    let mut interpretation = Interpretation::default();
    let lower = question.to_lowercase();
    let mut tokens: Vec<Token> = tokenize(&lower);

    take_time(&mut tokens, now, &mut interpretation);
    take_outcome(&mut tokens, &mut interpretation);
    take_addresses(&mut tokens, &mut interpretation);
    take_vocabulary(&mut tokens, &vocabulary.actors, &mut interpretation.actors, true);
    // One ordinary word ("role", "delete") is not enough to name an action or a resource type:
    // as a filter it would drop every event that says the same thing differently. Such words stay
    // in the text for full-text and semantic retrieval instead.
    take_vocabulary(&mut tokens, &vocabulary.actions, &mut interpretation.actions, false);
    take_vocabulary(&mut tokens, &vocabulary.resource_types, &mut interpretation.resource_types, false);

    interpretation.phrase =
        tokens.iter().filter(|token| !token.used).map(|token| token.text.as_str()).collect::<Vec<_>>().join(" ");
    interpretation.text = tokens
        .iter()
        .filter(|token| !token.used && !STOP_WORDS.contains(&token.text.as_str()))
        .map(|token| token.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    interpretation
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    used: bool,
}

/// Splits on whitespace and trims punctuation that is not part of addresses, ids or emails.
fn tokenize(text: &str) -> Vec<Token> {
    text.split_whitespace()
        .map(|word| word.trim_matches(|c: char| matches!(c, ',' | '?' | '!' | '"' | '\'' | '(' | ')' | ';')))
        .map(|word| word.trim_end_matches('.'))
        .filter(|word| !word.is_empty())
        .map(|word| Token { text: word.to_owned(), used: false })
        .collect()
}

fn start_of_day(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn unit_duration(unit: &str, amount: i64) -> Option<Duration> {
    let unit = unit.trim_end_matches('s');
    match unit {
        "second" | "sec" => Some(Duration::seconds(amount)),
        "minute" | "min" => Some(Duration::minutes(amount)),
        "hour" | "hr" | "h" => Some(Duration::hours(amount)),
        "day" => Some(Duration::days(amount)),
        "week" => Some(Duration::weeks(amount)),
        "month" => Some(Duration::days(30 * amount)),
        _ => None,
    }
}

fn weekday(word: &str) -> Option<Weekday> {
    match word {
        "monday" | "mon" => Some(Weekday::Mon),
        "tuesday" | "tue" | "tues" => Some(Weekday::Tue),
        "wednesday" | "wed" => Some(Weekday::Wed),
        "thursday" | "thu" | "thurs" => Some(Weekday::Thu),
        "friday" | "fri" => Some(Weekday::Fri),
        "saturday" | "sat" => Some(Weekday::Sat),
        "sunday" | "sun" => Some(Weekday::Sun),
        _ => None,
    }
}

/// A month by full name or common abbreviation (`jul`, `sept`).
fn month(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    MONTHS
        .iter()
        .position(|name| *name == word || ((3..=4).contains(&word.len()) && name.starts_with(word)))
        .map(|idx| idx as u32 + 1)
}

/// The most recent `day` on or before `today`.
fn last_weekday(today: NaiveDate, day: Weekday) -> NaiveDate {
    let back = (7 + today.weekday().num_days_from_monday() - day.num_days_from_monday()) % 7;
    today - Duration::days(i64::from(back))
}

/// A date `day month [year]` or `month day [year]` starting at token `idx`; returns the date and
/// the number of tokens it spans. A date without a year that would lie in the future is last year's.
fn date_at(tokens: &[Token], idx: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    let word = |offset: usize| tokens.get(idx + offset).map(|token| token.text.as_str());
    if let Some(date) = word(0).and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()) {
        return Some((date, 1));
    }
    let ordinal = |text: &str| text.trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse::<u32>().ok();
    let (day, month_number, used) = match (word(0), word(1)) {
        (Some(first), Some(second)) if ordinal(first).is_some() && month(second).is_some() => {
            (ordinal(first)?, month(second)?, 2)
        }
        (Some(first), Some(second)) if month(first).is_some() && ordinal(second).is_some() => {
            (ordinal(second)?, month(first)?, 2)
        }
        _ => return None,
    };
    if let Some(year) = word(used).and_then(|text| text.parse::<i32>().ok()).filter(|year| (1970..=9999).contains(year))
    {
        return NaiveDate::from_ymd_opt(year, month_number, day).map(|date| (date, used + 1));
    }
    let this_year = NaiveDate::from_ymd_opt(today.year(), month_number, day)?;
    let date =
        if this_year > today { NaiveDate::from_ymd_opt(today.year() - 1, month_number, day)? } else { this_year };
    Some((date, used))
}

fn mark(tokens: &mut [Token], from: usize, count: usize) {
    for token in tokens.iter_mut().skip(from).take(count) {
        token.used = true;
    }
}

/// A recognised time expression: `since`, `until`, first token, token count.
type Found = (Option<DateTime<Utc>>, Option<DateTime<Utc>>, usize, usize);

/// Recognises one time expression (the first found) and sets `since`/`until`.
fn take_time(tokens: &mut [Token], now: DateTime<Utc>, out: &mut Interpretation) {
    let today = now.date_naive();
    for idx in 0..tokens.len() {
        let word = |offset: usize| tokens.get(idx + offset).map(|token| token.text.clone()).unwrap_or_default();
        let found: Option<Found> = match word(0).as_str() {
            "today" => Some((Some(start_of_day(today)), None, idx, 1)),
            "yesterday" => Some((Some(start_of_day(today - Duration::days(1))), Some(start_of_day(today)), idx, 1)),
            "last" | "past" | "previous" | "this" => {
                let this = word(0) == "this";
                let monday = last_weekday(today, Weekday::Mon);
                let first_of_month = today.with_day(1).unwrap_or(today);
                match word(1).as_str() {
                    "week" if this => Some((Some(start_of_day(monday)), None, idx, 2)),
                    "week" => {
                        Some((Some(start_of_day(monday - Duration::days(7))), Some(start_of_day(monday)), idx, 2))
                    }
                    "month" if this => Some((Some(start_of_day(first_of_month)), None, idx, 2)),
                    "month" => {
                        let previous = (first_of_month - Duration::days(1)).with_day(1).unwrap_or(first_of_month);
                        Some((Some(start_of_day(previous)), Some(start_of_day(first_of_month)), idx, 2))
                    }
                    "hour" | "day" => unit_duration(&word(1), 1).map(|span| (Some(now - span), None, idx, 2)),
                    amount if amount.parse::<i64>().is_ok() => {
                        let amount = amount.parse::<i64>().unwrap_or(0);
                        unit_duration(&word(2), amount).map(|span| (Some(now - span), None, idx, 3))
                    }
                    _ => None,
                }
            }
            "since" | "after" => {
                let after = word(0) == "after";
                if let Some(day) = weekday(&word(1)) {
                    Some((Some(start_of_day(last_weekday(today, day))), None, idx, 2))
                } else if let Some((date, span)) = date_at(tokens, idx + 1, today) {
                    let start = if after { date + Duration::days(1) } else { date };
                    Some((Some(start_of_day(start)), None, idx, 1 + span))
                } else {
                    None
                }
            }
            "before" | "until" => date_at(tokens, idx + 1, today).map(|(date, span)| {
                let end = if word(0) == "until" { date + Duration::days(1) } else { date };
                (None, Some(start_of_day(end)), idx, 1 + span)
            }),
            "between" | "from" => between(tokens, idx + 1, today).map(|(start, end, span)| {
                (Some(start_of_day(start)), Some(start_of_day(end + Duration::days(1))), idx, 1 + span)
            }),
            "on" => date_at(tokens, idx + 1, today)
                .map(|(date, span)| {
                    (Some(start_of_day(date)), Some(start_of_day(date + Duration::days(1))), idx, 1 + span)
                })
                .or_else(|| {
                    weekday(&word(1)).map(|day| {
                        let date = last_weekday(today, day);
                        (Some(start_of_day(date)), Some(start_of_day(date + Duration::days(1))), idx, 2)
                    })
                }),
            _ => date_at(tokens, idx, today).map(|(date, span)| {
                (Some(start_of_day(date)), Some(start_of_day(date + Duration::days(1))), idx, span)
            }),
        };
        if let Some((since, until, from, count)) = found {
            // "in the last 3 hours": the filler before the expression goes too.
            let filler = ["in", "the", "during", "over", "within"];
            let mut start = from;
            while start > 0 && filler.contains(&tokens[start - 1].text.as_str()) {
                start -= 1;
            }
            mark(tokens, start, from - start + count);
            out.since = since;
            out.until = until;
            return;
        }
    }
}

/// `1 and 5 july`, `1 july and 5 july`, `july 1 and july 5`, `2026-07-01 and 2026-07-05`.
fn between(tokens: &[Token], idx: usize, today: NaiveDate) -> Option<(NaiveDate, NaiveDate, usize)> {
    let joiner = |text: &str| matches!(text, "and" | "to" | "-" | "until" | "through");
    if let Some((start, span)) = date_at(tokens, idx, today) {
        let next = tokens.get(idx + span)?;
        if joiner(&next.text) {
            let (end, end_span) = date_at(tokens, idx + span + 1, today)?;
            return (end >= start).then_some((start, end, span + 1 + end_span));
        }
        return None;
    }
    // "1 and 5 july": the month comes with the second day.
    let first = tokens.get(idx)?.text.parse::<u32>().ok()?;
    if !joiner(&tokens.get(idx + 1)?.text) {
        return None;
    }
    let (end, end_span) = date_at(tokens, idx + 2, today)?;
    let start = end.with_day(first)?;
    (end >= start).then_some((start, end, 2 + end_span))
}

fn take_outcome(tokens: &mut [Token], out: &mut Interpretation) {
    for token in tokens.iter_mut() {
        let outcome = match token.text.as_str() {
            "failed" | "failure" | "failures" | "failing" | "unsuccessful" | "errors" | "error" => {
                Some(Outcome::Failure)
            }
            "denied" | "unauthorized" | "unauthorised" | "forbidden" | "rejected" | "blocked" => Some(Outcome::Denied),
            "successful" | "succeeded" | "success" | "successfully" => Some(Outcome::Success),
            _ => None,
        };
        if let Some(outcome) = outcome {
            out.outcome = Some(outcome);
            token.used = true;
            return;
        }
    }
}

fn take_addresses(tokens: &mut [Token], out: &mut Interpretation) {
    for token in tokens.iter_mut() {
        let text = token.text.as_str();
        let is_ip = text.parse::<IpAddr>().is_ok();
        let is_cidr = text.split_once('/').is_some_and(|(address, bits)| {
            address.parse::<IpAddr>().is_ok() && bits.parse::<u8>().is_ok_and(|bits| bits <= 128)
        });
        let is_email = text.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
        if is_ip || is_cidr {
            out.ips.push(text.to_owned());
            token.used = true;
        } else if is_email {
            out.actors.push(text.to_owned());
            token.used = true;
        }
    }
}

/// The words of a vocabulary entry, with `camelCase` and separators split:
/// `iam.amazonaws.com:CreateAccessKey` gives `create access key` (the part after `:` or the last
/// `.` names the action), `arn:aws:iam::1:user/bert-jan` gives `bert-jan`.
fn entry_words(entry: &str) -> Vec<String> {
    let tail = entry.rsplit([':', '/']).next().unwrap_or(entry);
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in tail.chars() {
        if c == '.' || c == '_' || c == ' ' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Marks the vocabulary entries whose words appear in a row in the question (longest first).
fn take_vocabulary(tokens: &mut [Token], vocabulary: &[String], found: &mut Vec<String>, single_words: bool) {
    let mut entries: Vec<(&String, Vec<String>)> = vocabulary.iter().map(|entry| (entry, entry_words(entry))).collect();
    // A one-word entry that is also a stop word ("a", "me") would match ordinary prose.
    entries.retain(|(_, words)| match words.as_slice() {
        [] => false,
        [only] => !STOP_WORDS.contains(&only.as_str()),
        _ => true,
    });
    entries.sort_by_key(|(_, words)| std::cmp::Reverse(words.len()));
    for (entry, words) in entries {
        let joined = words.concat();
        // The identifier itself, as stored ("repo.delete", "aws::s3::bucket"), always names it.
        let full = entry.to_lowercase();
        if let Some(token) = tokens.iter_mut().find(|token| !token.used && token.text == full) {
            token.used = true;
            found.push(entry.clone());
            continue;
        }
        if words.len() == 1 && !single_words {
            continue;
        }
        let matches = |start: usize| {
            words.iter().enumerate().all(|(offset, word)| {
                tokens.get(start + offset).is_some_and(|token| {
                    !token.used && (token.text == *word || token.text.trim_end_matches('s') == word.as_str())
                })
            })
        };

        for start in 0..tokens.len() {
            if matches(start) {
                mark(tokens, start, words.len());
                found.push(entry.clone());
                break;
            }
            if tokens[start].text == joined && !tokens[start].used {
                tokens[start].used = true;
                found.push(entry.clone());
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wednesday 8 July 2026, 15:30 UTC.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 8, 15, 30, 0).single().unwrap_or_default()
    }

    fn time(text: &str) -> Option<DateTime<Utc>> {
        Some(DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc)).unwrap_or_default())
    }

    fn understand(question: &str) -> Interpretation {
        interpret(question, now(), &Vocabulary::default())
    }

    #[test]
    fn time_expressions() {
        type Case = (&'static str, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
        let cases: &[Case] = &[
            ("logins today", time("2026-07-08T00:00:00Z"), None),
            ("logins yesterday", time("2026-07-07T00:00:00Z"), time("2026-07-08T00:00:00Z")),
            ("deletes last week", time("2026-06-29T00:00:00Z"), time("2026-07-06T00:00:00Z")),
            ("deletes this week", time("2026-07-06T00:00:00Z"), None),
            ("exports last month", time("2026-06-01T00:00:00Z"), time("2026-07-01T00:00:00Z")),
            ("errors in the last 3 hours", time("2026-07-08T12:30:00Z"), None),
            ("errors in the past 2 days", time("2026-07-06T15:30:00Z"), None),
            ("errors in the last hour", time("2026-07-08T14:30:00Z"), None),
            ("logins since monday", time("2026-07-06T00:00:00Z"), None),
            ("logins since wednesday", time("2026-07-08T00:00:00Z"), None),
            ("between 1 and 5 july", time("2026-07-01T00:00:00Z"), time("2026-07-06T00:00:00Z")),
            ("between july 1 and july 5", time("2026-07-01T00:00:00Z"), time("2026-07-06T00:00:00Z")),
            ("from 2026-06-01 to 2026-06-03", time("2026-06-01T00:00:00Z"), time("2026-06-04T00:00:00Z")),
            ("on 2026-07-02", time("2026-07-02T00:00:00Z"), time("2026-07-03T00:00:00Z")),
            ("since 2026-07-02", time("2026-07-02T00:00:00Z"), None),
            ("before 3 july", None, time("2026-07-03T00:00:00Z")),
            ("on 25 december", time("2025-12-25T00:00:00Z"), time("2025-12-26T00:00:00Z")),
            ("10 july 2023 console logins", time("2023-07-10T00:00:00Z"), time("2023-07-11T00:00:00Z")),
        ];
        for (question, since, until) in cases {
            let interpretation = understand(question);
            assert_eq!((interpretation.since, interpretation.until), (*since, *until), "{question}");
        }
    }

    #[test]
    fn outcomes_addresses_and_remaining_text() {
        let interpretation = understand("Who had failed console logins from 203.0.113.7 or 10.0.0.0/8 last week?");
        assert_eq!(interpretation.outcome, Some(Outcome::Failure));
        assert_eq!(interpretation.ips, vec!["203.0.113.7", "10.0.0.0/8"]);
        assert_eq!(interpretation.text, "had console logins");
        assert_eq!(understand("access denied for alice@example.com").actors, vec!["alice@example.com"]);
        assert_eq!(understand("access denied").outcome, Some(Outcome::Denied));
        assert_eq!(understand("successful exports").outcome, Some(Outcome::Success));
    }

    #[test]
    fn names_come_from_the_tenants_vocabulary() {
        let vocabulary = Vocabulary {
            actors: vec!["arn:aws:iam::1:user/bert-jan".into(), "arn:aws:iam::1:user/benjamin".into()],
            actions: vec![
                "cloudtrail.amazonaws.com:StopLogging".into(),
                "iam.amazonaws.com:CreateAccessKey".into(),
                "repo.delete".into(),
            ],
            resource_types: vec!["AWS::S3::Bucket".into(), "repository".into()],
        };
        let interpretation =
            interpret("did bert-jan stop logging or create access keys on a bucket?", now(), &vocabulary);
        assert_eq!(interpretation.actors, vec!["arn:aws:iam::1:user/bert-jan"]);
        assert_eq!(
            interpretation.actions,
            vec!["iam.amazonaws.com:CreateAccessKey", "cloudtrail.amazonaws.com:StopLogging"]
        );
        assert!(interpretation.resource_types.is_empty(), "one ordinary word is not a filter: {interpretation:?}");
        assert_eq!(interpretation.text, "bucket");
        let exact = interpret("deletes of a repository", now(), &vocabulary);
        assert_eq!(exact.resource_types, vec!["repository"], "an entry that is exactly the word is named");
        let named = interpret("repo.delete by benjamin on aws::s3::bucket", now(), &vocabulary);
        assert_eq!(named.actions, vec!["repo.delete"]);
        assert_eq!(named.resource_types, vec!["AWS::S3::Bucket"]);
        assert_eq!(named.actors, vec!["arn:aws:iam::1:user/benjamin"]);
        let joined = interpret("any StopLogging calls", now(), &vocabulary);
        assert_eq!(joined.actions, vec!["cloudtrail.amazonaws.com:StopLogging"]);
        assert_eq!(joined.text, "calls");
    }
}
