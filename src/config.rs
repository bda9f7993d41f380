//! Flags, `LIFEBOAT_*` variables and `lifeboat.toml` resolved into one
//! `Config`, passed explicitly to every command. Flags and variables win
//! over the file; the file wins over defaults. Three stages (fd's cli →
//! config, rustic's `override_config`): [`Draft::from_file`] reads the file
//! and the global flags, each command puts its own flags on top
//! (`commands::Cmd::configure`), and [`Draft::finish`] resolves what
//! commands share (stores, alerts, keys, compression) and checks the whole.

use crate::archive::compression::{Algorithm, Compression};
use crate::archive::crypt::{self, Encryption, Keys};
use crate::cli::{AlertArgs, Cli, EncryptArgs, GlobalArgs, KeyArgs, StoreArgs};
use crate::commands::Cmd;
use crate::engine::Selection;
use crate::engine::postgres::scratch::ScratchChoice;
use crate::engine::{DatabaseSpec, EngineOptions};
use crate::retention::{Policy, parse_span};
use crate::store::local::check_name_part;
use crate::verify::{Policies, RestoreLevel};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_OUT: &str = "backups";
pub const DEFAULT_CONFIG: &str = "lifeboat.toml";

/// Everything a command needs to know, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub quiet: bool,
    pub log_file: Option<PathBuf>,
    /// Where sets are written and looked for.
    pub out_dir: PathBuf,
    pub set_name: Option<String>,
    pub label: Option<String>,
    pub kind: Option<String>,
    pub compression: Compression,
    pub databases: Vec<DatabaseSpec>,
    pub retention: Policy,
    pub safety_retention: Policy,
    pub safety_dir: Option<PathBuf>,
    pub engine: EngineOptions,
    pub verify: VerifySettings,
    /// How to reach object stores (s3://).
    pub store: crate::store::StoreOptions,
    /// Where finished sets are copied besides `out_dir`.
    pub copy_to: Vec<PathBuf>,
    pub alerts: crate::alert::AlertSettings,
    pub crypt: CryptSettings,
}

/// The keys sets are read with, and how a backup encrypts.
#[derive(Debug, Clone, Default)]
pub struct CryptSettings {
    pub keys: Keys,
    /// `None`: sets are written unencrypted.
    pub encryption: Option<Encryption>,
}

/// How deep verification goes, and what it holds a set to.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// `None` when no verification was asked for (backup without --verify).
    pub level: Option<Level>,
    pub restore: RestoreLevel,
    pub policies: Policies,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Quick,
    Restore,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Quick => "quick",
            Level::Restore => "restore",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Option<Level>> {
        Ok(match text {
            "none" | "off" => None,
            "quick" => Some(Level::Quick),
            "restore" => Some(Level::Restore),
            other => crate::usage_bail!("unknown verification level {other:?}: use none, quick or restore"),
        })
    }
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings {
            level: None,
            restore: RestoreLevel {
                scratch: ScratchChoice::Auto,
                pg_bin: None,
                sources: Default::default(),
                jobs: 2,
            },
            policies: Policies::default(),
        }
    }
}

/// `[verify]` in lifeboat.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileVerify {
    pub level: Option<String>,
    pub scratch: Option<String>,
    pub pg_bin: Option<PathBuf>,
    #[serde(default)]
    pub expect_tables: Vec<String>,
    pub expect_migration: Option<String>,
    pub min_size: Option<String>,
    pub max_size: Option<String>,
    pub max_size_change: Option<String>,
    pub max_age: Option<String>,
}

/// Reads sizes like `500kB`, `10MB`, `1.5GiB` or a plain byte count.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("bad size {text:?}: write it like 10MB or 1.5GiB"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => anyhow::bail!("bad size unit {other:?} in {text:?}: use B, kB, MB, GB, TB or KiB, MiB, GiB, TiB"),
    };
    Ok((n * factor).round() as u64)
}

/// Reads `50%` (or `0.5`) as a fraction.
pub fn parse_fraction(text: &str) -> Result<f64> {
    let t = text.trim();
    let value: f64 = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| anyhow::anyhow!("bad percentage {text:?}: write it like 50%"))?;
    if value < 0.0 {
        anyhow::bail!("bad percentage {text:?}: it cannot be negative");
    }
    Ok(value)
}

