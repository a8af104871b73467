//! One state of the smallest cluster: the five real machines, the datagrams in flight, the hooks
//! running, what is left of each fault budget, and the ground truth the invariants need. A
//! [`Step`] moves it on by exactly one happening, as the simulator's driver loop would.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

use vigil_proto::wire::{peek_header, Action, MAX_DATAGRAM};
use vigil_proto::{Event, Instant, OrderId};

use super::Bounds;
use crate::{address, index_of, Machine, Net};

/// Node indices, as [`super::cluster`] adds them.
pub const MGS: usize = 0;
/// The router (parent of every other node).
pub const ROUTER: usize = 1;
/// The client that may crash (the two clients are symmetric: crashing the other one mirrors it).
pub const C0: usize = 2;
/// The other client.
pub const C1: usize = 3;
/// The server of the one target.
pub const SERVER: usize = 4;
const NAMES: [&str; 5] = ["mgs", "router", "c0", "c1", "server"];

/// What a node is, for the crash budget: one crash of each kind.
fn kind_bit(node: usize) -> Option<u8> {
    match node {
        MGS => Some(1),
        ROUTER => Some(2),
        C0 => Some(4),
        SERVER => Some(8),
        _ => None,
    }
}

/// One happening: the choices the checker branches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The datagram at this index of the flight arrives (any of them: reordering).
    Deliver(usize),
    /// It arrives and a copy stays in flight.
    Duplicate(usize),
    /// It is lost.
    Lose(usize),
    /// This node's deadline fires (only the earliest deadlines of the cluster may).
    Timer(usize),
    /// The hook at this index of the running hooks reports done.
    Hook(usize),
    /// This node crashes (stops; its running hooks die with it).
    Crash(usize),
    /// This crashed node boots with its next generation (all state lost).
    Boot(usize),
    /// The datagram at this index of the flight is held back: it may arrive after deadlines
    /// fire (a reordering).
    Delay(usize),
}

#[derive(Clone)]
struct Host {
    /// Shared between states until a step touches it (an MGS is a quarter megabyte).
    machine: Rc<Machine>,
    /// The fingerprint of the machine, taken after every step that touched it.
    print: u64,
    up: bool,
    generation: u32,
    /// Bumped on every boot: a client instance's hooks count apart from its earlier lives.
    instance: u32,
    started: u64,
    /// When its last datagram reached a running node.
    heard: u64,
}

#[derive(Clone, Debug, Hash)]
struct Datagram {
    from: usize,
    to: usize,
    /// Held back ([`Step::Delay`]): time may pass while it is in flight.
    late: bool,
    bytes: Vec<u8>,
}

/// A running hook: its node, its order and the target instance it reconnects to (0: a close).
#[derive(Clone, Copy, Debug, Hash)]
struct Hook {
    node: usize,
    order: OrderId,
    target_generation: u32,
}

/// One state of the cluster.
#[derive(Clone)]
pub struct World {
    now: u64,
    hosts: Vec<Host>,
    flight: Vec<Datagram>,
    hooks: Vec<Hook>,
    losses: u8,
    duplicates: u8,
    reorders: u8,
    /// Kinds of node crashed so far (bits of [`kind_bit`]).
    crashed: u8,
    /// Reconnect hooks handed to each client instance, by target instance.
    reconnects: BTreeMap<(usize, u32, u32), u32>,
    /// Reconnect hooks each client instance finished, by target instance.
    reconnected: BTreeSet<(usize, u32, u32)>,
    /// Close hooks handed to the server, by target instance.
    closes: BTreeMap<u32, u32>,
    /// When each target instance booted.
    target_started: BTreeMap<u32, u64>,
    /// Windows the MGS closed by order.
    pub(super) closed_by_order: u32,
    /// The first invariant broken, if one was.
    pub violation: Option<String>,
}

