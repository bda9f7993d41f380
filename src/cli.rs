//! The command line as clap types, mirroring the flags one to one; meaning
//! is given to them in `config`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Shown under every command's help.
macro_rules! footer {
    () => {
        "\
Databases: postgres://USER@HOST[:PORT]/DB (also postgresql:// and postgresql+asyncpg://; the \
password from PGPASSWORD or PGPASSWORD_FILE), sqlite:PATH, a path to a .db/.sqlite file, a glob \
such as 'sqlite:data/*.db', or NAME=any of these to name it inside the set.

Exit codes: 0 success, 1 error, 2 usage error or refused without --force, 3 verification failed, \
130/143 stopped by SIGINT/SIGTERM (what the run started is cleaned up).
A flag shown with [env: LIFEBOAT_…] can also be set by that variable; an empty variable \
counts as unset."
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    // The version and a hash of the sources it was built from (build.rs),
    // so a binary in dist/ can be checked against the checkout.
    version = concat!(env!("CARGO_PKG_VERSION"), " (source ", env!("LIFEBOAT_SOURCE_HASH"), ")"),
    about = "Database backups for CI that have been restored before anyone needs them",
    after_help = footer!()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Examples, as pg_dump's and restic's manuals give them.
const BACKUP_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat backup app.db                                  one set in ./backups
  lifeboat backup postgres://app@db:5432/shop --jobs 4    password from PGPASSWORD
  lifeboat backup main=sqlite:data/app.db cache=sqlite:data/cache.db --name app --label nightly
  lifeboat backup postgres://app@db/shop -t 'public.order*' -T audit_log --verify restore
  lifeboat backup                                         the databases of ./lifeboat.toml\n\n",
    footer!()
);
const RESTORE_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat restore backups/app-20261122T041517Z.tar --to sqlite:app.db --force
  lifeboat restore --latest backups --force                   into the databases of ./lifeboat.toml
  lifeboat restore --latest backups --to postgres://app@db/shop_copy --create-db
  lifeboat restore SET --database main --to sqlite:/tmp/main.db  one database of several
  lifeboat restore SET --to postgres://app@db/shop -t public.orders --force   one table's rows
  lifeboat restore --artifact nightly --to postgres://app@db/shop   from an earlier run (GitHub)\n\n",
    footer!()
);
const VERIFY_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat verify backups/app-20261122T041517Z.tar          quick: checksums, streams, manifest
  lifeboat verify --latest backups --level restore          restore into a scratch cluster and compare
  lifeboat verify --latest backups --max-age 26h --expect-table users\n\n",
    footer!()
);
const COMPARE_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat compare backups/app-20261122T041517Z.tar app.db
  lifeboat compare SET postgres://app@db/shop --database shop --json\n\n",
    footer!()
);
const PRUNE_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat prune backups --keep-last 7 --keep-daily 14 --dry-run
  lifeboat prune --keep-within 30d --keep-monthly 12          in the out directory of lifeboat.toml\n\n",
    footer!()
);
const LIST_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat list                 the sets in ./backups (or out in lifeboat.toml)
  lifeboat list /backups --json\n\n",
    footer!()
);
const SIZE_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat size                 storage per set, per name and in total in ./backups
  lifeboat size /backups --json\n\n",
    footer!()
);
const INFO_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat info backups/app-20261122T041517Z.tar
  lifeboat info SET --json | jq '.databases[].tables'\n\n",
    footer!()
);
const SCHEDULE_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat schedule --cron '0 2 * * *' --initial postgres://app@db/shop --out s3://backups/shop --verify restore --keep-within 90d
  lifeboat schedule --cron '*/10 * * * * *' app.db --webhook \"$SLACK_URL\"   every ten seconds\n\n",
    footer!()
);
const FETCH_EXAMPLES: &str = concat!(
    "\
Examples:
  lifeboat fetch nightly                      the newest unexpired artifact named nightly
  lifeboat fetch nightly --run-id 123456 --out /tmp/sets\n\n",
    footer!()
);
const REPORT_EXAMPLES: &str = concat!(
    "\
Examples (inside GitHub Actions only):
  lifeboat report --outcome failure --class action --message 'the upload failed'
  lifeboat report --outcome success --class action\n\n",
    footer!()
);

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// lifeboat.toml listing databases, retention and defaults.
    #[arg(long, global = true, env = "LIFEBOAT_CONFIG")]
    pub config: Option<PathBuf>,

    /// Print nothing but results and errors.
    // Boolish: the variable takes GitHub's spellings (`True`, `FALSE`) too,
    // as the action's inputs arrive in it.
    #[arg(long, short, global = true, env = "LIFEBOAT_QUIET", value_parser = clap::builder::BoolishValueParser::new())]
    pub quiet: bool,

    /// Append a line per event to this file.
    #[arg(long, global = true, env = "LIFEBOAT_LOG_FILE")]
    pub log_file: Option<PathBuf>,
}

