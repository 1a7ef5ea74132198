//! The `veritrail` binary as a real process: acknowledged events survive `kill -9`, two servers on
//! one PostgreSQL database never fork a chain, and the CLI commands behave as documented.
//!
//! The crash test is randomised. It prints its seed; rerun a failure with `VERITRAIL_CRASH_SEED`.
//! `VERITRAIL_CRASH_ROUNDS` sets the number of kills (default 10; `scripts/crash-soak.sh` runs 100).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use veritrail_core::event::TenantId;
use veritrail_core::hash::Hash;
use veritrail_core::store::SeqRange;
use veritrail_store::Backend;
use veritrail_store::testing::TestDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_veritrail");
const ADMIN_KEY: &str = "vt_8937fb9127f46c491f04d0854eb1dd1e47bf96739eb932bd";
const LISTENING: &str = "veritrail listening on ";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const CLI_TIMEOUT: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// A `veritrail` command isolated from the developer's environment and working directory.
fn veritrail(work_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(work_dir).env_remove("VERITRAIL_CONFIG").env_remove("VERITRAIL_BOOTSTRAP_KEY");
    command.env_remove("RUST_LOG").env("NO_COLOR", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("VERITRAIL__") {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

/// Runs a CLI command to completion and returns its output.
async fn run_cli(work_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = veritrail(work_dir);
    command.args(args).envs(envs.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
    tokio::time::timeout(CLI_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("veritrail {args:?} did not finish within {CLI_TIMEOUT:?}"))
        .unwrap_or_else(|err| panic!("cannot run veritrail {args:?}: {err}"))
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a CLI command succeeded and returns its stdout.
fn assert_success(args: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "veritrail {args} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout_of(output),
        stderr_of(output)
    );
    stdout_of(output)
}

/// Returns the last `max` bytes of a log file, for failure messages.
fn log_tail(path: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let start = (start..text.len()).find(|idx| text.is_char_boundary(*idx)).unwrap_or(text.len());
    text[start..].to_owned()
}

/// A running `veritrail serve`. Dropping it kills the process (SIGKILL), so a panicking test never
/// leaves a server behind.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

/// Why a server did not come up.
#[derive(Debug)]
struct StartFailure {
    status: Option<ExitStatus>,
    stderr: String,
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "veritrail serve exited with {status}")?,
            None => write!(f, "veritrail serve did not print {LISTENING:?} within {STARTUP_TIMEOUT:?}")?,
        }
        write!(f, "; end of its stderr:\n{}", self.stderr)
    }
}

impl Server {
    /// Starts a server on `database_url`, port 0, stderr to `log`; panics if it does not come up.
    async fn start(database_url: &str, work_dir: &Path, log: &Path) -> Self {
        Self::start_with(database_url, work_dir, log, &[]).await
    }

    /// As [`Server::start`], with more environment variables (configuration overrides).
    async fn start_with(database_url: &str, work_dir: &Path, log: &Path, envs: &[(&str, &str)]) -> Self {
        Self::try_start(database_url, work_dir, log, envs).await.unwrap_or_else(|failure| panic!("{failure}"))
    }

    /// Starts a server and waits for its "listening" line on stdout.
    async fn try_start(
        database_url: &str,
        work_dir: &Path,
        log: &Path,
        envs: &[(&str, &str)],
    ) -> Result<Self, StartFailure> {
        let log_file = std::fs::File::create(log).expect("create server log");
        let data_dir = work_dir.join("data");
        let mut command = veritrail(work_dir);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--database-url", database_url, "--addr", "127.0.0.1:0"])
            .env("VERITRAIL_BOOTSTRAP_KEY", ADMIN_KEY)
            // The jobs run often, so kills land in the middle of them too.
            .env("VERITRAIL__CHECKPOINTS__SCHEDULE", "* * * * * *")
            .env("VERITRAIL__INTEGRITY__SCHEDULE", "*/2 * * * * *")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = command.spawn().expect("spawn veritrail serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(STARTUP_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(base) = line.strip_prefix(LISTENING) {
                    return Some(base.trim().to_owned());
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(base)) => {
                // Keep draining stdout so the server never blocks on (or dies of) a closed pipe.
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                Ok(Self { child, base, log: log.to_owned() })
            }
            Ok(None) => {
                let status =
                    tokio::time::timeout(Duration::from_secs(10), child.wait()).await.ok().and_then(Result::ok);
                Err(StartFailure { status, stderr: log_tail(log, 4000) })
            }
            Err(_) => {
                let _ = child.kill().await;
                Err(StartFailure { status: None, stderr: log_tail(log, 4000) })
            }
        }
    }

    /// SIGKILL (no graceful shutdown), then reaps the process.
    async fn kill(&mut self) {
        self.child.kill().await.expect("kill veritrail serve");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGKILL on unix; a no-op when the process has already been reaped.
        let _ = self.child.start_kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Randomness (no `rand` crate): splitmix64 to seed, xorshift64* to draw
// ---------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn crash_seed() -> u64 {
    match std::env::var("VERITRAIL_CRASH_SEED") {
        Ok(raw) => raw.trim().parse().unwrap_or_else(|_| panic!("VERITRAIL_CRASH_SEED={raw:?} is not a u64")),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |now| now.as_nanos() as u64),
    }
}

fn crash_rounds() -> usize {
    match std::env::var("VERITRAIL_CRASH_ROUNDS") {
        Ok(raw) => raw.trim().parse().unwrap_or_else(|_| panic!("VERITRAIL_CRASH_ROUNDS={raw:?} is not a number")),
        Err(_) => 10,
    }
}

// ---------------------------------------------------------------------------------------------
// Talking to a server
// ---------------------------------------------------------------------------------------------

/// The receipt fields the tests check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    id: String,
    seq: u64,
    hash: String,
    prev_hash: String,
}

impl Ack {
    fn from_json(value: &Value) -> Self {
        let text = |field: &str| {
            value[field].as_str().unwrap_or_else(|| panic!("receipt without string {field}: {value}")).to_owned()
        };
        Self {
            id: text("id"),
            seq: value["seq"].as_u64().unwrap_or_else(|| panic!("receipt without seq: {value}")),
            hash: text("hash"),
            prev_hash: text("prev_hash"),
        }
    }
}

