//! `vigil demo`: a whole cluster on loopback in one process (an MGS, two routers, a few hundred
//! clients and two targets, each its own driver loop on its own UDP socket), a target restart
//! while some clients are dead, and the measured timeline of imperative recovery beside what a
//! passive Lustre client would have taken.
//!
//! Hooks are in-process here (a short sleep stands in for `lctl recover`) so that hundreds of
//! clients cost no process spawns; everything else is the daemons' own code path.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use tokio::sync::{mpsc, watch};
use vigil_proto::ids::nid;
use vigil_proto::wire::{Action, NodeState, TargetState, KEY_LEN};
use vigil_proto::{
    Client, ClientConfig, Endpoint, Event, Generation, Instant, Key, Keyring, MgsConfig, Name, RouterConfig,
    Server, ServerConfig, Timing,
};

use crate::config::wire_name;
use crate::daemon::mgs::MgsHandler;
use crate::daemon::router::RouterHandler;
use crate::driver::{self, slots, Clock, Commands, MgsMachine, RouterMachine, Spawned};
use crate::hook::{Hook, MemberHandler, OrderEnv, OrderKind};
use crate::udp::Udp;

/// Lustre's `obd_timeout` default (LUSTRE.md).
const LUSTRE_OBD_TIMEOUT_MS: u64 = 100_000;
/// A Lustre client pings each target every `obd_timeout / 4` (LUSTRE.md).
const LUSTRE_PING_INTERVAL_MS: u64 = LUSTRE_OBD_TIMEOUT_MS / 4;
/// Lustre's `recovery_time_soft`: how long a target waits for missing clients (LUSTRE.md).
const LUSTRE_RECOVERY_SOFT_MS: u64 = 300_000;
/// Lustre's soft window with its own Imperative Recovery, `max(120, 300 × 5/10)` s (LUSTRE.md).
const LUSTRE_IR_WINDOW_MS: u64 = 150_000;
/// A target evicts a silent client after 6 ping intervals (LUSTRE.md).
const LUSTRE_EVICTION_MS: u64 = 6 * LUSTRE_PING_INTERVAL_MS;
/// The longest any phase of the demo may take before it gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(20);

/// Options of `vigil demo`.
#[derive(Args, Debug)]
pub struct DemoOpts {
    /// How many clients.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=4000))]
    clients: u32,
    /// Percentage of clients killed before the target restarts.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=50))]
    kill_percent: u32,
    /// Client ping interval in ms (routers update twice as often).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(50..=5000))]
    ping_interval_ms: u32,
}

/// When a hook started or finished, and for which order.
struct HookRecord {
    order: String,
    kind: OrderKind,
    done: bool,
    at: Instant,
}

/// Everything observed: the MGS's events and every hook run.
struct Recorder {
    mgs: mpsc::UnboundedReceiver<(Instant, Event)>,
    hooks: mpsc::UnboundedReceiver<HookRecord>,
    events: Vec<(Instant, Event)>,
    runs: Vec<HookRecord>,
}

impl Recorder {
    fn drain(&mut self) {
        while let Ok(e) = self.mgs.try_recv() {
            self.events.push(e);
        }
        while let Ok(r) = self.hooks.try_recv() {
            self.runs.push(r);
        }
    }
}

/// A hook that records its runs and takes `delay_ms` to "reconnect".
fn recording_hook(clock: Clock, log: mpsc::UnboundedSender<HookRecord>, delay_ms: u64) -> Hook {
    Hook::InProcess(Arc::new(move |env: OrderEnv| {
        let log = log.clone();
        Box::pin(async move {
            let record = |done| HookRecord { order: env.id.clone(), kind: env.kind, done, at: clock.now() };
            // The recorder outlives every node; a failed send only loses a demo statistic.
            let _ = log.send(record(false));
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            let _ = log.send(record(true));
            true
        })
    }))
}

