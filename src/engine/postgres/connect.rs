//! Connecting: `postgres://` and SQLAlchemy-style URLs, the `PG*` variables,
//! `*_FILE` secrets, sslmode through rustls, and the session settings that
//! make COPY output the same on every server.

use anyhow::{Context, Result, bail};
use postgres::config::SslMode;
use postgres::{Client, Config};
use std::sync::Arc;
use std::time::Duration;

/// How TLS is used, as libpq's `sslmode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl std::str::FromStr for TlsMode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "disable" => TlsMode::Disable,
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => bail!("unknown sslmode {other:?}: use disable, prefer, require, verify-ca or verify-full"),
        })
    }
}

/// A resolved connection target. Holds the password, so it is never
/// printed; `redacted` is what logs and manifests show.
#[derive(Clone)]
pub struct Target {
    pub config: Config,
    pub tls: TlsMode,
    pub root_cert: Option<String>,
    pub dbname: String,
    pub redacted: String,
    /// Statement timeout for every session, as PostgreSQL reads it
    /// (`30s`, `5min`, milliseconds); none by default, as long COPYs are
    /// the point of a backup.
    pub statement_timeout: Option<String>,
}

impl Target {
    /// Whether the server runs on this machine, and so on its cores:
    /// every host is a Unix socket, `localhost` or a loopback address.
    pub fn is_on_this_machine(&self) -> bool {
        let hosts = self.config.get_hosts();
        let loopback = |a: &std::net::IpAddr| a.is_loopback();
        !hosts.is_empty()
            && hosts.iter().all(|h| match h {
                postgres::config::Host::Unix(_) => true,
                postgres::config::Host::Tcp(name) => {
                    name.eq_ignore_ascii_case("localhost") || name.parse().is_ok_and(|a| loopback(&a))
                }
            })
            && self.config.get_hostaddrs().iter().all(loopback)
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// Whether `url` is a PostgreSQL URL lifeboat understands.
pub fn is_postgres_url(url: &str) -> bool {
    let Some((scheme, _)) = url.split_once("://") else {
        return false;
    };
    let base = scheme.split('+').next().unwrap_or("").to_ascii_lowercase();
    base == "postgres" || base == "postgresql"
}

/// The environment lifeboat reads connection settings from; a parameter so
/// tests need not change the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// Reads a `*_FILE` variable: the file holds the secret (Docker secrets).
fn secret_from_file(env: Env, key: &str) -> Result<Option<String>> {
    let Some(path) = env(key) else { return Ok(None) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading the password file named by {key}"))?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
}

/// Parses a URL and fills what it leaves out from the environment.
pub fn parse(url: &str, env: Env) -> Result<Target> {
    let (scheme, rest) = url
        .split_once("://")
        .context("a PostgreSQL URL starts with postgres://")?;
    if !is_postgres_url(url) {
        bail!("{scheme}:// is not a PostgreSQL URL");
    }
    // SQLAlchemy's `postgresql+asyncpg://` names a Python driver; the
    // server is the same. Parameters only drivers know are dropped.
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let mut passthrough = Vec::new();
    let mut tls_text = None;
    let mut root_cert = None;
    let mut statement_timeout = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => tls_text = Some(v.to_string()),
            "ssl" => {
                tls_text = Some(if v == "true" || v == "require" {
                    "require".into()
                } else {
                    v.to_string()
                })
            }
            "sslrootcert" => root_cert = Some(percent_decode(v)),
            "statement_timeout" => statement_timeout = Some(percent_decode(v)),
            "user"
            | "password"
            | "dbname"
            | "options"
            | "application_name"
            | "host"
            | "hostaddr"
            | "port"
            | "connect_timeout"
            | "keepalives"
            | "keepalives_idle"
            | "target_session_attrs"
            | "channel_binding" => passthrough.push(pair.to_string()),
            _ => {}
        }
    }
    // libpq takes PGPORT when the URL names no port; the driver would
    // assume 5432, so the port is written into the URL.
    let base = match env("PGPORT") {
        Some(port) if !url_has_port(base) && !passthrough.iter().any(|p| p.starts_with("port=")) => {
            with_port(base, &port)
        }
        _ => base.to_string(),
    };
    let normalized = if passthrough.is_empty() {
        format!("postgresql://{base}")
    } else {
        format!("postgresql://{base}?{}", passthrough.join("&"))
    };
    let mut config: Config = normalized
        .parse()
        .map_err(|e: postgres::Error| {
            anyhow::anyhow!(
                "cannot read the PostgreSQL URL {}: {}; percent-encode special characters in the password (@ as %40, / as %2F, : as %3A, % as %25, space as %20)",
                RedactedUrl(url),
                redact_url(&e.to_string())
            )
        })?;

    // The password as the URL's author wrote it (from the user part's
    // first ':' to the *last* '@') must be the one the driver read. When
    // an unencoded '@', '/' or '?' in it made the driver split it
    // elsewhere, the pieces would become the host and the database name:
    // printed in every message, used as the set's name, and the host
    // asked for a connection. Found by fuzzing (fuzz/fuzz_targets/url.rs).
    if let Some(written) = written_password(url)
        && config.get_password() != Some(percent_decode(&written).as_bytes())
    {
        bail!(
            "cannot read the PostgreSQL URL {}: its password holds a character that ends a password in a URL (@, / or ?); \
             percent-encode special characters in the password (@ as %40, / as %2F, : as %3A, % as %25, ? as %3F, space as %20), \
             or give it through PGPASSWORD or PGPASSWORD_FILE",
            RedactedUrl(url)
        );
    }
    if config.get_hosts().is_empty() {
        let host = env("PGHOST").unwrap_or_else(|| "localhost".into());
        for h in host.split(',') {
            config.host(h);
        }
    }
    if config.get_ports().is_empty()
        && let Some(port) = env("PGPORT")
    {
        config.port(
            port.parse()
                .with_context(|| format!("PGPORT {port:?} is not a port number"))?,
        );
    }
    if config.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .unwrap_or_else(|| "postgres".into());
        config.user(&user);
    }
    if config.get_password().is_none() {
        let password = match env("PGPASSWORD") {
            Some(p) => Some(p),
            None => match secret_from_file(env, "PGPASSWORD_FILE")? {
                Some(p) => Some(p),
                None => secret_from_file(env, "POSTGRES_PASSWORD_FILE")?,
            },
        };
        if let Some(p) = password {
            config.password(p);
        }
    }
    if config.get_dbname().is_none() {
        let db = env("PGDATABASE").unwrap_or_else(|| config.get_user().unwrap_or("postgres").to_string());
        config.dbname(&db);
    }
    if config.get_connect_timeout().is_none() {
        let secs = env("PGCONNECT_TIMEOUT").and_then(|s| s.parse().ok()).unwrap_or(10);
        config.connect_timeout(Duration::from_secs(secs));
    }
    if config.get_application_name().is_none() {
        config.application_name("lifeboat");
    }
    let tls: TlsMode = tls_text
        .or_else(|| env("PGSSLMODE"))
        .as_deref()
        .unwrap_or("prefer")
        .parse()?;
    let root_cert = root_cert.or_else(|| env("PGSSLROOTCERT"));
    config.ssl_mode(match tls {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    let dbname = config.get_dbname().unwrap_or("postgres").to_string();
    let redacted = describe(&config);
    let statement_timeout = statement_timeout.or_else(|| env("LIFEBOAT_STATEMENT_TIMEOUT"));
    if let Some(t) = &statement_timeout
        && !t.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
    {
        bail!("statement_timeout {t:?} is not a duration: write it like 30s, 5min or 600000");
    }
    Ok(Target {
        config,
        tls,
        root_cert,
        dbname,
        redacted,
        statement_timeout,
    })
}

/// Whether the authority of a URL (after the scheme) names a port.
fn url_has_port(base: &str) -> bool {
    let authority = base.split('/').next().unwrap_or("");
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    hosts.split(',').any(|h| match h.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => h.contains(':'),
    })
}

/// Adds `:port` to every host of a URL's authority that names one.
fn with_port(base: &str, port: &str) -> String {
    let (authority, rest) = base.split_once('/').map_or((base, None), |(a, r)| (a, Some(r)));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let hosts: Vec<String> = hosts
        .split(',')
        .map(|h| {
            if h.is_empty() {
                String::new()
            } else {
                format!("{h}:{port}")
            }
        })
        .collect();
    let mut out = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    out.push_str(&hosts.join(","));
    if let Some(rest) = rest {
        out.push('/');
        out.push_str(rest);
    }
    out
}

/// `postgresql://user@host:port/db`, never with a password.
pub fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgresql://{}@{}:{}/{}",
        config.get_user().unwrap_or(""),
        host,
        port,
        config.get_dbname().unwrap_or("")
    )
}

