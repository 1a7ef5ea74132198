//! The synthetic audit log of the search benchmark: deterministic (seeded) and realistic both in
//! shape and in how much it repeats.
//!
//! A [`World`] is built once from the seed: about 300 actors (people with names, email ids, an
//! office and a home address, a browser and a command-line tool; service roles with one or two
//! addresses and an SDK), the actions of [`crate::search_vocab`], pools of resource names, and for
//! every actor its usual actions and favourite resources. Event `n` of a log of `total` events is
//! a pure function of the world, `n` and `total`: a busy or quiet actor (heavy-tailed activity),
//! one of its usual actions, one of its favourite resources, an outcome (mostly success), one of
//! its addresses and agents, a few parameters, and a time spread evenly over the 30 days before
//! [`World::now`].
//!
//! People and services do the same few things to the same few resources from the same few places,
//! so the rendered texts repeat heavily, as in real audit logs: distinct texts grow far more slowly
//! than events ([`profile`] counts them).

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use veritrail_core::event::{NewEvent, Outcome, StoredEvent, TenantId, format_time, normalize_time};
use veritrail_core::hash::Hash;
use veritrail_core::render::render;
use veritrail_core::validate::{Limits, validate_event};

use crate::search_vocab::{self as vocab, ActionDef, Class, Params, Pool, group};
use crate::workload::splitmix64;

/// Days of activity before [`World::now`].
pub const SPAN_DAYS: i64 = 30;
/// The account every CloudTrail-style event belongs to.
const ACCOUNT_ID: &str = "123456789012";
/// People and service roles.
const PEOPLE: usize = 220;
/// Probability that a person works from the office (else from home, rarely while travelling).
const OFFICE_SHARE: f64 = 0.85;
const TRAVEL_SHARE: f64 = 0.003;
/// Resources of each type an actor usually works on: a person's few repositories, buckets...
const PERSON_WORKING_SET: usize = 3;
const SERVICE_WORKING_SET: usize = 2;

