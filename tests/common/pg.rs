//! A real PostgreSQL cluster for the tests: `initdb` and `pg_ctl` in a
//! temporary directory, on a Unix socket and a loopback port, as the
//! `postgres` user when the tests run as root. One cluster per test binary,
//! stopped when the binary exits. Missing binaries fail the tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const PASSWORD: &str = "lifeboat-test-secret";

pub struct Cluster {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static DATA_DIR: OnceLock<(PathBuf, PathBuf, bool)> = OnceLock::new();

/// The PostgreSQL binaries: LIFEBOAT_TEST_PG_BIN, or the newest Debian
/// install, or initdb on PATH.
pub fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("LIFEBOAT_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            Some((
                e.file_name().to_string_lossy().parse::<u32>().ok()?,
                e.path().join("bin"),
            ))
        })
        .filter(|(_, p)| p.join("initdb").exists())
        .collect();
    found.sort();
    if let Some((_, p)) = found.pop() {
        return p;
    }
    let which = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&which.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "PostgreSQL server binaries (initdb, pg_ctl) are needed for these tests: install postgresql or set LIFEBOAT_TEST_PG_BIN"
    );
    PathBuf::from(path).parent().unwrap().to_path_buf()
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Runs a server binary, as the postgres user when we are root.
fn as_server_user(bin: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args);
    if let Ok(lib) = std::env::var("LIFEBOAT_TEST_PG_LIB") {
        cmd.env("LD_LIBRARY_PATH", lib);
    }
    cmd.output().expect("server binary runs")
}

extern "C" fn stop_cluster() {
    if let Some((bin, data, _)) = DATA_DIR.get() {
        as_server_user(
            &bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"],
        );
        if let Some(parent) = data.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("lifeboat-pg-")
            .tempdir()
            .unwrap()
            .keep();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the cluster directory to postgres failed");
        }
        let data = dir.join("data");
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if is_root() {
            Command::new("chown").arg("postgres").arg(&pwfile).status().unwrap();
        }
        let out = as_server_user(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            dir.display()
        );
        let log = dir.join("log");
        let out = as_server_user(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        DATA_DIR.set((bin.clone(), data, true)).ok();
        unsafe {
            libc::atexit(stop_cluster);
        }
        Cluster { bin, dir, port }
    })
}

impl Cluster {
    /// A URL over TCP with the password, as applications use.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres:{PASSWORD}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    fn client_cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(self.bin.join(tool));
        c.env("PGHOST", &self.dir)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres");
        c.env_remove("PGPASSWORD").env_remove("PGDATABASE");
        if let Ok(lib) = std::env::var("LIFEBOAT_TEST_PG_LIB") {
            c.env("LD_LIBRARY_PATH", lib);
        }
        c
    }

    /// Runs SQL with psql and returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .client_cmd("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", db, "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn psql_file(&self, db: &str, file: &Path, vars: &[&str]) {
        let mut cmd = self.client_cmd("psql");
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f"])
            .arg(file);
        for v in vars {
            cmd.args(["-v", v]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "psql -f {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn createdb(&self, db: &str) {
        self.psql("postgres", &format!("DROP DATABASE IF EXISTS \"{db}\""));
        self.psql("postgres", &format!("CREATE DATABASE \"{db}\""));
    }

    /// A database loaded from one of the shared fixtures.
    pub fn fixture(&self, db: &str, fixture: &str, vars: &[&str]) {
        self.createdb(db);
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        self.psql_file(db, &file, vars);
    }

    /// The oracle: `pg_dump --schema-only`, without comments, SET lines
    /// and the \restrict lines newer pg_dump prints.
    pub fn schema(&self, db: &str) -> String {
        let out = self
            .client_cmd("pg_dump")
            .args(["--schema-only", "-d", db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| {
                !(l.starts_with("--")
                    || l.starts_with("SET ")
                    || l.starts_with("SELECT pg_catalog.set_config")
                    || l.starts_with("\\restrict")
                    || l.starts_with("\\unrestrict")
                    || l.trim().is_empty())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
