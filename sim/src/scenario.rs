//! The scale scenario: a two-level router tree under one MGS (or several status holders that
//! every top router lists), a share of the clients dead, one target restarting, and Vigil's
//! imperative recovery measured against Lustre's baselines.
//!
//! Phases, all in one deterministic run:
//! 1. **boot**: the MGS, routers and servers start at time zero; the servers' targets start
//!    recovering, and with no client yet each boot recovery closes at once. Then every client
//!    mounts (starts) at the same instant; the phase ends when the MGS shows every node alive.
//!    (Clients start after the targets, as on a real cluster mounts after its servers.)
//! 2. **steady state**: [`STEADY_INTERVALS`] ping intervals with nothing happening, over which the
//!    traffic rates are measured;
//! 3. **deaths**: `dead_fraction` of the clients stop; the phase ends when the MGS shows them all
//!    dead;
//! 4. **restart**: the first target's server (or the first `restarting` ones, at the same
//!    instant: an OSS failing over all its OSTs) restarts with a new generation; the run ends
//!    when every restarted window closed (the server carried out `CloseWindow`, or its own
//!    window ran out). The main figures are the first target's. With `kill_holder`, the first
//!    status holder stops mid-recovery: a client hook's time after it ordered the recovery.
//!
//! With several holders, each phase waits until every running holder's view shows it, the
//! window closes at the first `CloseWindow` the server carried out (whichever holder issued it),
//! and a live client counts as ordered once when its hook ran once over all the holders' orders.
//!
//! From boot to the end, every [`SAMPLE_MS`] the MGS's view is checked for live clients shown
//! dead (false deaths) and every router's table occupancy is recorded.

use std::collections::HashSet;

use vigil_proto::wire::{NodeState, Role};
use vigil_proto::{Instant, NodeId, OrderId, Recovery, Timing, MAX_UPSTREAMS};

use crate::baseline::{self, Setting, Timeline};
use crate::report::{Figures, Level, Load, Occupancy, Params, Rate, Ratios, Spread, Times, Window};
use crate::{Conditions, HostMgs, Machine, Net, OrderLog, Rng, Spec, Traffic};

/// Ping intervals of quiet over which steady-state traffic is measured.
pub const STEADY_INTERVALS: u64 = 5;
/// How often the MGS's view and the router tables are sampled.
pub const SAMPLE_MS: u64 = 1_000;
/// Longest the boot and death phases may take before the run gives up.
const PHASE_LIMIT_MS: u64 = 300_000;
/// Longest the restart phase may take: past any target's own window.
const RESTART_LIMIT_MS: u64 = 400_000;

/// The name of the `k`th target (its server is `tree.servers[k]`).
fn target_name(k: usize) -> String {
    format!("testfs-OST{k:04x}")
}

/// Indices of the scenario's nodes.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// The status holders (MGS instances), every one a parent of every top router.
    pub holders: Vec<usize>,
    /// Routers per level, top level first.
    pub levels: Vec<Vec<usize>>,
    /// Clients.
    pub clients: Vec<usize>,
    /// Servers, one per target.
    pub servers: Vec<usize>,
    /// Ids in use.
    names: Names,
}

/// Table slots for `n` entries: the table keeps one eighth free, plus room for churn.
fn slots_for(n: usize) -> usize {
    n + n / 6 + 64
}

/// Hands out node names whose ids do not collide (ids are 32-bit hashes of names: at 100k
/// nodes a collision is likely, and the MGS would refuse the second node).
#[derive(Clone, Debug, Default)]
struct Names(HashSet<NodeId>);

impl Names {
    fn unique(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut k = 0;
        while !self.0.insert(NodeId::from_name(&name)) {
            k += 1;
            name = format!("{base}-{k}");
        }
        name
    }
}