/// The demo cluster's shared pieces.
struct Cluster {
    clock: Clock,
    keys: Keyring,
    timing: Timing,
    stop: watch::Receiver<bool>,
    hooks: mpsc::UnboundedSender<HookRecord>,
}

impl Cluster {
    fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.clone();
        async move {
            let _ = stop.wait_for(|&s| s).await;
        }
    }

    async fn socket(&self) -> anyhow::Result<Udp> {
        driver::bind(SocketAddr::from(([127, 0, 0, 1], 0)), None).await
    }

    fn member(&self, name: &str, generation: u32, parent: SocketAddr) -> anyhow::Result<ClientConfig> {
        Ok(ClientConfig {
            name: wire_name(name, "node")?,
            generation: Generation(generation),
            parents: std::iter::once(Endpoint::from(parent)).collect(),
            keys: self.keys.clone(),
            timing: self.timing,
        })
    }

    async fn client(&self, name: &str, parent: SocketAddr, delay_ms: u64) -> anyhow::Result<Spawned<Client>> {
        let machine = Client::new(self.member(name, 1, parent)?, self.clock.now());
        let hook = recording_hook(self.clock, self.hooks.clone(), delay_ms);
        let handler = |commands| MemberHandler { name: name.to_owned(), hook, commands, state: None };
        Ok(driver::spawn(self.socket().await?, machine, handler, self.clock, self.shutdown())?)
    }

    async fn server(
        &self,
        name: &str,
        target: &Name,
        generation: u32,
        parent: SocketAddr,
    ) -> anyhow::Result<Spawned<Server>> {
        let addr = nid(&format!("{name}@tcp")).context("target address too long")?;
        let config = ServerConfig {
            member: self.member(name, generation, parent)?,
            target: target.clone(),
            addrs: std::iter::once(addr).collect(),
            window_ms: u32::try_from(LUSTRE_RECOVERY_SOFT_MS).unwrap_or(u32::MAX),
        };
        let machine = Server::new(config, self.clock.now());
        let hook = recording_hook(self.clock, self.hooks.clone(), 1);
        let handler = |commands| MemberHandler { name: name.to_owned(), hook, commands, state: None };
        Ok(driver::spawn(self.socket().await?, machine, handler, self.clock, self.shutdown())?)
    }
}