/// SplitMix64 stream: small, fast and good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(splitmix64(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % n.max(1) as u64).unwrap_or_default()
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// A uniformly chosen element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An element of a non-empty slice, the first ones far more often than the last (about half
    /// the draws take the first eighth): parameters that are usually the same.
    pub fn skewed<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let idx = (self.unit().powi(3) * items.len() as f64) as usize;
        &items[idx.min(items.len().saturating_sub(1))]
    }

    /// A random version-4-shaped UUID (request and event ids: unique per event, never rendered).
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Sampling by weight (cumulative table, binary search).
#[derive(Debug, Clone)]
pub struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .into_iter()
            .map(|weight| {
                total += weight.max(0.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// Rank `r` (from 1) weighs `1 / r^exponent`: a few favourites and a long tail.
    pub fn zipf(n: usize, exponent: f64) -> Self {
        Self::new((1..=n.max(1)).map(|rank| 1.0 / (rank as f64).powf(exponent)))
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.unit() * total;
        self.cumulative.partition_point(|&sum| sum <= target).min(self.cumulative.len().saturating_sub(1))
    }
}

/// One actor and its habits.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub kind: &'static str,
    pub name: Option<String>,
    /// How a question names the actor: "alice smith" or "ci-deploy-prod".
    pub handle: String,
    pub person: bool,
    /// Usual addresses: a person's office and home, a service's one or two egress addresses.
    pub ips: Vec<String>,
    /// For people: (browser, command-line tool); for services their SDK twice.
    pub agents: (&'static str, &'static str),
    habits: Habits,
    /// Rotates the resource pools, so each actor has favourite resources of its own.
    resource_offset: usize,
    failure_rate: f64,
    denied_rate: f64,
}

/// The actions an actor usually performs: indexes into [`World::actions`], favourites first, and
/// how often each is used.
#[derive(Debug, Clone)]
struct Habits {
    actions: Vec<usize>,
    pick: Weighted,
}

impl Habits {
    /// A weighted draw without replacement among the actions of `groups` (so reads dominate),
    /// then used with a preference for the first ones drawn.
    fn draw(rng: &mut Rng, actions: &[Action], groups: u16, count: std::ops::Range<usize>) -> Self {
        let mut eligible: Vec<usize> =
            (0..actions.len()).filter(|&idx| actions[idx].def.groups & groups != 0).collect();
        let wanted = (count.start + rng.below(count.len())).min(eligible.len());
        let mut chosen = Vec::with_capacity(wanted);
        while chosen.len() < wanted {
            let pick = Weighted::new(eligible.iter().map(|&idx| actions[idx].def.class.weight()));
            chosen.push(eligible.swap_remove(pick.sample(rng)));
        }
        let weights: Vec<f64> = chosen
            .iter()
            .enumerate()
            .map(|(rank, &idx)| actions[idx].def.class.weight() / ((rank + 1) as f64).powf(0.7))
            .collect();
        Self { actions: chosen, pick: Weighted::new(weights) }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        self.actions[self.pick.sample(rng)]
    }
}

/// One action with its resulting `action` string.
#[derive(Debug, Clone)]
pub struct Action {
    pub action: String,
    pub def: ActionDef,
}

/// Everything events are drawn from.
#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    pub actors: Vec<Actor>,
    actor_pick: Weighted,
    pub actions: Vec<Action>,
    /// Resource names per [`Pool`].
    pools: Vec<Vec<String>>,
    /// Which of its working set an actor picks: (people, services).
    working_set: (Weighted, Weighted),
    /// Addresses of people away from home and office.
    pub travel_ips: Vec<String>,
    /// The end of the log's time span: questions say "yesterday" relative to it.
    pub now: DateTime<Utc>,
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// An EC2-style id: `i-0` and 16 hex digits.
fn hex_id(rng: &mut Rng, prefix: &str) -> String {
    format!("{prefix}-0{:016x}", rng.next_u64())
}

/// `count` distinct addresses `a.b.c.d` with `a` from `first_octets`.
fn addresses(rng: &mut Rng, first_octets: &[u8], count: usize) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let ip = format!("{}.{}.{}.{}", rng.pick(first_octets), rng.below(256), rng.below(256), 1 + rng.below(254));
        if seen.insert(ip.clone()) {
            out.push(ip);
        }
    }
    out
}

impl World {
    /// The world of `seed`; `now` is the end of the 30-day span the events cover.
    pub fn new(seed: u64, now: DateTime<Utc>) -> Self {
        let mut rng = Rng::new(seed ^ 0x5EA2_C4ED);
        let people = Self::people_names(&mut rng);
        let pools = Self::pools(&mut rng, &people);
        let actions: Vec<Action> = vocab::ACTIONS
            .iter()
            .map(|def| Action {
                action: match def.source {
                    Some(source) => format!("{source}:{}", def.name),
                    None => def.name.to_owned(),
                },
                def: *def,
            })
            .collect();
        let travel_ips = addresses(&mut rng, &[31, 45, 62, 95, 102, 185, 197, 201], 12);
        let actors = Self::actors(&mut rng, &actions, &people);
        // Heavy-tailed activity in a random order of actors; services call APIs far more often
        // than people click.
        let mut order: Vec<usize> = (0..actors.len()).collect();
        for idx in (1..order.len()).rev() {
            order.swap(idx, rng.below(idx + 1));
        }
        let mut weights = vec![0.0; actors.len()];
        for (rank, &actor) in order.iter().enumerate() {
            let boost = if actors[actor].person { 1.0 } else { 3.0 };
            weights[actor] = boost / ((rank + 1) as f64).powf(0.8);
        }
        let working_set = (Weighted::zipf(PERSON_WORKING_SET, 1.2), Weighted::zipf(SERVICE_WORKING_SET, 1.2));
        Self { seed, actors, actor_pick: Weighted::new(weights), actions, pools, working_set, travel_ips, now }
    }

