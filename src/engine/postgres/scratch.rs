//! Throw-away places to restore into when proving a backup restorable: a
//! local cluster started from server binaries found on the machine, or a
//! temporary database on a server. Both are removed when dropped, on
//! success and on failure.

use super::connect::{self, Target};
use super::leftovers;
use crate::progress::Reporter;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a restore-level verification may restore to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScratchChoice {
    /// A local cluster; an error when no server binaries are found.
    Auto,
    Local,
    /// A temporary database on the server the backup came from.
    Server,
    /// A temporary database on the server this URL names.
    Url(String),
}

impl std::str::FromStr for ScratchChoice {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => ScratchChoice::Auto,
            "local" => ScratchChoice::Local,
            "server" => ScratchChoice::Server,
            url if connect::is_postgres_url(url) => ScratchChoice::Url(url.to_string()),
            other => bail!(
                "--scratch takes auto, local, server or a postgres:// URL, not {:?}",
                connect::RedactedUrl(other)
            ),
        })
    }
}

/// A database that exists until this is dropped.
pub struct Scratch {
    pub target: Target,
    /// A local cluster's superuser, on the scratch database; see
    /// `PostgresEngine::with_superuser` for the little it is used for.
    pub superuser: Option<Target>,
    /// Schema public was handed to the restore role (PostgreSQL 14 and
    /// older), and goes back after the restore.
    public_lent: bool,
    pub description: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Cluster {
        dir: PathBuf,
        pg_ctl: PathBuf,
        as_user: Option<String>,
        lib: Option<PathBuf>,
    },
    Database {
        admin: Box<Target>,
        name: String,
        /// The session holding the scratch database's lock; it ends (and
        /// lets the lock go) once the database is dropped.
        _holder: Option<Box<postgres::Client>>,
    },
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Cluster {
                dir,
                pg_ctl,
                as_user,
                lib,
            } => {
                let data = dir.join("data");
                let _ = server_command(pg_ctl, as_user.as_deref(), lib.as_deref())
                    .args(["-D"])
                    .arg(&data)
                    .args(["-m", "immediate", "-w", "stop"])
                    .output();
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin, name, .. } => {
                if let Ok(mut client) = admin.connect() {
                    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
                    let force = client.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"));
                    if force.is_err() {
                        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"));
                    }
                }
            }
        }
    }
}

/// The major version in a `server_version` string: `15.18 (Debian...)` is 15.
pub fn major_of(version: &str) -> Option<u32> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())?
        .parse()
        .ok()
}

/// Creates a scratch database for a backup taken from a server of
/// `backup_major`. `source` is the server the backup came from.
pub fn create(
    choice: &ScratchChoice,
    backup_major: Option<u32>,
    source: Option<&Target>,
    pg_bin: Option<&Path>,
    roles: &[String],
    extensions: &[String],
    reporter: &Reporter,
) -> Result<Scratch> {
    match choice {
        ScratchChoice::Local => local(backup_major, pg_bin, roles, extensions, reporter),
        ScratchChoice::Server => match source {
            Some(s) => on_server(s, reporter),
            None => bail!(
                "--scratch server needs the source server: pass its URL with --source, or use --scratch local or a URL"
            ),
        },
        ScratchChoice::Url(url) => on_server(&connect::parse(url, &connect::process_env)?, reporter),
        // Auto never falls back to the source server: that would quietly
        // build a full copy of (usually) production on production.
        ScratchChoice::Auto => local(backup_major, pg_bin, roles, extensions, reporter).map_err(|e| {
            e.context(
                "--scratch auto restores into a throw-away local cluster only; install the PostgreSQL server \
                 package (e.g. apt-get install postgresql), pass --pg-bin DIR, or choose --scratch server \
                 (with --source URL) or --scratch postgres://... explicitly",
            )
        }),
    }
}