impl World {
    /// Every node of `net` booted at 0 with generation 1, nothing in flight yet.
    pub fn boot(net: &mut Net, bounds: &Bounds) -> World {
        let hosts = (0..net.nodes().len())
            .map(|i| Host {
                machine: Rc::new(net.build_at(i, 1, 0)),
                print: 0,
                up: true,
                generation: 1,
                instance: 1,
                started: 0,
                heard: 0,
            })
            .collect();
        let mut w = World {
            now: 0,
            hosts,
            flight: Vec::new(),
            hooks: Vec::new(),
            losses: bounds.losses,
            duplicates: bounds.duplicates,
            reorders: bounds.reorders,
            crashed: !bounds.crashes,
            reconnects: BTreeMap::new(),
            reconnected: BTreeSet::new(),
            closes: BTreeMap::new(),
            target_started: BTreeMap::from([(1, 0)]),
            closed_by_order: 0,
            violation: None,
        };
        for i in 0..w.hosts.len() {
            w.service(net, i, bounds.in_flight);
        }
        w
    }

    /// Runs with no fault until the first window closed by order and its close hook ran with
    /// nothing in flight (the first possible step each time: the oldest datagram, else a hook,
    /// else the earliest timer), then restarts the server. Returns the steps taken.
    pub fn restart_target(&mut self, net: &mut Net, bounds: &Bounds) -> u32 {
        let calm = Bounds { losses: 0, duplicates: 0, reorders: 0, crashes: 0, ..*bounds };
        let mut steps = Vec::new();
        let mut taken = 0;
        while !(self.closes.contains_key(&1) && self.hooks.is_empty() && self.flight.is_empty()) {
            self.steps(&mut steps);
            let first = steps.iter().find(|s| matches!(s, Step::Deliver(_) | Step::Hook(_) | Step::Timer(_)));
            let Some(&step) = first.filter(|_| self.now < 60_000) else {
                panic!("the fault-free cluster did not close its first window: {:?}", self.violation)
            };
            self.take(net, step, &calm);
            taken += 1;
        }
        self.take(net, Step::Crash(SERVER), &calm);
        self.take(net, Step::Boot(SERVER), &calm);
        // The restart is the scenario, not a crash of the search's budget.
        self.crashed &= !kind_bit(SERVER).unwrap_or(0) | !bounds.crashes;
        taken + 2
    }