    fn pools(rng: &mut Rng, people: &[(&'static str, &'static str)]) -> Vec<Vec<String>> {
        let services: Vec<String> = vocab::SERVICES.iter().map(|s| (*s).to_owned()).collect();
        let per_env = |make: &dyn Fn(&str, &str) -> String| -> Vec<String> {
            vocab::SERVICES.iter().flat_map(|s| vocab::ENVIRONMENTS.iter().map(move |e| make(s, e))).collect()
        };
        Pool::ALL
            .iter()
            .map(|pool| match pool {
                Pool::Bucket => vocab::BUCKET_PURPOSES
                    .iter()
                    .flat_map(|p| vocab::ENVIRONMENTS.iter().map(move |e| format!("acme-{p}-{e}")))
                    .collect(),
                Pool::IamUser | Pool::Member => people.iter().map(|(first, last)| format!("{first}.{last}")).collect(),
                Pool::IamRole => Self::service_role_names()
                    .into_iter()
                    .chain(vocab::HUMAN_ROLES.iter().map(|r| (*r).to_owned()))
                    .collect(),
                Pool::Policy => vocab::POLICIES.iter().map(|p| (*p).to_owned()).collect(),
                Pool::Instance => (0..150).map(|_| hex_id(rng, "i")).collect(),
                Pool::SecurityGroup => (0..30).map(|_| hex_id(rng, "sg")).collect(),
                Pool::Snapshot => (0..40).map(|_| hex_id(rng, "snap")).collect(),
                Pool::KeyPair => (0..15).map(|idx| format!("{}-key", people[idx * 7 % people.len()].0)).collect(),
                Pool::Trail => ["org-trail", "management-events", "data-events"].map(str::to_owned).to_vec(),
                Pool::KmsKey => per_env(&|s, e| format!("alias/{s}-{e}")).into_iter().take(20).collect(),
                Pool::Secret => ["db-password", "api-key"]
                    .iter()
                    .flat_map(|kind| per_env(&move |s, e| format!("{e}/{s}/{kind}")))
                    .collect(),
                Pool::Function => ["handler", "cron", "webhook"]
                    .iter()
                    .flat_map(|task| services.iter().map(move |s| format!("{s}-{task}")))
                    .take(40)
                    .collect(),
                Pool::Database => services.iter().take(15).map(|s| format!("{s}-db")).collect(),
                Pool::LogGroup => per_env(&|s, e| format!("/ecs/{s}-{e}")),
                Pool::Detector => vocab::REGIONS.iter().map(|r| format!("guardduty-{r}")).collect(),
                Pool::ConfigRule => [
                    "s3-bucket-public-read-prohibited",
                    "iam-user-mfa-enabled",
                    "root-account-mfa-enabled",
                    "encrypted-volumes",
                    "restricted-ssh",
                    "cloudtrail-enabled",
                    "rds-storage-encrypted",
                    "access-keys-rotated",
                ]
                .map(str::to_owned)
                .to_vec(),
                Pool::Account => ["sandbox", "shared-services", "log-archive", "audit", "prod", "staging"]
                    .map(|a| format!("acme-{a}"))
                    .to_vec(),
                Pool::Parameter => per_env(&|s, e| format!("/{e}/{s}/config")),
                Pool::Cluster => ["prod-eu", "prod-us", "staging", "tools"].map(str::to_owned).to_vec(),
                Pool::Zone => {
                    ["acme.example", "acme-internal.example", "status.acme.example"].map(str::to_owned).to_vec()
                }
                Pool::Repo => vocab::REPO_PREFIXES
                    .iter()
                    .flat_map(|p| vocab::REPO_SUFFIXES.iter().map(move |s| format!("{p}-{s}")))
                    .collect(),
                Pool::Org => vec!["acme".to_owned()],
                Pool::Team => vocab::TEAMS.iter().map(|t| (*t).to_owned()).collect(),
                Pool::Token => (0..50)
                    .map(|idx| match idx % 3 {
                        0 => format!("{}-cli", people[idx].0),
                        1 => format!("ci-{}", services[idx % services.len()]),
                        _ => format!("{}-automation", vocab::TEAMS[idx % vocab::TEAMS.len()]),
                    })
                    .collect(),
                Pool::Pipeline => vocab::REPO_PREFIXES
                    .iter()
                    .flat_map(|p| ["build", "deploy", "test"].iter().map(move |s| format!("{p}-{s}")))
                    .collect(),
                Pool::Service => services.clone(),
                Pool::Webhook => (0..20)
                    .map(|idx| format!("{}-{}", ["slack", "jira", "pagerduty", "ci"][idx % 4], vocab::TEAMS[idx]))
                    .collect(),
            })
            .collect()
    }