/// The failure issue, for the commands whose outcome GitHub hears of:
/// their own heading, and only on those commands.
#[derive(Debug, Args, Default, Clone)]
// Each arg names its heading: a struct-level next_help_heading would carry
// over to the flags that follow where it is flattened.
pub struct GithubArgs {
    /// Open (or comment on) one issue when this fails [default: false].
    #[arg(help_heading = "GitHub Actions", long, env = "LIFEBOAT_ISSUE_ON_FAILURE", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub issue_on_failure: Option<bool>,

    /// Labels for failure issues, comma-separated; created if missing
    /// [default: lifeboat].
    #[arg(
        help_heading = "GitHub Actions",
        long,
        env = "LIFEBOAT_ISSUE_LABELS",
        value_name = "LABELS"
    )]
    pub issue_labels: Option<String>,

    /// Close the failure issue when this succeeds [default: true].
    #[arg(help_heading = "GitHub Actions", long, env = "LIFEBOAT_CLOSE_ISSUE_ON_SUCCESS", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub close_issue_on_success: Option<bool>,

    /// The name failure issues are kept under [default: the set's name].
    #[arg(
        help_heading = "GitHub Actions",
        long,
        env = "LIFEBOAT_ISSUE_KEY",
        value_name = "KEY"
    )]
    pub issue_key: Option<String>,
}

/// How to reach an S3-compatible bucket named as `s3://bucket/prefix`;
/// credentials come only from the environment (AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or their _FILE variants).
#[derive(Debug, Args, Default, Clone)]
// Each arg names its heading: a struct-level next_help_heading would carry
// over to the flags that follow where it is flattened.
pub struct StoreArgs {
    /// The endpoint of an S3-compatible service (MinIO, Ceph, R2); else
    /// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL [default: AWS].
    #[arg(help_heading = "S3 (s3://bucket/prefix)", long, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// The bucket's region; else AWS_REGION or AWS_DEFAULT_REGION
    /// [default: us-east-1].
    #[arg(help_heading = "S3 (s3://bucket/prefix)", long, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// Allow a plain http:// endpoint (or AWS_ALLOW_HTTP=true).
    #[arg(help_heading = "S3 (s3://bucket/prefix)", long)]
    pub s3_allow_http: bool,

    /// Address buckets as bucket.host instead of host/bucket (path style,
    /// the default, which MinIO needs).
    #[arg(help_heading = "S3 (s3://bucket/prefix)", long)]
    pub s3_virtual_hosted: bool,
}

/// Webhook alerts, for the commands that back up, verify, restore or prune.
#[derive(Debug, Args, Default, Clone)]
pub struct AlertArgs {
    /// POST a JSON alert here when the command fails (Slack, Mattermost,
    /// Discord-compatible or any receiver). A secret: never printed. Also
    /// from a file named by LIFEBOAT_WEBHOOK_FILE.
    #[arg(
        help_heading = "Alerts",
        long,
        env = "LIFEBOAT_WEBHOOK",
        value_name = "URL",
        hide_env_values = true
    )]
    pub webhook: Option<String>,

    /// When to alert, comma-separated: failure, recovery (the first success
    /// after a failure), success [default: failure].
    #[arg(help_heading = "Alerts", long, env = "LIFEBOAT_WEBHOOK_ON", value_name = "EVENTS")]
    pub webhook_on: Option<String>,
}

/// The keys sets are read with, for the commands that read sets.
#[derive(Debug, Args, Default, Clone)]
// Each arg names its heading: a struct-level next_help_heading would carry
// over to the flags that follow where it is flattened.
pub struct KeyArgs {
    /// Read the age passphrase from this file (all of it but the line
    /// ending). The passphrase can also come from LIFEBOAT_PASSPHRASE; it
    /// is never taken on the command line.
    #[arg(
        help_heading = "Encryption",
        long,
        env = "LIFEBOAT_PASSPHRASE_FILE",
        value_name = "FILE"
    )]
    pub passphrase_file: Option<PathBuf>,

    /// An age identity file (AGE-SECRET-KEY-1... lines, as age-keygen
    /// writes) to open sets encrypted to its recipient; repeatable.
    /// LIFEBOAT_IDENTITY can hold the identities themselves.
    #[arg(
        help_heading = "Encryption",
        long,
        env = "LIFEBOAT_IDENTITY_FILE",
        value_name = "FILE"
    )]
    pub identity: Vec<PathBuf>,

    /// With a passphrase or identity given, also read sets that are not
    /// encrypted with it (anyone could have made those).
    #[arg(help_heading = "Encryption", long, env = "LIFEBOAT_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,
}

