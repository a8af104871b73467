//! What one seed draws: a topology, timing, network conditions and a schedule of faults and
//! admin commands.

use std::collections::HashMap;

use vigil_proto::{Generation, NodeId, Timing};

use super::{Config, Known};
use crate::{Conditions, Net, Rng, Spec};

/// One scheduled happening.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// The node crashes (stops).
    Stop(usize),
    /// The node boots again with its next generation.
    Start(usize),
    /// The node restarts having lost its state file: it goes down, and boots at the wall
    /// clock's next second ([`Act::BootLost`]), as a host daemon does.
    StartLost(usize),
    /// The node boots without its state file, on a second of the wall clock: with the clock's
    /// reading for a generation.
    BootLost(usize),
    /// The link is cut.
    Cut(usize, usize),
    /// The link heals.
    Heal(usize, usize),
    /// The router crashes right after it next takes an order, and boots again this much later
    /// (never: `None`).
    CrashAfterOrder(usize, Option<u64>),
    /// An admin orders every client to reconnect to this target (server index).
    Recover(usize),
    /// An admin closes this target's window.
    Close(usize),
    /// Faults are over: loss, reordering and duplication stop.
    Calm,
}

/// The drawn cluster, conditions and schedule of one seed.
pub struct Draw {
    /// One line telling what was drawn.
    pub summary: String,
    /// The MGS (the first status holder).
    pub mgs: usize,
    /// Every status holder, `mgs` first: one, or two for a share of the seeds
    /// ([`Config::two_holders`]).
    pub holders: Vec<usize>,
    /// Routers, by level (top first).
    pub routers: Vec<Vec<usize>>,
    /// Clients.
    pub clients: Vec<usize>,
    /// Servers (target `k` is served by `servers[k]`).
    pub servers: Vec<usize>,
    /// Every node's parents.
    pub parents: Vec<Vec<usize>>,
    /// Node index by id.
    pub by_id: HashMap<NodeId, usize>,
    /// The schedule, in time order.
    pub schedule: Vec<(u64, Act)>,
    /// When faults are over (every healing cut healed, every restarting node back).
    pub calm_at: u64,
    /// When the MGS's view must equal the ground truth.
    pub view_at: u64,
    /// When the run ends: every recovery has ended by then.
    pub end_at: u64,
    /// The largest link loss drawn.
    pub max_loss: f64,
    /// Every counter started just below its wrap point.
    pub near_wrap: bool,
}

/// The target name of server `k`.
pub fn target_name(k: usize) -> String {
    format!("fs-OST{k:04x}")
}

/// Update intervals, past the dead threshold, within which the MGS's view equals the ground
/// truth once faults healed.
pub const VIEW_BOUND_INTERVALS: u64 = 8;

