//! The questions the search benchmark asks: built from templates over the generated world's
//! vocabulary (people, service roles, addresses, days of the span), deterministic for a seed.
//!
//! Four kinds, in equal shares: pure meaning ("who deleted repositories"), an actor and a time
//! ("failed logins by alice smith yesterday"), an address or CIDR range ("console logins from
//! 203.0.113.0/24"), and a time range ("bucket policy changes between 3 and 6 november"). Query
//! understanding turns the names, addresses and times into filters; whatever words are left are
//! searched by full text and by meaning.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::search_data::{Rng, SPAN_DAYS, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    Semantic,
    ActorAndTime,
    Address,
    TimeRange,
}

impl QuestionKind {
    pub const ALL: [QuestionKind; 4] = [Self::Semantic, Self::ActorAndTime, Self::Address, Self::TimeRange];

    pub fn label(self) -> &'static str {
        match self {
            Self::Semantic => "meaning only",
            Self::ActorAndTime => "actor + time",
            Self::Address => "IP / CIDR",
            Self::TimeRange => "time range",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Question {
    pub kind: QuestionKind,
    pub text: String,
}

const SEMANTIC: &[&str] = &[
    "who deleted repositories",
    "stop cloudtrail logging",
    "who read production secrets",
    "access keys created for iam users",
    "security group opened to the internet",
    "ssh port opened in a security group",
    "bucket made public",
    "someone disabled mfa",
    "kms key scheduled for deletion",
    "branch protection removed",
    "api tokens created with admin scope",
    "database snapshot shared with another account",
    "force push to main",
    "audit log export",
    "new iam user with a console password",
    "large gpu instances launched",
    "guardduty detector deleted",
    "roles assumed by the ci pipeline",
    "who changed the bucket policy",
    "lambda function code updated",
    "secret rotated",
    "member removed from the organization",
    "repository made public",
    "password reset",
    "single sign-on disabled for the organization",
    "dns records changed",
    "session manager started on an instance",
    "log retention changed",
    "webhook created",
    "production deployment rolled back",
    "pipeline variables updated",
    "administrator policy attached to a user",
    "trail deleted",
    "config recorder stopped",
    "encryption keys disabled",
    "windows password data retrieved",
    "account left the organization",
    "database instance deleted",
    "container images pushed",
    "console sign-in without mfa",
];

const ACTOR_AND_TIME: &[&str] = &[
    "failed logins by {person} yesterday",
    "what did {service} do today",
    "repositories deleted by {email} last week",
    "secrets accessed by {service} in the last 3 days",
    "denied calls by {person} this week",
    "console logins by {person} since monday",
    "iam changes by {person} last month",
    "instances terminated by {service} yesterday",
    "what did {person} change on {day}",
    "errors for {service} in the last 24 hours",
];

const ADDRESS: &[&str] = &[
    "console logins from {ip}",
    "activity from {cidr24}",
    "denied requests from {cidr16} in the last 7 days",
    "who logged in from {ip} this week",
    "api calls from {ip} yesterday",
    "secrets read from {cidr24}",
    "failed logins from {ip}",
    "bucket changes from {cidr16}",
];

const TIME_RANGE: &[&str] = &[
    "bucket policy changes between {day} and {day2}",
    "instances terminated on {day}",
    "kms key deletions in the last 7 days",
    "repository deletions since {day}",
    "tokens created last week",
    "failed deployments on {weekday}",
    "iam changes after {day}",
    "security group changes today",
    "denied requests yesterday",
    "secrets created between {day} and {day2}",
];

/// `count` questions, a quarter of each kind, deterministic for `seed`.
pub fn questions(world: &World, count: usize, seed: u64) -> Vec<Question> {
    let mut rng = Rng::new(seed ^ 0x0051_E571_0175);
    let people: Vec<_> = world.people().collect();
    let services: Vec<_> = world.services().collect();
    let mut addresses: Vec<&String> = world.actors.iter().flat_map(|actor| actor.ips.iter()).collect();
    addresses.extend(world.travel_ips.iter());
    (0..count)
        .map(|idx| {
            let kind = QuestionKind::ALL[idx % QuestionKind::ALL.len()];
            let template = match kind {
                QuestionKind::Semantic => rng.pick(SEMANTIC),
                QuestionKind::ActorAndTime => rng.pick(ACTOR_AND_TIME),
                QuestionKind::Address => rng.pick(ADDRESS),
                QuestionKind::TimeRange => rng.pick(TIME_RANGE),
            };
            let person = rng.pick(&people);
            let ip = rng.pick(&addresses).as_str();
            let octets: Vec<&str> = ip.split('.').collect();
            let first = world.now - Duration::days(1 + rng.below(usize::try_from(SPAN_DAYS - 2).unwrap_or(1)) as i64);
            let second = (first + Duration::days(1 + rng.below(5) as i64)).min(world.now - Duration::days(1));
            let text = template
                .replace("{person}", &person.handle)
                .replace("{email}", &person.id)
                .replace("{service}", &rng.pick(&services).handle)
                .replace("{ip}", ip)
                .replace("{cidr24}", &format!("{}.{}.{}.0/24", octets[0], octets[1], octets[2]))
                .replace("{cidr16}", &format!("{}.{}.0.0/16", octets[0], octets[1]))
                .replace("{day2}", &day(second))
                .replace("{day}", &day(first))
                .replace("{weekday}", &first.format("%A").to_string().to_lowercase());
            Question { kind, text }
        })
        .collect()
}

/// "12 november".
fn day(time: DateTime<Utc>) -> String {
    time.format("%-d %B").to_string().to_lowercase()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn questions_are_deterministic_and_filled_in() {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).single().expect("valid time");
        let world = World::new(3, now);
        let one = questions(&world, 40, 9);
        let two = questions(&world, 40, 9);
        assert_eq!(one.iter().map(|q| &q.text).collect::<Vec<_>>(), two.iter().map(|q| &q.text).collect::<Vec<_>>());
        assert_eq!(one.iter().filter(|q| q.kind == QuestionKind::Address).count(), 10);
        assert!(one.iter().all(|q| !q.text.contains('{')), "placeholders left: {one:?}");
    }
}
