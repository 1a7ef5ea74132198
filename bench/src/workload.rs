//! The events the benchmark sends: realistic audit events (~450 bytes of JSON), generated
//! deterministically from a few thousand templates so that building a request costs a memcpy,
//! not a serialisation, and the raw-INSERT baseline writes rows of exactly the same shape.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// Tenant of the bootstrap key: every event of the benchmark goes to it.
pub const TENANT: &str = "default";

/// One event shape; events differ from their template only by id (and seq in the baseline).
pub struct EventTemplate {
    pub occurred_at: DateTime<Utc>,
    pub actor_id: String,
    pub actor_type: &'static str,
    pub actor_ip: String,
    pub actor_user_agent: &'static str,
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: String,
    pub resource_name: String,
    pub outcome: &'static str,
    pub severity: &'static str,
    /// `details` as JSON text (keys sorted), as the server stores it.
    pub details_text: String,
    /// `tags` as a JSON array, as the server stores it.
    pub tags_text: String,
    /// The event as JSON without its opening brace and without `id`: `"action":...}`.
    json_rest: String,
}

/// The templates plus whether requests carry client-chosen ids.
pub struct Workload {
    templates: Vec<EventTemplate>,
    client_ids: bool,
}

/// SplitMix64: a tiny, good-enough deterministic generator (no crate, no hashing cost).
pub fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let idx = usize::try_from(self.below(items.len() as u64)).unwrap_or_default();
        items[idx]
    }
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Version/17.5 Safari/605.1.15",
    "git/2.45.2",
    "acme-cli/3.8.1 (linux; amd64)",
    "terraform-provider-acme/1.12.0",
];

/// (action, resource type, HTTP method)
const ACTIONS: &[(&str, &str, &str)] = &[
    ("repo.read", "repository", "GET"),
    ("repo.read", "repository", "GET"),
    ("repo.read", "repository", "GET"),
    ("repo.clone", "repository", "GET"),
    ("repo.push", "repository", "POST"),
    ("repo.delete", "repository", "DELETE"),
    ("file.download", "file", "GET"),
    ("user.login", "session", "POST"),
    ("user.logout", "session", "POST"),
    ("token.create", "api_token", "POST"),
    ("settings.update", "organization", "PATCH"),
    ("member.invite", "organization", "POST"),
];

const REGIONS: &[&str] = &["eu-west-1", "us-east-1", "ap-south-1"];

impl EventTemplate {
    fn generate(index: u64, base_time: DateTime<Utc>) -> Self {
        let mut rng = Rng(index.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5eed);
        let (actor_type, actor_id) = if rng.below(10) == 0 {
            ("service", format!("svc-deploy-{}", rng.below(40)))
        } else {
            ("user", format!("user-{:04}", rng.below(5_000)))
        };
        let actor_ip = format!("10.{}.{}.{}", rng.below(256), rng.below(256), 1 + rng.below(254));
        let actor_user_agent = rng.pick(USER_AGENTS);
        let (action, resource_type, method) = rng.pick(ACTIONS);
        let resource_n = rng.below(2_000);
        let resource_id = format!("res-{resource_n:05}");
        let resource_name = format!("acme/service-{resource_n}");
        let roll = rng.below(100);
        let (outcome, severity, status) = match roll {
            0..=89 => ("success", "info", if method == "POST" { 201 } else { 200 }),
            90..=95 => ("failure", "low", 500),
            _ => ("denied", "medium", 403),
        };
        let details = json!({
            "request_id": format!("req-{:016x}", rng.next()),
            "method": method,
            "path": format!("/api/v2/{resource_type}/{resource_n}"),
            "status": status,
            "duration_ms": rng.below(900),
        });
        let tags = json!(["api", "bench", rng.pick(REGIONS)]);
        let micros = i64::try_from(index % 3_600_000_000).unwrap_or_default() * 997;
        let occurred_at = veritrail_core::event::normalize_time(base_time + Duration::microseconds(micros));
        let event = json!({
            "occurred_at": veritrail_core::event::format_time(&occurred_at),
            "actor": {
                "id": actor_id,
                "type": actor_type,
                "ip": actor_ip,
                "user_agent": actor_user_agent,
            },
            "action": action,
            "resource": {"type": resource_type, "id": resource_id, "name": resource_name},
            "outcome": outcome,
            "severity": severity,
            "details": details,
            "tags": tags,
        });
        let text = event.to_string();
        let json_rest = text.strip_prefix('{').unwrap_or(&text).to_owned();
        Self {
            occurred_at,
            actor_id,
            actor_type,
            actor_ip,
            actor_user_agent,
            action,
            resource_type,
            resource_id,
            resource_name,
            outcome,
            severity,
            details_text: details.to_string(),
            tags_text: tags.to_string(),
            json_rest,
        }
    }
}

impl Workload {
    /// `count` distinct templates; `client_ids`: whether requests name their ids (idempotency keys).
    pub fn new(count: usize, client_ids: bool) -> Self {
        let base_time = Utc::now() - Duration::hours(2);
        let templates = (0..count.max(1) as u64).map(|index| EventTemplate::generate(index, base_time)).collect();
        Self { templates, client_ids }
    }

    /// The template of event number `n`.
    pub fn template(&self, n: u64) -> &EventTemplate {
        let idx = usize::try_from(splitmix64(n) % self.templates.len() as u64).unwrap_or_default();
        &self.templates[idx]
    }

    /// Appends event `n` with id `id` as a JSON object to `out`.
    pub fn write_event(&self, out: &mut Vec<u8>, n: u64, id: &str) {
        out.push(b'{');
        if self.client_ids {
            out.extend_from_slice(b"\"id\":\"");
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(b"\",");
        }
        out.extend_from_slice(self.template(n).json_rest.as_bytes());
    }

    /// The body of `POST /api/v1/events`.
    pub fn single_body(&self, n: u64, id: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(600);
        self.write_event(&mut out, n, id);
        out
    }

    /// The body of `POST /api/v1/events/batch` holding events `first..first + count`, ids
    /// `{prefix}-{n:09}`.
    pub fn batch_body(&self, first: u64, count: u64, prefix: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or_default() * 520 + 16);
        out.extend_from_slice(b"{\"events\":[");
        for n in first..first + count {
            if n > first {
                out.push(b',');
            }
            self.write_event(&mut out, n, &format!("{prefix}-{n:09}"));
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// Mean size in bytes of one event as sent (with a typical id).
    pub fn mean_event_bytes(&self) -> f64 {
        let id_bytes = if self.client_ids { "\"id\":\"bat-000000000\",".len() } else { 0 };
        let total: usize = self.templates.iter().map(|t| 1 + id_bytes + t.json_rest.len()).sum();
        total as f64 / self.templates.len() as f64
    }

    pub fn client_ids(&self) -> bool {
        self.client_ids
    }

    pub fn template_count(&self) -> usize {
        self.templates.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::validate::{Limits, validate_event};

    #[test]
    fn events_are_valid_and_realistically_sized() {
        let workload = Workload::new(64, true);
        for n in 0..64 {
            let body = workload.single_body(n, &format!("one-{n:09}"));
            let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
            validate_event(&value, &Limits::default(), || "x".to_owned()).expect("valid event");
        }
        let mean = workload.mean_event_bytes();
        assert!((300.0..=500.0).contains(&mean), "mean event size {mean}");
        let batch: serde_json::Value = serde_json::from_slice(&workload.batch_body(10, 5, "bat")).expect("json");
        assert_eq!(batch["events"].as_array().map(Vec::len), Some(5));
        assert_eq!(batch["events"][0]["id"], "bat-000000010");
    }
}