/// How `backup` encrypts.
#[derive(Debug, Args, Default, Clone)]
pub struct EncryptArgs {
    /// Encrypt the set with age, into <name>-<time>.tar.age: to the
    /// --recipient keys, else with the passphrase. A recipient or a
    /// passphrase given encrypts without it; with it, a missing key is an
    /// error.
    #[arg(help_heading = "Encryption", long, env = "LIFEBOAT_ENCRYPT")]
    pub encrypt: bool,

    /// Encrypt to this age recipient (age1..., a public key; repeatable,
    /// one per line in LIFEBOAT_RECIPIENTS). Restores need --identity.
    #[arg(
        help_heading = "Encryption",
        long,
        env = "LIFEBOAT_RECIPIENTS",
        value_delimiter = '\n',
        value_name = "RECIPIENT"
    )]
    pub recipient: Vec<String>,

    /// Encrypt to the recipients listed in this file, one per line (as
    /// age -R reads); repeatable.
    #[arg(
        help_heading = "Encryption",
        long,
        env = "LIFEBOAT_RECIPIENTS_FILE",
        value_name = "FILE"
    )]
    pub recipients_file: Vec<PathBuf>,
}

// One Command is parsed per run; boxing the big variants would only make
// every match on it noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up databases into one set: `<name>-<UTC time>[-<label>].tar`.
    #[command(after_help = BACKUP_EXAMPLES)]
    Backup(BackupArgs),
    /// Restore a set into --to, or the databases lifeboat.toml names.
    #[command(after_help = RESTORE_EXAMPLES)]
    Restore(RestoreArgs),
    /// Check a set: sidecar, member hashes, streams, manifest; with --level
    /// restore, restore it into a scratch database and compare.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// List the sets in a directory.
    #[command(after_help = LIST_EXAMPLES)]
    List(ListArgs),
    /// Show what a set holds.
    #[command(after_help = INFO_EXAMPLES)]
    Info(InfoArgs),
    /// Storage used per set and in total.
    #[command(after_help = SIZE_EXAMPLES)]
    Size(SizeArgs),
    /// Compare a set with a live database: tables, rows, schema.
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
    /// Remove old sets by keep rules; --dry-run shows the plan.
    #[command(after_help = PRUNE_EXAMPLES)]
    Prune(PruneArgs),
    /// Open, comment on or close the failure issue for an outcome decided
    /// elsewhere (the action's last steps report the other steps).
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Download the newest unexpired artifact of a name from earlier runs
    /// and print the path of the set inside it.
    #[command(after_help = FETCH_EXAMPLES)]
    Fetch(FetchArgs),
    /// Run as a service: back up on a cron schedule, with verification,
    /// retention, off-site copies and alerts, until SIGTERM.
    // A service runs outside GitHub Actions: the failure-issue flags of
    // the backup it repeats do not apply (webhooks do).
    #[command(
        after_help = SCHEDULE_EXAMPLES,
        mut_arg("issue_on_failure", |a| a.hide(true)),
        mut_arg("issue_labels", |a| a.hide(true)),
        mut_arg("close_issue_on_success", |a| a.hide(true)),
        mut_arg("issue_key", |a| a.hide(true))
    )]
    Schedule(ScheduleArgs),
}

/// `schedule`: a cron expression, and a backup's flags for every run.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// When to back up: five cron fields (minute hour day month weekday)
    /// or six with seconds first, in UTC: "0 2 * * *".
    #[arg(long, env = "LIFEBOAT_CRON")]
    pub cron: String,

    /// Take a first backup at start, then follow the schedule.
    #[arg(long, env = "LIFEBOAT_INITIAL")]
    pub initial: bool,

    /// After each backup, prune the out directory or bucket with the keep
    /// rules of lifeboat.toml's [retention] or these flags.
    #[command(flatten)]
    pub keep: KeepArgs,

    #[command(flatten)]
    pub backup: BackupArgs,
}

