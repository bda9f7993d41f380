//! Every secret a run knows of, so that the GitHub log masks them and
//! alerts and service logs leave them out.

use crate::config::Config;

/// Every secret lifeboat knows of: database passwords (URLs, PGPASSWORD,
/// password files), tokens, S3 secrets and webhook URLs.
pub fn known(config: &Config, extra_urls: &[&str]) -> Vec<String> {
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
    let mut urls: Vec<String> = config.databases.iter().map(|d| d.url.clone()).collect();
    urls.extend(config.verify.restore.sources.values().cloned());
    urls.extend(extra_urls.iter().map(|u| u.to_string()));
    if let crate::engine::postgres::scratch::ScratchChoice::Url(u) = &config.verify.restore.scratch {
        urls.push(u.clone());
    }
    // Every engine looks at every URL: a password written into a URL that
    // names no engine (a typo in the scheme) is still a password.
    let mut secrets: Vec<String> = crate::engine::KINDS.iter().flat_map(|k| k.secrets(&urls)).collect();
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
    for key in ["LIFEBOAT_PASSPHRASE", "LIFEBOAT_GITHUB_TOKEN", "GITHUB_TOKEN"] {
        if let Some(v) = env(key) {
            secrets.push(v);
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