/// Builds MGS → `l1` routers → `l2` routers (spread evenly over the first level), and servers
/// under the first level; [`Tree::mount`] adds the clients. Tables are sized to their subtrees.
pub fn build(net: &mut Net, p: &Params) -> Tree {
    let (l1, l2) = (p.routers[0].max(1), p.routers[1].max(p.routers[0]).max(1));
    let per_l2 = p.clients.div_ceil(l2);
    let per_l1 = l2.div_ceil(l1) * (per_l2 + 1) + p.targets.div_ceil(l1);
    net.mgs_slots = slots_for(p.clients + l1 + l2 + p.targets);
    net.reserve(p.holders + l1 + l2 + p.targets + p.clients);
    let mut t = Tree::default();
    for h in 0..p.holders.clamp(1, MAX_UPSTREAMS) {
        let name = if h == 0 { "mgs".to_owned() } else { format!("mgs{h}") };
        t.holders.push(net.add(&t.names.unique(name), Spec::Mgs));
    }
    let names = &mut t.names;
    let top: Vec<usize> = (0..l1)
        .map(|a| {
            let spec = Spec::Router { parents: t.holders.clone(), slots: slots_for(per_l1) };
            net.add(&names.unique(format!("r{a}")), spec)
        })
        .collect();
    let second: Vec<usize> = (0..l2)
        .map(|b| {
            let spec = Spec::Router { parents: vec![top[b % l1]], slots: slots_for(per_l2) };
            net.add(&names.unique(format!("r{}.{}", b % l1, b / l1)), spec)
        })
        .collect();
    for k in 0..p.targets {
        let target = target_name(k);
        let spec = Spec::Server { parents: vec![top[k % l1]], target };
        t.servers.push(net.add(&names.unique(format!("oss{k}")), spec));
    }
    t.levels = vec![top, second];
    t
}

impl Tree {
    /// The running holders' machines.
    pub fn running_holders<'a>(&'a self, net: &'a Net) -> impl Iterator<Item = &'a HostMgs> + 'a {
        self.holders.iter().filter(|&&h| net.node(h).up).filter_map(|&h| match &net.node(h).machine {
            Machine::Mgs(m) => Some(&**m),
            _ => None,
        })
    }

    /// Every holder's machine, stopped ones included (their last view).
    fn every_holder<'a>(&'a self, net: &'a Net) -> impl Iterator<Item = &'a HostMgs> + 'a {
        self.holders.iter().filter_map(|&h| match &net.node(h).machine {
            Machine::Mgs(m) => Some(&**m),
            _ => None,
        })
    }

    /// Starts `clients` clients now, spread evenly over the last router level.
    pub fn mount(&mut self, net: &mut Net, clients: usize) {
        let last = self.levels.last().cloned().unwrap_or_default();
        for k in 0..clients {
            let spec = Spec::Client { parents: vec![last[k % last.len()]] };
            let name = self.names.unique(format!("c{k:06}"));
            self.clients.push(net.add(&name, spec));
        }
    }
}

/// What the sampling saw over the run.
struct Watch {
    false_deaths: HashSet<usize>,
    peak: Vec<usize>,
    capacity: Vec<usize>,
    next_sample: u64,
}

impl Watch {
    /// `by_id`: the clients by id, sorted.
    fn sample(&mut self, net: &Net, tree: &Tree, by_id: &[(NodeId, usize)]) {
        if net.now() < self.next_sample {
            return;
        }
        self.next_sample = net.now() + SAMPLE_MS;
        for mgs in tree.running_holders(net) {
            for v in mgs.nodes(Instant(net.now())) {
                if v.state == NodeState::Dead && v.role == Role::Client {
                    if let Ok(k) = by_id.binary_search_by_key(&v.id, |&(id, _)| id) {
                        let i = by_id[k].1;
                        if net.node(i).up {
                            self.false_deaths.insert(i);
                        }
                    }
                }
            }
        }
        for (level, routers) in tree.levels.iter().enumerate() {
            for &r in routers {
                if let Machine::Router(m) = &net.node(r).machine {
                    self.peak[level] = self.peak[level].max(m.table().len());
                    self.capacity[level] = m.table().capacity();
                }
            }
        }
    }
}