pub(crate) fn apply_checks(
    v: &mut VerifySettings,
    file: &FileVerify,
    flags: Option<&crate::cli::CheckArgs>,
) -> Result<()> {
    let pick = |flag: Option<&Option<String>>, from_file: &Option<String>| {
        flag.and_then(|f| f.clone()).or_else(|| from_file.clone())
    };
    if let Some(s) = pick(flags.map(|f| &f.scratch), &file.scratch) {
        v.restore.scratch = s.parse().map_err(usage)?;
    }
    v.restore.pg_bin = flags.and_then(|f| f.pg_bin.clone()).or_else(|| file.pg_bin.clone());
    let p = &mut v.policies;
    p.expect_tables = file.expect_tables.clone();
    if let Some(f) = flags {
        p.expect_tables.extend(f.expect_table.iter().cloned());
    }
    p.expect_migration = pick(flags.map(|f| &f.expect_migration), &file.expect_migration);
    p.min_size = pick(flags.map(|f| &f.min_size), &file.min_size)
        .map(|s| parse_size(&s))
        .transpose()
        .map_err(usage)?;
    p.max_size = pick(flags.map(|f| &f.max_size), &file.max_size)
        .map(|s| parse_size(&s))
        .transpose()
        .map_err(usage)?;
    p.max_size_change = pick(flags.map(|f| &f.max_size_change), &file.max_size_change)
        .map(|s| parse_fraction(&s))
        .transpose()
        .map_err(usage)?;
    p.max_age = pick(flags.map(|f| &f.max_age), &file.max_age)
        .map(|s| parse_span(&s))
        .transpose()
        .map_err(usage)?;
    Ok(())
}

impl Default for Config {
    fn default() -> Self {
        Config {
            quiet: false,
            log_file: None,
            out_dir: PathBuf::from(DEFAULT_OUT),
            set_name: None,
            label: None,
            kind: None,
            compression: Compression::new(Algorithm::Gzip, None).expect("default level is valid"),
            databases: Vec::new(),
            retention: Policy::default(),
            safety_retention: Policy::safety_default(),
            safety_dir: None,
            engine: EngineOptions {
                jobs: 2,
                ..Default::default()
            },
            verify: VerifySettings::default(),
            crypt: CryptSettings::default(),
            store: Default::default(),
            copy_to: Vec::new(),
            alerts: Default::default(),
        }
    }
}

/// `lifeboat.toml` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub name: Option<String>,
    pub out: Option<PathBuf>,
    pub label: Option<String>,
    pub kind: Option<String>,
    pub compression: Option<String>,
    /// The compression level; `compression_level` reads as the flag does.
    #[serde(alias = "compression_level")]
    pub level: Option<i32>,
    pub log_file: Option<PathBuf>,
    pub safety_dir: Option<PathBuf>,
    #[serde(default)]
    pub databases: Vec<DatabaseSpec>,
    #[serde(default)]
    pub retention: Policy,
    /// How long safety backups are kept, e.g. "7d".
    pub keep_safety: Option<String>,
    /// Parallel connections for PostgreSQL dumps and restores.
    pub jobs: Option<usize>,
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(default)]
    pub exclude_schemas: Vec<String>,
    #[serde(default)]
    pub verify: FileVerify,
}

impl FileConfig {
    pub fn read(path: &Path) -> Result<FileConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            // toml's own Display quotes the offending line, and with it any
            // URL and password on it: only the position and the message,
            // with quoted values taken out, are shown.
            let at = e
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
                    format!(" at line {line}, column {column}")
                })
                .unwrap_or_default();
            anyhow::Error::new(crate::error::UsageError(format!(
                "config {} is not valid{at}: {}",
                path.display(),
                without_quoted_values(e.message())
            )))
        })
    }
}