/// Keep rules as `schedule` takes them (the same as prune's).
#[derive(Debug, Args, Default)]
pub struct KeepArgs {
    /// Keep the newest N sets of each name after each run.
    #[arg(help_heading = "Retention after each run", long, env = "LIFEBOAT_KEEP_LAST", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_last: Option<u32>,
    /// Keep the newest set of each of the last N days.
    #[arg(help_heading = "Retention after each run", long, env = "LIFEBOAT_KEEP_DAILY", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_daily: Option<u32>,
    /// Keep the newest set of each of the last N weeks.
    #[arg(help_heading = "Retention after each run", long, env = "LIFEBOAT_KEEP_WEEKLY", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_weekly: Option<u32>,
    /// Keep the newest set of each of the last N months.
    #[arg(help_heading = "Retention after each run", long, env = "LIFEBOAT_KEEP_MONTHLY", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_monthly: Option<u32>,
    /// Keep every set within this span of the newest: 90d.
    #[arg(help_heading = "Retention after each run", long, env = "LIFEBOAT_KEEP_WITHIN")]
    pub keep_within: Option<String>,
}

impl Command {
    /// The failure-issue flags, for the commands that have them.
    pub fn github(&self) -> Option<&GithubArgs> {
        match self {
            Command::Backup(a) => Some(&a.github),
            Command::Restore(a) => Some(&a.github),
            Command::Verify(a) => Some(&a.github),
            Command::Prune(a) => Some(&a.github),
            Command::Report(a) => Some(&a.github),
            _ => None,
        }
    }
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

    #[command(flatten)]
    pub github: GithubArgs,
}

#[derive(Debug, Args, Clone)]
// Each arg names its heading: a struct-level next_help_heading would carry
// over to the flags that follow where it is flattened.
pub struct ArtifactArgs {
    /// Only the artifact of this workflow run.
    #[arg(help_heading = "GitHub artifacts", long, env = "LIFEBOAT_RUN_ID")]
    pub run_id: Option<u64>,

    /// Only artifacts of runs on this branch.
    #[arg(help_heading = "GitHub artifacts", long, env = "LIFEBOAT_ARTIFACT_BRANCH")]
    pub branch: Option<String>,

    /// Only artifacts of this workflow (file name like backup.yml, or name).
    #[arg(help_heading = "GitHub artifacts", long, env = "LIFEBOAT_ARTIFACT_WORKFLOW")]
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
    /// Databases: a postgres:// or postgresql:// URL, sqlite:PATH, a
    /// .db/.sqlite path, a glob, or NAME=any of these. One per line in
    /// LIFEBOAT_DATABASES. Taken from lifeboat.toml when absent.
    #[arg(env = "LIFEBOAT_DATABASES", value_delimiter = '\n', value_name = "DATABASE")]
    pub databases: Vec<String>,

    /// Directory the set is written to, or s3://bucket/prefix [default:
    /// backups].
    #[arg(long, short, env = "LIFEBOAT_OUT")]
    pub out: Option<PathBuf>,

    /// Also copy the finished (and verified) set here: s3://bucket/prefix
    /// or a directory (repeatable; one per line in LIFEBOAT_COPY_TO).
    #[arg(long, env = "LIFEBOAT_COPY_TO", value_delimiter = '\n', value_name = "URL")]
    pub copy_to: Vec<String>,

    /// S3 storage class of the sets written: STANDARD_IA, GLACIER_IR, ...
    /// [default: the bucket's, STANDARD].
    #[arg(long, env = "LIFEBOAT_STORAGE_CLASS", value_name = "CLASS")]
    pub storage_class: Option<String>,

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

    /// Compression level: gzip 0-9 [default: 2], zstd 1-19 [default: 2].
    /// (Formerly --level, which now names only the verification level.)
    #[arg(long, alias = "level", env = "LIFEBOAT_COMPRESSION_LEVEL", value_name = "N")]
    pub compression_level: Option<i32>,

    /// PostgreSQL: only tables matching this pattern (repeatable; read as
    /// pg_dump reads it: `*`, `?`, `schema.table`, unquoted names fold to
    /// lower case, "Quoted" ones keep it).
    #[arg(long, short = 't')]
    pub table: Vec<String>,

    /// PostgreSQL: leave out tables matching this pattern.
    #[arg(long, short = 'T')]
    pub exclude_table: Vec<String>,

    /// PostgreSQL: only schemas matching this pattern.
    #[arg(long, short = 'n')]
    pub schema: Vec<String>,

    /// PostgreSQL: leave out schemas matching this pattern.
    #[arg(long, short = 'N')]
    pub exclude_schema: Vec<String>,

