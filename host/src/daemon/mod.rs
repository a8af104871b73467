//! The four daemons (`vigil mgs|router|client|server`): configuration in, a driver loop out, and
//! what they share: shutdown on signals, readiness reporting, and logging of machine events.

pub mod member;
pub mod mgs;
pub mod router;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{debug, info, warn};
use vigil_proto::wire::{NodeState, OrderKeys};
use vigil_proto::{Endpoint, Event, NodeId};

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

/// A node's name as logs show it: its name if `name` knows it, else `#` and its id in hex (as
/// the status shows an unknown id).
pub fn node_name(id: NodeId, name: Option<&str>) -> String {
    match name {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => format!("#{:08x}", id.0),
    }
}

/// Logs one machine event at a level that matches what an operator must know; `name_of` names
/// the children it is about (from the machine's table).
pub fn log_event(node: &str, event: &Event, name_of: impl Fn(NodeId) -> String) {
    match event {
        Event::ChildJoined { id, role } => debug!(node, child = %name_of(*id), ?role, "child joined"),
        Event::ChildRebooted { id, generation } => {
            info!(node, child = %name_of(*id), generation = generation.0, "child rebooted")
        }
        Event::ChildState { id, state: NodeState::Alive } => {
            debug!(node, child = %name_of(*id), "child alive")
        }
        Event::ChildState { id, state } => info!(node, child = %name_of(*id), ?state, "child state"),
        Event::MassSilence { count } => {
            warn!(node, count, "many children silent at once: unreachable, not dead")
        }
        Event::Stalled { late_ms } => warn!(node, late_ms, "own loop was late; silence counters restarted"),
        Event::TableFull { id } => warn!(node, child = %name_of(*id), "table full: child refused"),
        Event::ParentUp { addr } => info!(node, %addr, "parent up"),
        Event::ParentDown { addr } => warn!(node, %addr, "parent down"),
        Event::ParentRestarted { addr, generation } => {
            info!(node, %addr, generation = generation.0, "parent restarted")
        }
        Event::GenerationRaised { addr, generation } => warn!(
            node,
            %addr,
            generation = generation.0,
            "the parent knew a newer instance of this node (state lost?): running as a higher generation"
        ),
        Event::Refused { addr, alternates } => {
            warn!(node, %addr, alternates = alternates.len(), "parent refused us: its table is full")
        }
        Event::Order(order) => info!(node, order = %order.id, "order"),
        Event::OrderHeld(id) => info!(node, order = %id, "order taken for the subtree"),
        Event::OrderIssued(order) => {
            info!(node, order = %order.id, action = ?order.action, "order issued")
        }
        Event::TargetRestarted { target, generation } => {
            info!(
                node,
                target = target.as_str(),
                generation = generation.0,
                "target restarted: recovery begins"
            )
        }
        Event::WindowClosed { target, order, by_admin: false } => {
            info!(node, target = target.as_str(), order = %order, "every live client reconnected: window closed")
        }
        Event::WindowClosed { target, order, by_admin: true } => {
            warn!(node, target = target.as_str(), order = %order, "window closed by an admin: the clients not reconnected are left to the target")
        }
        Event::RouterExpected { id, name } => {
            info!(
                node,
                router = name.as_str(),
                id = id.0,
                "new child router: expected from now on, across restarts"
            )
        }
        Event::RouterRetired { id, name } => {
            warn!(
                node,
                router = name.as_str(),
                id = id.0,
                "child router retired: windows no longer wait for it"
            )
        }
        Event::IdCollision { id, kept, ignored } => {
            warn!(
                node,
                id = %format_args!("{:08x}", id.0),
                kept = kept.as_str(),
                ignored = ignored.as_str(),
                "two names map to one node id"
            )
        }
    }
}