/// A URL (or anything a user gave where a URL was expected) as messages
/// may show it: its Display never shows a password, whatever the shape:
/// unencoded `@`, `/`, `:`, `%`, `?` or spaces in the password, no scheme,
/// or `password=` in the query.
#[derive(Clone, Copy)]
pub struct RedactedUrl<'a>(pub &'a str);

impl std::fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(self.0))
    }
}

impl std::fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_url(self.0))
    }
}

/// The password a URL's user part holds as written, even where the URL
/// does not parse: what the Actions log must mask.
pub fn written_password(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (userinfo, _) = rest.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| password.to_string())
}

/// A URL with any password replaced by `***`. The user part ends at the
/// *last* `@` of the whole text, so a password holding `@`, `/` or `?` is
/// hidden whole (at worst, more than the password is).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let rest = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None if scheme.is_empty() => format!("***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => rest.to_string(),
    };
    // password=... in a query, up to the next parameter.
    let mut out = String::new();
    let mut tail = rest.as_str();
    while let Some(i) = tail.find("password=") {
        out.push_str(&tail[..i + "password=".len()]);
        out.push_str("***");
        tail = &tail[i + "password=".len()..];
        tail = &tail[tail.find('&').unwrap_or(tail.len())..];
    }
    out.push_str(tail);
    format!("{scheme}{out}")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Bytes, not a str slice: `%` may be followed by a multi-byte
        // character, and slicing into it would panic.
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Settings every lifeboat session uses, so COPY text and catalog output
/// are the same whatever the server's or role's defaults are, and a
/// restore makes what pg_dump's script makes: xml values read as content,
/// tables in heap (a set names any other access method) and the
/// database's own tablespace, whatever the target database sets.
pub const SESSION_SETUP: &str = "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
SET extra_float_digits = 3; SET TimeZone = 'UTC'; SET bytea_output = 'hex'; SET standard_conforming_strings = on; \
SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET row_security = off; \
SET xmloption = content; SET default_table_access_method = heap; SET default_tablespace = ''; \
SELECT pg_catalog.set_config('search_path', '', false);";

