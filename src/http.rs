//! What the HTTP clients (object stores, webhooks) share: the TLS
//! provider, a small runtime, and waiting that a signal can cut short.

use anyhow::{Context, Result};
use std::future::Future;
use std::time::Duration;

/// Installs rustls's ring provider as the process default, once: reqwest
/// is built without one of its own, so no second crypto library (and no
/// C build of it) comes along.
pub fn tls_ready() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another part of lifeboat installed it first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A runtime for one client; the rest of lifeboat is synchronous.
pub fn runtime(what: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .with_context(|| format!("starting the {what} client"))
}

/// Runs `future` to its end unless SIGINT or SIGTERM comes first; then
/// the future is dropped (an HTTP request in flight is abandoned) and the
/// error says the run was cancelled.
pub async fn until_cancelled<F: Future>(future: F) -> Result<F::Output> {
    let watch = async {
        loop {
            if crate::cancel::requested().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    futures_util::pin_mut!(future);
    futures_util::pin_mut!(watch);
    match futures_util::future::select(future, watch).await {
        futures_util::future::Either::Left((out, _)) => Ok(out),
        futures_util::future::Either::Right(((), _)) => {
            crate::cancel::check()?;
            anyhow::bail!("cancelled")
        }
    }
}
