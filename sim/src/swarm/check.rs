//! The invariants, checked against the simulator's ground truth as the run goes: at every event
//! a machine hands its driver, at every update interval, once faults healed, and at the end.

use std::collections::{HashMap, HashSet, VecDeque};

use vigil_proto::wire::{Action, Endpoint, NodeState, TargetState};
use vigil_proto::{Event, Generation, Instant, Name, OrderId};

use super::draw::{target_name, Draw};
use super::{Config, Known, Violation};
use crate::{Machine, Net};

/// Lines of trace kept for a violation's report.
const TRACE: usize = 24;
/// Loss up to which a false death is a violation (above, it is counted).
pub const FALSE_DEATH_LOSS: f64 = 0.05;

/// Ground truth and the invariants' memory for one run.
pub struct Checker {
    seed: u64,
    /// When each node's current instance started.
    started: Vec<u64>,
    /// Each node's instance number (bumped on every start).
    instance: Vec<u32>,
    /// When each target instance started: (server, generation).
    target_started: HashMap<(usize, u32), u64>,
    /// Until when each link was last cut (`u64::MAX` while cut).
    cut_until: HashMap<(usize, usize), u64>,
    /// When loss stopped: a silence judged within a dead threshold after began under it.
    calm_at: Option<u64>,
    /// Each child-parent link's loss until then.
    loss_before_calm: HashMap<(usize, usize), f64>,
    /// Reconnect orders each client instance carried out, by (target, target instance).
    reconnects: HashMap<(usize, u32, Name, u32), Vec<OrderId>>,
    /// Manual orders each client instance was handed.
    manual: HashMap<(usize, u32), Vec<OrderId>>,
    /// Close orders each server got, by target instance.
    closes: HashSet<(usize, u32)>,
    /// Windows the admin closed (their `CloseWindow` orders).
    admin_closes: HashSet<OrderId>,
    /// Each client's home parent as it last chose it, and when that last changed.
    homes: HashMap<usize, (Option<Endpoint>, u64)>,
    /// Recoveries whose progress, frozen when their window closed, was checked (by holder).
    frozen_checked: HashSet<(usize, Option<OrderId>)>,
    trace: VecDeque<String>,
    /// What was found.
    pub violations: Vec<Violation>,
    /// Live nodes declared dead on links lossier than [`FALSE_DEATH_LOSS`].
    pub false_deaths_lossy: u64,
    /// Windows closed by order, with every remaining client justified.
    pub closed_by_order: u64,
}

impl Checker {
    /// A checker for a run whose nodes all started at 0.
    pub fn new(seed: u64, nodes: usize) -> Checker {
        Checker {
            seed,
            started: vec![0; nodes],
            instance: vec![0; nodes],
            target_started: HashMap::new(),
            cut_until: HashMap::new(),
            calm_at: None,
            loss_before_calm: HashMap::new(),
            reconnects: HashMap::new(),
            manual: HashMap::new(),
            closes: HashSet::new(),
            admin_closes: HashSet::new(),
            homes: HashMap::new(),
            frozen_checked: HashSet::new(),
            trace: VecDeque::new(),
            violations: Vec::new(),
            false_deaths_lossy: 0,
            closed_by_order: 0,
        }
    }