/// The invariants a scenario run must hold (the CI test asserts them).
#[derive(Clone, Debug, Default)]
pub struct Checks {
    /// Live clients handed the recovery order exactly once.
    pub ordered_once: usize,
    /// Live clients handed it never, or more than once.
    pub ordered_not_once: usize,
    /// Dead clients handed it (they cannot be: stopped nodes receive nothing).
    pub dead_ordered: usize,
    /// Live clients whose reconnect had not finished when the MGS closed the window.
    pub unfinished_at_close: usize,
    /// Whether Vigil closed the window by order (rather than the target's own time-out).
    pub closed_by_order: bool,
}

/// A scenario's outcome: the figures and the invariants.
pub struct Outcome {
    /// Everything measured.
    pub figures: Figures,
    /// Invariants, for tests.
    pub checks: Checks,
}

fn rate(t: Traffic, ms: u64) -> Rate {
    let s = ms as f64 / 1_000.0;
    Rate { datagrams_per_s: t.datagrams as f64 / s, bytes_per_s: t.bytes as f64 / s }
}

fn sum(counters: &[Traffic], nodes: &[usize]) -> Traffic {
    nodes.iter().fold(Traffic::default(), |acc, &i| Traffic {
        datagrams: acc.datagrams + counters[i].datagrams,
        bytes: acc.bytes + counters[i].bytes,
    })
}

fn diff(after: Traffic, before: Traffic) -> Traffic {
    Traffic { datagrams: after.datagrams - before.datagrams, bytes: after.bytes - before.bytes }
}