    /// PostgreSQL: keep owners and grants (left out by default, as
    /// pg_dump --no-owner --no-privileges).
    #[arg(long)]
    pub with_privileges: bool,

    /// PostgreSQL: take large objects even with --table or --schema (they
    /// come with a whole database by default, as with pg_dump).
    #[arg(long, short = 'b', visible_alias = "blobs", conflicts_with = "no_large_objects")]
    pub large_objects: bool,

    /// PostgreSQL: leave large objects out.
    #[arg(long, short = 'B', visible_alias = "no-blobs")]
    pub no_large_objects: bool,

    /// PostgreSQL: take tables and indexes that stand in a tablespace of
    /// their own as if in the default one; a restore puts them in the
    /// target's default tablespace (as pg_dump --no-tablespaces).
    #[arg(long)]
    pub no_tablespaces: bool,

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

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub encryption: EncryptArgs,

    #[command(flatten)]
    pub keys: KeyArgs,

    #[command(flatten)]
    pub github: GithubArgs,
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
    /// PostgreSQL: parallel connections, 1 or more [default: 2].
    #[arg(long, short = 'j', env = "LIFEBOAT_JOBS", value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
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
    // Boolish: the action's `force: "True"` arrives here as it was typed.
    #[arg(long, env = "LIFEBOAT_FORCE", value_parser = clap::builder::BoolishValueParser::new())]
    pub force: bool,

    /// Do not keep a safety backup of the target before replacing it.
    #[arg(long)]
    pub no_safety_backup: bool,

    /// Where safety backups go [default: <set dir>/safety, or <out>/safety with --artifact or a
    /// set from a bucket].
    #[arg(long, env = "LIFEBOAT_SAFETY_DIR")]
    pub safety_dir: Option<PathBuf>,

    /// PostgreSQL: drop what the target database holds first (in the same
    /// transaction as the restore).
    #[arg(long, conflicts_with = "create_db")]
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

    /// Print what was restored as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub keys: KeyArgs,

    #[command(flatten)]
    pub github: GithubArgs,
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

    /// Parallel connections for the restore level, 1 or more.
    #[arg(long, short = 'j', env = "LIFEBOAT_JOBS", value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub checks: CheckArgs,

    /// Write the JSON report here (it is also kept beside the set).
    #[arg(long, env = "LIFEBOAT_REPORT")]
    pub report: Option<PathBuf>,

    /// Print the JSON report instead of the text summary.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub keys: KeyArgs,

    #[command(flatten)]
    pub github: GithubArgs,
}

/// `size` takes what `list` takes.
#[derive(Debug, Args)]
pub struct SizeArgs {
    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Directory of sets, or s3://bucket/prefix [default: out in
    /// lifeboat.toml, else backups].
    pub dir: Option<PathBuf>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The set file (.tar or .tar.age), or its URL
    /// (s3://bucket/prefix/<set>.tar).
    pub set: PathBuf,

    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The set file (.tar or .tar.age).
    pub set: PathBuf,

    /// The live database: a postgres:// URL, sqlite:PATH or a path.
    #[arg(value_name = "DB")]
    pub database: String,

    /// Which database of a set that holds several (its name in the set),
    /// as restore --database. (--database-name is the old spelling.)
    #[arg(
        long = "database",
        alias = "database-name",
        env = "LIFEBOAT_DATABASE",
        value_name = "NAME"
    )]
    pub database_name: Option<String>,

    /// Print the differences as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Directory of sets, or s3://bucket/prefix [default: out in
    /// lifeboat.toml, else backups].
    pub dir: Option<PathBuf>,

    /// Keep the newest N sets of each name (1 or more).
    #[arg(long, env = "LIFEBOAT_KEEP_LAST", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_last: Option<u32>,
    /// Keep the newest set of each of the last N hours that have one.
    #[arg(long, env = "LIFEBOAT_KEEP_HOURLY", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_hourly: Option<u32>,
    /// Keep the newest set of each of the last N days that have one.
    #[arg(long, env = "LIFEBOAT_KEEP_DAILY", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_daily: Option<u32>,
    /// Keep the newest set of each of the last N weeks that have one.
    #[arg(long, env = "LIFEBOAT_KEEP_WEEKLY", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_weekly: Option<u32>,
    /// Keep the newest set of each of the last N months that have one.
    #[arg(long, env = "LIFEBOAT_KEEP_MONTHLY", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_monthly: Option<u32>,
    /// Keep the newest set of each of the last N years that have one.
    #[arg(long, env = "LIFEBOAT_KEEP_YEARLY", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
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

    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub github: GithubArgs,
}
