//! `circle`: run a clinic's group therapy program.
//!
//! Settings come from defaults, then an optional TOML file (`--config`), then `CIRCLE_…`
//! environment variables, then command-line flags. Defaults are safe: listen on
//! 127.0.0.1 only, and never create a database by accident.

mod backup;
mod demo;
mod demo_intake;
mod demo_measures;
mod demo_notes;
mod demo_placement;
mod demo_reports;
mod keys;
mod plan;
mod secrets;
mod witness;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use circle_app::{App, AppSettings, SystemClock};
use circle_domain::ids::{ClientId, ClinicianId};
use circle_domain::text::Email;
use circle_domain::user::Role;
use circle_store::witness::{Cadence, Keeper, WitnessDir, checkpoint_once, default_writer_name};
use circle_store::{OpenMode, Store};
use clap::{Parser, Subcommand};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Parser)]
#[command(
    name = "circle",
    version,
    about = "Circle runs a clinic's group therapy program: programs, groups, \
    intake, the weekly plan, sessions, notes, measures — confidentially."
)]
struct Cli {
    /// A TOML settings file (keys: database_url, listen, clinic_time_zone, tls_cert, tls_key,
    /// key_file, audit_key_file, audit_witness_dir, server_id, and the mail_* and smtp_*
    /// keys of README "Messages").
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The master key file that encrypts clinical text (or env CIRCLE_MASTER_KEY with the
    /// file's text). Create one with `circle keys keygen`.
    #[arg(long, global = true, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// The key file of the audit chain (or env CIRCLE_AUDIT_KEY). It never rotates.
    #[arg(long, global = true, value_name = "FILE")]
    audit_key_file: Option<PathBuf>,
    /// An earlier master key still needed to read what it sealed (repeatable); after
    /// `circle rotate-key` it can be dropped.
    #[arg(long, global = true, value_name = "FILE")]
    retired_key_file: Vec<PathBuf>,
    /// The audit chain's witness: a directory outside the database where servers write
    /// checkpoints and backups are recorded (env CIRCLE_AUDIT_WITNESS_DIR; default beside
    /// the audit key file: circle-audit.key → circle-audit.witness).
    #[arg(long, global = true, value_name = "DIR")]
    audit_witness_dir: Option<PathBuf>,
    /// This server's name in the witness (env CIRCLE_SERVER_ID; default the host name).
    #[arg(long, global = true, value_name = "ID")]
    server_id: Option<String>,
    /// Log lines as plain text or as one JSON object each (env CIRCLE_LOG_FORMAT). Both
    /// carry ids and counts only, never names, emails or note text.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "CIRCLE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web interface and JSON API.
    Serve {
        /// Start with the synthetic demo clinic (creates and seeds the database if new;
        /// default database sqlite://circle-demo.db).
        #[arg(long)]
        demo: bool,
        /// Database URL: sqlite://FILE or postgres://USER@HOST/DB (env CIRCLE_DATABASE_URL).
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        /// Address to listen on (env CIRCLE_LISTEN; default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (env CIRCLE_TLS_CERT); needs --tls-key.
        /// Every response then carries Strict-Transport-Security.
        #[arg(long, value_name = "PEM")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert (env CIRCLE_TLS_KEY).
        #[arg(long, value_name = "PEM")]
        tls_key: Option<PathBuf>,
        /// Serve `/metrics` (Prometheus text format) on this address, apart from the public
        /// one (env CIRCLE_METRICS_ADDR; default off).
        #[arg(long, value_name = "ADDR")]
        metrics_addr: Option<String>,
    },
    /// Create the database if needed and apply pending migrations.
    Migrate {
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
    /// Seed the synthetic demo clinic (and its demo accounts) into a new database.
    Demo {
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
    /// Import a clinic's CSV files (README "Import"): clinicians and licenses, rooms,
    /// programs, groups, clients with episodes, separations and current memberships. One
    /// transaction: every row passes every rule, or nothing is written.
    Import {
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        /// The directory holding the files (clinicians.csv, licenses.csv, rooms.csv,
        /// programs.csv, groups.csv, clients.csv, episodes.csv, separations.csv,
        /// memberships.csv; any may be left out).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// List every problem by file, row and column, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write the clinic's records as the import's CSV files (a round trip with `import`).
    ExportCsv {
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        /// The directory to write the files into (created if missing; files there with the
        /// same names are replaced).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The placement optimizer.
    #[command(subcommand)]
    Plan(plan::PlanCommand),
    /// Encryption keys.
    #[command(subcommand)]
    Keys(keys::KeyCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Re-wrap every sealed value's data key with the current master key (--key-file),
    /// reading old values with --retired-key-file. Run after creating a new key.
    RotateKey {
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
    /// Copy the database while it serves (SQLite: VACUUM INTO; PostgreSQL: pg_dump), check
    /// the copy (integrity, migrations, audit chain) and record it in the witness. The keys
    /// are not in the copy.
    Backup {
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        /// The new backup file (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into a new database, check it, and record the restore in the
    /// witness (an older copy is reported as how many entries behind the witness it is).
    Restore {
        /// A file written by `circle backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// The new database (a SQLite file that does not exist, or a PostgreSQL database
        /// that does not exist or has no tables).
        #[arg(long, value_name = "URL")]
        db: String,
        /// A restore drill: restore and check the copy, but leave the witness as it is (the
        /// copy does not take over from the database the witness belongs to).
        #[arg(long)]
        drill: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the whole audit chain and compare it with its witness: exit 0 when intact, 1
    /// when tampering is found (a broken link, entries missing from the end), 2 when the
    /// database is an intact older copy (a recorded backup) put back without `circle restore`.
    Verify {
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// admin, director, clinician, intake or client.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The clinician record this account belongs to (clinician and director roles).
        #[arg(long)]
        clinician_id: Option<i64>,
        /// The client record this account belongs to (client role).
        #[arg(long)]
        client_id: Option<i64>,
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
}

/// Typed settings: defaults → TOML file → `CIRCLE_*` environment → flags.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Settings {
    database_url: Option<String>,
    #[serde(default)]
    retired_key_files: Vec<PathBuf>,
    key_file: Option<PathBuf>,
    audit_key_file: Option<PathBuf>,
    /// Where the audit chain's witness lives (default: beside the audit key file).
    audit_witness_dir: Option<PathBuf>,
    /// This server's name in the witness (default: the host name).
    server_id: Option<String>,
    listen: String,
    clinic_time_zone: String,
    /// The clinic's name and identifiers (FHIR Organization, claim files' billing
    /// provider): a 10-digit NPI with its check digit and a 9-digit EIN.
    #[serde(default = "default_clinic_name")]
    clinic_name: String,
    clinic_npi: Option<String>,
    clinic_tin: Option<String>,
    /// The billing provider's street address, city, USPS state, ZIP+4 and telephone, which
    /// an 837P claim file needs (all five or none).
    clinic_address: Option<String>,
    clinic_city: Option<String>,
    clinic_state: Option<String>,
    clinic_zip: Option<String>,
    clinic_phone: Option<String>,
    /// PEM certificate chain and private key: both set means serve HTTPS.
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    /// At SIGTERM or Ctrl-C, how long in-flight requests and background jobs' current
    /// step may take before the process exits anyway (env CIRCLE_SHUTDOWN_GRACE_SECS).
    #[serde(default = "default_shutdown_grace_secs")]
    shutdown_grace_secs: u64,
    /// Where `/metrics` is served (env CIRCLE_METRICS_ADDR); unset, it is not.
    metrics_addr: Option<String>,
    /// How often the session horizon is extended and expired offers move on, across all
    /// servers over one database (env CIRCLE_HORIZON_EVERY_SECS; default six hours).
    #[serde(default = "default_horizon_every_secs")]
    horizon_every_secs: u64,
    /// How long a background job's lease lasts unless renewed: a server that dies mid-job
    /// hands the job over after this long (env CIRCLE_JOB_LEASE_SECS; default 60).
    #[serde(default = "default_job_lease_secs")]
    job_lease_secs: u64,
    /// Messages (issue 18): transport, SMTP server, sender, links (README "Messages").
    #[serde(flatten)]
    mail: circle_mail::MailSettings,
}

fn default_clinic_name() -> String {
    "Circle clinic".to_owned()
}

fn default_horizon_every_secs() -> u64 {
    6 * 3600
}

fn default_job_lease_secs() -> u64 {
    60
}

fn default_shutdown_grace_secs() -> u64 {
    20
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: None,
            retired_key_files: vec![],
            key_file: None,
            audit_key_file: None,
            audit_witness_dir: None,
            server_id: None,
            listen: "127.0.0.1:8080".to_owned(),
            clinic_time_zone: "America/New_York".to_owned(),
            clinic_name: default_clinic_name(),
            clinic_npi: None,
            clinic_tin: None,
            clinic_address: None,
            clinic_city: None,
            clinic_state: None,
            clinic_zip: None,
            clinic_phone: None,
            tls_cert: None,
            tls_key: None,
            shutdown_grace_secs: default_shutdown_grace_secs(),
            metrics_addr: None,
            horizon_every_secs: default_horizon_every_secs(),
            job_lease_secs: default_job_lease_secs(),
            mail: circle_mail::MailSettings::default(),
        }
    }
}

fn load_settings(config: Option<&PathBuf>) -> Result<Settings> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = config {
        if !path.exists() {
            bail!("the settings file {} does not exist", path.display());
        }
        fig = fig.merge(Toml::file(path));
    }
    fig.merge(Env::prefixed("CIRCLE_"))
        .extract()
        .context("invalid settings (check the TOML file and CIRCLE_* variables)")
}

/// The demo accounts `--demo` creates; documented in the README.
pub const DEMO_PASSWORD: &str = "circle-demo-2026";
const DEMO_DB: &str = "sqlite://circle-demo.db";

fn main() -> Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("CIRCLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        // One JSON object a line, the event's fields at the top level and the spans it
        // happened in (the request's id and route first) beside them.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
    let mut settings = load_settings(cli.config.as_ref())?;
    settings.key_file = cli.key_file.or(settings.key_file);
    settings.audit_key_file = cli.audit_key_file.or(settings.audit_key_file);
    settings.retired_key_files.extend(cli.retired_key_file);
    settings.audit_witness_dir = cli.audit_witness_dir.or(settings.audit_witness_dir);
    settings.server_id = cli.server_id.or(settings.server_id);
    match cli.command {
        Command::Plan(cmd) => plan::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        other => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(run(other, settings)),
    }
}

fn database_url(
    flag: Option<String>,
    settings: &Settings,
    fallback: Option<&str>,
) -> Result<String> {
    flag.or_else(|| settings.database_url.clone())
        .or_else(|| fallback.map(str::to_owned))
        .ok_or_else(|| anyhow!("no database: pass --db sqlite://circle.db (or postgres://…) or set CIRCLE_DATABASE_URL"))
}

/// The demo clinic's identifiers and address where the settings give none, so its claim
/// file can be made and validated: fictitious, but of the right shape (the NPI carries a
/// valid check digit; 555-01xx numbers are reserved for fiction).
fn demo_clinic_identity(mut s: Settings) -> Settings {
    if s.clinic_npi.is_none() {
        s.clinic_npi = Some("1999999984".to_owned());
    }
    if s.clinic_tin.is_none() {
        s.clinic_tin = Some("990000001".to_owned());
    }
    let none = [
        &s.clinic_address,
        &s.clinic_city,
        &s.clinic_state,
        &s.clinic_zip,
        &s.clinic_phone,
    ]
    .iter()
    .all(|p| p.is_none());
    if none {
        s.clinic_address = Some("100 Demo Street".to_owned());
        s.clinic_city = Some("Boston".to_owned());
        s.clinic_state = Some("MA".to_owned());
        s.clinic_zip = Some("02110-0001".to_owned());
        s.clinic_phone = Some("617-555-0100".to_owned());
    }
    s
}

fn app_settings(settings: &Settings) -> Result<AppSettings> {
    let tz = jiff::tz::TimeZone::get(&settings.clinic_time_zone).map_err(|_| {
        anyhow!("clinic_time_zone must be an IANA time zone such as America/New_York")
    })?;
    if let Some(npi) = &settings.clinic_npi
        && !circle_app::npi_is_valid(npi)
    {
        bail!("clinic_npi must be a 10-digit NPI with a valid check digit");
    }
    if let Some(tin) = &settings.clinic_tin
        && (tin.len() != 9 || !tin.bytes().all(|b| b.is_ascii_digit()))
    {
        bail!("clinic_tin must be the 9 digits of an EIN, without a dash");
    }
    let name = settings.clinic_name.trim();
    if name.is_empty() || name.len() > 60 || name.chars().any(char::is_control) {
        bail!("clinic_name must be 1-60 characters without control characters");
    }
    let parts = [
        &settings.clinic_address,
        &settings.clinic_city,
        &settings.clinic_state,
        &settings.clinic_zip,
        &settings.clinic_phone,
    ];
    let address = if parts.iter().all(|p| p.is_none()) {
        None
    } else {
        let part = |p: &Option<String>| p.clone().unwrap_or_default();
        Some(
            circle_domain::claim837::ClinicAddress::parse(
                &part(&settings.clinic_address),
                &part(&settings.clinic_city),
                &part(&settings.clinic_state),
                &part(&settings.clinic_zip),
                &part(&settings.clinic_phone),
            )
            .map_err(|e| {
                anyhow!(
                    "the clinic's address settings (clinic_address, clinic_city, clinic_state, \
                     clinic_zip, clinic_phone: all five or none): {e}"
                )
            })?,
        )
    };
    Ok(AppSettings {
        clinic_time_zone: tz,
        clinic: circle_app::ClinicIdentity {
            name: name.to_owned(),
            npi: settings.clinic_npi.clone(),
            tin: settings.clinic_tin.clone(),
            address,
        },
        ..AppSettings::default()
    })
}

async fn open(url: &str, mode: OpenMode) -> Result<Store> {
    let store = Store::connect(url, mode).await?;
    store.migrate().await?;
    Ok(store)
}

/// The mail settings; the demo, unless told otherwise, writes its messages into
/// `./circle-demo-mail/` so a newcomer can read them, with links to this server.
fn mail_settings(settings: &Settings, demo: bool, listen: SocketAddr) -> circle_mail::MailSettings {
    let mut mail = settings.mail.clone();
    if demo && mail.mail_transport == circle_mail::TransportKind::Off {
        mail.mail_transport = circle_mail::TransportKind::File;
        mail.mail_dir = std::path::PathBuf::from("circle-demo-mail");
        mail.mail_from = "demo@circle.test".to_owned();
        mail.mail_sender_name = "Circle demo clinic".to_owned();
        mail.public_url = format!("http://{listen}");
        mail.mail_poll_secs = 5;
    }
    mail
}

/// The configured key files, or the demo's defaults beside its database.
fn key_paths(settings: &Settings, demo: bool, url: &str) -> secrets::KeyPaths {
    let defaults = if demo {
        secrets::demo_paths(url)
    } else {
        secrets::KeyPaths::default()
    };
    secrets::KeyPaths {
        master: settings.key_file.clone().or(defaults.master),
        retired: settings.retired_key_files.clone(),
        audit: settings.audit_key_file.clone().or(defaults.audit),
    }
}

/// Opens the store with its keys: serving never starts without them.
async fn open_with_keys(
    url: &str,
    mode: OpenMode,
    settings: &Settings,
    demo: bool,
) -> Result<Store> {
    // The database first: a mistyped path is reported as such, before any key question.
    let store = open(url, mode).await?;
    let (keyring, audit) = secrets::load(&key_paths(settings, demo, url), demo)?;
    Ok(store.with_keyring(keyring).with_audit_key(audit))
}

/// The witness directory: the setting, or beside the audit key file.
fn witness_dir(settings: &Settings, demo: bool, url: &str) -> Result<WitnessDir> {
    witness::dir(
        settings.audit_witness_dir.as_ref(),
        key_paths(settings, demo, url).audit.as_deref(),
    )
}

/// The name this process's witness records carry.
fn server_id(settings: &Settings) -> String {
    settings
        .server_id
        .clone()
        .unwrap_or_else(default_writer_name)
}

/// A demo database that was just seeded is a new chain: the records of an earlier demo
/// database in its witness no longer apply, so they are moved aside.
fn supersede_demo_witness(dir: &WitnessDir) -> Result<()> {
    if let Some(moved) = dir.supersede(jiff::Timestamp::now())? {
        tracing::info!(
            to = %moved.display(),
            "moved the previous demo database's witness records aside"
        );
    }
    Ok(())
}

/// Stops on Ctrl-C or SIGTERM (what a service manager sends), so the last checkpoint is
/// written either way.
async fn shutdown_signal(stopping: tokio::sync::watch::Sender<bool>) {
    wait_for_signal().await;
    tracing::info!("stopping: no new connections; finishing requests in flight");
    let _ = stopping.send(true);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(command: Command, settings: Settings) -> Result<()> {
    match command {
        Command::Serve {
            demo,
            db,
            listen,
            tls_cert,
            tls_key,
            metrics_addr,
        } => {
            let settings = if demo {
                demo_clinic_identity(settings)
            } else {
                settings
            };
            // TLS first: a half-given pair is a settings mistake, reported before any work.
            let tls = match (
                tls_cert.or(settings.tls_cert.clone()),
                tls_key.or(settings.tls_key.clone()),
            ) {
                (Some(cert), Some(key)) => Some(
                    circle_web::Tls::from_pem_files(&cert, &key)
                        .context("cannot set up TLS (check --tls-cert and --tls-key)")?,
                ),
                (None, None) => None,
                _ => bail!(
                    "TLS needs both --tls-cert and --tls-key (or CIRCLE_TLS_CERT and CIRCLE_TLS_KEY)"
                ),
            };
            let url = database_url(db, &settings, demo.then_some(DEMO_DB))?;
            let mode = if demo {
                OpenMode::CreateIfMissing
            } else {
                OpenMode::MustExist
            };
            let store = open_with_keys(&url, mode, &settings, demo).await?;
            // TOTP secrets written before they were sealed (migration 0012) are sealed now.
            let sealed = store.seal_totp_secrets().await?;
            if sealed > 0 {
                tracing::info!(count = sealed, "sealed TOTP secrets stored in clear");
            }
            let app = App::new(
                store.clone(),
                Arc::new(SystemClock),
                app_settings(&settings)?,
            );
            let witness = witness_dir(&settings, demo, &url)?;
            if demo && seed_demo_if_empty(&store, &app).await? {
                supersede_demo_witness(&witness)?;
            }
            let keeper = Keeper::start(
                store.clone(),
                witness.clone(),
                &server_id(&settings),
                Cadence::default(),
            )
            .await
            .with_context(|| {
                format!(
                    "cannot write the audit witness in {} (set audit_witness_dir, \
                     CIRCLE_AUDIT_WITNESS_DIR or --audit-witness-dir to a writable directory \
                     outside the database)",
                    witness.path().display()
                )
            })?;
            let (stopping, stop_requested) = tokio::sync::watch::channel(false);
            let jobs = spawn_horizon_keeper(
                app.clone(),
                &settings,
                server_id(&settings),
                stop_requested.clone(),
            );
            let listen: SocketAddr = listen
                .unwrap_or(settings.listen.clone())
                .parse()
                .context("--listen must be an address such as 127.0.0.1:8080")?;
            let mail = mail_settings(&settings, demo, listen);
            let mailer = circle_mail::Worker::new(
                app.clone(),
                mail.clone(),
                format!("{}-{}", server_id(&settings), rand::random::<u32>()),
            )
            .context("cannot set up messages (check the mail_* and smtp_* settings)")?
            .map(|worker| tokio::spawn(worker.run(stop_requested.clone())));
            let metrics = match metrics_addr.or(settings.metrics_addr.clone()) {
                Some(addr) => {
                    let addr: SocketAddr = addr
                        .parse()
                        .context("--metrics-addr must be an address such as 127.0.0.1:9090")?;
                    let metrics = Arc::new(circle_web::metrics::Metrics::new());
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
                    let bound = listener.local_addr()?;
                    let (app, served_metrics) = (app.clone(), metrics.clone());
                    let mut stop = stop_requested.clone();
                    tokio::spawn(async move {
                        let served =
                            circle_web::metrics::serve(listener, app, served_metrics, async move {
                                let _ = stop.wait_for(|s| *s).await;
                            })
                            .await;
                        if let Err(e) = served {
                            tracing::error!(error = %e, "the metrics listener stopped");
                        }
                    });
                    Some((metrics, bound))
                }
                None => None,
            };
            let server = circle_web::Application::build_observed(
                app,
                listen,
                tls,
                metrics.as_ref().map(|(m, _)| m.clone()),
            )
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = server.local_addr()?;
            let scheme = if server.is_tls() { "https" } else { "http" };
            println!("Circle is running at {scheme}://{addr}/");
            println!(
                "  API: {scheme}://{addr}/api/v1/openapi.json · health: {scheme}://{addr}/healthz"
            );
            if let Some((_, bound)) = &metrics {
                println!("  metrics: http://{bound}/metrics");
            }
            if mailer.is_some() && mail.mail_transport == circle_mail::TransportKind::File {
                println!(
                    "  messages are written to {}/ (one .eml file each)",
                    mail.mail_dir.display()
                );
            }
            if demo {
                print_demo_accounts();
            }
            let grace = std::time::Duration::from_secs(settings.shutdown_grace_secs);
            server
                .run_until_stopped_within(shutdown_signal(stopping), grace)
                .await?;
            // Background jobs finish the step they are in (never cut mid-write), within the
            // same grace.
            if tokio::time::timeout(grace, jobs).await.is_err() {
                tracing::warn!("a background job did not finish its step in time");
            }
            if let Some(mailer) = mailer
                && tokio::time::timeout(grace, mailer).await.is_err()
            {
                tracing::warn!("the mail worker did not finish its pass in time");
            }
            keeper
                .stop()
                .await
                .context("the last audit witness checkpoint could not be written")?;
            Ok(())
        }
        Command::Migrate { db } => {
            let url = database_url(db, &settings, None)?;
            open(&url, OpenMode::CreateIfMissing).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Demo { db } => {
            let url = database_url(db, &settings, Some(DEMO_DB))?;
            let store = open_with_keys(&url, OpenMode::CreateIfMissing, &settings, true).await?;
            let app = App::new(
                store.clone(),
                Arc::new(SystemClock),
                app_settings(&settings)?,
            );
            if !seed_demo_if_empty(&store, &app).await? {
                bail!("the database already has users; the demo seeds only an empty database");
            }
            let witness = witness_dir(&settings, true, &url)?;
            supersede_demo_witness(&witness)?;
            checkpoint_once(&store, &witness, &server_id(&settings)).await?;
            print_demo_accounts();
            Ok(())
        }
        Command::Import { db, dir, dry_run } => {
            let url = database_url(db, &settings, None)?;
            let store = open_with_keys(&url, OpenMode::MustExist, &settings, false).await?;
            let app = App::new(
                store.clone(),
                Arc::new(SystemClock),
                app_settings(&settings)?,
            );
            let mut files = Vec::new();
            for name in circle_app::import::FILES {
                let path = dir.join(name);
                if path.exists() {
                    let bytes = std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    files.push((name.to_owned(), bytes));
                }
            }
            if files.is_empty() {
                bail!(
                    "no import files in {}: expected any of {}",
                    dir.display(),
                    circle_app::import::FILES.join(", ")
                );
            }
            let outcome = app
                .import_clinic(&store.operator(), &files, dry_run)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            for line in outcome.lines() {
                println!("{line}");
            }
            if !outcome.report.problems.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::ExportCsv { db, dir } => {
            let url = database_url(db, &settings, None)?;
            let store = open_with_keys(&url, OpenMode::MustExist, &settings, false).await?;
            let app = App::new(
                store.clone(),
                Arc::new(SystemClock),
                app_settings(&settings)?,
            );
            let files = app
                .export_clinic_csv(&store.operator())
                .await
                .map_err(|e| anyhow!("{e}"))?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, text) in &files {
                let path = dir.join(name);
                write_private(&path, text.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            println!("wrote {} files to {}", files.len(), dir.display());
            Ok(())
        }
        Command::User(UserCommand::Create {
            email,
            role,
            password_stdin: _,
            clinician_id,
            client_id,
            db,
        }) => {
            let url = database_url(db, &settings, None)?;
            let store = Store::connect(&url, OpenMode::MustExist).await?;
            let app = App::new(store, Arc::new(SystemClock), app_settings(&settings)?);
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow!("--role must be one of admin, director, clinician, intake, client")
            })?;
            let email = Email::parse(&email).map_err(|rule| anyhow!("--email {rule}"))?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let user = app
                .create_user(
                    &email,
                    password,
                    role,
                    clinician_id.map(ClinicianId),
                    client_id.map(ClientId),
                )
                .await
                .map_err(|e| anyhow!("{e}"))?;
            println!("created user {} with role {}", user.id, user.role);
            Ok(())
        }
        Command::Audit(AuditCommand::Verify { db }) => {
            let url = database_url(db, &settings, None)?;
            let audit = secrets::load_audit(&key_paths(&settings, false, &url), false)?;
            let witness = witness_dir(&settings, false, &url)?;
            let store = Store::connect(&url, OpenMode::MustExist)
                .await?
                .with_audit_key(audit);
            let log = store.read_witness(&witness).await?;
            let (chain, finding) = store.verify_audit_with(&log).await?;
            store.close().await;
            let (outcome, lines) = witness::verdict(&chain, &finding, witness.path());
            for line in lines {
                println!("{line}");
            }
            match outcome {
                witness::Outcome::Intact => Ok(()),
                other => std::process::exit(other.exit_code()),
            }
        }
        Command::Backup { db, out } => {
            let url = database_url(db, &settings, None)?;
            let audit = secrets::load_audit(&key_paths(&settings, false, &url), false)?;
            let setting = backup::WitnessSetting {
                dir: witness_dir(&settings, false, &url)?,
                writer: server_id(&settings),
            };
            let store = Store::connect(&url, OpenMode::MustExist)
                .await?
                .with_audit_key(audit);
            let result = backup::backup(&url, &out, store.clone(), &setting).await;
            store.close().await;
            result
        }
        Command::Restore { from, db, drill } => {
            let audit = secrets::load_audit(&key_paths(&settings, false, &db), false)?;
            let setting = backup::WitnessSetting {
                dir: witness_dir(&settings, false, &db)?,
                writer: server_id(&settings),
            };
            backup::restore(&from, &db, audit, &setting, drill).await?;
            Ok(())
        }
        Command::RotateKey { db } => {
            let url = database_url(db, &settings, None)?;
            let store = open_with_keys(&url, OpenMode::MustExist, &settings, false).await?;
            let changed = store.rewrap_sealed().await?;
            println!("re-wrapped {changed} sealed values under the current master key");
            Ok(())
        }
        Command::Plan(_) | Command::Keys(_) => unreachable!("handled before the runtime starts"),
    }
}

/// Keeps sessions materialised ahead of time and moves expired waitlist offers on, once
/// per period across every server over the database (the lease `horizon`), until `stop`
/// turns true; a run under way then is finished, never cut off.
fn spawn_horizon_keeper(
    app: App,
    settings: &Settings,
    server: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let spec = circle_app::jobs::Periodic {
        name: "horizon",
        every: std::time::Duration::from_secs(settings.horizon_every_secs.max(1)),
        lease: std::time::Duration::from_secs(settings.job_lease_secs.max(1)),
    };
    // Unique per process, so two servers on one host never share a lease.
    let holder = format!("{server}:{}", std::process::id());
    tokio::spawn(async move {
        app.clone()
            .run_periodic(spec, holder, stop, |app| async move {
                match app.extend_horizon().await {
                    Ok(0) => tracing::info!(
                        weeks = circle_app::HORIZON_WEEKS,
                        "session horizon extended"
                    ),
                    Ok(failed) => {
                        tracing::warn!(failed, "session horizon extended except for some groups")
                    }
                    Err(e) => return Err(format!("extending the session horizon failed: {e}")),
                }
                // Waitlist offers past their time move on (reads and writes also do this
                // lazily).
                app.expire_offers()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("expiring waitlist offers failed: {e}"))
            })
            .await;
    })
}

/// Seeds the demo clinic and its accounts into a database without users. Returns whether
/// it seeded.
/// Writes a file readable by its owner only (0600): the export holds clients' names and
/// dates of birth.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

async fn seed_demo_if_empty(store: &Store, app: &App) -> Result<bool> {
    if app.user_count().await.map_err(|e| anyhow!("{e}"))? > 0 {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    let summary = demo::seed(store, app.today()).await?;
    let accounts: [(&str, Role, Option<ClinicianId>, Option<ClientId>); 6] = [
        ("admin@demo.circle.test", Role::Admin, None, None),
        (
            "director@demo.circle.test",
            Role::Director,
            Some(summary.director_clinician),
            None,
        ),
        // A second director, scoped to one program (linked below): the clinic-wide one
        // above is the medical director who sees every program.
        (DEMO_SCOPED_DIRECTOR, Role::Director, None, None),
        (
            "clinician@demo.circle.test",
            Role::Clinician,
            Some(summary.clinician_clinician),
            None,
        ),
        ("intake@demo.circle.test", Role::Intake, None, None),
        (
            "client@demo.circle.test",
            Role::Client,
            None,
            Some(summary.client_client),
        ),
    ];
    for (email, role, clinician, client) in accounts {
        let parsed = Email::parse(email).map_err(|e| anyhow!(e))?;
        let user = app
            .create_user(&parsed, DEMO_PASSWORD, role, clinician, client)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        // Staff sign in with a second factor; the demo's are pre-enrolled with published
        // secrets so anyone can add them to an authenticator app.
        if let Some((_, secret)) = DEMO_TOTP_SECRETS.iter().find(|(e, _)| *e == email) {
            app.provision_totp_secret(user.id, secret)
                .await
                .map_err(|e| anyhow!("{e}"))?;
        }
        if email == DEMO_SCOPED_DIRECTOR {
            let programs = store
                .list_programs(circle_store::PageRequest {
                    after: 0,
                    limit: 200,
                })
                .await?
                .items;
            let program = programs
                .iter()
                .find(|p| p.name.as_str() == DEMO_SCOPED_PROGRAM)
                .ok_or_else(|| anyhow!("the demo has no program {DEMO_SCOPED_PROGRAM:?}"))?;
            store
                .set_director_programs(
                    &store
                        .op()
                        .role::<circle_store::access::purpose::UserProgramsChange>()
                        .await?,
                    user.id,
                    &[program.id],
                    false,
                    app.now(),
                )
                .await?;
        }
    }
    // The demo client agreed to be contacted by email, so the demo's outbox has their
    // reminders and notices to show (README "Messages").
    store
        .set_contact_consent(
            &store
                .op()
                .client::<circle_store::access::purpose::ContactConsentWrite>(summary.client_client)
                .await?,
            true,
            app.now(),
        )
        .await?;
    tracing::info!(
        secs = started.elapsed().as_secs_f64(),
        programs = summary.programs,
        groups = summary.groups,
        clinicians = summary.clinicians,
        clients = summary.clients,
        sessions = summary.sessions,
        attendance = summary.attendance,
        "seeded the demo clinic"
    );
    Ok(true)
}

/// The demo staff accounts' TOTP secrets (base32; RFC 6238, SHA-1, 6 digits, 30 s). They are
/// published in the README and printed at start: demo accounts only, never real ones.
/// Intake and client accounts need no second factor, so the demo leaves theirs off.
pub const DEMO_TOTP_SECRETS: [(&str, &str); 5] = [
    ("admin@demo.circle.test", "CIRCLEDEMOADMINTOTPSECRETAAAAAAA"),
    (
        "director@demo.circle.test",
        "CIRCLEDEMODIRECTORTOTPSECRETAAAA",
    ),
    (DEMO_SCOPED_DIRECTOR, "CIRCLEDEMOIOPDIRECTORTOTPSECRETA"),
    (
        "clinician@demo.circle.test",
        "CIRCLEDEMOCLINICIANTOTPSECRETAAA",
    ),
    (
        "intake@demo.circle.test",
        "CIRCLEDEMOINTAKETOTPSECRETAAAAAA",
    ),
];

/// The demo's director scoped to one program, and that program.
pub const DEMO_SCOPED_DIRECTOR: &str = "iop.director@demo.circle.test";
const DEMO_SCOPED_PROGRAM: &str = "Adult IOP — evening track";

fn print_demo_accounts() {
    println!("Demo clinic (synthetic data). Sign in with any of these, password {DEMO_PASSWORD}:");
    for (email, role) in [
        (
            "director@demo.circle.test",
            "program director (clinic-wide)",
        ),
        (DEMO_SCOPED_DIRECTOR, "director (IOP evening track)"),
        (
            "clinician@demo.circle.test",
            "clinician (group facilitator)",
        ),
        ("intake@demo.circle.test", "intake coordinator"),
        ("admin@demo.circle.test", "administrator"),
        ("client@demo.circle.test", "client"),
    ] {
        match DEMO_TOTP_SECRETS.iter().find(|(e, _)| *e == email) {
            Some((_, secret)) => println!("  {email:<30} {role:<30} TOTP secret {secret}"),
            None => println!("  {email:<30} {role:<30} no second factor needed"),
        }
    }
    println!(
        "Staff accounts need a code from an authenticator app: add the TOTP secret above, or one of these URIs (as a QR code):"
    );
    for (email, secret) in DEMO_TOTP_SECRETS {
        println!("  {}", circle_app::auth::otpauth_uri(email, secret));
    }
    println!(
        "  e.g. curl -s -X POST -H 'content-type: application/json' -d '{{\"email\":\"director@demo.circle.test\",\"password\":\"{DEMO_PASSWORD}\",\"totp_code\":\"123456\"}}' http://HOST/api/v1/auth/login"
    );
    println!(
        "  (with the app's current code for totp_code; `oathtool --totp -b SECRET` prints it too)"
    );
}
