//! The command line as clap types, mirroring the flags one to one; meaning
//! is given to them in `config`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Database backups for CI that have been restored before anyone needs them",
    after_help = "Exit codes: 0 success, 1 error, 2 usage error or refused without --force, 3 verification failed, 130/143 stopped by SIGINT/SIGTERM (what the run started was cleaned up).\nEvery flag can also be set with a LIFEBOAT_* variable, e.g. LIFEBOAT_OUT=backups."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// lifeboat.toml listing databases, retention and defaults.
    #[arg(long, global = true, env = "LIFEBOAT_CONFIG")]
    pub config: Option<PathBuf>,

    /// Print nothing but results and errors.
    #[arg(long, short, global = true, env = "LIFEBOAT_QUIET")]
    pub quiet: bool,

    /// Append a line per event to this file.
    #[arg(long, global = true, env = "LIFEBOAT_LOG_FILE")]
    pub log_file: Option<PathBuf>,

    /// In GitHub Actions: open (or comment on) one issue when this fails.
    #[arg(long, global = true, env = "LIFEBOAT_ISSUE_ON_FAILURE", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub issue_on_failure: Option<bool>,

    /// Labels for failure issues, comma-separated; created if missing.
    #[arg(long, global = true, env = "LIFEBOAT_ISSUE_LABELS")]
    pub issue_labels: Option<String>,

    /// Close the failure issue when this succeeds [default: true].
    #[arg(long, global = true, env = "LIFEBOAT_CLOSE_ISSUE_ON_SUCCESS", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub close_issue_on_success: Option<bool>,

    /// The name failure issues are kept under [default: the set's name].
    #[arg(long, global = true, env = "LIFEBOAT_ISSUE_KEY")]
    pub issue_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up databases into one set: `<name>-<UTC time>[-<label>].tar`.
    Backup(BackupArgs),
    /// Restore a set into --to, or the databases lifeboat.toml names.
    Restore(RestoreArgs),
    /// Check a set: sidecar, member hashes, streams, manifest.
    Verify(VerifyArgs),
    /// List the sets in a directory.
    List(ListArgs),
    /// Show what a set holds.
    Info(InfoArgs),
    /// Storage used per set and in total.
    Size(ListArgs),
    /// Compare a set with a live database: tables, rows, schema.
    Compare(CompareArgs),
    /// Remove old sets by keep rules; --dry-run shows the plan.
    Prune(PruneArgs),
    /// Open, comment on or close the failure issue for an outcome decided
    /// elsewhere (the action's last step reports failed earlier steps).
    Report(ReportArgs),
    /// Download the newest unexpired artifact of a name from earlier runs
    /// and print the path of the set inside it.
    Fetch(FetchArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// failure or success.
    #[arg(long)]
    pub outcome: String,

    /// What failed or succeeded: backup, verify, restore, action.
    #[arg(long, default_value = "action")]
    pub class: String,

    /// What to tell: the failed step, the error.
    #[arg(long, env = "LIFEBOAT_REPORT_MESSAGE")]
    pub message: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ArtifactArgs {
    /// Only the artifact of this workflow run.
    #[arg(long, env = "LIFEBOAT_RUN_ID")]
    pub run_id: Option<u64>,

    /// Only artifacts of runs on this branch.
    #[arg(long, env = "LIFEBOAT_ARTIFACT_BRANCH")]
    pub branch: Option<String>,

    /// Only artifacts of this workflow (file name like backup.yml, or name).
    #[arg(long, env = "LIFEBOAT_ARTIFACT_WORKFLOW")]
    pub workflow: Option<String>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The artifact name.
    pub artifact: String,

    #[command(flatten)]
    pub filter: ArtifactArgs,

    /// Where to put the set [default: backups].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Databases: sqlite:PATH, a .db/.sqlite path or glob, or name=URL. One
    /// per line in LIFEBOAT_DATABASES. Taken from lifeboat.toml when absent.
    #[arg(env = "LIFEBOAT_DATABASES", value_delimiter = '\n')]
    pub databases: Vec<String>,

    /// Directory the set is written to [default: backups].
    #[arg(long, short, env = "LIFEBOAT_OUT")]
    pub out: Option<PathBuf>,

    /// Set name, the start of the file name [default: the database's name].
    #[arg(long, env = "LIFEBOAT_NAME")]
    pub name: Option<String>,

    /// Label appended to the file name, e.g. pre-migration.
    #[arg(long, env = "LIFEBOAT_LABEL")]
    pub label: Option<String>,

    /// Kind recorded in the manifest: scheduled, manual, pre-migration, ...
    #[arg(long, env = "LIFEBOAT_KIND")]
    pub kind: Option<String>,

    /// Member compression: gzip, zstd or none [default: gzip].
    #[arg(long, env = "LIFEBOAT_COMPRESSION")]
    pub compression: Option<String>,

    /// Compression level (gzip 0-9, zstd 1-19).
    #[arg(long, env = "LIFEBOAT_LEVEL")]
    pub level: Option<i32>,

    /// PostgreSQL: only tables matching this pattern (repeatable; `*`, `?`,
    /// `schema.table`).
    #[arg(long, short = 't')]
    pub table: Vec<String>,

    /// PostgreSQL: leave out tables matching this pattern.
    #[arg(long, short = 'T')]
    pub exclude_table: Vec<String>,

    /// PostgreSQL: only these schemas.
    #[arg(long, short = 'n')]
    pub schema: Vec<String>,

    /// PostgreSQL: leave out these schemas.
    #[arg(long, short = 'N')]
    pub exclude_schema: Vec<String>,

    /// PostgreSQL: keep owners and grants (left out by default, as
    /// pg_dump --no-owner --no-privileges).
    #[arg(long)]
    pub with_privileges: bool,

    /// PostgreSQL: how long to wait for another session's lock on a table
    /// before failing, naming the table and the session (30s, 2m) [default: 1m].
    #[arg(long, env = "LIFEBOAT_LOCK_WAIT_TIMEOUT")]
    pub lock_wait_timeout: Option<String>,

    #[command(flatten)]
    pub engine: EngineArgs,

    /// Verify the set right after writing it: none, quick or restore.
    /// Without it, `[verify] level` in lifeboat.toml, else --verify-default.
    #[arg(long, env = "LIFEBOAT_VERIFY")]
    pub verify: Option<String>,

    /// The level when neither --verify nor lifeboat.toml chooses one (the
    /// action passes restore for scheduled runs, quick for others).
    #[arg(long, env = "LIFEBOAT_VERIFY_DEFAULT", value_name = "LEVEL", default_value = "none")]
    pub verify_default: String,

    #[command(flatten)]
    pub checks: CheckArgs,

    /// Print a JSON summary instead of the set's path.
    #[arg(long)]
    pub json: bool,
}

/// How sets are verified, shared by `verify` and `backup --verify`.
#[derive(Debug, Args, Default)]
pub struct CheckArgs {
    /// Where the restore level restores to: auto or local (a throw-away
    /// cluster from server binaries on this machine), server (a temporary
    /// database on the server --source names) or a postgres:// URL.
    #[arg(long, env = "LIFEBOAT_SCRATCH")]
    pub scratch: Option<String>,

    /// Directory of PostgreSQL server binaries for --scratch local.
    #[arg(long, env = "LIFEBOAT_PG_BIN")]
    pub pg_bin: Option<PathBuf>,

    /// Fail unless the backup holds this table (repeatable).
    #[arg(long)]
    pub expect_table: Vec<String>,

    /// Fail unless the backup is at this migration revision.
    #[arg(long)]
    pub expect_migration: Option<String>,

    /// Fail if the set is smaller than this: 10MB, 1.5GiB.
    #[arg(long)]
    pub min_size: Option<String>,

    /// Fail if the set is larger than this.
    #[arg(long)]
    pub max_size: Option<String>,

    /// Fail if the set's size changed by more than this against the
    /// previous set of the same name: 50%.
    #[arg(long)]
    pub max_size_change: Option<String>,

    /// Fail if the newest set of this name is older than this: 26h.
    #[arg(long)]
    pub max_age: Option<String>,
}

/// Flags that backup and restore share.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// PostgreSQL: parallel connections [default: 2].
    #[arg(long, short = 'j', env = "LIFEBOAT_JOBS")]
    pub jobs: Option<usize>,

    /// PostgreSQL: only the schema, no rows.
    #[arg(long)]
    pub schema_only: bool,

    /// PostgreSQL: only the rows, into tables that exist.
    #[arg(long)]
    pub data_only: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The set file; with --latest, the directory to take the newest from.
    pub set: Option<PathBuf>,

    /// Restore the newest set in the directory.
    #[arg(long)]
    pub latest: bool,

    /// Restore the newest unexpired workflow artifact of this name from an
    /// earlier run (needs `actions: read`).
    #[arg(long, env = "LIFEBOAT_RESTORE_ARTIFACT")]
    pub artifact: Option<String>,

    #[command(flatten)]
    pub artifact_filter: ArtifactArgs,

    /// Where --artifact downloads to, and where --latest looks when no
    /// directory is given [default: backups].
    #[arg(long, short, env = "LIFEBOAT_OUT")]
    pub out: Option<PathBuf>,

    /// The database to restore into. Needed unless lifeboat.toml or
    /// LIFEBOAT_DATABASES lists one of the set's name: a set never chooses
    /// its own target.
    #[arg(long, env = "LIFEBOAT_RESTORE_TO")]
    pub to: Option<String>,

    /// Which database of a set that holds several (its name in the set).
    #[arg(long, env = "LIFEBOAT_DATABASE", value_name = "NAME")]
    pub database: Option<String>,

    /// Replace an existing target without asking.
    #[arg(long, env = "LIFEBOAT_FORCE")]
    pub force: bool,

    /// Do not keep a safety backup of the target before replacing it.
    #[arg(long)]
    pub no_safety_backup: bool,

    /// Where safety backups go [default: <set dir>/safety].
    #[arg(long, env = "LIFEBOAT_SAFETY_DIR")]
    pub safety_dir: Option<PathBuf>,

    /// PostgreSQL: drop what the target database holds first (in the same
    /// transaction as the restore).
    #[arg(long)]
    pub clean: bool,

    /// PostgreSQL: restore into a new database and swap it in for the
    /// target (dropping the old one) once it is complete and checked.
    #[arg(long)]
    pub create_db: bool,

    /// PostgreSQL, with --create-db: end other sessions connected to the
    /// target so it can be swapped (without it they are named and the
    /// restore stops before changing anything).
    #[arg(long)]
    pub terminate_connections: bool,

    /// PostgreSQL: restore only these tables (repeatable). Into a database
    /// that has them, their rows are replaced (their own triggers do not
    /// fire) and the rest is left alone; into an empty or new database, the
    /// schema is built and only these tables get rows.
    #[arg(long, short = 't')]
    pub table: Vec<String>,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The set file; with --latest, the directory to take the newest from.
    pub set: Option<PathBuf>,

    /// Verify the newest set in the directory.
    #[arg(long)]
    pub latest: bool,

    /// quick: checksums, every stream, the manifest. restore: also restore
    /// into a scratch target and compare every table with the manifest.
    #[arg(long, env = "LIFEBOAT_VERIFY_LEVEL")]
    pub level: Option<String>,

    /// The server to verify on with --scratch server; never taken from the
    /// set, which could name any host.
    #[arg(long, env = "LIFEBOAT_VERIFY_SOURCE")]
    pub source: Option<String>,

    /// Parallel connections for the restore level.
    #[arg(long, short = 'j', env = "LIFEBOAT_JOBS")]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub checks: CheckArgs,

    /// Write the JSON report here (it is also kept beside the set).
    #[arg(long, env = "LIFEBOAT_REPORT")]
    pub report: Option<PathBuf>,

    /// Print the JSON report instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Directory of sets [default: backups].
    pub dir: Option<PathBuf>,

    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    pub set: PathBuf,

    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    pub set: PathBuf,

    /// The live database: sqlite:PATH or a path.
    pub database: String,

    /// Which database of a set that holds several.
    #[arg(long = "database-name")]
    pub database_name: Option<String>,

    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Directory of sets [default: backups].
    pub dir: Option<PathBuf>,

    #[arg(long, env = "LIFEBOAT_KEEP_LAST")]
    pub keep_last: Option<u32>,
    #[arg(long, env = "LIFEBOAT_KEEP_HOURLY")]
    pub keep_hourly: Option<u32>,
    #[arg(long, env = "LIFEBOAT_KEEP_DAILY")]
    pub keep_daily: Option<u32>,
    #[arg(long, env = "LIFEBOAT_KEEP_WEEKLY")]
    pub keep_weekly: Option<u32>,
    #[arg(long, env = "LIFEBOAT_KEEP_MONTHLY")]
    pub keep_monthly: Option<u32>,
    #[arg(long, env = "LIFEBOAT_KEEP_YEARLY")]
    pub keep_yearly: Option<u32>,
    /// Keep every set within this span of the newest: 30d, 26h, 2w.
    #[arg(long, env = "LIFEBOAT_KEEP_WITHIN")]
    pub keep_within: Option<String>,
    /// How long safety backups are kept [default: 7d].
    #[arg(long, env = "LIFEBOAT_KEEP_SAFETY")]
    pub keep_safety: Option<String>,

    /// Show the plan; remove nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[arg(long)]
    pub json: bool,
}