impl Target {
    /// The same server, another database.
    pub fn with_dbname(&self, dbname: &str) -> Target {
        let mut t = self.clone();
        t.config.dbname(dbname);
        t.dbname = dbname.to_string();
        t.redacted = describe(&t.config);
        t
    }

    /// Opens a session with lifeboat's settings.
    pub fn connect(&self) -> Result<Client> {
        // The driver's connect_timeout bounds only the TCP connect; like
        // libpq, the whole handshake is bounded here, so a server that
        // accepts and never answers cannot hang a nightly job.
        let wait = self
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        let (config, tls, root_cert) = (self.config.clone(), self.tls, self.root_cert.clone());
        let connector = match tls {
            TlsMode::Disable => None,
            mode => Some(tls_connector(mode, root_cert.as_deref())?),
        };
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = match connector {
                None => config.connect(postgres::NoTls),
                Some(c) => config.connect(c),
            };
            let _ = send.send(result);
        });
        let result = match receive.recv_timeout(wait + Duration::from_secs(1)) {
            Ok(r) => r,
            Err(_) => bail!(
                "cannot connect to {}: the server did not answer in time ({}s); check the host, the port and any firewall (PGCONNECT_TIMEOUT sets the wait)",
                self.redacted,
                wait.as_secs()
            ),
        };
        let mut client = result.map_err(|e| explain(e, self))?;
        let timeout = self.statement_timeout.as_deref().unwrap_or("0");
        client
            .batch_execute(&format!("{SESSION_SETUP} SET statement_timeout = '{timeout}';"))
            .with_context(|| format!("setting up the session on {}", self.redacted))?;
        // A signal cancels whatever this session is running (a lock wait,
        // a long CREATE INDEX), so the run can stop within moments.
        let token = client.cancel_token();
        let (tls, root_cert) = (self.tls, self.root_cert.clone());
        crate::cancel::on_cancel(Box::new(move || {
            let _ = match tls {
                TlsMode::Disable => token.cancel_query(postgres::NoTls),
                mode => match tls_connector(mode, root_cert.as_deref()) {
                    Ok(c) => token.cancel_query(c),
                    Err(_) => return,
                },
            };
        }));
        Ok(client)
    }
}