/// A parser's message with every "quoted value" replaced by "…": serde
/// quotes the value it could not take, which may be a URL with its
/// password. Field names (in backticks) stay.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in message.chars() {
        match (c, inside) {
            ('"', false) => {
                inside = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                inside = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    crate::engine::postgres::connect::redact_url(&out)
}

/// Resolves the command line, the environment (through clap) and the
/// config file into a `Config`.
pub fn resolve(cli: &Cli) -> Result<Config> {
    resolve_for(&cli.global, crate::commands::of(&cli.command))
}

/// The three stages for one command.
pub fn resolve_for(global: &GlobalArgs, command: &dyn Cmd) -> Result<Config> {
    let mut draft = Draft::from_file(global)?;
    command.configure(&mut draft)?;
    draft.finish()
}

/// A configuration being resolved: the file's settings, then a command's
/// flags on top.
pub struct Draft<'a> {
    pub config: Config,
    pub file: FileConfig,
    /// The compression asked for so far: the file's, then a backup's flags.
    pub compression: Option<String>,
    pub level: Option<i32>,
    /// The shared flag groups the command takes, resolved by `finish`.
    pub store: Option<&'a StoreArgs>,
    pub alerts: Option<&'a AlertArgs>,
    pub keys: Option<&'a KeyArgs>,
    /// With a key given, the command reads only sets it opens.
    pub strict_keys: bool,
    /// How a backup encrypts.
    pub encryption: Option<&'a EncryptArgs>,
}

impl<'a> Draft<'a> {
    /// Stage one: lifeboat.toml and the global flags.
    pub fn from_file(global: &GlobalArgs) -> Result<Draft<'a>> {
        let file = match &global.config {
            Some(path) => FileConfig::read(path)?,
            None if Path::new(DEFAULT_CONFIG).is_file() => FileConfig::read(Path::new(DEFAULT_CONFIG))?,
            None => FileConfig::default(),
        };
        let mut config = Config {
            quiet: global.quiet,
            log_file: global.log_file.clone().or(file.log_file.clone()),
            out_dir: file.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT)),
            set_name: file.name.clone(),
            label: file.label.clone(),
            kind: file.kind.clone(),
            databases: file.databases.clone(),
            retention: file.retention.clone(),
            safety_dir: file.safety_dir.clone(),
            ..Config::default()
        };
        let r = &file.retention;
        if [
            r.keep_last,
            r.keep_hourly,
            r.keep_daily,
            r.keep_weekly,
            r.keep_monthly,
            r.keep_yearly,
        ]
        .contains(&Some(0))
        {
            crate::usage_bail!(
                "[retention] in {} keeps 0 sets by some rule: a rule keeps 1 or more, or is left out",
                global.config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG)).display()
            );
        }
        if let Some(span) = &file.keep_safety {
            config.safety_retention = Policy {
                keep_within: Some(parse_span(span).map_err(usage)?),
                ..Default::default()
            };
        }
        config.engine.jobs = file.jobs.unwrap_or(config.engine.jobs);
        config.engine.selection = Selection {
            tables: Vec::new(),
            exclude_tables: file.exclude_tables.clone(),
            schemas: file.schemas.clone(),
            exclude_schemas: file.exclude_schemas.clone(),
        };
        config.verify.level = file.verify.level.as_deref().map(Level::parse).transpose()?.flatten();
        apply_checks(&mut config.verify, &file.verify, None)?;
        Ok(Draft {
            compression: file.compression.clone(),
            level: file.level,
            config,
            file,
            store: None,
            alerts: None,
            keys: None,
            strict_keys: false,
            encryption: None,
        })
    }

    /// Stage three: the flag groups commands share, then checks of the
    /// whole.
    pub fn finish(self) -> Result<Config> {
        let mut config = self.config;
        if let Some(flags) = self.store {
            let s3 = &mut config.store.s3;
            s3.endpoint = flags.s3_endpoint.clone().filter(|e| !e.trim().is_empty());
            s3.region = flags.s3_region.clone().filter(|r| !r.trim().is_empty());
            s3.allow_http = flags.s3_allow_http;
            s3.virtual_hosted = flags.s3_virtual_hosted;
        }
        if let Some(flags) = self.alerts {
            config.alerts = crate::alert::AlertSettings::from_flags(flags).map_err(usage)?;
        }
        config.crypt = resolve_crypt(self.keys, self.strict_keys, self.encryption)?;
        let algorithm: Algorithm = match self.compression {
            Some(c) => c.parse().map_err(usage)?,
            None => Algorithm::Gzip,
        };
        config.compression = Compression::new(algorithm, self.level).map_err(usage)?;
        if config.engine.schema_only && config.engine.data_only {
            crate::usage_bail!("--schema-only and --data-only exclude each other");
        }
        if let Some(name) = &config.set_name {
            check_name_part("set name", name)?;
        }
        if let Some(label) = &config.label {
            check_name_part("label", label)?;
        }
        Ok(config)
    }
}

