//! Every secret a run knows of, so that the GitHub log masks them and
//! alerts and service logs leave them out.

use crate::config::Config;

/// Every secret lifeboat knows of: database passwords (URLs, PGPASSWORD,
/// password files), tokens, S3 secrets and webhook URLs.
pub fn known(config: &Config, extra_urls: &[&str]) -> Vec<String> {
    let env = crate::engine::postgres::connect::process_env;
    let mut urls: Vec<String> = config.databases.iter().map(|d| d.url.clone()).collect();
    urls.extend(config.verify.restore.sources.values().cloned());
    urls.extend(extra_urls.iter().map(|u| u.to_string()));
    if let crate::engine::postgres::scratch::ScratchChoice::Url(u) = &config.verify.restore.scratch {
        urls.push(u.clone());
    }
    let mut secrets: Vec<String> = Vec::new();
    for url in urls {
        // As written too: a URL that does not parse is still masked.
        if let Some(pw) = crate::engine::postgres::connect::written_password(&url) {
            secrets.push(percent_decoded(&pw));
            secrets.push(pw);
        }
        if crate::engine::postgres::connect::is_postgres_url(&url)
            && let Ok(target) = crate::engine::postgres::connect::parse(&url, &env)
            && let Some(pw) = target.config.get_password()
        {
            secrets.push(String::from_utf8_lossy(pw).into_owned());
        }
    }
    // The age passphrase and identities, as read from the environment or
    // files; an identity given in LIFEBOAT_IDENTITY is masked line by line
    // as written, even where it did not parse.
    secrets.extend(config.crypt.keys.secrets());
    if let Some(text) = env("LIFEBOAT_IDENTITY") {
        secrets.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    for key in [
        "PGPASSWORD",
        "LIFEBOAT_PASSPHRASE",
        "LIFEBOAT_GITHUB_TOKEN",
        "GITHUB_TOKEN",
    ] {
        if let Some(v) = env(key) {
            secrets.push(v);
        }
    }
    for key in ["PGPASSWORD_FILE", "POSTGRES_PASSWORD_FILE"] {
        if let Some(path) = env(key)
            && let Ok(text) = std::fs::read_to_string(path)
        {
            secrets.push(text.trim_end_matches(['\n', '\r']).to_string());
        }
    }
    for key in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        if let Ok(Some(v)) = crate::fsutil::env_or_file(key) {
            secrets.push(v);
        }
    }
    // A webhook URL is its own credential (Slack's carry a token in the
    // path): the whole URL, and its path alone.
    // The variable too: it is set for every command of a job, alerting or not.
    let from_env = crate::fsutil::env_or_file("LIFEBOAT_WEBHOOK").ok().flatten();
    for url in config.alerts.webhook.iter().chain(from_env.iter()) {
        secrets.push(url.clone());
        if let Some(path) = crate::alert::secret_part(url) {
            secrets.push(path);
        }
    }
    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    secrets
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Text with every secret replaced and every URL's password taken out.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = crate::engine::postgres::connect::redact_url(text);
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4).collect();
    // Longest first: a secret that contains another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s.as_str(), "***");
    }
    out
}