    /// Notes a line for the trace of a later violation.
    pub fn note(&mut self, now: u64, line: String) {
        if self.trace.len() == TRACE {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{now:>8} ms {line}"));
    }

    fn violate(&mut self, invariant: &'static str, detail: String) {
        // One report per invariant and seed is enough to reproduce it; count the rest.
        if let Some(v) = self.violations.iter_mut().find(|v| v.invariant == invariant) {
            v.count += 1;
            return;
        }
        self.violations.push(Violation {
            seed: self.seed,
            invariant,
            detail,
            count: 1,
            trace: self.trace.iter().cloned().collect(),
        });
    }

    /// A node (re)started now.
    pub fn started(&mut self, net: &Net, draw: &Draw, i: usize) {
        self.started[i] = net.now();
        self.instance[i] += 1;
        if let Some(k) = draw.servers.iter().position(|&s| s == i) {
            self.target_started.insert((i, net.node(i).generation), net.now());
            let _ = k;
        }
    }

    /// A link was cut (`true`) or healed.
    pub fn cut(&mut self, now: u64, a: usize, b: usize, cut: bool) {
        self.cut_until.insert((a.min(b), a.max(b)), if cut { u64::MAX } else { now });
    }

    /// Loss stops now: notes each child-parent link's loss before (call before it is cleared).
    pub fn calm(&mut self, net: &Net, draw: &Draw) {
        let links =
            (0..draw.parents.len()).flat_map(|c| draw.parents[c].iter().map(move |&p| (p.min(c), p.max(c))));
        let loss = links.map(|(a, b)| ((a, b), net.loss(a, b))).collect();
        (self.calm_at, self.loss_before_calm) = (Some(net.now()), loss);
    }

    /// An admin closed a window with this order.
    pub fn admin_closed(&mut self, order: OrderId) {
        self.admin_closes.insert(order);
    }

    /// Checks an event node `i` handed its driver.
    pub fn event(&mut self, net: &Net, draw: &Draw, i: usize, at: u64, event: &Event) {
        let name = &net.node(i).name;
        match event {
            Event::Order(order) => match &order.action {
                Action::BeginRecovery { target, target_generation, .. } if draw.clients.contains(&i) => {
                    if target_generation.0 == 0 {
                        self.manual.entry((i, self.instance[i])).or_default().push(order.id);
                        return;
                    }
                    let key = (i, self.instance[i], target.clone(), target_generation.0);
                    let seen = self.reconnects.entry(key).or_default();
                    seen.push(order.id);
                    if seen.len() > 1 {
                        let line = format!(
                            "client {name} ran its reconnect hook {} times for {target} instance {} (orders {:?})",
                            seen.len(),
                            target_generation.0,
                            seen
                        );
                        self.violate("exactly-once (client)", line);
                    }
                }
                Action::CloseWindow { target, target_generation, .. } => {
                    self.note(
                        at,
                        format!("{name} closes {target} instance {} ({:?})", target_generation.0, order.id),
                    );
                    if !self.closes.insert((i, target_generation.0)) {
                        let line = format!(
                            "server {name} ran its close hook twice for {target} instance {}",
                            target_generation.0
                        );
                        self.violate("exactly-once (server)", line);
                    }
                }
                _ => {}
            },
            Event::OrderIssued(order) => {
                self.note(at, format!("{name} issues {:?} {:?}", order.id, short(&order.action)))
            }
            Event::TargetRestarted { target, generation } => {
                self.note(at, format!("{name} sees {target} restarted, instance {}", generation.0))
            }
            Event::WindowClosed { target, order, .. } => {
                self.note(at, format!("{name} closes the window of {target} ({order:?})"));
                self.window_closed(net, draw, i, at, target, *order);
            }
            Event::ChildState { id, state: NodeState::Dead } => self.death(net, draw, i, at, *id),
            Event::GenerationRaised { generation, .. } => {
                self.note(at, format!("{name} raised its generation to {}", generation.0))
            }
            Event::OrderLapsed { order, target, target_generation } => self.note(
                at,
                format!(
                    "{name} lets go of {order:?} (recovery of {target} instance {}): its window ran out",
                    target_generation.0
                ),
            ),
            Event::ParentRestarted { .. } | Event::ChildRebooted { .. } | Event::OrderHeld(_) => {}
            _ => {}
        }
    }

    /// No early close: every client that is up, was there when the target restarted and has
    /// not reconnected has been silent on every path for the dead threshold, whichever holder
    /// (`holder`) closed the window.
    fn window_closed(
        &mut self,
        net: &Net,
        draw: &Draw,
        holder: usize,
        now: u64,
        target: &Name,
        close: OrderId,
    ) {
        if self.admin_closes.contains(&close) {
            return;
        }
        let Some(Machine::Mgs(mgs)) = Some(&net.node(holder).machine) else { return };
        let Some(r) = mgs.recoveries().iter().find(|r| r.closed().is_some_and(|(o, _)| o == close)) else {
            return;
        };
        // An admin's recovery of a target that was up in the instance ordered (`serving`) is
        // Vigil's alone: the target's own window had ended, and its server does not act on
        // this `CloseWindow` (it is not recovering), so no client is closed out by it.
        if r.closed_by_admin() || r.serving() {
            return;
        }
        let Some(server) = (0..draw.servers.len()).find(|&k| target_name(k) == target.as_str()) else {
            return;
        };
        let server = draw.servers[server];
        let began = match r.target_generation.0 {
            0 => r.began.0,
            g => self.target_started.get(&(server, g)).copied().unwrap_or(0),
        };
        let timing = net.timing;
        let dead_ms = timing.dead_ms(timing.ping_interval_ms);
        let news_ms = news_ms(net, draw);
        let mut early = Vec::new();
        for &c in &draw.clients {
            let node = net.node(c);
            // Clients that (re)started with or after the target have nothing to recover.
            if !node.up || self.started[c] >= began {
                continue;
            }
            let instance = self.instance[c];
            let done = |o: &OrderId| {
                node.orders.get(o).and_then(|l| l.done_at).is_some_and(|t| t >= self.started[c])
            };
            let reconnected = match r.target_generation.0 {
                0 => self
                    .manual
                    .get(&(c, instance))
                    .is_some_and(|v| v.iter().any(|o| Some(*o) == r.order() && done(o))),
                g => (self.reconnects.get(&(c, instance, target.clone(), g)))
                    .is_some_and(|v| v.iter().any(done)),
            };
            let silent = now - net.heard_at(c);
            // Back from a silence its parents could rightly judge a death so lately that the
            // news cannot have reached the MGS: the verdict the MGS closed on was justified.
            let news_in_flight = net.back_at(c).is_some_and(|t| now - t < news_ms);
            if !reconnected && silent < dead_ms && !news_in_flight {
                early.push(format!("{} (heard {silent} ms ago)", node.name));
            }
        }
        if early.is_empty() {
            self.closed_by_order += 1;
            return;
        }
        let line = format!(
            "window of {target} instance {} closed by order of {} while {} clients live and not reconnected: {}",
            r.target_generation.0,
            net.node(holder).name,
            early.len(),
            early.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
        self.violate("no early close", line);
    }

    /// No false death: a node declared dead by parent `p` was down, just restarted, or cut off.
    fn death(&mut self, net: &Net, draw: &Draw, p: usize, now: u64, id: vigil_proto::NodeId) {
        let Some(&c) = draw.by_id.get(&id) else { return };
        let timing = net.timing;
        let interval = if draw.routers.iter().flatten().any(|&r| r == c) {
            timing.update_interval_ms
        } else {
            timing.ping_interval_ms
        };
        let window = timing.dead_ms(interval);
        let recent = |t: u64| t.saturating_add(window) > now;
        let cut = self.cut_until.get(&(p.min(c), p.max(c))).is_some_and(|&t| recent(t));
        if !net.node(c).up || recent(self.started[c]) || recent(self.started[p]) || cut {
            return;
        }
        // The loss the silence was judged over: a death declared within a dead threshold after
        // loss stopped judged a silence that began under the loss before.
        let before = (self.calm_at.is_some_and(recent))
            .then(|| self.loss_before_calm.get(&(p.min(c), p.max(c))).copied())
            .flatten();
        let loss = net.loss(p, c).max(before.unwrap_or(0.0));
        let line = format!(
            "{} declared {} dead (up since {} ms, link loss {:.1}%{})",
            net.node(p).name,
            net.node(c).name,
            self.started[c],
            loss * 100.0,
            if before.is_some() { " until faults ended" } else { "" }
        );
        self.note(now, line.clone());
        if loss > FALSE_DEATH_LOSS {
            self.false_deaths_lossy += 1;
        } else {
            self.violate("no false death", line);
        }
    }

    /// Notes where client `i` counts now, after the network handed it something: a change of
    /// the home parent of a client with two parents is a move (see `Checker::moving`).
    pub fn homes(&mut self, net: &Net, draw: &Draw, i: usize) {
        let Machine::Client(c) = &net.node(i).machine else { return };
        let home = c.home_parent().filter(|_| net.node(i).up);
        let entry = self.homes.entry(i).or_insert((None, 0));
        if draw.parents[i].len() > 1 && entry.0 != home {
            *entry = (home, net.now());
        }
    }

    /// How many clients may be counted twice now: those whose home moved lately. A client moves
    /// its home when its home's replies are late, and keeps it counting there until the new home
    /// accepted its move (so it is never counted nowhere, which could close a window early):
    /// the old home stops when a ping tells it so, or when it judges the client dead, at most a
    /// dead threshold and a silence check after it last heard it, which was before the move.
    /// Its sum then takes `news_ms` to reach a holder, and samples come an update interval
    /// apart. Any other double count is a violation, as is one that outlasts this.
    fn moving(&self, net: &Net, draw: &Draw) -> u32 {
        let timing = net.timing;
        let ping = timing.ping_interval_ms;
        let check_ms = u64::from(ping.min(timing.update_interval_ms) / 4);
        let lately =
            timing.dead_ms(ping) + check_ms + news_ms(net, draw) + u64::from(timing.update_interval_ms);
        let now = net.now();
        let moved = |c: &usize| self.homes.get(c).is_some_and(|&(_, at)| at > 0 && now - at <= lately);
        draw.clients.iter().filter(|c| moved(c)).count() as u32
    }

    /// Consistency, every update interval: no holder's progress counts more than the live
    /// clients, each once, except a client whose home moved lately (`Checker::moving`). The
    /// progress of a closed window is frozen when it closed: it is checked once, at the first
    /// sample after, not again at every one (which would repeat that check against moves made
    /// since).
    pub fn consistency(&mut self, net: &Net, draw: &Draw) {
        for &h in &draw.holders {
            self.consistency_at(net, draw, h);
        }
    }

    fn consistency_at(&mut self, net: &Net, draw: &Draw, holder: usize) {
        let mgs = net.node(holder);
        let Machine::Mgs(m) = &mgs.machine else { return };
        if !mgs.up {
            return;
        }
        let moving = self.moving(net, draw);
        let mut bad = Vec::new();
        for r in m.recoveries() {
            if r.window_closed() && !self.frozen_checked.insert((holder, r.order())) {
                continue;
            }
            let p = &r.progress;
            let wrong = p.reconnected.saturating_add(p.failed) > p.applied
                || p.applied > p.live
                || p.live as usize > draw.clients.len() + moving as usize;
            if wrong {
                bad.push(format!(
                    "{} at {}: progress live {} applied {} reconnected {} failed {} ({} clients, {moving} moving)",
                    r.target,
                    mgs.name,
                    p.live,
                    p.applied,
                    p.reconnected,
                    p.failed,
                    draw.clients.len()
                ));
            }
        }
        for line in bad {
            self.violate("consistency", line);
        }
    }

    /// After faults healed: each holder's view of every node equals the ground truth as seen
    /// from it.
    pub fn view(&mut self, net: &Net, draw: &Draw) {
        for &h in &draw.holders {
            self.view_at(net, draw, h);
        }
    }

    fn view_at(&mut self, net: &Net, draw: &Draw, holder: usize) {
        let mgs = net.node(holder);
        let Machine::Mgs(m) = &mgs.machine else { return };
        if !mgs.up {
            return;
        }
        let now = Instant(net.now());
        let reachable = reachable(net, draw, holder);
        let mut wrong = Vec::new();
        for (i, node) in net.nodes().iter().enumerate() {
            if draw.holders.contains(&i) {
                continue;
            }
            let view = m.node(vigil_proto::NodeId::from_name(&node.name), now);
            let seen = view.as_ref().map(|v| (v.state, v.generation));
            let ok = if reachable[i] {
                seen == Some((NodeState::Alive, Generation(node.generation)))
            } else {
                !seen.is_some_and(|(s, _)| s.is_live())
            };
            if !ok {
                let truth = match (node.up, reachable[i]) {
                    (true, true) => "up",
                    (true, false) => "up, cut off",
                    (false, _) => "down",
                };
                wrong.push(format!("{} {truth} generation {} shown {seen:?}", node.name, node.generation));
            }
        }
        if !wrong.is_empty() {
            let line = format!(
                "{} nodes wrong at {}: {}",
                wrong.len(),
                mgs.name,
                wrong.iter().take(4).cloned().collect::<Vec<_>>().join("; ")
            );
            self.violate("view", line);
        }
    }

    /// At the end: every recovery ended, and no order for a target that is up is still held.
    pub fn liveness(&mut self, net: &Net, draw: &Draw, config: &Config) {
        let mut up: HashMap<String, u32> = HashMap::new();
        for (k, &s) in draw.servers.iter().enumerate() {
            let node = net.node(s);
            if let Machine::Server(m) = &node.machine {
                if node.up && m.target_state() != TargetState::Up {
                    self.violate(
                        "liveness",
                        format!("{} still {:?} at the end", target_name(k), m.target_state()),
                    );
                }
                if node.up {
                    up.insert(target_name(k), node.generation);
                }
            }
        }
        // A holder cut off for good from a target's server cannot see it come up: only what it
        // can reach is asked of it.
        let sees = |h: usize, target: &str| {
            let reach = reachable(net, draw, h);
            (0..draw.servers.len()).any(|k| target_name(k) == target && reach[draw.servers[k]])
        };
        for &h in &draw.holders {
            let mgs = net.node(h);
            let (true, Machine::Mgs(m)) = (mgs.up, &mgs.machine) else { continue };
            for r in m.recoveries() {
                if !sees(h, r.target.as_str()) {
                    continue;
                }
                let current = up.get(r.target.as_str()).copied();
                if current == Some(r.target_generation.0) && !r.window_closed() {
                    self.violate(
                        "liveness",
                        format!(
                            "{} still orders the recovery of {} instance {}",
                            mgs.name, r.target, r.target_generation.0
                        ),
                    );
                }
            }
        }
        // A router cut off from every running holder for good cannot be told that a target came
        // up (the `CloseWindow` that supersedes its `BeginRecovery` never reaches it): only the
        // nodes a holder reaches once faults healed must have let the order go.
        let mut reached = vec![false; net.nodes().len()];
        for &h in &draw.holders {
            for (k, r) in reachable(net, draw, h).into_iter().enumerate() {
                reached[k] |= r;
            }
        }
        for (i, node) in net.nodes().iter().enumerate() {
            if !reached[i] {
                continue;
            }
            let held: Vec<_> = match &node.machine {
                Machine::Mgs(m) => m.held_orders().cloned().collect(),
                Machine::Router(m) => m.held_orders().cloned().collect(),
                _ => continue,
            };
            for order in held {
                let Action::BeginRecovery { target, target_generation, .. } = &order.action else { continue };
                let Some(k) = (0..draw.servers.len()).find(|&k| target_name(k) == target.as_str()) else {
                    continue;
                };
                // Whether its server closed the window by order (else it ran out), for the report.
                let closed = self.closes.contains(&(draw.servers[k], target_generation.0));
                if config.excluded(Known::HeldAfterClose) || (draw.holders.contains(&i) && !sees(i, target)) {
                    continue;
                }
                if target_generation.0 != 0 && up.contains_key(target.as_str()) {
                    let line = format!(
                        "{} still holds {:?} (recovery of {target} instance {}) with the target up; its window {}",
                        net.node(i).name,
                        order.id,
                        target_generation.0,
                        if closed { "closed by order" } else { "ran out" },
                    );
                    self.violate("liveness (held order)", line);
                }
            }
        }
    }
}

/// How long the news that a client is heard again may take to reach the MGS: an update
/// interval per router level (a router sends a change within one, re-sending a lost update
/// sooner), and one more for the MGS to act on it.
fn news_ms(net: &Net, draw: &Draw) -> u64 {
    (draw.routers.len() as u64 + 1) * u64::from(net.timing.update_interval_ms)
}

/// Which nodes are up with a path of running nodes and whole links to `holder`.
fn reachable(net: &Net, draw: &Draw, holder: usize) -> Vec<bool> {
    let n = net.nodes().len();
    let mut r = vec![false; n];
    r[holder] = net.node(holder).up;
    // Holders come first, and parents before their children.
    for i in (0..n).filter(|i| !draw.holders.contains(i)) {
        r[i] = net.node(i).up && draw.parents[i].iter().any(|&p| r[p] && !net.is_cut(i, p));
    }
    r
}

fn short(action: &Action) -> String {
    match action {
        Action::BeginRecovery { target, target_generation, .. } => {
            format!("BeginRecovery {target} instance {}", target_generation.0)
        }
        Action::CloseWindow { target, target_generation, .. } => {
            format!("CloseWindow {target} instance {}", target_generation.0)
        }
    }
}
