//! The four daemons (`vigil mgs|router|client|server`): configuration in, a driver loop out, and
//! what they share: shutdown on signals and readiness reporting (machine events are logged by
//! [`crate::event_log`]).

pub mod member;
pub mod mgs;
pub mod router;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{info, warn};
use vigil_proto::wire::OrderKeys;
use vigil_proto::Endpoint;

use crate::driver::resolve;
use crate::order_key;
use crate::state::write_atomically;

/// Shutdown on SIGTERM or SIGINT, observable from every task of the daemon.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Starts watching for SIGTERM and SIGINT.
    pub fn on_signals() -> anyhow::Result<Shutdown> {
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let which = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            info!("{which}: shutting down");
            let _ = tx.send(true);
        });
        Ok(Shutdown { rx })
    }

    /// Completes once shutdown was asked for.
    pub fn wait(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.rx.clone();
        async move {
            // An error means the watcher is gone, which only happens on the way out anyway.
            let _ = rx.wait_for(|&stop| stop).await;
        }
    }
}

/// Tells supervisors and tests that the daemon is up: `listening on ADDR` lines on stderr and,
/// if asked, a ready file with the same addresses as TOML (`udp = "..."`, `http = "..."`).
pub fn ready(ready_file: Option<&Path>, addrs: &[(&str, SocketAddr)]) -> anyhow::Result<()> {
    let mut text = String::new();
    for (what, addr) in addrs {
        // Stable lines that supervisors and tests wait for.
        if *what == "udp" {
            eprintln!("listening on {addr}");
        } else {
            eprintln!("{what} listening on {addr}");
        }
        text.push_str(&format!("{what} = \"{addr}\"\n"));
    }
    if let Some(path) = ready_file {
        write_atomically(path, text.as_bytes())
            .with_context(|| format!("cannot write ready file {}", path.display()))?;
    }
    Ok(())
}

/// The order public keys of a router, client or server; none means orders go unverified.
pub fn order_keys(paths: &[PathBuf]) -> anyhow::Result<OrderKeys> {
    let keys = order_key::load_public(paths)?;
    if keys.is_empty() {
        warn!("no --order-pub: orders are not verified (any holder of the cluster key could forge one)");
    } else {
        info!(keys = paths.len(), "orders are verified; unsigned or forged ones are dropped");
    }
    Ok(keys)
}

/// Resolves a node's parents, checking there are one to `N` (two for a client or server, up to
/// [`vigil_proto::MAX_UPSTREAMS`] for a router, which lists every status holder).
pub async fn parents<const N: usize>(
    addrs: &[String],
) -> anyhow::Result<(Vec<SocketAddr>, heapless::Vec<Endpoint, N>)> {
    if addrs.is_empty() {
        anyhow::bail!("missing --parent (or `parents` in the config file)");
    }
    if addrs.len() > N {
        anyhow::bail!("at most {N} parents, got {}", addrs.len());
    }
    let resolved = resolve(addrs).await?;
    let endpoints = resolved.iter().map(|&a| Endpoint::from(a)).collect();
    Ok((resolved, endpoints))
}