/// The keys from `LIFEBOAT_PASSPHRASE` / `--passphrase-file`,
/// `LIFEBOAT_IDENTITY` / `--identity`, and for a backup the recipients.
/// Secrets are read from the environment and files only, never from argv,
/// and no error quotes them.
fn resolve_crypt(args: Option<&KeyArgs>, strict: bool, encryption: Option<&EncryptArgs>) -> Result<CryptSettings> {
    let Some(args) = args else {
        return Ok(CryptSettings::default());
    };
    let passphrase = match &args.passphrase_file {
        Some(path) => Some(crypt::read_passphrase_file(path).map_err(usage)?),
        None => std::env::var("LIFEBOAT_PASSPHRASE")
            .ok()
            .filter(|p| !p.is_empty())
            .map(age::secrecy::SecretString::from),
    };
    let mut identities = Vec::new();
    if let Ok(text) = std::env::var("LIFEBOAT_IDENTITY")
        && !text.trim().is_empty()
    {
        identities.extend(crypt::parse_identities(&text, "LIFEBOAT_IDENTITY").map_err(usage)?);
    }
    for path in &args.identity {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading identity file {}", path.display()))?;
        identities.extend(crypt::parse_identities(&text, &format!("identity file {}", path.display())).map_err(usage)?);
    }
    let given = passphrase.is_some() || !identities.is_empty();
    // With a key given, restore and verify take only sets it opens: a
    // passphrase set proves it was made by someone who knows it.
    let require = given && strict && !args.allow_unauthenticated;
    let keys = Keys::new(passphrase.clone(), identities, require);
    let encryption = match encryption {
        Some(e) => {
            let mut recipients = Vec::new();
            for (n, r) in e.recipient.iter().filter(|r| !r.trim().is_empty()).enumerate() {
                recipients.extend(crypt::parse_recipients(r, &format!("--recipient #{}", n + 1)).map_err(usage)?);
            }
            for path in &e.recipients_file {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading recipients file {}", path.display()))?;
                let listed =
                    crypt::parse_recipients(&text, &format!("recipients file {}", path.display())).map_err(usage)?;
                if listed.is_empty() {
                    crate::usage_bail!("recipients file {} lists no recipient", path.display());
                }
                recipients.extend(listed);
            }
            match (recipients.is_empty(), passphrase) {
                (false, Some(_)) => crate::usage_bail!(
                    "age encrypts a set to recipients or with a passphrase, not both: drop --recipient/--recipients-file or LIFEBOAT_PASSPHRASE/--passphrase-file"
                ),
                (false, None) => Some(Encryption::Recipients(recipients)),
                (true, Some(p)) => Some(Encryption::Passphrase(p)),
                (true, None) if e.encrypt => crate::usage_bail!(
                    "--encrypt needs a key: LIFEBOAT_PASSPHRASE, --passphrase-file, --recipient or --recipients-file"
                ),
                (true, None) => None,
            }
        }
        None => None,
    };
    Ok(CryptSettings { keys, encryption })
}

pub(crate) fn apply_engine_flags(engine: &mut EngineOptions, flags: &crate::cli::EngineArgs) {
    if let Some(jobs) = flags.jobs {
        engine.jobs = jobs.max(1);
    }
    engine.schema_only = flags.schema_only;
    engine.data_only = flags.data_only;
}

pub(crate) fn override_with(slot: &mut PathBuf, value: Option<PathBuf>) {
    if let Some(v) = value {
        *slot = v;
    }
}

