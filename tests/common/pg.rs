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
/// The newest Debian PostgreSQL bin directory, if any.
fn pg_bin_debian() -> Option<PathBuf> {
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
    found.pop().map(|(_, p)| p)
}

/// Every user object's definition from the server's own functions.
const CATALOG_LISTING: &str = "SELECT string_agg(x, E'\\n' ORDER BY x) FROM ( \
    SELECT format('column %s.%s %s %s %s %s', table_schema, table_name, column_name, data_type, is_nullable, column_default) AS x FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
    UNION ALL SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint WHERE connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) AND contype <> 'n' \
    UNION ALL SELECT format('index %s', pg_get_indexdef(indexrelid)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'pg_toast'::regnamespace, 'information_schema'::regnamespace) \
    UNION ALL SELECT format('view %s %s', oid::regclass, pg_get_viewdef(oid)) FROM pg_class WHERE relkind IN ('v', 'm') AND relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) \
    UNION ALL SELECT format('trigger %s', pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal \
    UNION ALL SELECT format('policy %s %s %s', polrelid::regclass, polname, pg_get_expr(polqual, polrelid)) FROM pg_policy \
    UNION ALL SELECT format('function %s', pg_get_functiondef(p.oid)) FROM pg_proc p WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) AND p.prokind <> 'a' \
    UNION ALL SELECT format('type %s %s', t.oid::regtype, t.typtype) FROM pg_type t WHERE t.typnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'pg_toast'::regnamespace) \
    UNION ALL SELECT format('sequence %s %s %s %s', seqrelid::regclass, seqstart, seqincrement, seqmax) FROM pg_sequence \
    UNION ALL SELECT format('comment %s %s', classoid::regclass, description) FROM pg_description WHERE objoid >= 16384 \
    ) s";

pub fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("LIFEBOAT_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    if let Some(p) = pg_bin_debian() {
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

/// A CA and a server certificate for `localhost` signed by it, for the
/// sslmode tests: `ca.crt`, `server.crt`, `server.key` in `dir`.
fn make_certificates(dir: &Path) {
    let d = dir.display();
    let script = format!(
        "set -e; cd '{d}'; \
         openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=lifeboat-test-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null; \
         openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null; \
         printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth\\nbasicConstraints=CA:FALSE\\n' > server.ext; \
         openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null; \
         chmod 600 server.key"
    );
    let out = Command::new("bash").arg("-c").arg(&script).output().unwrap();
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if is_root() {
        Command::new("chown")
            .arg("postgres")
            .arg(dir.join("server.key"))
            .arg(dir.join("server.crt"))
            .status()
            .unwrap();
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
        make_certificates(&dir);
        // tlsuser may only come in over TLS: a test that connects as it
        // proves the connection was encrypted.
        let hba = data.join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(&hba, format!("hostssl all tlsuser 127.0.0.1/32 scram-sha-256\nhost all tlsuser 0.0.0.0/0 reject\n{rules}")).unwrap();
        let port = free_port();
        let opts = format!(
            "-k {dir} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100 -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
            dir = dir.display()
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

    /// A client tool: from the server's bin directory when it has one
    /// (the npm server packages do not), else Debian's newest.
    pub fn tool(&self, tool: &str) -> PathBuf {
        // Client tools of the server's major (the version matrix points
        // here where the server packages ship none).
        if let Ok(dir) = std::env::var("LIFEBOAT_TEST_PG_CLIENT_BIN") {
            let client = PathBuf::from(dir).join(tool);
            if client.exists() {
                return client;
            }
        }
        let own = self.bin.join(tool);
        if own.exists() {
            return own;
        }
        let debian = pg_bin_debian().map(|d| d.join(tool)).filter(|p| p.exists());
        debian.unwrap_or_else(|| PathBuf::from(tool))
    }

    fn client_cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(self.tool(tool));
        c.env("PGHOST", &self.dir)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres");
        c.env_remove("PGPASSWORD").env_remove("PGDATABASE");
        c
    }

    /// psql running `sql` in the background (a session that holds locks or
    /// stays connected until it ends or is killed).
    pub fn psql_background(&self, db: &str, sql: &str) -> std::process::Child {
        self.client_cmd("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", db, "-c", sql])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
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

    /// Every row of every table, as sorted `pg_dump --data-only` lines.
    pub fn rows(&self, db: &str) -> String {
        let out = self
            .client_cmd("pg_dump")
            .args(["--data-only", "-d", db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dump --data-only {db}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .map(str::to_string)
            .collect();
        lines.sort();
        lines.join("\n")
    }

    /// The shell words that point psql and pg_dump at the cluster.
    pub fn shell_env(&self) -> String {
        format!("PGHOST='{}' PGPORT={} PGUSER=postgres", self.dir.display(), self.port)
    }

    /// The fidelity reference: `pg_dump [ARGS] SRC | psql DST`, into a new DST.
    pub fn reference(&self, dir: &Path, src: &str, dst: &str, pg_dump_args: &str) {
        self.createdb(dst);
        super::sh(
            dir,
            &format!(
                "set -o pipefail; {env} '{}' {pg_dump_args} -d '{src}' | {env} '{}' -X -q -v ON_ERROR_STOP=1 -d '{dst}' >/dev/null",
                self.tool("pg_dump").display(),
                self.tool("psql").display(),
                env = self.shell_env()
            ),
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
        // The machine's pg_dump refuses newer servers (the version
        // matrix); there the server's own catalog listing is the oracle.
        if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("server version mismatch") {
            return self.psql(db, CATALOG_LISTING);
        }
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
