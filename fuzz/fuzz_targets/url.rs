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

/// Whether `secret` is worth looking for in what was printed: long enough
/// not to turn up by chance, and not also written somewhere else in the
/// URL (a password equal to the host name cannot be hidden by any form).
fn checkable(url: &str, secret: &str) -> bool {
    secret.len() >= 4 && url.matches(secret).count() == 1
}

fn assert_hidden(url: &str, secret: &str, shown: &str, what: &str) {
    if checkable(url, secret) {
        assert!(!shown.contains(secret), "{what} shows the password {secret:?} of {url:?}: {shown:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else { return };
    let shown = RedactedUrl(url).to_string();
    let debug = format!("{:?}", RedactedUrl(url));
    let redacted = connect::redact_url(url);
    let parsed = connect::parse(url, &env);
    let mut secrets = Vec::new();
    if let Some(written) = connect::written_password(url) {
        secrets.push(written);
    }
    if let Ok(target) = &parsed
        && let Some(password) = target.config.get_password()
        && let Ok(password) = std::str::from_utf8(password)
    {
        secrets.push(password.to_string());
    }
    // `password=` in the query string, as the driver reads it.
    for pair in url.split(['?', '&']) {
        if let Some(v) = pair.strip_prefix("password=") {
            secrets.push(v.to_string());
        }
    }
    for secret in &secrets {
        assert_hidden(url, secret, &shown, "RedactedUrl");
        assert_hidden(url, secret, &debug, "RedactedUrl's Debug");
        assert_hidden(url, secret, &redacted, "redact_url");
        match &parsed {
            Ok(target) => {
                assert_hidden(url, secret, &target.redacted, "Target::redacted");
                assert_hidden(url, secret, &format!("{target:?}"), "Target's Debug");
            }
            Err(e) => assert_hidden(url, secret, &format!("{e:#}"), "the parse error"),
        }
    }
});
