//! `vigil client` and `vigil server`: a member machine in its UDP loop, with its order hook.
//!
//! [`start_client`] and [`start_server`] start the loop and return; the daemons then wait for
//! it, and the C library (`capi`) keeps it running beside its host program.

use std::future::Future;

use anyhow::Context;
use tracing::info;
use vigil_proto::timing;
use vigil_proto::wire::{TargetState, MAX_TARGET_ADDRS};
use vigil_proto::{Client, ClientConfig, MemberConfig, Server, ServerConfig};

use super::{parents, ready, Shutdown};
use crate::config::{bounded, required, wire_name, wire_nids, ClientOpts, Layered, NodeOpts, ServerOpts};
use crate::config::{DEFAULT_HOOK_TIMEOUT_MS, DEFAULT_WINDOW_MS};
use crate::driver::{self, wildcard_for, Clock, Machine, Spawned};
use crate::hook::{Hook, MemberHandler};
use crate::key;
use crate::state::StateFile;
use crate::udp::Udp;

/// What clients and servers set up alike: identity, parents, keys, timing, socket.
async fn member(
    name: &str,
    node: &NodeOpts,
    parent_addrs: &[String],
    bind: Option<std::net::SocketAddr>,
) -> anyhow::Result<(MemberConfig, StateFile, Udp)> {
    let timing = node.timing.resolve()?;
    let keys = key::load(&node.key_file())?;
    let (resolved, endpoints) = parents(parent_addrs).await?;
    let state = StateFile::boot(&node.state_dir(), name)?;
    let socket = driver::bind(bind.unwrap_or_else(|| wildcard_for(&resolved)), node.udp_recv_buffer).await?;
    let config = MemberConfig {
        name: wire_name(name, "node")?,
        generation: state.generation(),
        parents: endpoints,
        keys,
        timing,
    };
    Ok((config, state, socket))
}