    /// 220 distinct (first, last) name pairs.
    fn people_names(rng: &mut Rng) -> Vec<(&'static str, &'static str)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(PEOPLE);
        while out.len() < PEOPLE {
            let pair = (*rng.pick(vocab::FIRST_NAMES), *rng.pick(vocab::LAST_NAMES));
            if seen.insert(pair) {
                out.push(pair);
            }
        }
        out
    }

    /// Service role names with the groups their roles belong to.
    fn service_roles() -> Vec<(String, u16)> {
        let mut roles = Vec::new();
        for service in vocab::SERVICES {
            for env in vocab::ENVIRONMENTS {
                roles.push((format!("{service}-{env}"), group::APP));
            }
        }
        for service in vocab::SERVICES {
            roles.push((format!("ci-build-{service}"), group::CI));
        }
        roles.extend(vocab::CI_ROLES.iter().map(|role| ((*role).to_owned(), group::CI)));
        roles.extend(vocab::BACKUP_ROLES.iter().map(|role| ((*role).to_owned(), group::BACKUP)));
        roles.extend(vocab::MONITOR_ROLES.iter().map(|role| ((*role).to_owned(), group::MONITOR)));
        roles.extend(vocab::TERRAFORM_WORKSPACES.iter().map(|ws| (format!("terraform-{ws}"), group::IAC)));
        roles
    }

    fn service_role_names() -> Vec<String> {
        Self::service_roles().into_iter().map(|(name, _)| name).collect()
    }

    fn actors(rng: &mut Rng, actions: &[Action], people: &[(&'static str, &'static str)]) -> Vec<Actor> {
        let office: Vec<String> = (10..20).map(|host| format!("203.0.113.{host}")).collect();
        let homes = addresses(rng, vocab::HOME_NETWORKS, PEOPLE);
        let egress = addresses(rng, &[3, 18, 34, 52, 54], 40);
        let internal: Vec<String> = (0..20).map(|idx| format!("10.0.{}.{}", idx / 4, 10 + idx)).collect();
        let mut actors = Vec::new();
        for (idx, (first, last)) in people.iter().enumerate() {
            let groups = match rng.below(100) {
                0..50 => group::DEV,
                50..70 => group::OPS,
                70..82 => group::DATA,
                82..92 => group::SEC,
                _ => group::ADMIN,
            };
            let noisy = rng.chance(0.03);
            actors.push(Actor {
                id: format!("{first}.{last}@acme.example"),
                kind: "user",
                name: Some(format!("{} {}", capitalised(first), capitalised(last))),
                handle: format!("{first} {last}"),
                person: true,
                ips: vec![rng.pick(&office).clone(), homes[idx].clone()],
                agents: (*rng.pick(vocab::BROWSERS), *rng.pick(vocab::PERSON_TOOLS)),
                resource_offset: rng.below(1_000),
                failure_rate: 0.01,
                denied_rate: if noisy { 0.15 } else { 0.005 },
                habits: Habits::draw(rng, actions, groups, 5..10),
            });
        }
        for (name, groups) in Self::service_roles() {
            let agent = match groups {
                group::IAC => vocab::TERRAFORM_AGENT,
                group::CI => vocab::CI_AGENT,
                _ => *rng.pick(vocab::SERVICE_AGENTS),
            };
            let mut ips = vec![rng.pick(&egress).clone()];
            if rng.chance(0.5) {
                ips.push(rng.pick(&internal).clone());
            }
            let noisy = rng.chance(0.05);
            actors.push(Actor {
                id: format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}"),
                kind: "service",
                name: None,
                handle: name,
                person: false,
                ips,
                agents: (agent, agent),
                resource_offset: rng.below(1_000),
                failure_rate: 0.005,
                denied_rate: if noisy { 0.2 } else { 0.002 },
                habits: Habits::draw(rng, actions, groups, 3..6),
            });
        }
        actors
    }

    pub fn people(&self) -> impl Iterator<Item = &Actor> {
        self.actors.iter().filter(|actor| actor.person)
    }

    pub fn services(&self) -> impl Iterator<Item = &Actor> {
        self.actors.iter().filter(|actor| !actor.person)
    }

    /// Start of the time span.
    pub fn start(&self) -> DateTime<Utc> {
        self.now - Duration::days(SPAN_DAYS)
    }

    /// Event `n` of a log of `total` events, as a client would send it (no id).
    pub fn event_json(&self, n: u64, total: u64) -> Value {
        let mut rng = Rng::new(self.seed.rotate_left(17) ^ splitmix64(n));
        let actor = &self.actors[self.actor_pick.sample(&mut rng)];
        let action = &self.actions[actor.habits.sample(&mut rng)];
        let def = &action.def;
        let resource = def.pool.map(|pool| {
            let names = &self.pools[pool as usize];
            let working_set = if actor.person { &self.working_set.0 } else { &self.working_set.1 };
            let idx = (working_set.sample(&mut rng) + actor.resource_offset) % names.len();
            (pool, names[idx].as_str())
        });

        let login = matches!(def.params, Params::ConsoleLogin | Params::Login);
        let denied = actor.denied_rate * if def.class == Class::Sensitive { 3.0 } else { 1.0 };
        let failed = actor.failure_rate * if login { 4.0 } else { 1.0 };
        let roll = rng.unit();
        let outcome = if roll < denied {
            Outcome::Denied
        } else if roll < denied + failed {
            Outcome::Failure
        } else {
            Outcome::Success
        };

        let ip = if actor.person {
            let roll = rng.unit();
            if roll < TRAVEL_SHARE {
                rng.skewed(&self.travel_ips).clone()
            } else if roll < TRAVEL_SHARE + OFFICE_SHARE {
                actor.ips[0].clone()
            } else {
                actor.ips[1].clone()
            }
        } else if actor.ips.len() > 1 && rng.chance(0.2) {
            actor.ips[1].clone()
        } else {
            actor.ips[0].clone()
        };
        // People sign in to the console and use the web application in a browser, and call the
        // cloud APIs from a tool.
        let browser = def.source.is_none_or(|source| source.starts_with("signin."));
        let agent = if browser { actor.agents.0 } else { actor.agents.1 };

        let details = match def.source {
            Some(source) => self.cloudtrail_details(&mut rng, source, def, resource.map(|(_, name)| name), outcome),
            None => Self::app_details(&mut rng, def, login, outcome),
        };
        let severity = match (outcome, def.class) {
            (Outcome::Denied, Class::Read | Class::Common | Class::Change) => "medium",
            _ => def.class.severity(),
        };
        let tags = match def.source {
            Some(source) => json!(["aws", vocab::service_of(source)]),
            None => json!(["app"]),
        };

        let span = Duration::days(SPAN_DAYS) - Duration::hours(1);
        let slot = span.num_microseconds().unwrap_or(i64::MAX) / i64::try_from(total.max(1)).unwrap_or(i64::MAX);
        let offset = slot.saturating_mul(i64::try_from(n).unwrap_or(i64::MAX))
            + i64::try_from(rng.below(usize::try_from(slot.max(1)).unwrap_or(1))).unwrap_or(0);
        let occurred_at = normalize_time(self.start() + Duration::microseconds(offset));

        let mut event = json!({
            "occurred_at": format_time(&occurred_at),
            "actor": {"id": actor.id, "type": actor.kind, "ip": ip, "user_agent": agent},
            "action": action.action,
            "outcome": outcome.as_str(),
            "severity": severity,
            "details": details,
            "tags": tags,
        });
        if let Some(name) = &actor.name {
            event["actor"]["name"] = json!(name);
        }
        if let Some((pool, name)) = resource {
            let id = match def.source {
                Some(source) => {
                    format!("arn:aws:{}:us-east-1:{ACCOUNT_ID}:{}/{name}", vocab::service_of(source), pool.kind())
                }
                None => format!("acme/{}/{name}", pool.kind()),
            };
            event["resource"] = json!({"type": pool.kind(), "id": id, "name": name});
        }
        event
    }

    /// CloudTrail-shaped `details`: the envelope fields, request parameters, error code.
    fn cloudtrail_details(
        &self,
        rng: &mut Rng,
        source: &str,
        def: &ActionDef,
        resource: Option<&str>,
        outcome: Outcome,
    ) -> Value {
        let read_only = ["Get", "List", "Describe", "Lookup", "Filter", "Decrypt", "GenerateDataKey", "BatchGet"]
            .iter()
            .any(|prefix| def.name.starts_with(prefix));
        let region = if rng.chance(0.7) { vocab::REGIONS[0] } else { *rng.skewed(vocab::REGIONS) };
        let name = resource.unwrap_or_default();
        let parameters = match def.params {
            Params::None | Params::ConsoleLogin => Value::Null,
            Params::Name(key) => json!({ key: name }),
            Params::Object => json!({"bucketName": name, "key": rng.skewed(vocab::OBJECT_KEYS)}),
            Params::Launch => json!({"instanceType": rng.skewed(vocab::INSTANCE_TYPES), "minCount": 1, "maxCount": 1}),
            Params::Ingress => json!({
                "groupId": name,
                "ipPermissions": {"ipProtocol": "tcp", "fromPort": rng.skewed(vocab::PORTS), "cidrIp": rng.skewed(vocab::CIDRS)},
            }),
            Params::Acl => {
                json!({"bucketName": name, "x-amz-acl": rng.skewed(&["private", "public-read", "authenticated-read"])})
            }
            Params::KeyDeletion => json!({"keyId": name, "pendingWindowInDays": rng.skewed(&[7, 30])}),
            Params::AttachPolicy(key) => json!({
                key: name,
                "policyArn": format!("arn:aws:iam::aws:policy/{}", rng.skewed(vocab::POLICIES)),
            }),
            Params::AssumeRole => json!({
                "roleArn": format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}"),
                "durationSeconds": 3600,
            }),
            Params::Retention => json!({"logGroupName": name, "retentionInDays": rng.skewed(&[7, 30, 365])}),
            Params::Decryption => json!({"name": name, "withDecryption": rng.chance(0.7)}),
            _ => json!({ "name": name }),
        };
        let console = def.params == Params::ConsoleLogin;
        let mut details = json!({
            "eventVersion": "1.09",
            "eventSource": source,
            "eventName": def.name,
            "awsRegion": region,
            "eventType": if console { "AwsConsoleSignIn" } else { "AwsApiCall" },
            "eventID": rng.uuid(),
            "requestID": rng.uuid(),
            "readOnly": read_only,
            "recipientAccountId": ACCOUNT_ID,
            "requestParameters": parameters,
        });
        if console {
            let mfa = if rng.chance(0.85) { "Yes" } else { "No" };
            details["additionalEventData"] = json!({"MFAUsed": mfa, "MobileVersion": "No"});
            let result = if outcome == Outcome::Success { "Success" } else { "Failure" };
            details["responseElements"] = json!({"ConsoleLogin": result});
            if outcome != Outcome::Success {
                details["errorMessage"] = json!("Failed authentication");
            }
        } else {
            match outcome {
                Outcome::Denied => details["errorCode"] = json!(vocab::aws_denial(source)),
                Outcome::Failure => details["errorCode"] = json!(rng.skewed(vocab::aws_failures(source))),
                _ => {}
            }
        }
        details
    }

    /// Application `details`: a request id and a few parameters.
    fn app_details(rng: &mut Rng, def: &ActionDef, login: bool, outcome: Outcome) -> Value {
        let mut details = Map::new();
        details.insert("request_id".to_owned(), json!(rng.uuid()));
        let mut put = |key: &str, value: Value| {
            details.insert(key.to_owned(), value);
        };
        match def.params {
            Params::Login => {
                let method = match rng.below(100) {
                    0..60 => "sso",
                    60..85 => "password",
                    _ => "passkey",
                };
                put("method", json!(method));
                put("mfa", json!(rng.chance(0.85)));
            }
            Params::Push => {
                put("branch", json!(rng.skewed(vocab::BRANCHES)));
                put("forced", json!(rng.chance(0.03)));
            }
            Params::Branch => put("branch", json!(rng.skewed(vocab::BRANCHES))),
            Params::Visibility => put("visibility", json!(rng.skewed(&["private", "internal", "public"]))),
            Params::TokenScopes => {
                put("scopes", json!(rng.skewed(vocab::TOKEN_SCOPES)));
                put("expires_in_days", json!(rng.skewed(&[30, 90, 365])));
            }
            Params::Trigger => put("trigger", json!(rng.skewed(&["push", "schedule", "manual"]))),
            Params::Role => put("role", json!(rng.skewed(vocab::ORG_ROLES))),
            Params::Environment => put("environment", json!(rng.skewed(vocab::DEPLOY_ENVIRONMENTS))),
            _ => {}
        }
        let code = match outcome {
            Outcome::Failure if login => Some(*rng.skewed(vocab::LOGIN_FAILURES)),
            Outcome::Failure => Some(*rng.skewed(vocab::APP_FAILURES)),
            Outcome::Denied => Some(*rng.skewed(vocab::APP_DENIALS)),
            _ => None,
        };
        if let Some(code) = code {
            details.insert("error_code".to_owned(), json!(code));
        }
        Value::Object(details)
    }

    /// Event `n` as the log receives it: validated like the server validates a request, with a
    /// server-style UUIDv7 id.
    pub fn new_event(&self, n: u64, total: u64) -> anyhow::Result<NewEvent> {
        let value = self.event_json(n, total);
        validate_event(&value, &Limits::default(), || uuid::Uuid::now_v7().to_string())
            .map_err(|err| anyhow::anyhow!("synthetic event {n} is invalid: {}", err.message))
    }
}