/// How a request ended.
enum Sent {
    /// 2xx: the events are durably stored, with these receipts (in request order), and how many
    /// of them an earlier request had already stored.
    Acked(Vec<Ack>, usize),
    /// No answer (connection refused or reset): the events may or may not be stored.
    NoAnswer(String),
    /// An HTTP answer that is not 2xx.
    Refused(StatusCode, String),
}

fn test_event(id: &str, client: usize, round: usize) -> Value {
    json!({
        "id": id,
        "actor": {"id": format!("client-{client}"), "type": "service"},
        "action": "process.test",
        "outcome": "success",
        "details": {"round": round, "client": client},
    })
}

/// Posts one event to `/api/v1/events`, or several to `/api/v1/events/batch`.
async fn post_events(http: &reqwest::Client, server_base: &str, key: &str, events: &[Value]) -> Sent {
    let (url, body) = match events {
        [single] => (format!("{server_base}/api/v1/events"), single.clone()),
        _ => (format!("{server_base}/api/v1/events/batch"), json!({ "events": events })),
    };
    let response = match http.post(url).bearer_auth(key).json(&body).send().await {
        Ok(response) => response,
        Err(err) => return Sent::NoAnswer(err.to_string()),
    };
    let status = response.status();
    let text = match response.text().await {
        Ok(text) => text,
        // Headers arrived but the body did not: the process died mid-answer. Not an ack.
        Err(err) => return Sent::NoAnswer(format!("{status} with an unreadable body: {err}")),
    };
    if !status.is_success() {
        return Sent::Refused(status, text);
    }
    let body: Value = match serde_json::from_str(&text) {
        Ok(body) => body,
        Err(err) => return Sent::Refused(status, format!("2xx with a non-JSON body ({err}): {text}")),
    };
    let (acks, already_stored) = match events {
        [_] => (vec![Ack::from_json(&body)], usize::from(status == StatusCode::OK)),
        _ => {
            let receipts =
                body["receipts"].as_array().unwrap_or_else(|| panic!("batch answer without receipts: {body}"));
            let already_stored = receipts.iter().filter(|receipt| receipt["created"] == json!(false)).count();
            (receipts.iter().map(Ack::from_json).collect(), already_stored)
        }
    };
    let ids: Vec<&str> = events.iter().filter_map(|event| event["id"].as_str()).collect();
    let acked_ids: Vec<&str> = acks.iter().map(|ack| ack.id.as_str()).collect();
    assert_eq!(ids, acked_ids, "receipts must answer the events in request order");
    Sent::Acked(acks, already_stored)
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().expect("http client")
}

// ---------------------------------------------------------------------------------------------
// a. Crash recovery
// ---------------------------------------------------------------------------------------------

/// What one client saw during one round.
#[derive(Default)]
struct ClientReport {
    acked: Vec<Ack>,
    /// Retried events the server already had: committed before the kill, never acknowledged.
    already_stored: usize,
    /// Requests without an answer; retried with identical content in the next round.
    in_doubt: Vec<Vec<Value>>,
    /// Non-2xx answers: never expected.
    refused: Vec<String>,
}