/// Starts a member machine's loop, which runs until `stop` completes.
fn start<M: Machine>(
    name: &str,
    socket: Udp,
    machine: impl FnOnce(&Clock) -> M,
    hook: Hook,
    mut state: StateFile,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Spawned<M>> {
    state.commit()?;
    let clock = Clock::start();
    let machine = machine(&clock);
    let handler = |commands| MemberHandler { name: name.to_owned(), hook, commands, state: Some(state) };
    Ok(driver::spawn(socket, machine, handler, clock, stop)?)
}

/// Reports a started daemon ready and waits for its loop to end.
async fn serve<M: Machine>(name: String, node: &NodeOpts, spawned: Spawned<M>) -> anyhow::Result<()> {
    ready(node.ready_file.as_deref(), &[("udp", spawned.addr)])?;
    info!(name, udp = %spawned.addr, "started");
    let machine = spawned.task.await?;
    info!(name, counters = ?machine.counters(), "stopped");
    Ok(())
}

/// `vigil client`.
pub async fn run_client(opts: ClientOpts) -> anyhow::Result<()> {
    let opts = opts.load()?;
    let name = required(opts.name.clone(), "name")?;
    let on_order = required(opts.on_order.clone(), "on-order")?;
    let hook = Hook::command(
        Some(on_order),
        bounded(opts.hook_timeout_ms, DEFAULT_HOOK_TIMEOUT_MS, timing::HOOK_TIMEOUT_MS)?,
    );
    let shutdown = Shutdown::on_signals()?;
    let spawned = start_client(&opts, hook, shutdown.wait()).await?;
    serve(name, &opts.node, spawned).await
}

/// Starts a client (`opts` already loaded) whose orders go to `hook`, until `stop`.
pub async fn start_client(
    opts: &ClientOpts,
    hook: Hook,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Spawned<Client>> {
    let name = required(opts.name.clone(), "name")?;
    let keys = super::order_keys(&opts.upstream.order_pubs)?;
    let (config, state, socket): (ClientConfig, _, _) =
        member(&name, &opts.node, &opts.upstream.parents, opts.bind).await?;
    info!(name, generation = config.generation.0, "client starting");
    let machine = |clock: &Clock| {
        let mut client = Client::new(config, clock.now());
        client.set_order_keys(keys);
        client
    };
    let spawned = start(&name, socket, machine, hook, state, stop)?;
    if opts.lustre {
        tokio::spawn(crate::lustre::report_mounts(spawned.commands.clone()));
    }
    Ok(spawned)
}

/// `vigil server`.
pub async fn run_server(opts: ServerOpts) -> anyhow::Result<()> {
    let opts = opts.load()?;
    let name = required(opts.name.clone(), "name")?;
    let timeout = bounded(opts.hook_timeout_ms, DEFAULT_HOOK_TIMEOUT_MS, timing::HOOK_TIMEOUT_MS)?;
    let mut hook = Hook::command(opts.on_close_window.clone(), timeout);
    if let (Hook::Command { lustre, .. }, true) = (&mut hook, opts.lustre) {
        let clients = match &opts.lustre_clients {
            Some(path) => crate::lustre::ClientMap::load(path).context("--lustre-clients")?,
            None => crate::lustre::ClientMap::default(),
        };
        *lustre =
            Some(std::sync::Arc::new(crate::lustre::HookContext { clients, exports: exports_path(&opts)? }));
    }
    let shutdown = Shutdown::on_signals()?;
    let spawned = start_server(&opts, hook, shutdown.wait()).await?;
    serve(name, &opts.node, spawned).await
}

/// Starts a server (`opts` already loaded) whose window orders go to `hook`, until `stop`.
pub async fn start_server(
    opts: &ServerOpts,
    hook: Hook,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Spawned<Server>> {
    let name = required(opts.name.clone(), "name")?;
    let target = wire_name(&required(opts.target.clone(), "target")?, "target")?;
    let addrs = wire_nids::<MAX_TARGET_ADDRS>(&opts.target_addrs)?;
    let window = bounded(opts.window_ms.map(u64::from), u64::from(DEFAULT_WINDOW_MS), timing::WINDOW_MS)?;
    let window_ms = u32::try_from(window).unwrap_or(DEFAULT_WINDOW_MS);
    let keys = super::order_keys(&opts.upstream.order_pubs)?;
    // Following Lustre, the target's instance and state are Lustre's, read before the first
    // ping so that a daemon restart reports the instance it found, not a restart.
    let lustre = match opts.lustre {
        true => Some(crate::lustre::read(&target).await.context("--lustre")?),
        false => None,
    };
    let (member, state, socket) = member(&name, &opts.node, &opts.upstream.parents, opts.bind).await?;
    match &lustre {
        Some(Some(reading)) => info!(
            name,
            target = target.as_str(),
            instance = reading.instance.0,
            state = ?reading.state,
            "server starting: following Lustre"
        ),
        Some(None) => {
            info!(name, target = target.as_str(), "server starting: the target is not mounted here")
        }
        None => info!(
            name,
            target = target.as_str(),
            generation = member.generation.0,
            "server starting: target recovering"
        ),
    }
    let target_name = target.as_str().to_owned();
    let following = lustre.is_some();
    let config = ServerConfig { member, target, addrs, window_ms };
    let machine = |clock: &Clock| {
        let mut server = Server::new(config, clock.now());
        server.set_order_keys(keys);
        match lustre {
            Some(Some(reading)) => reading.hand_to(&mut server, clock.now()),
            Some(None) => server.set_target_state(clock.now(), TargetState::Down),
            None => {}
        }
        server
    };
    let spawned = start(&name, socket, machine, hook, state, stop)?;
    if following {
        let exports = crate::lustre::Exports::load(exports_path(opts)?);
        tokio::spawn(crate::lustre::follow(target_name, exports, spawned.commands.clone()));
    }
    Ok(spawned)
}

/// Where a server following Lustre keeps its target's exports snapshot.
fn exports_path(opts: &ServerOpts) -> anyhow::Result<std::path::PathBuf> {
    let name = required(opts.name.clone(), "name")?;
    Ok(opts.node.state_dir().join(format!("{name}.lustre-exports")))
}