/// Draws seed `seed`'s cluster into a new network.
pub fn draw(seed: u64, config: &Config) -> (Net, Draw) {
    let mut rng = Rng::new(seed ^ 0x5741_524d_5741_524d);
    // What a second status holder adds is drawn from a stream of its own, so that a seed drawn
    // with one holder draws the same cluster, conditions and faults whatever the share of seeds
    // with two (and a seed with two draws the same plus the holder).
    let mut side = Rng::new(seed ^ 0x484f_4c44_4552_5321);
    let mut net = Net::new(seed);
    // The MGS walks its whole table at every check: size it to the cluster.
    net.mgs_slots = 1024;
    let ping = [500u32, 1_000, 2_000][rng.below(3) as usize];
    net.timing = Timing { ping_interval_ms: ping, update_interval_ms: ping / 2, ..Timing::default() };
    let latency = 1 + rng.below(15);
    net.conditions = Conditions {
        loss: 0.0,
        latency_ms: latency,
        jitter_ms: rng.below(latency + 1),
        hook_ms: 5 + rng.below(200),
        reorder: if rng.chance(0.5) { rng.unit() * 0.1 } else { 0.0 },
        duplicate: if rng.chance(0.5) { rng.unit() * 0.05 } else { 0.0 },
    };
    let near_wrap = !config.excluded(Known::CounterWrap) && rng.chance(0.15);
    if near_wrap {
        net.counters_from = Some(u32::MAX - rng.below(1_000) as u32);
        // Generations only climb by a few boots in a run: start close enough to the highest a
        // node is raised to that raises near it are exercised, far enough that none is refused.
        net.first_generation = Generation::HIGHEST_RAISE.0 - 16 - rng.below(984) as u32;
    }
    let window_intervals = 15 + rng.below(25);
    net.window_ms = ping * window_intervals as u32;

    // Topology.
    let mgs = net.add("mgs", Spec::Mgs);
    let mut parents: Vec<Vec<usize>> = vec![vec![]];
    let levels = rng.below(4) as usize;
    // A second holder is a parent of every top router (clients and servers list routers, not
    // holders), so only seeds with routers draw one.
    let second = (levels > 0 && side.chance(config.two_holders)).then(|| net.add("mgs-b", Spec::Mgs));
    let holders: Vec<usize> = std::iter::once(mgs).chain(second).collect();
    if second.is_some() {
        parents.push(vec![]);
    }
    let mut routers: Vec<Vec<usize>> = Vec::new();
    for level in 0..levels {
        let above: Vec<usize> = if level == 0 { vec![mgs] } else { routers[level - 1].clone() };
        let mut here = Vec::new();
        for (k, &up) in above.iter().enumerate() {
            let n = if level == 0 { 1 + rng.below(3) } else { 1 + rng.below(2) };
            for j in 0..n {
                let name = format!("r{level}.{k}.{j}");
                // One parent each: a router's progress goes up every path it has, so a router
                // with two parents under one ancestor would be counted twice there.
                let p = vec![up];
                // Top routers report to every holder; `parents` gains the second holder once
                // the main stream's draws over it are done.
                let uplinks = if level == 0 { holders.clone() } else { p.clone() };
                here.push(net.add(&name, Spec::Router { parents: uplinks, slots: 512 }));
                parents.push(p);
            }
        }
        routers.push(here);
    }
    let leaves: Vec<usize> = routers.last().cloned().unwrap_or_else(|| vec![mgs]);
    let servers_n = 1 + rng.below(4) as usize;
    let mut servers = Vec::new();
    let top: Vec<usize> = routers.first().cloned().unwrap_or_else(|| vec![mgs]);
    for k in 0..servers_n {
        let mut p = vec![top[rng.below(top.len() as u64) as usize]];
        if top.len() > 1 && rng.chance(0.2) {
            let other = top[(top.iter().position(|&x| x == p[0]).unwrap_or(0) + 1) % top.len()];
            p.push(other);
        }
        let spec = Spec::Server { parents: p.clone(), target: target_name(k) };
        servers.push(net.add(&format!("oss{k}"), spec));
        parents.push(p);
    }
    // Mostly small clusters, some up to 300 clients.
    let clients_n = 2 + (298.0 * rng.unit().powi(3)) as usize;
    let multipath = if leaves.len() > 1 && !config.excluded(Known::TwoParentHome) { 0.15 } else { 0.0 };
    let mut clients = Vec::new();
    for k in 0..clients_n {
        let a = rng.below(leaves.len() as u64) as usize;
        let mut p = vec![leaves[a]];
        if rng.chance(multipath) {
            p.push(leaves[(a + 1 + rng.below(leaves.len() as u64 - 1) as usize) % leaves.len()]);
        }
        clients.push(net.add(&format!("c{k}"), Spec::Client { parents: p.clone() }));
        parents.push(p);
    }
    let by_id = net.nodes().iter().enumerate().map(|(i, n)| (NodeId::from_name(&n.name), i)).collect();

    // Loss: most seeds are clean or lightly lossy, some very lossy; each link varies around
    // the seed's level.
    let level = match rng.below(10) {
        0..=3 => rng.unit() * 0.01,
        4..=7 => rng.unit() * 0.05,
        _ => 0.05 + rng.unit() * 0.25,
    };
    let mut max_loss: f64 = 0.0;
    for (child, ps) in parents.iter().enumerate() {
        for &p in ps {
            let loss = (level * (0.5 + rng.unit())).min(0.30);
            max_loss = max_loss.max(loss);
            net.set_link_loss(child, p, loss);
        }
    }

    // Faults.
    let ping = u64::from(ping);
    let start = 4 * ping;
    let faults_end = start + ping * (20 + rng.below(30));
    let calm_at = faults_end + ping;
    let mut schedule: Vec<(u64, Act)> = Vec::new();
    let any_router = routers.iter().flatten().copied().collect::<Vec<_>>();
    let at = |rng: &mut Rng| start + rng.below(faults_end - start);
    // A restart back within the fault period, or never.
    let back = |rng: &mut Rng, from: u64, never: f64| -> Option<u64> {
        (!rng.chance(never)).then(|| (from + 1 + rng.below(10 * ping)).min(faults_end))
    };
    // Every seed restarts at least one target: recoveries are what the invariants are about.
    let first = servers[rng.below(servers.len() as u64) as usize];
    let t = at(&mut rng);
    schedule.push((t, Act::Stop(first)));
    schedule.push((t + rng.below(ping), Act::Start(first)));
    let faults = rng.below(9);
    for _ in 0..faults {
        let t = at(&mut rng);
        let pick = |rng: &mut Rng, v: &[usize]| v[rng.below(v.len() as u64) as usize];
        match rng.below(14) {
            0 | 1 => {
                let s = pick(&mut rng, &servers);
                schedule.push((t, Act::Stop(s)));
                schedule.push((t + rng.below(ping), Act::Start(s)));
            }
            2 => {
                // A target restarting twice, the second time while recovering.
                let s = pick(&mut rng, &servers);
                let gap = 1 + rng.below(4 * ping);
                schedule.push((t, Act::Stop(s)));
                schedule.push((t + 1, Act::Start(s)));
                schedule.push((t + gap, Act::Stop(s)));
                schedule.push((t + gap + rng.below(ping), Act::Start(s)));
            }
            3 => {
                let c = pick(&mut rng, &clients);
                schedule.push((t, Act::Stop(c)));
                if let Some(b) = back(&mut rng, t, 0.3) {
                    schedule.push((b, Act::Start(c)));
                }
            }
            4 if !config.excluded(Known::ClientLostState) => {
                let c = pick(&mut rng, &clients);
                schedule.push((t, Act::Stop(c)));
                schedule.push((back(&mut rng, t, 0.0).unwrap_or(faults_end), Act::StartLost(c)));
            }
            5 if !any_router.is_empty() && !config.excluded(Known::RouterRestart) => {
                let r = pick(&mut rng, &any_router);
                schedule.push((t, Act::Stop(r)));
                if let Some(b) = back(&mut rng, t, 0.2) {
                    schedule.push((b, Act::Start(r)));
                }
            }
            6 if !any_router.is_empty()
                && !config.excluded(Known::RouterAfterOrder)
                && !config.excluded(Known::RouterRestart) =>
            {
                let r = pick(&mut rng, &any_router);
                let after = (!rng.chance(0.2)).then(|| 1 + rng.below(10 * ping));
                schedule.push((t, Act::CrashAfterOrder(r, after)));
            }
            7 if !config.excluded(Known::MgsRestart) => {
                schedule.push((t, Act::Stop(mgs)));
                let b = back(&mut rng, t, 0.0).unwrap_or(faults_end);
                if config.excluded(Known::MgsLostState) || !rng.chance(0.2) {
                    schedule.push((b, Act::Start(mgs)));
                } else {
                    schedule.push((b, Act::StartLost(mgs)));
                }
            }
            8 if !any_router.is_empty()
                && !config.excluded(Known::MgsWithRouter)
                && !config.excluded(Known::MgsRestart)
                && !config.excluded(Known::RouterRestart) =>
            {
                let r = pick(&mut rng, &any_router);
                let b = back(&mut rng, t, 0.0).unwrap_or(faults_end);
                schedule.push((t, Act::Stop(mgs)));
                schedule.push((t, Act::Stop(r)));
                schedule.push((b, Act::Start(mgs)));
                schedule.push((b, Act::Start(r)));
            }
            9 | 10 => {
                // A link between a node and one of its parents; a router's uplinks all at once
                // partition its subtree.
                // Any node but the holders (drawn as if there were one, for the main stream).
                let others = parents.len() - holders.len();
                let child = holders.len() + rng.below(others as u64) as usize;
                let cut: Vec<usize> = if rng.chance(0.5) {
                    parents[child].clone()
                } else {
                    vec![pick(&mut rng, &parents[child])]
                };
                let heal = back(&mut rng, t, 0.2);
                for p in cut {
                    schedule.push((t, Act::Cut(child, p)));
                    if let Some(h) = heal {
                        schedule.push((h, Act::Heal(child, p)));
                    }
                }
            }
            11 | 12 => {
                // `recover` on a target, often one that just restarted (already recovering).
                let k = rng.below(servers.len() as u64) as usize;
                if rng.chance(0.5) {
                    schedule.push((t, Act::Stop(servers[k])));
                    schedule.push((t + 1, Act::Start(servers[k])));
                }
                if !config.excluded(Known::RecoverWhileRecovering) {
                    schedule.push((t + 1 + rng.below(3 * ping), Act::Recover(k)));
                }
            }
            _ => {
                let k = rng.below(servers.len() as u64) as usize;
                schedule.push((t, Act::Close(k)));
            }
        }
    }
    if let Some(b) = second {
        let restarted =
            holder_faults(&mut side, config, &mut schedule, &routers[0], [mgs, b], (start, faults_end, ping));
        for &r in &routers[0] {
            let loss = (level * (0.5 + side.unit())).min(0.30);
            max_loss = max_loss.max(loss);
            net.set_link_loss(r, b, loss);
            parents[r].push(b);
        }
        // Drawn last, so that a seed draws everything above as it did before.
        if let Some(restarted) = restarted {
            holders_in_turn(&mut side, &mut schedule, [mgs, b], restarted, ping);
        }
    }
    // Faults are over by `faults_end` (a stable sort keeps each fault's own order).
    for (t, _) in schedule.iter_mut() {
        *t = (*t).min(faults_end);
    }
    schedule.push((calm_at, Act::Calm));
    schedule.sort_by_key(|(t, _)| *t);
    let timing = net.timing;
    let dead_ms = timing.dead_ms(timing.ping_interval_ms);
    let view_at = calm_at + dead_ms + VIEW_BOUND_INTERVALS * u64::from(timing.update_interval_ms);
    let end_at = view_at.max(calm_at + u64::from(net.window_ms) + dead_ms) + 4 * ping;
    let summary = format!(
        "ping {ping} ms, latency {latency}+{} ms, {} holder(s), {} router levels ({} routers), {} clients, {} targets, \
         loss up to {:.1}%, reorder {:.1}%, duplicate {:.1}%, window {} s, {} faults{}",
        net.conditions.jitter_ms,
        holders.len(),
        levels,
        any_router.len(),
        clients.len(),
        servers.len(),
        max_loss * 100.0,
        net.conditions.reorder * 100.0,
        net.conditions.duplicate * 100.0,
        net.window_ms / 1000,
        faults + 1,
        if near_wrap { ", counters near wrap" } else { "" },
    );
    let draw = Draw {
        summary,
        mgs,
        holders,
        routers,
        clients,
        servers,
        parents,
        by_id,
        schedule,
        calm_at,
        view_at,
        end_at,
        max_loss,
        near_wrap,
    };
    (net, draw)
}