/// Runs the scenario.
pub fn run(p: &Params) -> Outcome {
    let started = std::time::Instant::now();
    let mut net = Net::new(p.seed);
    net.keep_events = false;
    net.timing = Timing {
        ping_interval_ms: p.interval_ms,
        update_interval_ms: p.update_interval_ms(),
        ..Timing::default()
    };
    net.conditions = Conditions {
        loss: p.loss,
        latency_ms: p.latency_ms,
        jitter_ms: p.jitter_ms,
        ..Conditions::default()
    };
    let mut tree = build(&mut net, p);
    let levels = tree.levels.len();
    let mut watch = Watch {
        false_deaths: HashSet::new(),
        peak: vec![0; levels],
        capacity: vec![0; levels],
        next_sample: 0,
    };

    // 1. Boot: the filesystem first, then the clients.
    net.run_until_true(SAMPLE_MS / 10, PHASE_LIMIT_MS, |net| {
        tree.running_holders(net).all(|mgs| {
            mgs.recoveries().len() == p.targets && mgs.recoveries().iter().all(|r| r.target_up().is_some())
        })
    });
    tree.mount(&mut net, p.clients);
    // A sorted list, not a hash map: a third of the room at a million clients.
    let mut by_id: Vec<(NodeId, usize)> =
        tree.clients.iter().map(|&i| (NodeId::from_name(&net.node(i).name), i)).collect();
    by_id.sort_unstable();
    let others: Vec<(usize, NodeId)> = (0..net.nodes().len())
        .filter(|i| !tree.holders.contains(i))
        .map(|i| (i, NodeId::from_name(&net.node(i).name)))
        .collect();
    let settled = net.run_until_true(SAMPLE_MS, PHASE_LIMIT_MS, |net| {
        watch.sample(net, &tree, &by_id);
        let now = Instant(net.now());
        tree.running_holders(net).all(|mgs| {
            others.iter().all(|&(_, id)| mgs.node(id, now).is_some_and(|v| v.state == NodeState::Alive))
        })
    });
    let boot_ms = settled.unwrap_or(net.now());

    // 2. Steady state.
    net.run_for(p.interval_ms.into());
    let (in0, out0) = (net.inbound.clone(), net.outbound.clone());
    let steady_ms = STEADY_INTERVALS * u64::from(p.interval_ms);
    let end = net.now() + steady_ms;
    net.run_until_true(SAMPLE_MS, steady_ms, |net| {
        watch.sample(net, &tree, &by_id);
        net.now() >= end
    });
    let inbound: Vec<Traffic> = net.inbound.iter().zip(&in0).map(|(&a, &b)| diff(a, b)).collect();
    let outbound: Vec<Traffic> = net.outbound.iter().zip(&out0).map(|(&a, &b)| diff(a, b)).collect();
    // Per-node vectors are megabytes at scale: freed as soon as read, not at the end of the run.
    drop((in0, out0));
    let clients_in = sum(&inbound, &tree.clients);
    let clients_out = sum(&outbound, &tree.clients);
    let n = tree.clients.len().max(1) as f64;
    let per_client = |t: Traffic| {
        let r = rate(t, steady_ms);
        Rate { datagrams_per_s: r.datagrams_per_s / n, bytes_per_s: r.bytes_per_s / n }
    };
    let into_holders = sum(&inbound, &tree.holders);
    let load = Load {
        window_ms: steady_ms,
        mgs: rate(into_holders, steady_ms),
        levels: tree
            .levels
            .iter()
            .enumerate()
            .map(|(k, routers)| {
                let total = rate(sum(&inbound, routers), steady_ms);
                let per = routers.len().max(1) as f64;
                Level {
                    level: k + 1,
                    routers: routers.len(),
                    per_router: Rate {
                        datagrams_per_s: total.datagrams_per_s / per,
                        bytes_per_s: total.bytes_per_s / per,
                    },
                    total,
                }
            })
            .collect(),
        client_in: per_client(clients_in),
        client_out: per_client(clients_out),
        mgs_datagrams_per_router_per_update: rate(into_holders, steady_ms).datagrams_per_s
            * f64::from(net.timing.update_interval_ms)
            / 1_000.0
            / tree.levels[0].len().max(1) as f64
            / tree.holders.len() as f64,
    };
    drop((inbound, outbound));

    // 3. Deaths.
    let mut pick = Rng::new(p.seed ^ 0xDEAD);
    let mut order: Vec<usize> = tree.clients.clone();
    let dead_count = ((p.clients as f64) * p.dead_fraction).round() as usize;
    for k in 0..dead_count.min(order.len()) {
        let j = k + pick.below((order.len() - k) as u64) as usize;
        order.swap(k, j);
    }
    let dead: HashSet<usize> = order[..dead_count.min(order.len())].iter().copied().collect();
    for &d in &dead {
        net.stop(d);
    }
    let dead_ids: Vec<NodeId> = dead.iter().map(|&d| NodeId::from_name(&net.node(d).name)).collect();
    net.run_until_true(SAMPLE_MS, PHASE_LIMIT_MS, |net| {
        watch.sample(net, &tree, &by_id);
        let now = Instant(net.now());
        tree.running_holders(net).all(|mgs| {
            dead_ids.iter().all(|&id| mgs.node(id, now).is_some_and(|v| v.state == NodeState::Dead))
        })
    });
    let live: Vec<usize> = tree.clients.iter().copied().filter(|i| !dead.contains(i)).collect();

    // 4. Restart: the first `restarting` targets at the same instant.
    let restarted: Vec<usize> = tree.servers.iter().copied().take(p.restarting.max(1)).collect();
    let restarted_at = net.now();
    let generations: Vec<u32> = restarted.iter().map(|&s| net.node(s).generation + 1).collect();
    let upstream_before = sum(&net.inbound, &tree.holders);
    for &s in &restarted {
        net.restart(s);
    }
    // Each holder's recovery of the `k`th restarted target's new instance.
    let recoveries_of = |net: &Net, k: usize| -> Vec<Recovery> {
        let target = target_name(k);
        tree.every_holder(net)
            .filter_map(|mgs| {
                mgs.recoveries()
                    .iter()
                    .find(|r| r.target.as_str() == target && r.target_generation.0 == generations[k])
                    .cloned()
            })
            .collect()
    };
    // The first `CloseWindow` the server carried out, whichever holder issued it, and when that
    // holder issued it.
    let first_close = |net: &Net, k: usize| -> Option<(u64, u64)> {
        recoveries_of(net, k)
            .iter()
            .filter_map(|r| {
                let (id, at) = r.closed()?;
                Some((net.node(restarted[k]).orders.get(&id)?.done_at?, at.0))
            })
            .min()
    };
    let up = |net: &Net, s: usize| match &net.node(s).machine {
        Machine::Server(s) => s.target_state() == vigil_proto::wire::TargetState::Up,
        _ => false,
    };
    let mut up_at: Vec<Option<u64>> = vec![None; restarted.len()];
    let mut holder_killed_ms = None;
    let limit = net.now() + RESTART_LIMIT_MS;
    while net.now() < limit {
        watch.sample(&net, &tree, &by_id);
        for (k, &s) in restarted.iter().enumerate() {
            if up_at[k].is_none() && up(&net, s) {
                up_at[k] = Some(net.now());
            }
        }
        if up_at.iter().all(Option::is_some) {
            break;
        }
        if p.kill_holder && holder_killed_ms.is_none() && tree.holders.len() > 1 {
            // Mid-recovery: the first holder ordered it a hook's time ago (clients are
            // reconnecting), and has not closed it.
            let first = match &net.node(tree.holders[0]).machine {
                Machine::Mgs(m) => (m.recoveries().iter())
                    .find(|r| r.target.as_str() == target_name(0) && r.target_generation.0 == generations[0]),
                _ => None,
            };
            let hook = net.conditions.hook_ms;
            if first.is_some_and(|r| r.closed().is_none() && net.now() >= r.began.0 + hook) {
                net.stop(tree.holders[0]);
                holder_killed_ms = Some(net.now() - restarted_at);
            }
        }
        net.run_for(10);
    }
    let end_ms = net.now();
    let recovery_upstream_datagrams = diff(sum(&net.inbound, &tree.holders), upstream_before).datagrams;
    let since = |t: u64| t.saturating_sub(restarted_at);
    // The holder whose view the figures show: the one whose `CloseWindow` closed the window,
    // else the first still running.
    let shown = |net: &Net, k: usize| -> Option<Recovery> {
        let all = recoveries_of(net, k);
        let closer = first_close(net, k)
            .and_then(|(_, at)| all.iter().find(|r| r.closed().is_some_and(|c| c.1 .0 == at)));
        closer.cloned().or_else(|| {
            let target = target_name(k);
            tree.running_holders(net)
                .find_map(|mgs| {
                    mgs.recoveries()
                        .iter()
                        .find(|r| r.target.as_str() == target && r.target_generation.0 == generations[k])
                })
                .cloned()
        })
    };
    // When each restarted target's window closed: the server's first `CloseWindow` done, or its
    // own time-out (when it came up without one).
    let windows: Vec<Window> = restarted
        .iter()
        .enumerate()
        .map(|(k, _)| {
            let r = shown(&net, k);
            let close = first_close(&net, k);
            let mut orders: Vec<OrderId> =
                recoveries_of(&net, k).iter().filter_map(Recovery::order).collect();
            orders.sort_unstable();
            orders.dedup();
            Window {
                target: target_name(k),
                closed_ms: since(close.map(|c| c.0).or(up_at[k]).unwrap_or(end_ms)),
                by_order: close.is_some(),
                reconnected: r.as_ref().map_or((0, 0), |r| (r.progress.reconnected, r.progress.live)),
                last_reconnected_ms: live
                    .iter()
                    .filter_map(|&i| orders.iter().filter_map(|o| net.node(i).orders.get(o)?.done_at).min())
                    .max()
                    .map(since),
                mgs_close_ms: close.map(|c| since(c.1)),
            }
        })
        .collect();
    // Every holder's order for this restart: one order to the clients (hooks once per instance).
    // (Holders that saw the same history number their orders alike: one id, counted once.)
    let mut order_ids: Vec<OrderId> = recoveries_of(&net, 0).iter().filter_map(Recovery::order).collect();
    order_ids.sort_unstable();
    order_ids.dedup();
    let close = first_close(&net, 0);
    let window_closed_at = close.map_or(end_ms, |c| c.0);
    let closed_at = close.map(|c| c.1);

    let mut checks = Checks { closed_by_order: close.is_some(), ..Checks::default() };
    let mut vigil = Timeline {
        mgs_knows_ms: recoveries_of(&net, 0).iter().map(|r| since(r.began.0)).min(),
        window_closed_ms: since(window_closed_at),
        ..Timeline::default()
    };
    for &i in &live {
        let logs: Vec<&OrderLog> = order_ids.iter().filter_map(|o| net.node(i).orders.get(o)).collect();
        let events: u32 = logs.iter().map(|l| l.events).sum();
        if events != 1 {
            checks.ordered_not_once += 1;
            continue;
        }
        checks.ordered_once += 1;
        let log = logs.iter().find(|l| l.events == 1).expect("the one event's log");
        if let Some(t) = log.received_at {
            vigil.ordered_ms.push(since(t));
        }
        match (log.done_at, closed_at) {
            (Some(done), Some(at)) if done <= at => vigil.reconnected_ms.push(since(done)),
            (Some(done), _) => {
                checks.unfinished_at_close += 1;
                vigil.reconnected_ms.push(since(done));
            }
            (None, _) => checks.unfinished_at_close += 1,
        }
    }
    checks.dead_ordered =
        dead.iter().filter(|&&d| order_ids.iter().any(|o| net.node(d).orders.contains_key(o))).count();

    // 5. With `restart_mgs`: the first holder restarts, its view empty, and rebuilds it from its
    // children's snapshots, each sent once the child's next update learns of the restart.
    let mgs_restart_whole_ms = p
        .restart_mgs
        .then(|| {
            let holder = tree.holders[0];
            let running: Vec<NodeId> =
                (others.iter()).filter(|&&(i, _)| net.node(i).up).map(|&(_, id)| id).collect();
            // At a random instant of the steady state: the routers' updates are not aligned with
            // the recovery's last ones, so the figure is not a lucky phase.
            let interval = u64::from(net.timing.update_interval_ms);
            let mut pick = Rng::new(p.seed ^ 0x4D47);
            net.run_for(2 * interval + pick.below(interval));
            let at = net.now();
            net.restart(holder);
            let whole = net.run_until_true(10, PHASE_LIMIT_MS, |net| match &net.node(holder).machine {
                Machine::Mgs(mgs) => {
                    let now = Instant(net.now());
                    running.iter().all(|&id| mgs.node(id, now).is_some_and(|v| v.state == NodeState::Alive))
                }
                _ => false,
            });
            whole.map(|t| t - at)
        })
        .flatten();

    // Baselines: the same clients, conditions and reconnect cost.
    let setting = Setting {
        live: live.len(),
        dead: dead.len(),
        loss: p.loss,
        latency_ms: p.latency_ms,
        jitter_ms: p.jitter_ms,
        hook_ms: net.conditions.hook_ms,
    };
    let mut rng = Rng::new(p.seed ^ 0xBA5E);
    let passive = baseline::passive(&setting, &mut rng);
    let ir = baseline::imperative_recovery(&setting, &mut rng);
    let (vigil, passive, ir) = (Times::from(&vigil), Times::from(&passive), Times::from(&ir));
    let figures = Figures {
        ratios_ir: Ratios::of(&ir, &vigil),
        ratios_passive: Ratios::of(&passive, &vigil),
        params: p.clone(),
        live_clients: live.len(),
        dead_clients: dead.len(),
        boot_ms,
        mgs_close_ms: closed_at.map(since),
        recovery_upstream_datagrams,
        holder_killed_ms,
        mgs_restart_whole_ms,
        vigil,
        lustre_ir: ir,
        passive,
        load,
        occupancy: (0..levels)
            .map(|k| Occupancy { level: k + 1, peak_entries: watch.peak[k], capacity: watch.capacity[k] })
            .collect(),
        restarted: windows,
        false_deaths: watch.false_deaths.len(),
        simulated_ms: end_ms,
        wall_ms: started.elapsed().as_millis() as u64,
    };
    Outcome { figures, checks }
}

impl From<&Timeline> for Times {
    fn from(t: &Timeline) -> Times {
        Times {
            mgs_knows_ms: t.mgs_knows_ms,
            ordered_ms: Spread::of(&t.ordered_ms),
            reconnected_ms: Spread::of(&t.reconnected_ms),
            window_closed_ms: t.window_closed_ms,
        }
    }
}