fn on_server(server: &Target, reporter: &Reporter) -> Result<Scratch> {
    let name = leftovers::name(
        &server.dbname,
        leftovers::Kind::Verify,
        &chrono::Utc::now().format("%Y%m%d%H%M%S").to_string(),
    );
    let admin = server.clone();
    let mut client = admin.connect()?;
    // The lock that says this scratch database is in use lives in the
    // maintenance database, as long as this session does: a run that
    // finds it free knows the verify that made the database is gone.
    let mut holder = ["postgres", "template1"]
        .iter()
        .find_map(|db| server.with_dbname(db).connect().ok())
        .context(
            "connecting to the maintenance database (postgres or template1) to hold the scratch database's lock",
        )?;
    leftovers::sweep_server(&mut holder, reporter);
    leftovers::hold_verify_lock(&mut holder, &name)?;
    client
        .batch_execute(&format!(
            "CREATE DATABASE \"{}\" TEMPLATE template0 ENCODING 'UTF8'",
            name.replace('"', "\"\"")
        ))
        .map_err(|e| {
            anyhow::anyhow!(
                "creating scratch database {name} on {}: {}; the user needs CREATEDB, or use --scratch local",
                server.redacted,
                connect::server_message(&e)
            )
        })?;
    let scratch = Scratch {
        target: server.with_dbname(&name),
        superuser: None,
        public_lent: false,
        description: format!("database {name} on {}", server.redacted),
        cleanup: Cleanup::Database {
            admin: Box::new(admin),
            name: name.clone(),
            _holder: Some(Box::new(holder)),
        },
    };
    leftovers::mark_created(&mut client, &name, &server.dbname, leftovers::Kind::Verify)?;
    reporter.info(&format!(
        "restoring into scratch database {name} on {}",
        server.redacted
    ));
    Ok(scratch)
}

/// Server binary directories on this machine, with their major versions.
pub fn find_servers(pg_bin: Option<&Path>) -> Vec<(u32, PathBuf)> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = pg_bin {
        dirs.push(d.to_path_buf());
    }
    if let Ok(path) = std::env::var("PATH") {
        dirs.extend(std::env::split_paths(&path).filter(|d| d.join("initdb").exists()));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        dirs.extend(entries.flatten().map(|e| e.path().join("bin")));
    }
    let mut found = Vec::new();
    for dir in dirs {
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        if !dir.join("initdb").exists() || !dir.join("pg_ctl").exists() || found.iter().any(|(_, d)| d == &dir) {
            continue;
        }
        let lib = library_dir(&dir);
        let out = server_command(&dir.join("postgres"), None, lib.as_deref())
            .arg("--version")
            .output();
        if let Some(major) = out
            .ok()
            .and_then(|o| major_of(String::from_utf8_lossy(&o.stdout).rsplit(' ').next().unwrap_or("")))
        {
            found.push((major, dir));
        }
    }
    found.sort();
    found
}

/// Packaged servers (the npm builds) keep their libraries beside bin/.
fn library_dir(bin: &Path) -> Option<PathBuf> {
    let lib = bin.parent()?.join("lib");
    lib.join("libpq.so.5").exists().then_some(lib)
}

/// The role the set's SQL runs as in a local scratch cluster: it owns the
/// scratch database and nothing else, and is not a superuser, so a
/// function the set defines cannot `COPY ... TO PROGRAM`, read server files
/// or load code.
pub const RESTORE_ROLE: &str = "lifeboat_restore";

/// The scratch cluster's superuser: a name no set uses, so that roles a
/// set's owners name (`postgres` among them) are made as plain roles.
const ADMIN_ROLE: &str = "lifeboat_scratch_admin";

/// A server binary with an empty environment (a minimal PATH and the
/// library directory alone): the scratch server restores a stranger's set,
/// and must not hold GITHUB_TOKEN, PGPASSWORD or any other secret of ours.
fn server_command(program: &Path, as_user: Option<&str>, lib: Option<&Path>) -> Command {
    let mut cmd = match as_user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C.UTF-8");
    if let Some(lib) = lib {
        cmd.env("LD_LIBRARY_PATH", lib);
    }
    cmd
}

