//! The PostgreSQL URL parser and the type that prints URLs. No panic, and
//! a password the driver would send never shows in the printed form, the
//! redacted target, its Debug form or a parse error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::engine::postgres::connect::{self, RedactedUrl};

fn env(key: &str) -> Option<String> {
    match key {
        "PGPORT" => Some("55399".into()),
        "USER" => Some("fuzz".into()),
        _ => None,
    }
}

/// Everything lifeboat may print for a URL, in one string.
fn printed(url: &str) -> String {
    let mut all = format!(
        "{}\n{:?}\n{}\n",
        RedactedUrl(url),
        RedactedUrl(url),
        connect::redact_url(url)
    );
    match connect::parse(url, &env) {
        Ok(target) => all.push_str(&format!("{}\n{target:?}\n", target.redacted)),
        Err(e) => all.push_str(&format!("{e:#}\n")),
    }
    all
}

/// A password shows in what is printed only if it leaked: the same URL
/// with the password replaced must not print it too (a password that is
/// also the user's name, the host or a default is printed as those).
/// `written` is the password as the URL spells it (percent-encoded, say),
/// `secret` as the driver would send it.
fn assert_hidden(url: &str, written: &str, secret: &str, shown: &str) {
    if secret.len() < 4 || written.is_empty() || url.matches(written).count() != 1 || !shown.contains(secret) {
        return;
    }
    let without = url.replacen(written, "x", 1);
    assert!(
        printed(&without).contains(secret),
        "the password {secret:?} of {url:?} is printed: {shown:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else { return };
    let shown = printed(url);
    // Each password as written in the URL, with what the driver makes of it.
    let mut secrets: Vec<(String, String)> = Vec::new();
    let written = connect::written_password(url);
    if let Some(w) = &written {
        secrets.push((w.clone(), w.clone()));
    }
    // `password=` in the query string, as the driver reads it.
    for pair in url.split(['?', '&']) {
        if let Some(v) = pair.strip_prefix("password=") {
            secrets.push((v.to_string(), v.to_string()));
        }
    }
    if let Ok(target) = connect::parse(url, &env)
        && let Some(password) = target.config.get_password()
        && let Ok(password) = std::str::from_utf8(password)
    {
        for (w, _) in secrets.clone() {
            secrets.push((w, password.to_string()));
        }
    }
    for (written, secret) in &secrets {
        assert_hidden(url, written, secret, &shown);
    }
});