    /// A 64-bit fingerprint of the whole state: the machines' (see [`print`]), the network, the
    /// budgets and the ground truth.
    pub fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        (self.now, &self.flight, &self.hooks, self.losses, self.duplicates, self.reorders).hash(&mut h);
        (self.crashed, &self.reconnects, &self.reconnected, &self.closes, &self.target_started).hash(&mut h);
        for host in &self.hosts {
            (host.up, host.generation, host.instance, host.started, host.heard).hash(&mut h);
            if host.up {
                host.print.hash(&mut h);
            }
        }
        h.finish()
    }

    fn machine(&mut self, i: usize) -> &mut dyn vigil_proto::Machine {
        Rc::make_mut(&mut self.hosts[i].machine).driven()
    }

    /// The steps possible from here within the budgets.
    pub fn steps(&self, out: &mut Vec<Step>) {
        out.clear();
        for (k, d) in self.flight.iter().enumerate() {
            let overtakes = self.flight[..k].iter().any(|e| (e.from, e.to) == (d.from, d.to));
            if !overtakes || self.reorders > 0 {
                out.push(Step::Deliver(k));
                if self.duplicates > 0 {
                    out.push(Step::Duplicate(k));
                }
            }
            if self.losses > 0 {
                out.push(Step::Lose(k));
            }
            if !d.late && self.reorders > 0 {
                out.push(Step::Delay(k));
            }
        }
        out.extend((0..self.hooks.len()).map(Step::Hook));
        let due = |h: &Host| h.up.then(|| h.machine.poll_timeout()).flatten().map(|t| t.0.max(self.now));
        // A datagram arrives (or is lost) before the next deadline unless it was held back.
        let settled = self.flight.iter().all(|d| d.late);
        if let Some(next) = self.hosts.iter().filter_map(due).min().filter(|_| settled) {
            out.extend((0..self.hosts.len()).filter(|&i| due(&self.hosts[i]) == Some(next)).map(Step::Timer));
        }
        for (i, host) in self.hosts.iter().enumerate() {
            match kind_bit(i) {
                Some(bit) if host.up && self.crashed & bit == 0 => out.push(Step::Crash(i)),
                Some(_) if !host.up => out.push(Step::Boot(i)),
                _ => {}
            }
        }
    }

    /// What `step` does, in words (before it is taken).
    pub fn describe(&self, step: Step) -> String {
        let datagram = |k: usize, verb: &str| {
            let d = &self.flight[k];
            let what = peek_header(&d.bytes)
                .map_or_else(|_| "?".into(), |h| format!("{:?} g{} #{}", h.kind, h.generation.0, h.sequence));
            format!("{verb} {}→{} {what}", NAMES[d.from], NAMES[d.to])
        };
        let at = self.now;
        match step {
            Step::Deliver(k) => format!("{at:>6} ms {}", datagram(k, "deliver")),
            Step::Duplicate(k) => format!("{at:>6} ms {}", datagram(k, "deliver twice")),
            Step::Lose(k) => format!("{at:>6} ms {}", datagram(k, "lose")),
            Step::Delay(k) => format!("{at:>6} ms {}", datagram(k, "hold back")),
            Step::Timer(i) => {
                let due = self.hosts[i].machine.poll_timeout().map_or(at, |t| t.0.max(at));
                format!("{due:>6} ms timer of {}", NAMES[i])
            }
            Step::Hook(k) => {
                format!("{at:>6} ms {} hook done for {:?}", NAMES[self.hooks[k].node], self.hooks[k].order)
            }
            Step::Crash(i) => format!("{at:>6} ms {} crashes", NAMES[i]),
            Step::Boot(i) => {
                format!("{at:>6} ms {} boots as generation {}", NAMES[i], self.hosts[i].generation + 1)
            }
        }
    }

    /// Takes `step`; `net` builds the machines of nodes that boot.
    pub fn take(&mut self, net: &mut Net, step: Step, bounds: &Bounds) {
        let cap = bounds.in_flight;
        match step {
            Step::Deliver(k) | Step::Duplicate(k) => {
                let d = match step {
                    Step::Duplicate(_) => {
                        self.duplicates -= 1;
                        self.flight[k].clone()
                    }
                    _ => {
                        if self.flight[..k]
                            .iter()
                            .any(|e| (e.from, e.to) == (self.flight[k].from, self.flight[k].to))
                        {
                            self.reorders -= 1;
                        }
                        self.flight.remove(k)
                    }
                };
                if self.hosts[d.to].up {
                    self.hosts[d.from].heard = self.now;
                    let from = address(d.from);
                    let now = Instant(self.now);
                    self.machine(d.to).handle(now, from, &d.bytes);
                    self.service(net, d.to, cap);
                }
            }
            Step::Lose(k) => {
                self.losses -= 1;
                self.flight.remove(k);
            }
            Step::Delay(k) => {
                self.reorders -= 1;
                self.flight[k].late = true;
            }
            Step::Timer(i) => {
                if let Some(t) = self.hosts[i].machine.poll_timeout() {
                    self.now = self.now.max(t.0);
                    let now = Instant(self.now);
                    self.machine(i).handle_timeout(now);
                }
                self.service(net, i, cap);
            }
            Step::Hook(k) => {
                let hook = self.hooks.remove(k);
                let i = hook.node;
                let now = Instant(self.now);
                self.machine(i).order_done(now, hook.order, true);
                if hook.target_generation != 0 {
                    self.reconnected.insert((i, self.hosts[i].instance, hook.target_generation));
                }
                self.service(net, i, cap);
            }
            Step::Crash(i) => {
                self.crashed |= kind_bit(i).unwrap_or(0);
                self.hosts[i].up = false;
                self.hooks.retain(|h| h.node != i);
            }
            Step::Boot(i) => {
                let generation = self.hosts[i].generation + 1;
                let host = &mut self.hosts[i];
                host.machine = Rc::new(net.build_at(i, generation, self.now));
                host.generation = generation;
                host.up = true;
                host.instance += 1;
                host.started = self.now;
                if i == SERVER {
                    self.target_started.insert(generation, self.now);
                }
                self.service(net, i, cap);
            }
        }
    }

    /// Drains node `i`'s datagrams (each into the flight while it holds fewer than `cap`, else
    /// lost: a full network) and events (checking the invariants on each), as the simulator's
    /// driver loop does.
    fn service(&mut self, net: &Net, i: usize, cap: usize) {
        let now = Instant(self.now);
        let mut buf = [0u8; MAX_DATAGRAM];
        while let Some((to, len)) = self.machine(i).poll_transmit(now, &mut buf) {
            let Some(j) = index_of(to).filter(|&j| j < self.hosts.len()) else { continue };
            if self.flight.len() < cap {
                // Kept sorted by link, in send order within each: only a link's own order is
                // observable (by a reordering), so interleavings that send the same datagrams on
                // different links in another order reach one state.
                let at = self.flight.partition_point(|d| (d.from, d.to) <= (i, j));
                self.flight.insert(at, Datagram { from: i, to: j, late: false, bytes: buf[..len].to_vec() });
            }
        }
        while let Some(event) = self.machine(i).poll_event() {
            self.observe(net, i, event);
        }
        self.hosts[i].print = print(&self.hosts[i].machine);
    }

    fn observe(&mut self, net: &Net, i: usize, event: Event) {
        match event {
            Event::Order(order) => {
                let target_generation = match order.action {
                    Action::BeginRecovery { target_generation, .. } => target_generation.0,
                    Action::CloseWindow { target_generation, .. } => {
                        let runs = self.closes.entry(target_generation.0).or_default();
                        *runs += 1;
                        let runs = *runs;
                        if runs > 1 {
                            self.violate(format!(
                                "exactly once (server): close hook run {runs} times for target instance {}",
                                target_generation.0
                            ));
                        }
                        0
                    }
                };
                if target_generation != 0 && (i == C0 || i == C1) {
                    let runs =
                        self.reconnects.entry((i, self.hosts[i].instance, target_generation)).or_default();
                    *runs += 1;
                    if *runs > 1 {
                        let runs = *runs;
                        self.violate(format!(
                            "exactly once (client): {} ran its reconnect hook {runs} times for target instance {target_generation}",
                            NAMES[i]
                        ));
                    }
                }
                // Sorted, as the flight is: the order hooks started in is not observable.
                let hook = Hook { node: i, order: order.id, target_generation };
                let at = self.hooks.partition_point(|h| (h.node, h.order) <= (i, order.id));
                self.hooks.insert(at, hook);
            }
            Event::WindowClosed { order, .. } => self.window_closed(net, order),
            Event::GenerationRaised { generation, .. } => self.hosts[i].generation = generation.0,
            _ => {}
        }
    }

    /// No early close: every client that is up, was up when the target instance booted and has
    /// not finished its reconnect hook for it has been silent for the dead threshold.
    fn window_closed(&mut self, net: &Net, close: OrderId) {
        let Machine::Mgs(mgs) = &*self.hosts[MGS].machine else { return };
        let Some(r) = mgs.recoveries().iter().find(|r| r.closed().is_some_and(|(o, _)| o == close)) else {
            return;
        };
        let generation = r.target_generation.0;
        let began = self.target_started.get(&generation).copied().unwrap_or(0);
        let dead_ms = net.timing.dead_ms(net.timing.ping_interval_ms);
        let mut early = Vec::new();
        for c in [C0, C1] {
            let host = &self.hosts[c];
            let reconnected = self.reconnected.contains(&(c, host.instance, generation));
            let silent = self.now - host.heard;
            if host.up && host.started < began && !reconnected && silent < dead_ms {
                early.push(format!("{} (heard {silent} ms ago)", NAMES[c]));
            }
        }
        if early.is_empty() {
            self.closed_by_order += 1;
        } else {
            self.violate(format!(
                "no early close: the window of target instance {generation} closed by order while {} live and not reconnected (dead threshold {dead_ms} ms)",
                early.join(", ")
            ));
        }
    }

    fn violate(&mut self, what: String) {
        self.violation.get_or_insert(what);
    }
}

/// A machine's fingerprint: a hash of its `Debug`, which shows every field of every role.
fn print(machine: &Machine) -> u64 {
    let mut h = DefaultHasher::new();
    let mut feed = Feed(&mut h);
    let _ = match machine {
        Machine::Mgs(m) => write!(feed, "{m:?}"),
        Machine::Router(m) => write!(feed, "{m:?}"),
        Machine::Client(m) => write!(feed, "{m:?}"),
        Machine::Server(m) => write!(feed, "{m:?}"),
    };
    h.finish()
}

/// Feeds formatted text into a hasher, so a `Debug` is hashed without being stored.
struct Feed<'a>(&'a mut DefaultHasher);

impl fmt::Write for Feed<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}