/// A throw-away cluster; `roles` are those a set's owners and grants name
/// (`--with-privileges`), made there so the set's statements can run.
fn local(
    backup_major: Option<u32>,
    pg_bin: Option<&Path>,
    roles: &[String],
    extensions: &[String],
    reporter: &Reporter,
) -> Result<Scratch> {
    super::leftovers::stop_stale_scratch_clusters(reporter);
    let servers = find_servers(pg_bin);
    let need = backup_major.unwrap_or(0);
    let Some((major, bin)) = servers.iter().find(|(m, _)| *m >= need).cloned() else {
        let seen = if servers.is_empty() {
            "none".to_string()
        } else {
            servers
                .iter()
                .map(|(m, d)| format!("{m} in {}", d.display()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        bail!(
            "no PostgreSQL server binaries of version {need} or newer on this machine (found: {seen}); install postgresql-{need} (or newer), pass --pg-bin DIR, or use --scratch server"
        );
    };
    let lib = library_dir(&bin);
    let as_user = if unsafe { libc::geteuid() } == 0 {
        let user = ["postgres", "nobody"]
            .into_iter()
            .find(|u| Command::new("id").arg(u).output().is_ok_and(|o| o.status.success()))
            .context("running as root, and neither a postgres nor a nobody user exists to run the scratch server as")?;
        Some(user.to_string())
    } else {
        None
    };
    // Private (0700): the cluster's socket and files are reachable by us
    // and the server's user alone.
    let dir = tempfile::Builder::new()
        .prefix("lifeboat-scratch-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .context("creating a scratch directory")?
        .keep();
    let cleanup_on_error = |e: anyhow::Error| {
        let _ = std::fs::remove_dir_all(&dir);
        e
    };
    if let Some(user) = &as_user {
        let ok = Command::new("chown")
            .arg(user)
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(cleanup_on_error(anyhow::anyhow!(
                "cannot hand {} to {user}",
                dir.display()
            )));
        }
    }
    // Whose cluster this is, so a later run can tell one a killed run left.
    super::leftovers::claim_scratch_dir(&dir);
    let data = dir.join("data");
    let out = server_command(&bin.join("initdb"), as_user.as_deref(), lib.as_deref())
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            ADMIN_ROLE,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ])
        .output()
        .context("running initdb")
        .map_err(cleanup_on_error)?;
    if !out.status.success() {
        return Err(cleanup_on_error(anyhow::anyhow!(
            "initdb {} failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(54329);
    let options = format!(
        "-k {} -p {port} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=40",
        dir.display()
    );
    let out = server_command(&bin.join("pg_ctl"), as_user.as_deref(), lib.as_deref())
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("server.log"))
        .args(["-w", "start"])
        .output()
        .context("running pg_ctl")
        .map_err(cleanup_on_error)?;
    let scratch_cleanup = Cleanup::Cluster {
        dir: dir.clone(),
        pg_ctl: bin.join("pg_ctl"),
        as_user: as_user.clone(),
        lib: lib.clone(),
    };
    let url = format!(
        "postgresql://{ADMIN_ROLE}@/postgres?host={}&port={port}&sslmode=disable",
        dir.display()
    );
    let admin = connect::parse(&url, &|_| None)?;
    let restorer = connect::parse(
        &format!(
            "postgresql://{RESTORE_ROLE}@/verify?host={}&port={port}&sslmode=disable",
            dir.display()
        ),
        &|_| None,
    )?;
    let mut scratch = Scratch {
        target: restorer,
        superuser: Some(admin.with_dbname("verify")),
        public_lent: false,
        description: format!("a PostgreSQL {major} cluster in {}", dir.display()),
        cleanup: scratch_cleanup,
    };
    if !out.status.success() {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        bail!(
            "starting the scratch server failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            log.lines().last().unwrap_or("")
        );
    }
    let mut client = admin.connect()?;
    client
        .batch_execute(&format!(
            "CREATE ROLE {RESTORE_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION BYPASSRLS"
        ))
        .context("creating the scratch cluster's restore role")?;
    // BYPASSRLS above: the restored rows are read back in full, as the
    // backup read them. The set's roles are new, login-less roles the
    // restore role may act as; a name that exists already (a system role)
    // is never granted to it.
    for role in roles {
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)",
                &[role],
            )?
            .try_get(0)?;
        if exists || role.starts_with("pg_") {
            continue;
        }
        let quoted = format!("\"{}\"", role.replace('"', "\"\""));
        client
            .batch_execute(&format!(
                "CREATE ROLE {quoted} NOLOGIN; GRANT {quoted} TO {RESTORE_ROLE}"
            ))
            .with_context(|| {
                format!(
                    "creating role {} in the scratch cluster",
                    crate::github::workflow::neutralize(role)
                )
            })?;
    }
    client
        .batch_execute(&format!("CREATE DATABASE verify OWNER {RESTORE_ROLE}"))
        .context("creating the scratch database")?;
    // Extensions in public the restore role may not make (not trusted, or
    // PostgreSQL 12, where none is) are made first by the superuser, from
    // the scripts installed on this machine, into a database that holds
    // nothing of the set yet: nothing the set makes can change what those
    // scripts do. The set's own CREATE EXTENSION IF NOT EXISTS then finds
    // them made; CASCADE makes what one requires (earthdistance's cube)
    // first, there too.
    let mut verify_db = admin.with_dbname("verify").connect()?;
    for name in extensions {
        let trusted: bool = major >= 13
            && verify_db
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions WHERE name = $1 AND trusted)",
                    &[name],
                )?
                .try_get(0)?;
        if trusted {
            continue;
        }
        // One the machine lacks fails where the set makes it, named.
        if let Err(e) = verify_db.batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public CASCADE",
            super::guard::quote_ident(name)
        )) {
            reporter.log(&format!(
                "the scratch cluster could not make extension {}: {}",
                crate::github::workflow::neutralize(name),
                connect::server_message(&e)
            ));
        }
    }
    drop(verify_db);
    // Up to PostgreSQL 14, schema public belongs to the superuser: the
    // restore role gets it for the restore, as the owner of a new database
    // has it (through pg_database_owner) from 15 on.
    if major < 15 {
        admin
            .with_dbname("verify")
            .connect()?
            .batch_execute(&format!("ALTER SCHEMA public OWNER TO {RESTORE_ROLE}"))
            .context("handing schema public to the scratch database's owner")?;
    }
    reporter.info(&format!("restoring into {}", scratch.description));
    scratch.public_lent = major < 15;
    Ok(scratch)
}