/// The text search indexes for `event` (as the indexer renders a stored event).
pub fn rendered(tenant: &TenantId, seq: u64, event: NewEvent, received_at: DateTime<Utc>) -> String {
    render(&StoredEvent::from_new(tenant.clone(), seq, event, received_at, Hash::GENESIS))
}

/// How much a generated log repeats.
#[derive(Debug, Clone, Serialize)]
pub struct DataProfile {
    pub events: u64,
    /// Distinct rendered texts: what the back-fill embeds.
    pub distinct_texts: u64,
    /// Distinct texts among the first tenth of the events: growth is sublinear.
    pub distinct_texts_first_tenth: u64,
    pub mean_text_chars: f64,
    /// Share of events whose text is one of the 100 most frequent.
    pub top_100_share: f64,
    /// Events per outcome (success, failure, denied).
    pub outcomes: [u64; 3],
    pub actors_seen: usize,
    pub actions_seen: usize,
    pub ips_seen: usize,
    /// Distinct texts in order of first use, every `step`-th one, for the raw model measurement.
    #[serde(skip)]
    pub sample: Vec<String>,
}

/// Generates and renders all `total` events of the log and measures how much the texts repeat;
/// keeps `sample_size` distinct texts spread evenly over the log.
pub fn profile(world: &World, total: u64, sample_size: usize) -> anyhow::Result<DataProfile> {
    let tenant = TenantId::parse(crate::workload::TENANT).map_err(anyhow::Error::msg)?;
    let received_at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default();
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let (mut actors, mut actions, mut ips) =
        (std::collections::HashSet::new(), std::collections::HashSet::new(), std::collections::HashSet::new());
    let mut outcomes = [0u64; 3];
    let mut first_tenth = 0;
    for n in 0..total {
        let event = world.new_event(n, total)?;
        actors.insert(event.actor.id.clone());
        actions.insert(event.action.clone());
        if let Some(ip) = &event.actor.ip {
            ips.insert(ip.clone());
        }
        match event.outcome {
            Outcome::Success => outcomes[0] += 1,
            Outcome::Failure => outcomes[1] += 1,
            _ => outcomes[2] += 1,
        }
        let text = rendered(&tenant, n, event, received_at);
        match counts.get_mut(&text) {
            Some(count) => *count += 1,
            None => {
                counts.insert(text.clone(), 1);
                order.push(text);
            }
        }
        if n + 1 == total / 10 {
            first_tenth = order.len() as u64;
        }
    }
    let mut frequencies: Vec<u64> = counts.values().copied().collect();
    frequencies.sort_unstable_by(|a, b| b.cmp(a));
    let top: u64 = frequencies.iter().take(100).sum();
    let chars: usize = order.iter().map(|text| text.chars().count()).sum();
    let step = (order.len() / sample_size.max(1)).max(1);
    let sample: Vec<String> = order.iter().step_by(step).take(sample_size).cloned().collect();
    Ok(DataProfile {
        events: total,
        distinct_texts: order.len() as u64,
        distinct_texts_first_tenth: first_tenth,
        mean_text_chars: chars as f64 / order.len().max(1) as f64,
        top_100_share: top as f64 / total.max(1) as f64,
        outcomes,
        actors_seen: actors.len(),
        actions_seen: actions.len(),
        ips_seen: ips.len(),
        sample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).single().expect("valid time")
    }

    #[test]
    fn the_same_seed_gives_the_same_log() {
        let (one, two) = (World::new(7, now()), World::new(7, now()));
        for n in [0, 1, 17, 999, 123_456] {
            let (a, b) = (one.event_json(n, 200_000), two.event_json(n, 200_000));
            assert_eq!(a, b, "event {n}");
        }
        let other = World::new(8, now());
        let differs = (0..20).any(|n| other.event_json(n, 100) != one.event_json(n, 100));
        assert!(differs, "another seed gives another log");
    }

    #[test]
    fn events_are_valid_ordered_in_time_and_repetitive() {
        let world = World::new(1, now());
        let total = 4_000;
        let mut previous = world.start();
        for n in 0..200 {
            let event = world.new_event(n * 20, total).expect("valid event");
            let at = event.occurred_at.expect("occurred_at");
            assert!(at >= previous && at < world.now, "event {n} at {at}");
            previous = at;
        }
        let profile = profile(&world, total, 16).expect("profile");
        assert!(profile.distinct_texts < total / 2, "{} distinct texts of {total}", profile.distinct_texts);
        assert!(profile.distinct_texts > 100, "{} distinct texts", profile.distinct_texts);
        assert_eq!(profile.sample.len(), 16);
        assert!(profile.outcomes[0] > total * 8 / 10, "mostly successes: {:?}", profile.outcomes);
    }
}