/// The faults only a second holder brings, from its own stream: one holder stopped (for good,
/// or back later unless MGS restarts are drawn around) soon after the first target restart
/// (mid-recovery), and a top router's link to the second holder cut (a holder cut off from part
/// of the cluster), healing or not. Returns the holder stopped and restarted, when it was, and
/// when it stopped and came back.
fn holder_faults(
    side: &mut Rng,
    config: &Config,
    schedule: &mut Vec<(u64, Act)>,
    tops: &[usize],
    [a, b]: [usize; 2],
    (start, faults_end, ping): (u64, u64, u64),
) -> Option<(usize, u64, u64)> {
    let first_restart = schedule.first().map_or(start, |(t, _)| *t);
    let mut restarted = None;
    match side.below(3) {
        0 | 1 => {
            let h = if side.chance(0.5) { a } else { b };
            let t = first_restart + side.below(4 * ping);
            schedule.push((t, Act::Stop(h)));
            if !config.excluded(Known::MgsRestart) && side.chance(0.5) {
                let back = t + 1 + side.below(10 * ping);
                schedule.push((back, Act::Start(h)));
                restarted = Some((h, t, back));
            }
        }
        _ => {}
    }
    if side.chance(0.4) {
        let r = tops[side.below(tops.len() as u64) as usize];
        let t = start + side.below(faults_end - start);
        schedule.push((t, Act::Cut(r, b)));
        if side.chance(0.7) {
            schedule.push((t + 1 + side.below(10 * ping), Act::Heal(r, b)));
        }
    }
    restarted
}

/// Holders restarting in turn (rolling maintenance), in half the seeds where one holder was
/// stopped and restarted mid-recovery: the other is stopped while the first is down or within
/// four intervals of its return, and restarted.
fn holders_in_turn(
    side: &mut Rng,
    schedule: &mut Vec<(u64, Act)>,
    [a, b]: [usize; 2],
    (first, down, back): (usize, u64, u64),
    ping: u64,
) {
    if !side.chance(0.5) {
        return;
    }
    let other = if first == a { b } else { a };
    let t = down + side.below(back - down + 4 * ping);
    schedule.push((t, Act::Stop(other)));
    schedule.push((t + 1 + side.below(10 * ping), Act::Start(other)));
}