impl Scratch {
    /// Once the restore is in: schema public goes back to the superuser
    /// where it was lent, so that its grants read as the source's, which
    /// are written against the privileges initdb gave it.
    pub fn restored(&self) -> Result<()> {
        if !self.public_lent {
            return Ok(());
        }
        let superuser = self
            .superuser
            .as_ref()
            .context("a local scratch cluster has a superuser")?;
        let mut client = superuser.connect()?;
        // Unless the set gave it an owner of its own.
        let still_lent: bool = client
            .query_one(
                &format!("SELECT nspowner = '{RESTORE_ROLE}'::pg_catalog.regrole FROM pg_catalog.pg_namespace WHERE nspname = 'public'"),
                &[],
            )?
            .try_get(0)?;
        if !still_lent {
            return Ok(());
        }
        client
            .batch_execute(&format!("ALTER SCHEMA public OWNER TO {ADMIN_ROLE}"))
            .context("handing schema public back to the scratch cluster's superuser")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn majors() {
        assert_eq!(super::major_of("15.18 (Debian 15.18-0+deb12u1)"), Some(15));
        assert_eq!(super::major_of("18beta1"), Some(18));
        assert_eq!(super::major_of(""), None);
        assert!("local".parse::<super::ScratchChoice>().is_ok());
        assert!("mysql://x".parse::<super::ScratchChoice>().is_err());
    }
}