/// What the server said, or the driver's error where the server said
/// nothing.
pub fn server_message(err: &postgres::Error) -> String {
    err.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| err.to_string())
}

/// Turns a connection error into a message that says what to do. The
/// server's own message never holds the password.
fn explain(err: postgres::Error, target: &Target) -> anyhow::Error {
    let text = err.to_string();
    let detail = err.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| {
        let mut chain = text.clone();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        chain
    });
    let code = err.code().map(|c| c.code().to_string());
    let hint = match code.as_deref() {
        Some("28P01") | Some("28000") => "check the user and password (the URL, PGPASSWORD or PGPASSWORD_FILE)",
        Some("3D000") => "check the database name, or create it first",
        _ if detail.contains("timed out") || detail.contains("timeout") => {
            "the server did not answer in time: check the host, the port and any firewall (PGCONNECT_TIMEOUT sets the wait)"
        }
        _ if detail.contains("refused") => {
            "nothing listens there: check the host and port, and that the server is running"
        }
        _ if detail.to_ascii_lowercase().contains("tls") || detail.contains("certificate") => {
            "TLS failed: check sslmode and sslrootcert"
        }
        // The server asked for a password and none was given: the
        // driver says so only in its message.
        _ if detail.contains("password missing") || detail.contains("no password") => {
            "the server wants a password and none was given: put it in PGPASSWORD or a file named by PGPASSWORD_FILE (or in the URL, postgres://user:password@host/db)"
        }
        _ => "check the URL and that the server is reachable",
    };
    let message = format!("cannot connect to {}: {detail}; {hint}", target.redacted);
    if code.as_deref() == Some("3D000") {
        return anyhow::Error::new(MissingDatabase(message));
    }
    anyhow::anyhow!(message)
}

/// The server has no database of the name asked for (SQLSTATE 3D000):
/// restores create it or say how to.
#[derive(Debug)]
pub struct MissingDatabase(String);

impl std::fmt::Display for MissingDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MissingDatabase {}