/// Polls `check` every 20 ms until it answers `Some`, for at most [`PHASE_LIMIT`].
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("gave up waiting {} s for {what}", PHASE_LIMIT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts MGS nodes per state: (alive, dead, total), and whether every target is up.
async fn census(mgs: &Commands<MgsMachine>, names: Arc<Vec<Name>>) -> Option<(usize, usize, usize, bool)> {
    mgs.ask(move |m, now| {
        let (mut alive, mut dead, mut total) = (0, 0, 0);
        for n in m.nodes(now) {
            total += 1;
            match n.state {
                NodeState::Alive => alive += 1,
                NodeState::Dead if names.contains(n.name) => dead += 1,
                _ => {}
            }
        }
        let targets_up = m.targets().count() == 2 && m.targets().all(|t| t.status.state == TargetState::Up);
        (alive, dead, total, targets_up)
    })
    .await
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Runs the demo and prints the timeline.
pub async fn run(opts: DemoOpts) -> anyhow::Result<()> {
    let clock = Clock::start();
    let mut secret = [0u8; KEY_LEN];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let timing = Timing {
        ping_interval_ms: opts.ping_interval_ms,
        update_interval_ms: (opts.ping_interval_ms / 2).max(1),
        ..Timing::default()
    };
    timing.validate().map_err(|e| anyhow::anyhow!("bad timing: {e}"))?;
    let (stop_tx, stop) = watch::channel(false);
    let (hooks_tx, hooks_rx) = mpsc::unbounded_channel();
    let (tap, tap_rx) = mpsc::unbounded_channel();
    let cluster = Cluster { clock, keys: Keyring::new(Key::new(1, &secret)), timing, stop, hooks: hooks_tx };
    let mut rec = Recorder { mgs: tap_rx, hooks: hooks_rx, events: Vec::new(), runs: Vec::new() };
    let at = |t: Instant| format!("[{:>5.1} s]", t.as_millis() as f64 / 1000.0);

    println!(
        "vigil demo: 1 MGS, 2 routers, {} clients, 2 targets, each its own UDP socket on loopback",
        opts.clients
    );
    println!(
        "  clients ping every {} ms, routers update every {} ms, dead after {} silent intervals\n",
        timing.ping_interval_ms, timing.update_interval_ms, timing.dead_after
    );

    let config =
        MgsConfig::new(wire_name("mgs", "MGS")?, Generation(1), cluster.keys.clone()).with_timing(timing);
    let machine = MgsMachine::new(config, slots(4 * opts.clients as usize + 64), clock.now());
    let handler = MgsHandler { name: "mgs".to_owned(), state: None, tap: Some(tap) };
    let mgs = driver::spawn(cluster.socket().await?, machine, |_| handler, clock, cluster.shutdown())?;

    let mut routers: Vec<Spawned<RouterMachine>> = Vec::new();
    for r in 0..2 {
        let name = format!("r{r}");
        let config = RouterConfig::new(
            wire_name(&name, "router")?,
            Generation(1),
            std::iter::once(Endpoint::from(mgs.addr)).collect(),
            cluster.keys.clone(),
        )
        .with_timing(timing);
        let machine = RouterMachine::new(config, slots(2 * opts.clients as usize + 64), clock.now());
        let handler = RouterHandler { name, state: None };
        routers.push(driver::spawn(
            cluster.socket().await?,
            machine,
            |_| handler,
            clock,
            cluster.shutdown(),
        )?);
    }
    let router_addr = |i: usize| routers[i % 2].addr;

    let mut clients = Vec::new();
    let mut client_names = Vec::new();
    for c in 0..opts.clients as usize {
        let name = format!("c{c:04}");
        // Reconnection takes 20-80 ms, spread over the clients.
        let delay = 20 + (c as u64 * 37) % 61;
        clients.push(cluster.client(&name, router_addr(c), delay).await?);
        client_names.push(wire_name(&name, "node")?);
    }
    let targets = [wire_name("testfs-OST0000", "target")?, wire_name("testfs-OST0001", "target")?];
    let mut servers = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        servers.push(cluster.server(&format!("oss{i}"), target, 1, router_addr(i)).await?);
    }

    let total = opts.clients as usize + 4;
    let no_names = Arc::new(Vec::new());
    wait_for("every node alive and both targets up", || async {
        let (alive, _, n, up) = census(&mgs.commands, no_names.clone()).await?;
        (alive == total && n == total && up).then_some(())
    })
    .await?;
    println!("{} all {total} nodes alive at the MGS, both targets up", at(clock.now()));

    let kill_every =
        if opts.kill_percent == 0 { usize::MAX } else { (100 / opts.kill_percent as usize).max(1) };
    let victims: Vec<usize> = (0..clients.len()).filter(|c| c % kill_every == kill_every - 1).collect();
    let killed_at = clock.now();
    for &v in &victims {
        clients[v].task.abort();
    }
    println!("{} killed {} clients without a word (their loops stopped)", at(killed_at), victims.len());
    let victim_names = Arc::new(victims.iter().map(|&v| client_names[v].clone()).collect::<Vec<_>>());
    wait_for("the killed clients to be dead", || async {
        let (_, dead, _, _) = census(&mgs.commands, victim_names.clone()).await?;
        (dead == victims.len()).then_some(())
    })
    .await?;
    let dead_at = clock.now();
    println!(
        "{} the MGS shows all {} dead, {} after the kill (a Lustre target evicts after {})",
        at(dead_at),
        victims.len(),
        secs(dead_at.since(killed_at)),
        secs(LUSTRE_EVICTION_MS)
    );

    // Restart the second target: its server comes back with a new generation.
    servers[1].task.abort();
    rec.drain();
    let restarted_at = clock.now();
    servers[1] = cluster.server("oss1", &targets[1], 2, router_addr(1)).await?;
    println!("{} restarted {} (generation 2)", at(restarted_at), targets[1].as_str());

    let live = clients.len() - victims.len();
    let target = targets[1].clone();
    let order = wait_for("the MGS to order the recovery", || {
        rec.drain();
        let found = rec.events.iter().find_map(|(_, e)| match e {
            Event::OrderIssued(o) => match &o.action {
                Action::BeginRecovery { target: t, target_generation: Generation(2), .. } if *t == target => {
                    Some(o.id)
                }
                _ => None,
            },
            _ => None,
        });
        std::future::ready(found)
    })
    .await?;
    let order = order.to_string();
    let closed = wait_for("the target's window to close", || {
        rec.drain();
        let close =
            rec.runs.iter().find(|r| r.kind == OrderKind::CloseWindow && r.done && r.at >= restarted_at);
        std::future::ready(close.map(|r| r.at))
    })
    .await?;
    let seen = rec
        .events
        .iter()
        .find(|(at, e)| {
            *at >= restarted_at
                && matches!(e, Event::TargetRestarted { target: t, generation: Generation(2) } if *t == target)
        })
        .map(|(t, _)| *t);
    let close_ordered = rec
        .events
        .iter()
        .find(|(at, e)| {
            *at >= restarted_at && matches!(e, Event::WindowClosed { target: t, .. } if *t == target)
        })
        .map(|(t, _)| *t);
    let starts: Vec<Instant> =
        rec.runs.iter().filter(|r| r.order == order && !r.done).map(|r| r.at).collect();
    let dones: Vec<Instant> = rec.runs.iter().filter(|r| r.order == order && r.done).map(|r| r.at).collect();
    let (Some(seen), Some(close_ordered)) = (seen, close_ordered) else {
        bail!("the MGS did not report the restart and the window's close");
    };
    let since = |t: Instant| format!("+{:>6} ms", t.since(restarted_at));
    let last = |v: &[Instant]| v.iter().copied().max().unwrap_or(restarted_at);

    println!("\nImperative recovery of {} (order {order}), from the restart:", target.as_str());
    println!("  {}  restart seen by the MGS, recovery ordered", since(seen));
    println!("  {}  all {}/{live} live clients ordered (hooks started)", since(last(&starts)), starts.len());
    println!("  {}  all {}/{live} reconnected (hooks done)", since(last(&dones)), dones.len());
    println!("  {}  the MGS ordered the window closed", since(close_ordered));
    println!("  {}  the target closed its recovery window", since(closed));
    let vigil_ms = closed.since(restarted_at).max(1);
    println!("\nWithout Vigil (Lustre defaults):");
    println!(
        "  a passive client notices the restart after up to {} (ping interval {} + obd_timeout {});",
        secs(LUSTRE_PING_INTERVAL_MS + LUSTRE_OBD_TIMEOUT_MS),
        secs(LUSTRE_PING_INTERVAL_MS),
        secs(LUSTRE_OBD_TIMEOUT_MS)
    );
    println!(
        "  with {} dead clients the window stays open its full {} ({} with Lustre's own IR).",
        victims.len(),
        secs(LUSTRE_RECOVERY_SOFT_MS),
        secs(LUSTRE_IR_WINDOW_MS)
    );
    println!(
        "  Vigil closed it after {}: {}x sooner than Lustre IR's window.",
        secs(vigil_ms),
        LUSTRE_IR_WINDOW_MS / vigil_ms
    );
    if starts.len() != live || dones.len() != live {
        bail!("expected every one of the {live} live clients to run its hook once");
    }

    // The loops end on the stop signal; the runtime's shutdown reaps whatever is left.
    let _ = stop_tx.send(true);
    Ok(())
}