/// Posts events until the server stops answering: first the `retry` requests, then new ones.
async fn crash_client(
    http: reqwest::Client,
    base: String,
    round: usize,
    client: usize,
    mut rng: Rng,
    retry: Vec<Vec<Value>>,
) -> ClientReport {
    let mut report = ClientReport::default();
    let mut queue: VecDeque<Vec<Value>> = retry.into();
    let mut n = 0usize;
    loop {
        let events = queue.pop_front().unwrap_or_else(|| {
            // Mostly single events, sometimes a small batch.
            let size = if rng.between(0, 2) == 0 { rng.between(2, 5) } else { 1 };
            (0..size)
                .map(|_| {
                    n += 1;
                    test_event(&format!("r{round}-c{client}-{n}"), client, round)
                })
                .collect()
        });
        match post_events(&http, &base, ADMIN_KEY, &events).await {
            Sent::Acked(acks, already_stored) => {
                report.acked.extend(acks);
                report.already_stored += already_stored;
            }
            Sent::NoAnswer(_) => {
                report.in_doubt.push(events);
                report.in_doubt.extend(queue);
                return report;
            }
            Sent::Refused(status, body) => {
                report.refused.push(format!("round {round} client {client}: {status}: {body}"));
                report.in_doubt.push(events);
                report.in_doubt.extend(queue);
                return report;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_recovery_keeps_every_acknowledged_event() {
    let seed = crash_seed();
    let rounds = crash_rounds();
    println!("crash test: seed {seed} (rerun with VERITRAIL_CRASH_SEED={seed}), {rounds} rounds");
    for db in TestDatabase::all().await {
        crash_rounds_on(&db, seed, rounds).await;
    }
}

async fn crash_rounds_on(db: &TestDatabase, seed: u64, rounds: usize) {
    const CLIENTS: usize = 8;
    let started = Instant::now();
    let work = tempfile::tempdir().expect("work dir");
    let mut rng = Rng::new(seed);
    // Every id ever acknowledged, with its receipt and the round that acknowledged it.
    let mut acked: HashMap<String, (Ack, usize)> = HashMap::new();
    let mut sent_ids: HashSet<String> = HashSet::new();
    let mut in_doubt: Vec<Vec<Value>> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let mut per_round = Vec::with_capacity(rounds);

    for round in 0..rounds {
        let log = work.path().join(format!("serve-{round}.log"));
        let mut server = Server::start(&db.url, work.path(), &log).await;
        let http = http_client();
        // Deal the requests left in doubt by the last kill out to the clients: each retry must get
        // the receipt of the stored event if the kill came after the commit, or a new one if not.
        let mut retries: Vec<Vec<Vec<Value>>> = vec![Vec::new(); CLIENTS];
        for (idx, events) in std::mem::take(&mut in_doubt).into_iter().enumerate() {
            retries[idx % CLIENTS].push(events);
        }
        let clients: Vec<_> = retries
            .into_iter()
            .enumerate()
            .map(|(client, retry)| {
                let client_rng = Rng::new(seed ^ ((round as u64) << 32) ^ (client as u64 + 1));
                tokio::spawn(crash_client(http.clone(), server.base.clone(), round, client, client_rng, retry))
            })
            .collect();
        // The server's start-up jobs (a full integrity check, a checkpoint) compete with the
        // clients for the CPU: the kill timer starts once the server has acknowledged an event.
        let warm_up = json!({"id": format!("r{round}-warm-up"), "actor": {"id": "warm-up", "type": "service"}, "action": "test.warm_up", "outcome": "success"});
        sent_ids.insert(format!("r{round}-warm-up"));
        let response = http
            .post(server.url("/api/v1/events"))
            .bearer_auth(ADMIN_KEY)
            .json(&warm_up)
            .send()
            .await
            .expect("warm-up request");
        assert!(response.status().is_success(), "seed {seed}: warm-up answered {}", response.status());
        let delay = Duration::from_millis(rng.between(100, 600));
        tokio::time::sleep(delay).await;
        server.kill().await;

        let mut round_acked = 0usize;
        let mut round_already_stored = 0usize;
        for client in clients {
            let report = tokio::time::timeout(REQUEST_TIMEOUT * 2, client)
                .await
                .expect("a client kept going after the server was killed")
                .expect("client task panicked");
            round_acked += report.acked.len();
            round_already_stored += report.already_stored;
            for ack in report.acked {
                if let Some((earlier, earlier_round)) = acked.get(&ack.id) {
                    assert_eq!(
                        *earlier, ack,
                        "seed {seed}: id {} got two different receipts (rounds {earlier_round} and {round})",
                        ack.id
                    );
                }
                acked.insert(ack.id.clone(), (ack, round));
            }
            for events in &report.in_doubt {
                sent_ids.extend(events.iter().filter_map(|event| event["id"].as_str().map(str::to_owned)));
            }
            in_doubt.extend(report.in_doubt);
            refused.extend(report.refused);
        }
        sent_ids.extend(acked.keys().cloned());
        println!(
            "{:?} round {round}: killed after {delay:?}, {round_acked} events acknowledged ({round_already_stored} \
             retried ones were already stored), {} requests in doubt",
            db.backend,
            in_doubt.len()
        );
        assert!(
            round_acked > 0,
            "seed {seed}: no event acknowledged in round {round}; server log:\n{}",
            log_tail(&server.log, 4000)
        );
        per_round.push(round_acked);
    }
    assert!(refused.is_empty(), "seed {seed}: the server refused requests it should have taken: {refused:#?}");

    // Everything acknowledged is there, exactly as receipted, and the chain is intact and gap-free.
    let store = db.connect().await;
    let tenant = TenantId::parse("default").expect("tenant");
    let mut receipt_seqs = HashSet::new();
    for (id, (ack, round)) in &acked {
        let stored = store
            .events
            .get(&tenant, id)
            .await
            .expect("get event")
            .unwrap_or_else(|| panic!("seed {seed}: event {id} acknowledged in round {round} was lost"));
        assert_eq!(stored.seq, ack.seq, "seed {seed}: event {id} (round {round}) moved");
        assert_eq!(stored.hash.to_hex(), ack.hash, "seed {seed}: event {id} (round {round}) changed hash");
        assert_eq!(stored.prev_hash.to_hex(), ack.prev_hash, "seed {seed}: event {id} (round {round})");
        assert!(receipt_seqs.insert(ack.seq), "seed {seed}: seq {} was receipted twice", ack.seq);
    }
    let report = store.events.verify(&tenant, SeqRange::default()).await.expect("verify");
    let count = u64::try_from(db.count_events().await).expect("count");
    assert!(report.ok, "seed {seed}: chain broken after crashes: {report:?}");
    assert_eq!(report.checked, count, "seed {seed}: verify must check every stored event");
    let head = store.events.head(&tenant).await.expect("head").expect("chain head");
    assert_eq!(head.next_seq, count, "seed {seed}: head and row count disagree");
    let mut stored_ids = HashSet::new();
    let mut next_seq = 0u64;
    while next_seq < count {
        let page = store.events.scan(&tenant, next_seq, 1000).await.expect("scan");
        assert!(!page.is_empty(), "seed {seed}: the log ends at seq {next_seq}, before {count} events");
        for event in page {
            assert_eq!(event.seq, next_seq, "seed {seed}: gap before seq {}", event.seq);
            assert!(sent_ids.contains(&event.id), "seed {seed}: stored event {} was never sent", event.id);
            assert!(stored_ids.insert(event.id.clone()), "seed {seed}: id {} stored twice", event.id);
            next_seq += 1;
        }
    }
    assert_eq!(store.events.max_seq(&tenant).await.expect("max seq"), count.checked_sub(1));

    // Restart safety of the tree and the checkpoints: the checkpoint job ran at every start, and
    // every checkpoint it signed still matches the stored tree and extends the one before.
    // (A kill during a run leaves that job's lease to expire, so not every start publishes.)
    let published = store.checkpoints.checkpoints_after(&tenant, 0, 100_000).await.expect("checkpoints");
    assert!(!published.is_empty(), "seed {seed}: no checkpoint was published in {rounds} starts");
    let config = veritrail_server::config::Config { data_dir: work.path().join("data"), ..Default::default() };
    let identity = veritrail_server::log_key::load_identity(&config).expect("log key");
    let status = veritrail_core::integrity::IntegrityMonitor::default()
        .run_job(store.events.as_ref(), store.checkpoints.as_ref(), &identity, true, chrono::Utc::now())
        .await
        .expect("integrity check");
    assert!(status.failures.is_empty(), "seed {seed}: {:?}", status.failures);
    drop(store);

    // The offline verifier agrees.
    let output = run_cli(work.path(), &["verify", "--database-url", &db.url, "--json"], &[]).await;
    assert_success("verify --json after crashes", &output);

    println!(
        "{:?}: {rounds} kills, {} events acknowledged (per round {per_round:?}), {count} stored, \
         {} requests still in doubt, {:.1?}",
        db.backend,
        acked.len(),
        in_doubt.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// b. Two servers, one PostgreSQL database
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_never_fork_the_chain() {
    const CLIENTS: usize = 32;
    const EVENTS_PER_CLIENT: usize = 20;
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let started = Instant::now();
    let work = tempfile::tempdir().expect("work dir");
    // One after the other: the first creates the schema and the bootstrap key.
    let first = Server::start(&db.url, work.path(), &work.path().join("serve-a.log")).await;
    let second = Server::start(&db.url, work.path(), &work.path().join("serve-b.log")).await;
    let bases = [first.base.clone(), second.base.clone()];
    let http = http_client();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let http = http.clone();
            let bases = bases.clone();
            tokio::spawn(async move {
                let mut acks = Vec::new();
                let mut n = 0;
                let mut request = 0;
                while n < EVENTS_PER_CLIENT {
                    // Singles and pairs, alternating between the two servers.
                    let size = if request % 3 == 2 { 2.min(EVENTS_PER_CLIENT - n) } else { 1 };
                    let events: Vec<Value> =
                        (0..size).map(|idx| test_event(&format!("two-c{client}-{}", n + idx), client, 0)).collect();
                    n += size;
                    let base = &bases[(client + request) % 2];
                    request += 1;
                    match post_events(&http, base, ADMIN_KEY, &events).await {
                        Sent::Acked(batch, _) => acks.extend(batch),
                        Sent::NoAnswer(err) => panic!("client {client}: no answer from {base}: {err}"),
                        Sent::Refused(status, body) => panic!("client {client}: {base} answered {status}: {body}"),
                    }
                }
                acks
            })
        })
        .collect();
    let mut by_seq: BTreeMap<u64, Ack> = BTreeMap::new();
    for client in futures::future::join_all(clients).await {
        for ack in client.expect("client task") {
            let seq = ack.seq;
            if let Some(other) = by_seq.insert(seq, ack.clone()) {
                panic!("seq {seq} was given to both {} and {}: the chain forked", other.id, ack.id);
            }
        }
    }
    let total = (CLIENTS * EVENTS_PER_CLIENT) as u64;
    assert_eq!(by_seq.len() as u64, total, "every event gets its own seq");
    assert_eq!(by_seq.keys().copied().collect::<Vec<_>>(), (0..total).collect::<Vec<_>>(), "seqs are 0..N");
    // The receipts alone form one chain: each links to the previous one's hash.
    let mut prev_hash = Hash::GENESIS.to_hex();
    for (seq, ack) in &by_seq {
        assert_eq!(ack.prev_hash, prev_hash, "receipt of seq {seq} does not link to seq {}", seq.wrapping_sub(1));
        prev_hash.clone_from(&ack.hash);
    }

    let store = db.connect().await;
    let tenant = TenantId::parse("default").expect("tenant");
    let report = store.events.verify(&tenant, SeqRange::default()).await.expect("verify");
    assert!(report.ok, "chain broken: {report:?}");
    assert_eq!(report.checked, total);
    assert_eq!(db.count_events().await, total as i64);
    assert_eq!(report.head_hash.map(|hash| hash.to_hex()), Some(prev_hash), "head is the last receipt");
    for ack in by_seq.values().step_by(37) {
        let stored = store.events.get(&tenant, &ack.id).await.expect("get").expect("stored");
        assert_eq!((stored.seq, stored.hash.to_hex()), (ack.seq, ack.hash.clone()));
    }
    drop((first, second));
    println!("two servers: {total} events from {CLIENTS} clients, one chain, {:.1?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// c. The CLI
// ---------------------------------------------------------------------------------------------

/// Writes a JSON Lines file of events with ids `{prefix}-0..count`.
fn write_jsonl(path: &Path, prefix: &str, count: usize) {
    let lines: Vec<String> = (0..count)
        .map(|n| {
            json!({
                "id": format!("{prefix}-{n}"),
                "actor": {"id": "alice", "type": "user"},
                "action": "repo.read",
                "outcome": "success",
                "occurred_at": "2025-01-02T03:04:05Z",
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").expect("write jsonl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verify_exits_1_naming_the_first_tampered_seq() {
    let db = TestDatabase::sqlite();
    let work = tempfile::tempdir().expect("work dir");
    let url = db.url.as_str();

    let output = run_cli(work.path(), &["verify", "--database-url", url], &[]).await;
    assert!(assert_success("verify (empty)", &output).contains("no events stored yet"));

    let file = work.path().join("events.jsonl");
    write_jsonl(&file, "v", 10);
    let file = file.to_str().expect("utf-8 path");
    assert_success(
        "ingest",
        &run_cli(work.path(), &["ingest", file, "--tenant", "acme", "--database-url", url], &[]).await,
    );

    let output = run_cli(work.path(), &["verify", "--database-url", url], &[]).await;
    let text = assert_success("verify (intact)", &output);
    assert!(text.contains("tenant acme: ok, 10 events checked"), "{text}");
    let output = run_cli(work.path(), &["verify", "--tenant", "acme", "--json", "--database-url", url], &[]).await;
    let report: Value = serde_json::from_str(assert_success("verify --json", &output).trim()).expect("json report");
    assert_eq!(report["tenant"], "acme");
    assert_eq!(report["report"]["ok"], true, "{report}");
    assert_eq!(report["report"]["checked"], 10, "{report}");

    // An attacker with database access rewrites seq 4.
    db.tamper(&["UPDATE events SET action = 'repo.delete' WHERE tenant = 'acme' AND seq = 4"]).await;
    let output = run_cli(work.path(), &["verify", "--database-url", url], &[]).await;
    assert_eq!(output.status.code(), Some(1), "stdout: {}\nstderr: {}", stdout_of(&output), stderr_of(&output));
    assert!(stdout_of(&output).contains("BROKEN at seq 4"), "{}", stdout_of(&output));
    let output = run_cli(work.path(), &["verify", "--tenant", "acme", "--json", "--database-url", url], &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(stdout_of(&output).trim()).expect("json report");
    assert_eq!(report["report"]["ok"], false, "{report}");
    assert_eq!(report["report"]["first_bad_seq"], 4, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_keys_create_list_revoke_round_trip() {
    let db = TestDatabase::sqlite();
    let work = tempfile::tempdir().expect("work dir");
    let url = db.url.as_str();

    let output = run_cli(
        work.path(),
        &["keys", "--database-url", url, "create", "--tenant", "acme", "--scopes", "ingest,read", "--name", "ci"],
        &[],
    )
    .await;
    let text = assert_success("keys create", &output);
    let key_id = text
        .lines()
        .find_map(|line| line.strip_prefix("created key "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key id in {text:?}"))
        .to_owned();
    let secret = text
        .lines()
        .find_map(|line| line.strip_prefix("secret (shown only now): "))
        .unwrap_or_else(|| panic!("no secret in {text:?}"))
        .trim()
        .to_owned();
    assert!(secret.starts_with("vt_"), "{secret}");

    let list = |tenant: &'static str| {
        let work = work.path().to_owned();
        let url = url.to_owned();
        async move {
            let output = run_cli(&work, &["keys", "--database-url", &url, "list", "--tenant", tenant], &[]).await;
            assert_success("keys list", &output)
        }
    };
    let listed = list("acme").await;
    let row = listed.lines().find(|line| line.starts_with(&key_id)).unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains("acme") && row.contains("ingest") && row.ends_with("ci"), "{row}");
    assert!(!listed.contains(&secret), "keys list must never show a secret");
    assert!(!list("other").await.contains(&key_id), "keys list --tenant filters");

    // The key works against a server started on that database...
    let http = http_client();
    let event = test_event("keyed-1", 0, 0);
    {
        let mut server = Server::start(url, work.path(), &work.path().join("serve-1.log")).await;
        match post_events(&http, &server.base, &secret, std::slice::from_ref(&event)).await {
            Sent::Acked(acks, _) => assert_eq!(acks[0].seq, 0),
            Sent::NoAnswer(err) => panic!("no answer: {err}"),
            Sent::Refused(status, body) => panic!("new key refused: {status} {body}"),
        }
        server.kill().await;
    }

    // ...and not once revoked.
    let output = run_cli(work.path(), &["keys", "--database-url", url, "revoke", &key_id], &[]).await;
    assert!(assert_success("keys revoke", &output).contains(&format!("revoked key {key_id}")));
    let listed = list("acme").await;
    let row = listed.lines().find(|line| line.starts_with(&key_id)).unwrap_or_else(|| panic!("{listed}"));
    let revoked_column = row.split_whitespace().nth(4).unwrap_or_default();
    assert_ne!(revoked_column, "-", "a revoked key shows when it was revoked: {row}");
    let output = run_cli(work.path(), &["keys", "--database-url", url, "revoke", &key_id], &[]).await;
    assert!(!output.status.success(), "revoking twice is an error");

    let server = Server::start(url, work.path(), &work.path().join("serve-2.log")).await;
    let response = http.get(server.url("/api/v1/events")).bearer_auth(&secret).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response =
        http.post(server.url("/api/v1/events")).bearer_auth(&secret).json(&event).send().await.expect("post");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_ingest_is_idempotent_and_all_or_nothing() {
    let db = TestDatabase::sqlite();
    let work = tempfile::tempdir().expect("work dir");
    let url = db.url.as_str();
    let good = work.path().join("good.jsonl");
    write_jsonl(&good, "ing", 7);
    let good = good.to_str().expect("utf-8 path");

    let args = ["ingest", good, "--tenant", "acme", "--batch-size", "3", "--database-url", url];
    let text = assert_success("ingest", &run_cli(work.path(), &args, &[]).await);
    assert!(text.contains("ingested 7 new events into tenant acme (0 already present)"), "{text}");
    let text = assert_success("ingest again", &run_cli(work.path(), &args, &[]).await);
    assert!(text.contains("ingested 0 new events into tenant acme (7 already present)"), "{text}");

    // Line 3 of 5 is broken: nothing at all is stored, and the error names the line.
    let bad = work.path().join("bad.jsonl");
    let valid =
        |id: &str| json!({"id": id, "actor": {"id": "bob", "type": "user"}, "action": "a.b", "outcome": "success"});
    let lines = [
        valid("bad-file-1").to_string(),
        valid("bad-file-2").to_string(),
        json!({"id": "bad-file-3", "actor": {"id": "bob", "type": "user"}, "outcome": "success"}).to_string(),
        valid("bad-file-4").to_string(),
        valid("bad-file-5").to_string(),
    ];
    std::fs::write(&bad, lines.join("\n") + "\n").expect("write bad file");
    let bad = bad.to_str().expect("utf-8 path");
    for tenant in ["acme", "fresh"] {
        let output =
            run_cli(work.path(), &["ingest", bad, "--tenant", tenant, "--batch-size", "1", "--database-url", url], &[])
                .await;
        assert!(!output.status.success(), "a bad line must fail the ingest: {}", stdout_of(&output));
        let stderr = stderr_of(&output);
        assert!(stderr.contains("bad.jsonl:3:"), "the error names line 3: {stderr}");
        assert!(stderr.contains("nothing was stored"), "{stderr}");
    }
    // A line that is not JSON at all is named the same way.
    let garbage = work.path().join("garbage.jsonl");
    std::fs::write(&garbage, format!("{}\n\n{{not json\n", valid("garbage-1"))).expect("write");
    let output = run_cli(
        work.path(),
        &["ingest", garbage.to_str().expect("utf-8"), "--tenant", "fresh", "--database-url", url],
        &[],
    )
    .await;
    assert!(!output.status.success());
    assert!(stderr_of(&output).contains("garbage.jsonl:3: not valid JSON"), "{}", stderr_of(&output));

    assert_eq!(db.count_events().await, 7, "the failed ingests stored nothing");
    let store = db.connect().await;
    for tenant in ["acme", "fresh"] {
        let tenant = TenantId::parse(tenant).expect("tenant");
        for id in ["bad-file-1", "bad-file-2", "garbage-1"] {
            assert!(store.events.get(&tenant, id).await.expect("get").is_none(), "{id} was stored in {tenant}");
        }
    }
    let acme = TenantId::parse("acme").expect("tenant");
    let report = store.events.verify(&acme, SeqRange::default()).await.expect("verify");
    assert!(report.ok && report.checked == 7, "{report:?}");
    let stored = store.events.get(&acme, "ing-6").await.expect("get").expect("ing-6 stored");
    assert_eq!(stored.seq, 6, "file order is chain order");
}

#[tokio::test]
async fn cli_print_config_redacts_the_database_password() {
    let work = tempfile::tempdir().expect("work dir");
    let output = run_cli(
        work.path(),
        &["print-config", "--addr", "127.0.0.1:9911"],
        &[("VERITRAIL__DATABASE__URL", "postgres://vtuser:s3cr3t-pw@db.example:5432/vt")],
    )
    .await;
    let text = assert_success("print-config", &output);
    assert!(!text.contains("s3cr3t-pw"), "the password leaked:\n{text}");
    assert!(!stderr_of(&output).contains("s3cr3t-pw"), "the password leaked to stderr");
    assert!(text.contains("vtuser:[redacted]@db.example:5432/vt"), "{text}");
    assert!(text.contains("127.0.0.1:9911"), "flags override: {text}");
    let parsed: Result<toml::Table, _> = text.parse();
    assert!(parsed.is_ok(), "print-config prints TOML: {text}");

    // A URL given as a flag is redacted the same way.
    let output =
        run_cli(work.path(), &["print-config", "--database-url", "postgresql://admin:hunter2@localhost/vt"], &[]).await;
    let text = assert_success("print-config --database-url", &output);
    assert!(!text.contains("hunter2"), "the password leaked:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_database_of_another_event_format_version() {
    for db in TestDatabase::all().await {
        let work = tempfile::tempdir().expect("work dir");
        assert_success("migrate", &run_cli(work.path(), &["migrate", "--database-url", &db.url], &[]).await);
        db.execute("UPDATE meta SET value = '99' WHERE key = 'event_format_version'").await.expect("update meta");

        let log = work.path().join("serve.log");
        match Server::try_start(&db.url, work.path(), &log, &[]).await {
            Ok(server) => panic!("{:?}: serve started on a format-99 database at {}", db.backend, server.base),
            Err(failure) => {
                let status = failure.status.unwrap_or_else(|| panic!("{:?}: {failure}", db.backend));
                assert!(!status.success(), "{:?}: {failure}", db.backend);
                assert!(failure.stderr.contains("format version 99"), "{:?}: {failure}", db.backend);
            }
        }
        // The offline commands refuse it too, rather than misreading the chain.
        let output = run_cli(work.path(), &["verify", "--database-url", &db.url], &[]).await;
        assert!(!output.status.success(), "{:?}: verify ran on a format-99 database", db.backend);
        if db.backend == Backend::Sqlite {
            // A clean database in the data directory still works (the default URL).
            let data_dir = work.path().join("fresh");
            let output = run_cli(work.path(), &["migrate", "--data-dir", data_dir.to_str().expect("utf-8")], &[]).await;
            assert_success("migrate (default url)", &output);
            assert!(data_dir.join("veritrail.db").exists(), "the default database lives in the data directory");
        }
    }
}

/// Two servers started together on an empty database must both come up with exactly one
/// bootstrap key (the first start creates it atomically).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_starting_together_on_an_empty_postgres_both_come_up() {
    for attempt in 0..10 {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        let work = tempfile::tempdir().expect("work dir");
        let (log_a, log_b) = (work.path().join("serve-a.log"), work.path().join("serve-b.log"));
        let (first, second) = tokio::join!(
            Server::try_start(&db.url, work.path(), &log_a, &[]),
            Server::try_start(&db.url, work.path(), &log_b, &[]),
        );
        for started in [first, second] {
            if let Err(failure) = started {
                panic!("attempt {attempt}: one of two servers starting together failed: {failure}");
            }
        }
        let keys = db.connect().await.keys.count_keys().await.expect("count keys");
        assert_eq!(keys, 1, "attempt {attempt}: exactly one bootstrap key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_never_run_a_job_at_the_same_time() {
    // Both servers schedule `checkpoint` every second and `integrity-check` every two; the lease
    // in the database must keep each job to one of them at a time.
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let work = tempfile::tempdir().expect("work dir");
    let first = Server::start(&db.url, work.path(), &work.path().join("serve-a.log")).await;
    let second = Server::start(&db.url, work.path(), &work.path().join("serve-b.log")).await;
    let http = http_client();
    let events: Vec<Value> = (0..5).map(|idx| test_event(&format!("lease-{idx}"), 0, 0)).collect();
    assert!(matches!(post_events(&http, &first.base, ADMIN_KEY, &events).await, Sent::Acked(..)));
    tokio::time::sleep(Duration::from_secs(8)).await;
    drop((first, second));

    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let runs: Vec<(String, String, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT job, holder, started_at, finished_at FROM job_runs WHERE trigger = 'schedule' \
         AND job IN ('checkpoint', 'integrity-check') ORDER BY job, started_at",
    )
    .fetch_all(&pool)
    .await
    .expect("job runs");
    for job in ["checkpoint", "integrity-check"] {
        let of_job: Vec<_> = runs.iter().filter(|run| run.0 == job).collect();
        assert!(of_job.len() >= 3, "{job}: only {} scheduled runs in 8 s", of_job.len());
        for pair in of_job.windows(2) {
            assert!(
                pair[1].2 >= pair[0].3,
                "{job}: a run by {} started at {} while the run by {} (until {}) held the lease",
                pair[1].1,
                pair[1].2,
                pair[0].1,
                pair[0].3
            );
        }
    }
    let holders: HashSet<&str> = runs.iter().map(|run| run.1.as_str()).collect();
    println!("two servers: {} scheduled runs by {} holders, none overlapping", runs.len(), holders.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_bundles_verify_offline_and_name_the_tampered_event() {
    let db = TestDatabase::sqlite();
    let work = tempfile::tempdir().expect("work dir");
    let url = db.url.as_str();
    let data_dir = work.path().join("data");
    let data_dir = data_dir.to_str().expect("utf-8 path");
    let file = work.path().join("events.jsonl");
    write_jsonl(&file, "b", 8);
    let file = file.to_str().expect("utf-8 path");
    assert_success(
        "ingest",
        &run_cli(work.path(), &["ingest", file, "--database-url", url, "--data-dir", data_dir], &[]).await,
    );

    let bundle_path = work.path().join("evidence.tar");
    let bundle_file = bundle_path.to_str().expect("utf-8 path");
    let output = run_cli(
        work.path(),
        &["export-bundle", "--tenant", "default", "-o", bundle_file, "--database-url", url, "--data-dir", data_dir],
        &[],
    )
    .await;
    assert!(assert_success("export-bundle", &output).contains("8 events"));

    // The auditor's key comes from the operator, here from the log key file via the library.
    let config = veritrail_server::config::Config { data_dir: data_dir.into(), ..Default::default() };
    let key = veritrail_server::log_key::load_identity(&config).expect("identity").signer.verifier_key();
    let output = run_cli(work.path(), &["verify-bundle", bundle_file, "--key", &key], &[]).await;
    assert!(assert_success("verify-bundle", &output).starts_with("OK: 8 events"));

    // Someone edits event seq 5 in the bundle and rebuilds the archive.
    let mut bundle =
        veritrail_core::bundle::Bundle::from_tar(&std::fs::read(&bundle_path).expect("read")).expect("tar");
    let line = String::from_utf8(bundle.events[5].clone()).expect("utf-8").replace("repo.read", "repo.wipe");
    bundle.events[5] = line.into_bytes();
    std::fs::write(&bundle_path, bundle.to_tar().expect("tar")).expect("write");
    let output = run_cli(work.path(), &["verify-bundle", bundle_file, "--key", &key], &[]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout_of(&output).contains("line 6 (seq 5)"), "{}", stdout_of(&output));

    // A bundle checked with another key is refused.
    let other = veritrail_core::checkpoint::LogSigner::from_seed("veritrail.local", [1u8; 32]).expect("signer");
    let output = run_cli(work.path(), &["verify-bundle", bundle_file, "--key", &other.verifier_key()], &[]).await;
    assert_eq!(output.status.code(), Some(1));
}

/// Posts `count` events (actions prefixed by `label`) and publishes a checkpoint.
async fn grow_and_publish(server: &Server, label: &str, count: usize) {
    let http = http_client();
    let events: Vec<Value> = (0..count)
        .map(
            |n| json!({"actor": {"id": label, "type": "user"}, "action": format!("{label}.{n}"), "outcome": "success"}),
        )
        .collect();
    let response = http
        .post(server.url("/api/v1/events/batch"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "events": events }))
        .send()
        .await
        .expect("post batch");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let response = http
        .post(server.url("/api/v1/admin/jobs/checkpoint/run"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({}))
        .send()
        .await
        .expect("run checkpoint job");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_accepts_growth_and_alarms_on_rewritten_history() {
    let work = tempfile::tempdir().expect("work dir");
    let (honest_db, forged_db, split_db) = (TestDatabase::sqlite(), TestDatabase::sqlite(), TestDatabase::sqlite());
    // All servers share the data directory, so they sign with the same log key: the operator who
    // rewrites history holds the real key.
    let honest = Server::start(&honest_db.url, work.path(), &work.path().join("honest.log")).await;
    grow_and_publish(&honest, "honest", 10).await;
    let config = veritrail_server::config::Config { data_dir: work.path().join("data"), ..Default::default() };
    let key = veritrail_server::log_key::load_identity(&config).expect("identity").signer.verifier_key();
    let state = work.path().join("witness.json");
    let state = state.to_str().expect("utf-8 path");
    let witness = |base: String| {
        let key = key.clone();
        let work = work.path().to_owned();
        async move {
            run_cli(
                &work,
                &["witness", "--url", &base, "--key", &key, "--state", state, "--api-key", ADMIN_KEY, "--once"],
                &[],
            )
            .await
        }
    };

    let first = witness(honest.base.clone()).await;
    assert!(assert_success("witness (first)", &first).contains("trusting the first checkpoint seen, tree size 10"));
    grow_and_publish(&honest, "honest-more", 5).await;
    let grew = witness(honest.base.clone()).await;
    assert!(assert_success("witness (growth)", &grew).contains("grew consistently from 10 to 15"));
    let unchanged = witness(honest.base.clone()).await;
    assert_success("witness (unchanged)", &unchanged);

    // The operator replaces the log with another history and signs it with the real key.
    let forged = Server::start(&forged_db.url, work.path(), &work.path().join("forged.log")).await;
    grow_and_publish(&forged, "forged", 20).await;
    let alarm = witness(forged.base.clone()).await;
    assert_eq!(alarm.status.code(), Some(2), "stdout: {}\nstderr: {}", stdout_of(&alarm), stderr_of(&alarm));
    assert!(
        stderr_of(&alarm).contains("WITNESS ALERT") && stderr_of(&alarm).contains("rewritten"),
        "{}",
        stderr_of(&alarm)
    );

    // A split view: another history of the same size as the one the witness holds.
    let split = Server::start(&split_db.url, work.path(), &work.path().join("split.log")).await;
    grow_and_publish(&split, "split", 15).await;
    let alarm = witness(split.base.clone()).await;
    assert_eq!(alarm.status.code(), Some(2));
    assert!(stderr_of(&alarm).contains("split view"), "{}", stderr_of(&alarm));

    // The honest log is still accepted: the alarms did not overwrite what the witness trusts.
    assert_success("witness (honest again)", &witness(honest.base.clone()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_imports_cloudtrail_files_once_and_refuses_bad_ones_whole() {
    let db = TestDatabase::sqlite();
    let work = tempfile::tempdir().expect("work dir");
    let url = db.url.as_str();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/invictus-aws-stratus/raw/CloudTrail");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("the shared data set is beside the repository")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().to_string_lossy().into_owned()))
        .filter(|path| path.ends_with(".json"))
        .collect();
    files.sort();
    let mut args = vec!["import", "--format", "cloudtrail", "--tenant", "aws", "--database-url", url];
    args.extend(files.iter().map(String::as_str));
    let first = assert_success("import", &run_cli(work.path(), &args, &[]).await);
    assert!(first.contains("imported 2900 new events from 55 CloudTrail files"), "{first}");
    let second = assert_success("import again", &run_cli(work.path(), &args, &[]).await);
    assert!(second.contains("imported 0 new events") && second.contains("2900 already present"), "{second}");

    let bad = work.path().join("bad.json");
    std::fs::write(&bad, r#"{"Records": [{"eventID": "x", "eventSource": "s3.amazonaws.com"}]}"#).expect("write");
    let output = run_cli(
        work.path(),
        &[
            "import",
            "--format",
            "cloudtrail",
            "--tenant",
            "other",
            "--database-url",
            url,
            files[0].as_str(),
            bad.to_str().expect("path"),
        ],
        &[],
    )
    .await;
    assert!(!output.status.success());
    assert!(stderr_of(&output).contains("Records[0]"), "{}", stderr_of(&output));
    assert_eq!(db.count_events().await, 2900, "nothing of the refused import was stored");
    let output = run_cli(work.path(), &["verify", "--tenant", "aws", "--database-url", url], &[]).await;
    assert!(assert_success("verify", &output).contains("ok, 2900 events checked"));
}

// ---------------------------------------------------------------------------------------------
// SIGTERM during the search back-fill
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/search/status` of the admin key's tenant.
async fn search_status(http: &reqwest::Client, server: &Server) -> Value {
    let response =
        http.get(server.url("/api/v1/search/status")).bearer_auth(ADMIN_KEY).send().await.expect("search status");
    assert!(response.status().is_success(), "search status: {}", response.status());
    response.json().await.expect("search status body")
}

/// How long a SIGTERM'd server may take before the test calls it a hang. The goal is 5 s; the
/// release build exits in about a second mid back-fill (see the search benchmark's notes), the
/// test build in 1.5-3 s on two idle cores: this bound catches a server that does not stop, not
/// a slow one on a machine busy with the rest of the suite.
const EXIT_BOUND: Duration = Duration::from_secs(20);

/// Sends SIGTERM and returns how long the process took to exit, and how it exited.
async fn terminate(server: &mut Server) -> (Duration, ExitStatus) {
    let pid = server.child.id().expect("the server is running").to_string();
    let sent = Instant::now();
    let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(kill.success(), "kill -TERM {pid} failed");
    let Ok(status) = tokio::time::timeout(EXIT_BOUND, server.child.wait()).await else {
        // What its threads are doing, for the failure message: CPU per thread, and their stacks
        // when gdb is installed.
        let threads = std::process::Command::new("ps").args(["-L", "-o", "tid,pcpu,stat,comm", "-p", &pid]).output();
        let threads = threads.map(|out| String::from_utf8_lossy(&out.stdout).into_owned()).unwrap_or_default();
        let stacks = std::process::Command::new("gdb")
            .args(["-p", &pid, "-batch", "-ex", "thread apply all bt 30"])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_else(|error| format!("(no stacks: gdb: {error})"));
        panic!(
            "the server ignored SIGTERM for {EXIT_BOUND:?}; threads:\n{threads}\nstacks:\n{stacks}\nlog:\n{}",
            log_tail(&server.log, 4000)
        );
    };
    let status = status.expect("wait for the server");
    (sent.elapsed(), status)
}

/// Imports the invictus CloudTrail capture through the API; returns the events created.
async fn import_invictus(http: &reqwest::Client, server: &Server) -> usize {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/invictus-aws-stratus/raw/CloudTrail");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the shared data set is beside the repository")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut created = 0;
    for file in files {
        let body = std::fs::read(&file).expect("read capture file");
        let response = http
            .post(server.url("/api/v1/ingest/cloudtrail"))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("import");
        assert!(response.status().is_success(), "{}: {}", file.display(), response.status());
        let answer: Value = response.json().await.expect("receipts");
        created += answer["receipts"].as_array().map_or(0, Vec::len);
    }
    created
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_backfill_promptly_and_the_next_start_resumes_it_embedding_nothing_twice() {
    let db = TestDatabase::sqlite();
    let work = tempfile::tempdir().expect("work dir");
    let envs = [("VERITRAIL__SEARCH__SCHEDULE", "* * * * * *")];
    let http = http_client();
    let mut server = Server::start_with(&db.url, work.path(), &work.path().join("serve-1.log"), &envs).await;
    assert_eq!(import_invictus(&http, &server).await, 2900);

    // Mid back-fill: some vectors stored, most not.
    let deadline = Instant::now() + Duration::from_secs(300);
    let before = loop {
        let status = search_status(&http, &server).await;
        let embedded = status["embedded"].as_u64().unwrap_or(0);
        if embedded >= 100 {
            break status;
        }
        assert!(Instant::now() < deadline, "the back-fill did not start: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(before["embedded"].as_u64() < Some(2900), "the back-fill finished before SIGTERM: {before}");
    let (took, status) = terminate(&mut server).await;
    println!("SIGTERM at {} of 2900 events embedded: exited in {took:?} with {status}", before["embedded"]);
    assert!(status.success(), "exit status {status}; log:\n{}", log_tail(&server.log, 4000));

    // The next start resumes and finishes.
    let mut server = Server::start_with(&db.url, work.path(), &work.path().join("serve-2.log"), &envs).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status = search_status(&http, &server).await;
        if status["embedded"] == json!(2900) {
            break;
        }
        assert!(Instant::now() < deadline, "the resumed back-fill did not finish: {status}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (took, status) = terminate(&mut server).await;
    assert!(status.success(), "idle shutdown: {status} after {took:?}");

    // Nothing was embedded twice: the texts the runs of both processes embedded add up to the
    // vectors stored (vectors are keyed by text hash, so an embedded-again text adds a run count
    // but no vector).
    let pool = sqlx::SqlitePool::connect(&db.url).await.expect("connect");
    let vectors: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM search_vectors").fetch_one(&pool).await.expect("count");
    let runs: Vec<String> = sqlx::query_scalar("SELECT details FROM job_runs WHERE job = 'embed-backfill'")
        .fetch_all(&pool)
        .await
        .expect("runs");
    let embedded: u64 = runs
        .iter()
        .map(|details| serde_json::from_str::<Value>(details).expect("details")["texts_embedded"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(embedded, u64::try_from(vectors).expect("count"), "texts embedded by all runs vs vectors stored");
    println!("{} back-fill runs embedded {embedded} texts for {vectors} vectors", runs.len());
}