fn tls_connector(mode: TlsMode, root_cert: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("configuring TLS")?;
    let config = match mode {
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let roots = Arc::new(root_store(root_cert)?);
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .context("configuring certificate verification")?;
            let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = if mode == TlsMode::VerifyCa {
                Arc::new(ChainOnly(verifier))
            } else {
                verifier
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        }
        // libpq's prefer and require encrypt without checking the
        // certificate; verify-ca and verify-full are the modes that check.
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth(),
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn root_store(root_cert: Option<&str>) -> Result<rustls::RootCertStore> {
    use pki_types::pem::PemObject;
    let mut store = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) if path != "system" => {
            for cert in
                pki_types::CertificateDer::pem_file_iter(path).with_context(|| format!("reading sslrootcert {path}"))?
            {
                store
                    .add(cert.with_context(|| format!("reading a certificate from {path}"))?)
                    .with_context(|| format!("adding a certificate from {path}"))?;
            }
        }
        _ => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(store)
}

/// Checks the chain but not the host name (sslmode=verify-ca).
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &pki_types::CertificateDer<'_>,
        intermediates: &[pki_types::CertificateDer<'_>],
        server_name: &pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Encrypts without checking who answers (sslmode=require and prefer).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &pki_types::CertificateDer<'_>,
        _: &[pki_types::CertificateDer<'_>],
        _: &pki_types::ServerName<'_>,
        _: &[u8],
        _: pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn urls_and_environment() {
        let env = env_of(&[("PGPASSWORD", "from-env"), ("PGPORT", "6543")]);
        let t = parse(
            "postgresql+asyncpg://app:s3cret@db.example:5433/shop?sslmode=require&prepared_statement_cache_size=0",
            &env,
        )
        .unwrap();
        assert_eq!(t.dbname, "shop");
        assert_eq!(t.tls, TlsMode::Require);
        assert_eq!(t.config.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(t.redacted, "postgresql://app@db.example:5433/shop");
        assert!(!format!("{t:?}").contains("s3cret"));

        let t = parse("postgres://app@db/shop?statement_timeout=30s", &env).unwrap();
        assert_eq!(t.statement_timeout.as_deref(), Some("30s"));
        assert!(parse("postgres://app@db/shop?statement_timeout=1';DROP", &env).is_err());
        assert_eq!(t.config.get_password(), Some(&b"from-env"[..]));
        assert_eq!(t.config.get_ports(), &[6543]);
        assert_eq!(t.tls, TlsMode::Prefer);
    }

    #[test]
    fn servers_on_this_machine_are_told_apart() {
        let env = env_of(&[]);
        let on_this_machine = |url: &str| parse(url, &env).unwrap().is_on_this_machine();
        assert!(on_this_machine("postgresql://app@localhost/shop"));
        assert!(on_this_machine("postgresql://app@127.0.0.1:5433/shop"));
        assert!(on_this_machine("postgresql://app@[::1]/shop"));
        assert!(on_this_machine("postgresql://app@/shop?host=/var/run/postgresql"));
        assert!(!on_this_machine("postgresql://app@db.example/shop"));
        assert!(!on_this_machine("postgresql://app@10.0.0.5/shop"));
        assert!(!on_this_machine("postgresql://app@localhost,db.example/shop"));
        assert!(!on_this_machine("postgresql://app@localhost/shop?hostaddr=10.0.0.5"));
    }

    #[test]
    fn password_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let path = file.to_string_lossy().into_owned();
        let env = move |k: &str| (k == "PGPASSWORD_FILE").then(|| path.clone());
        let t = parse("postgres://app@db/shop", &env).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"from-file"[..]));
    }

    #[test]
    fn redaction_hides_passwords_of_any_shape() {
        for (url, secret) in [
            ("postgres://u:pa/ss@h/db", "pa/ss"),
            ("postgres://u:p@ss:w%rd@h:5432/db", "p@ss:w%rd"),
            ("postgres://u:a b?c@h/db", "a b?c"),
            ("postgres://u:x%2Fy@h/db?sslmode=require", "x%2Fy"),
            ("postgres://h/db?password=s3/c@r&user=u", "s3/c@r"),
            ("u:hunter2@host/db", "hunter2"),
        ] {
            let shown = RedactedUrl(url).to_string();
            assert!(!shown.contains(secret), "{url} -> {shown}");
            assert!(!format!("{:?}", RedactedUrl(url)).contains(secret));
        }
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn a_password_the_driver_would_split_is_refused_not_printed() {
        let env = env_of(&[]);
        // The driver splits at the first '@': host "ssw0rd@127.0.0.1"
        // and database "db", or host "ss" and database "w0rd@...".
        for (url, secret) in [
            ("postgres://app:p@ssw0rd@127.0.0.1:1/db", "ssw0rd"),
            ("postgres://app:p@ss/w0rd@127.0.0.1:1/db", "w0rd"),
            // What the fuzzer found: the URL's text again, with NULs.
            (
                "postgres://app:s7cret@d\0postgres://app:s7cret@d\0\0\0\0\0\0\0\0\0\0b.\0\0\u{11}\0e=require",
                "s7cret",
            ),
        ] {
            let err = format!(
                "{:#}",
                parse(url, &env).err().unwrap_or_else(|| panic!("{url} was taken"))
            );
            assert!(!err.contains(secret), "{err}");
            assert!(err.contains("percent-encode"), "{err}");
        }
        // Encoded, the same password is taken whole.
        let t = parse("postgres://app:p%40ss%2Fw0rd@127.0.0.1:1/db", &env).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"p@ss/w0rd"[..]));
        assert_eq!(t.redacted, "postgresql://app@127.0.0.1:1/db");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://u:p%40ss@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=x"),
            "postgres://h/db?user=u&password=***"
        );
        assert!("verify-all".parse::<TlsMode>().is_err());
        assert!(is_postgres_url("postgresql+psycopg://h/db"));
        assert!(!is_postgres_url("mysql://h/db"));
    }
}