pub(crate) fn usage(err: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(crate::error::UsageError(format!("{err:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.toml");
        std::fs::write(
            &path,
            r#"
name = "nightly"
out = "from-file"
compression = "zstd"
[[databases]]
name = "app"
url = "sqlite:app.db"
[retention]
keep_last = 3
keep_within = "30d"
"#,
        )
        .unwrap();
        let cli = Cli::parse_from([
            "lifeboat",
            "--config",
            path.to_str().unwrap(),
            "backup",
            "--compression-level",
            "5",
        ]);
        let c = resolve(&cli).unwrap();
        assert_eq!(c.out_dir, PathBuf::from("from-file"));
        assert_eq!(c.set_name.as_deref(), Some("nightly"));
        assert_eq!(c.compression, Compression::new(Algorithm::Zstd, Some(5)).unwrap());
        assert_eq!(c.databases[0].name.as_deref(), Some("app"));
        assert_eq!(c.retention.keep_last, Some(3));

        let cli = Cli::parse_from([
            "lifeboat",
            "--config",
            path.to_str().unwrap(),
            "prune",
            "--keep-daily",
            "2",
        ]);
        let c = resolve(&cli).unwrap();
        assert_eq!(
            c.retention,
            Policy {
                keep_daily: Some(2),
                ..Default::default()
            }
        );
    }

    /// The action passes --verify-default; lifeboat.toml's level must win
    /// over it, and --verify over both.
    #[test]
    fn verify_level_flag_then_file_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let with_level = dir.path().join("with.toml");
        std::fs::write(&with_level, "[verify]\nlevel = \"quick\"\n").unwrap();
        let without = dir.path().join("without.toml");
        std::fs::write(&without, "out = \"x\"\n").unwrap();
        let level = |config: &Path, extra: &[&str]| {
            let mut args = vec!["lifeboat", "--config", config.to_str().unwrap(), "backup", "app.db"];
            args.extend_from_slice(extra);
            resolve(&Cli::parse_from(args)).unwrap().verify.level
        };
        assert_eq!(level(&with_level, &["--verify-default", "restore"]), Some(Level::Quick));
        assert_eq!(level(&without, &["--verify-default", "restore"]), Some(Level::Restore));
        assert_eq!(level(&without, &[]), None);
        assert_eq!(
            level(&with_level, &["--verify", "none", "--verify-default", "restore"]),
            None
        );
    }

    #[test]
    fn sizes_and_fractions() {
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("1.5GiB").unwrap(), 1_610_612_736);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert!(parse_size("10XB").is_err());
        assert_eq!(parse_fraction("50%").unwrap(), 0.5);
        assert_eq!(parse_fraction("0.25").unwrap(), 0.25);
        assert!(parse_fraction("-5%").is_err());
    }

    #[test]
    fn config_errors_never_quote_secret_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.toml");
        for text in [
            "[[databases]]\nurl = \"postgres://u:s3/cr@t pw@h/db\" oops\n",
            "[[databases]]\nurl = 5\nname = \"postgres://u:s3/cr@t pw@h/db\"\n",
            "name = [\"postgres://u:s3/cr@t pw@h/db\"]\n",
            "[[databases]]\nurl = \"postgres://u:s3/cr@t pw@h/db\nname = 1\n",
        ] {
            std::fs::write(&path, text).unwrap();
            let cli = Cli::parse_from(["lifeboat", "--config", path.to_str().unwrap(), "list"]);
            let err = format!("{:#}", resolve(&cli).unwrap_err());
            assert!(!err.contains("s3/cr") && !err.contains("t pw"), "{err}");
            assert!(err.contains("line "), "{err}");
        }
    }

    #[test]
    fn typos_in_the_file_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.toml");
        std::fs::write(&path, "compresion = \"zstd\"\n").unwrap();
        let cli = Cli::parse_from(["lifeboat", "--config", path.to_str().unwrap(), "list"]);
        let err = resolve(&cli).unwrap_err();
        assert!(err.is::<crate::error::UsageError>(), "{err:#}");
    }
}
