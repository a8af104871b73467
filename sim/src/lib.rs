//! A deterministic discrete-event network that runs Vigil's real `proto` machines.
//!
//! Every node is a real [`Mgs`], [`Router`], [`Client`] or [`Server`] from `vigil-proto`, driven
//! exactly as the daemons drive them: bytes in, bytes and deadlines out, every `poll_*` drained
//! after each input. Between them sits a simulated network with per-datagram latency and jitter,
//! random loss, cut links and stopped nodes, all decided by one seeded [`Rng`]: a seed replays a
//! run exactly. Client hooks are simulated as a delay after which the client reports the order
//! done.
//!
//! On top of the harness: [`scenario`] runs the scale scenario (a router tree, dead clients, a
//! target restart), [`baseline`] models Lustre's passive and imperative recoveries beside it, and
//! [`report`] prints and plots the figures; [`swarm`] runs random clusters under random faults and
//! checks the protocol's invariants at every step; [`exhaustive`] explores every interleaving of
//! faults in the smallest cluster to a bounded depth; the `vigil-sim` binary drives them.
//! [`fixture`] builds the machines and datagrams the benchmarks measure.

pub mod baseline;
pub mod exhaustive;
pub mod fixture;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod swarm;

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use heapless::Vec as HVec;
use vigil_proto::table::Slot;
use vigil_proto::wire::{Action, Key, Keyring, MAX_DATAGRAM};
use vigil_proto::{
    ids, Client, ClientConfig, Endpoint, Event, Generation, Instant, MemberConfig, Mgs, MgsConfig, NodeId,
    OrderId, Router, RouterConfig, Server, ServerConfig, Timing, MAX_TARGETS, MAX_UPSTREAMS,
};

pub use rng::Rng;

/// The cluster key every simulated node shares.
pub fn cluster_keys() -> Keyring {
    Keyring::new(Key::new(1, &[7u8; 32]))
}

/// Table storage on the heap, for host-sized tables.
pub type Slots = Box<[Slot]>;

/// The MGS as hosts run it: room for every target of a filesystem ([`MAX_TARGETS`]).
pub type HostMgs = Mgs<Slots, 256, MAX_TARGETS>;

fn slots(n: usize) -> Slots {
    vec![None; n].into_boxed_slice()
}

/// One of the four roles' machines (a clone forks its state: the exhaustive check does).
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Machine {
    /// The root.
    Mgs(Box<HostMgs>),
    /// A relay, with a host's room for targets.
    Router(Box<Router<Slots, 32, MAX_TARGETS>>),
    /// A filesystem client.
    Client(Client),
    /// A target host (boxed: it keeps whole orders, and clients, far more numerous, are
    /// smaller).
    Server(Box<Server>),
}

impl Machine {
    /// The machine behind proto's one driving interface.
    fn driven(&mut self) -> &mut dyn vigil_proto::Machine {
        match self {
            Machine::Mgs(m) => &mut **m,
            Machine::Router(m) => &mut **m,
            Machine::Client(m) => m,
            Machine::Server(m) => &mut **m,
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::Mgs(m) => m.poll_timeout(),
            Machine::Router(m) => m.poll_timeout(),
            Machine::Client(m) => m.poll_timeout(),
            Machine::Server(m) => m.poll_timeout(),
        }
    }
}

/// How a node is built, so it can be restarted with a new generation.
#[derive(Clone, Debug)]
pub enum Spec {
    /// An MGS.
    Mgs,
    /// A router with these parents (node indices).
    Router {
        /// Parents, primary first.
        parents: Vec<usize>,
        /// Table slots; 0 takes [`Net::router_slots`]. Size each router to its subtree: the
        /// machine walks every slot on each silence check.
        slots: usize,
    },
    /// A client with these parents.
    Client {
        /// Parents, primary first.
        parents: Vec<usize>,
    },
    /// A server of `target` with these parents.
    Server {
        /// Parents, primary first.
        parents: Vec<usize>,
        /// The target's name.
        target: String,
    },
}

/// What the harness recorded of one order at one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderLog {
    /// How many times the machine handed the order to its driver as an event.
    pub events: u32,
    /// When the first event came.
    pub received_at: Option<u64>,
    /// When the simulated hook reported it done.
    pub done_at: Option<u64>,
}

/// The orders handed to one node, by id: a list sorted by id, not a hash map, since a million
/// clients each hold a handful (a list of one takes a quarter of a map's room), and looked up by
/// binary search, since a thousand targets restarting together hand each client a thousand (a
/// holder's ids grow, so a new one almost always goes at the end).
#[derive(Clone, Debug, Default)]
pub struct OrderLogs(Vec<(OrderId, OrderLog)>);

impl OrderLogs {
    /// The log of `id`, created empty if missing.
    pub fn entry(&mut self, id: OrderId) -> &mut OrderLog {
        let i = match self.0.binary_search_by(|(o, _)| o.cmp(&id)) {
            Ok(i) => i,
            Err(i) => {
                // Most holders get one or two: room for those alone, not the four a growing
                // vector starts with (a quarter of a kilobyte a client, unused).
                if self.0.len() == self.0.capacity() && self.0.len() < 4 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, (id, OrderLog::default()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// The log of `id`.
    pub fn get(&self, id: &OrderId) -> Option<&OrderLog> {
        self.0.binary_search_by(|(o, _)| o.cmp(id)).ok().map(|i| &self.0[i].1)
    }

    /// Whether `id` was handed.
    pub fn contains_key(&self, id: &OrderId) -> bool {
        self.get(id).is_some()
    }

    /// Every order and its log, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&OrderId, &OrderLog)> {
        self.0.iter().map(|(o, l)| (o, l))
    }

    /// Every log.
    pub fn values(&self) -> impl Iterator<Item = &OrderLog> {
        self.0.iter().map(|(_, l)| l)
    }

    /// How many orders were handed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A simulated node.
pub struct Node {
    /// Its name.
    pub name: String,
    /// How it is built.
    pub spec: Spec,
    /// Its address.
    pub addr: Endpoint,
    /// Its current machine.
    pub machine: Machine,
    /// Its current generation.
    pub generation: u32,
    /// Whether it runs (a stopped node neither sends nor receives).
    pub up: bool,
    /// Orders handed to this node's driver, by id.
    pub orders: OrderLogs,
    /// Every event, with its time (kept only when [`Net::keep_events`] is set).
    pub events: Vec<(u64, Event)>,
    /// The MGS's persisted child routers, as a daemon's state file keeps them (given back to
    /// the next machine on restart; [`Net::lose_state`] clears them).
    pub expected_routers: Vec<ids::Name>,
    /// Whether the MGS persisted that it has direct clients ([`Event::DirectClientsExpected`]).
    pub direct_clients: bool,
}

/// What every happening reads of its node before it runs, kept apart from the [`Node`] (a few
/// kilobytes, a cache miss each) in one dense vector: a stale deadline, or a datagram to a
/// stopped node, is dropped without touching the node.
#[derive(Clone, Copy)]
struct Hot {
    /// The earliest deadline queued for the current machine (`u64::MAX`: none), so that a
    /// machine re-arming the same deadline after every input does not flood the queue.
    armed: u64,
    /// Bumped on every stop and restart, to discard deadlines and hooks of an older machine
    /// (it would take 2^32 restarts with a happening queued throughout to confuse two).
    epoch: u32,
    /// [`Node::up`], mirrored.
    up: bool,
}

impl Hot {
    /// A new machine (or none, stopped): no deadline queued, older happenings discarded.
    fn next_machine(&mut self, up: bool) {
        self.up = up;
        self.epoch = self.epoch.wrapping_add(1);
        self.armed = u64::MAX;
    }
}

/// A queued datagram or hook's completion, in [`Net`]'s slab. The slot keeps its buffer when
/// freed, so the next datagram queued in it copies into warm memory with no allocation.
struct Entry {
    what: What,
    /// The datagram's bytes (unused by a hook).
    bytes: Vec<u8>,
}

enum What {
    /// From the node with this index (its address is [`address`] of it).
    Deliver {
        from: u32,
    },
    HookDone {
        epoch: u32,
        order: OrderId,
    },
}

/// A happening as the queue holds it, in 8 bytes: a deadline whole (bit 63 set; the node and
/// its epoch), or the slot in [`Net`]'s slab of a datagram or hook, with the node it is for.
/// Either way the node is at hand before anything else is read.
#[derive(Clone, Copy)]
struct Ticket(u64);

/// A [`Ticket`] read back.
enum Opened {
    Timeout { node: usize, epoch: u32 },
    Slot { node: usize, slot: u32 },
}

impl Ticket {
    const TIMEOUT: u64 = 1 << 63;

    /// Node indices are below 2^24 ([`Net::add`]): bits 32..56.
    fn timeout(node: usize, epoch: u32) -> Ticket {
        Ticket(Ticket::TIMEOUT | (node as u64) << 32 | u64::from(epoch))
    }

    fn slot(node: usize, slot: u32) -> Ticket {
        Ticket((node as u64) << 32 | u64::from(slot))
    }

    fn open(self) -> Opened {
        let node = ((self.0 >> 32) & 0xff_ffff) as usize;
        match self.0 & Ticket::TIMEOUT {
            0 => Opened::Slot { node, slot: self.0 as u32 },
            _ => Opened::Timeout { node, epoch: self.0 as u32 },
        }
    }
}

/// A happening queued beyond the wheel's horizon: its time, a tie-breaker in scheduling order
/// (determinism), and its ticket.
struct Scheduled {
    at: u64,
    seq: u64,
    ticket: Ticket,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        Reverse((self.at, self.seq)).cmp(&Reverse((other.at, other.seq)))
    }
}

/// Network conditions.
#[derive(Clone, Copy, Debug)]
pub struct Conditions {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// One-way latency in ms.
    pub latency_ms: u64,
    /// Uniform extra latency in `[0, jitter_ms]`.
    pub jitter_ms: u64,
    /// How long a client's reconnect hook takes, in ms (plus jitter up to the same again).
    pub hook_ms: u64,
    /// Probability that a datagram is delayed past the ones sent after it on its link.
    pub reorder: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions { loss: 0.0, latency_ms: 1, jitter_ms: 1, hook_ms: 20, reorder: 0.0, duplicate: 0.0 }
    }
}

/// Datagram and byte counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams.
    pub datagrams: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Milliseconds the timing wheel covers ahead of its cursor (one bucket each).
const WHEEL_MS: u64 = 1 << 12;

/// The event queue: a timing wheel with one bucket per millisecond over the next [`WHEEL_MS`],
/// and a heap for what lies beyond. It pops in (time, scheduling order), exactly as one heap of
/// `(time, seq)` would: a bucket keeps insertion order, and a happening still in the far heap
/// when its millisecond comes was scheduled before any in the bucket (it was scheduled from
/// further away, and the cursor only moves forward). The queue moves 8-byte [`Ticket`]s.
struct Queue {
    wheel: Vec<Vec<Ticket>>,
    /// The millisecond being drained, and how many of its bucket were taken.
    cursor: u64,
    taken: usize,
    in_wheel: usize,
    far: BinaryHeap<Scheduled>,
    seq: u64,
}

impl Queue {
    fn new() -> Queue {
        Queue {
            wheel: (0..WHEEL_MS).map(|_| Vec::new()).collect(),
            cursor: 0,
            taken: 0,
            in_wheel: 0,
            far: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Queues `ticket` at `at` (never before the cursor: the network's time only moves forward).
    fn push(&mut self, at: u64, ticket: Ticket) {
        debug_assert!(at >= self.cursor);
        if at < self.cursor + WHEEL_MS {
            self.wheel[(at % WHEEL_MS) as usize].push(ticket);
            self.in_wheel += 1;
        } else {
            self.seq += 1;
            self.far.push(Scheduled { at, seq: self.seq, ticket });
        }
    }

    /// The next happening at or before `until`, with its time.
    fn pop(&mut self, until: u64) -> Option<(u64, Ticket)> {
        loop {
            if self.far.peek().is_some_and(|s| s.at <= self.cursor) {
                return self.far.pop().map(|s| (s.at, s.ticket));
            }
            let bucket = &mut self.wheel[(self.cursor % WHEEL_MS) as usize];
            if let Some(&ticket) = bucket.get(self.taken) {
                self.taken += 1;
                self.in_wheel -= 1;
                return Some((self.cursor, ticket));
            }
            bucket.clear();
            self.taken = 0;
            if self.cursor >= until {
                return None;
            }
            self.cursor = match self.far.peek() {
                _ if self.in_wheel > 0 => self.cursor + 1,
                Some(s) => s.at.min(until),
                None => until,
            };
        }
    }
}

/// Hashes the one `u64` a link is keyed by with a multiply (Fibonacci hashing): SipHash's
/// resistance to chosen keys buys nothing here, and its cost showed on every datagram.
#[derive(Default)]
struct LinkHasher(u64);

impl Hasher for LinkHasher {
    fn finish(&self) -> u64 {
        // The product's high bits mix every bit of the key: the table indexes by the low ones.
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, k: u64) {
        self.0 = (self.0 ^ k).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The latest delivery time queued on each directed link, for the links that may still hold a
/// datagram back. A clock at or before now cannot (nothing is delivered before it is sent):
/// such clocks are swept out whenever the map doubles, so it stays as small as what is in
/// flight, in cache, instead of one entry per link ever used (millions at scale).
struct LinkClocks {
    /// By `from << 24 | to` (indices are below 2^24).
    clocks: HashMap<u64, u64, BuildHasherDefault<LinkHasher>>,
    /// The size at which the next sweep runs.
    sweep_at: usize,
}

impl LinkClocks {
    fn new() -> LinkClocks {
        LinkClocks { clocks: HashMap::default(), sweep_at: 1024 }
    }

    /// When a datagram sent from `i` to `j` at `now`, due at `at`, is delivered: not before
    /// the last one queued on the link (links are FIFO).
    fn fifo(&mut self, i: usize, j: usize, now: u64, at: u64) -> u64 {
        if self.clocks.len() >= self.sweep_at {
            self.clocks.retain(|_, last| *last > now);
            self.clocks.shrink_to(2 * self.clocks.len());
            self.sweep_at = (2 * self.clocks.len()).max(1024);
        }
        let last = self.clocks.entry((i as u64) << 24 | j as u64).or_default();
        *last = at.max(*last);
        *last
    }
}

/// The simulated network and its nodes.
pub struct Net {
    now: u64,
    /// Network conditions (may change during a run).
    pub conditions: Conditions,
    /// Timing every node is configured with.
    pub timing: Timing,
    /// Router table slots.
    pub router_slots: usize,
    /// MGS table slots.
    pub mgs_slots: usize,
    /// Keep every event of every node (costly at scale).
    pub keep_events: bool,
    /// The generation every node boots with first.
    pub first_generation: u32,
    /// The wall clock's reading at time 0, in seconds: see [`Net::wall_clock_s`].
    pub wall_clock_from: u32,
    /// Start every machine's datagram sequence, and the MGS's order sequence, after this value
    /// instead of 0 (just below the 32-bit wrap point: years of uptime).
    pub counters_from: Option<u32>,
    /// Length of every target's own recovery window, in ms.
    pub window_ms: u32,
    rng: Rng,
    queue: Queue,
    /// Datagrams and hooks queued, and the slots free for more.
    slab: Vec<Entry>,
    free_slots: Vec<u32>,
    nodes: Vec<Node>,
    /// Each node's [`Hot`] part.
    hot: Vec<Hot>,
    cut: HashSet<(usize, usize)>,
    /// Loss of single links (both directions), over [`Conditions::loss`].
    link_loss: HashMap<(usize, usize), f64>,
    /// When each node was last heard: its last datagram delivered to a running node.
    heard: Vec<u64>,
    /// When each node was last heard after a silence of a client's dead threshold (at the
    /// [`Net::timing`] ping interval): back from what its parents could rightly judge a death.
    back: Vec<Option<u64>>,
    /// Latest delivery time scheduled on each directed link.
    link_clock: LinkClocks,
    /// Traffic delivered to each node.
    pub inbound: Vec<Traffic>,
    /// Traffic each node sent (lost datagrams included).
    pub outbound: Vec<Traffic>,
}

/// The address of the node with index `i` (indices below 2^24).
fn address(i: usize) -> Endpoint {
    let n = i as u32;
    Endpoint::V4 { ip: [10, (n >> 16) as u8, (n >> 8) as u8, n as u8], port: 7000 }
}

/// The index of the node at `addr`, if it is a simulated address.
fn index_of(addr: Endpoint) -> Option<usize> {
    match addr {
        Endpoint::V4 { ip: [10, a, b, c], port: 7000 } => {
            Some((usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c))
        }
        _ => None,
    }
}

impl Net {
    /// An empty network with default timing.
    pub fn new(seed: u64) -> Net {
        Net {
            now: 0,
            conditions: Conditions::default(),
            timing: Timing::default(),
            router_slots: 4096,
            mgs_slots: 1 << 16,
            keep_events: true,
            first_generation: 1,
            wall_clock_from: 1,
            counters_from: None,
            window_ms: 300_000,
            rng: Rng::new(seed),
            queue: Queue::new(),
            slab: Vec::new(),
            free_slots: Vec::new(),
            nodes: Vec::new(),
            hot: Vec::new(),
            cut: HashSet::new(),
            link_loss: HashMap::new(),
            heard: Vec::new(),
            back: Vec::new(),
            link_clock: LinkClocks::new(),
            inbound: Vec::new(),
            outbound: Vec::new(),
        }
    }

    /// Simulated time, in ms.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// All nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The index of the node with this name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Makes room for `additional` more nodes at once (a large network then lies in one block
    /// each, never copied as it grows).
    pub fn reserve(&mut self, additional: usize) {
        self.nodes.reserve_exact(additional);
        self.hot.reserve_exact(additional);
        self.inbound.reserve_exact(additional);
        self.outbound.reserve_exact(additional);
        self.heard.reserve_exact(additional);
        self.back.reserve_exact(additional);
    }

    /// Adds a node and starts it now.
    pub fn add(&mut self, name: &str, spec: Spec) -> usize {
        let i = self.nodes.len();
        assert!(i < 1 << 24, "simulated addresses hold 2^24 nodes");
        let addr = address(i);
        let generation = self.first_generation;
        let machine = self.build(name, &spec, generation);
        self.nodes.push(Node {
            name: name.to_string(),
            spec,
            addr,
            machine,
            generation,
            up: true,
            orders: OrderLogs::default(),
            events: Vec::new(),
            expected_routers: Vec::new(),
            direct_clients: false,
        });
        self.hot.push(Hot { armed: u64::MAX, epoch: 0, up: true });
        self.inbound.push(Traffic::default());
        self.outbound.push(Traffic::default());
        self.heard.push(self.now);
        self.back.push(None);
        self.service(i);
        i
    }

    fn build(&self, name: &str, spec: &Spec, generation: u32) -> Machine {
        let mut machine = self.build_fresh(name, spec, generation);
        if let Some(last) = self.counters_from {
            match &mut machine {
                Machine::Mgs(m) => m.start_counters(last),
                Machine::Router(m) => m.start_counters(last),
                Machine::Client(m) => m.start_counters(last),
                Machine::Server(m) => m.start_counters(last),
            }
        }
        machine
    }

    /// A fresh machine for node `i` booting as `generation` at `now` (ms), wired as [`Net::add`]
    /// and [`Net::restart_as`] wire it; the node itself is left alone.
    fn build_at(&mut self, i: usize, generation: u32, now: u64) -> Machine {
        let (name, spec) = (self.nodes[i].name.clone(), self.nodes[i].spec.clone());
        let was = std::mem::replace(&mut self.now, now);
        let machine = self.build(&name, &spec, generation);
        self.now = was;
        machine
    }

    fn build_fresh(&self, name: &str, spec: &Spec, generation: u32) -> Machine {
        let now = Instant(self.now);
        let node_name = ids::name(name).expect("simulated names are short");
        let parents = |p: &[usize]| -> HVec<Endpoint, 2> { p.iter().map(|&i| self.nodes[i].addr).collect() };
        let upstreams = |p: &[usize]| -> HVec<Endpoint, MAX_UPSTREAMS> {
            p.iter().map(|&i| self.nodes[i].addr).collect()
        };
        let member = |p: &[usize]| MemberConfig {
            name: node_name.clone(),
            generation: Generation(generation),
            parents: parents(p),
            keys: cluster_keys(),
            timing: self.timing,
        };
        match spec {
            Spec::Mgs => {
                let mut config = MgsConfig::new(node_name.clone(), Generation(generation), cluster_keys())
                    .with_timing(self.timing);
                config.last_order_seq = self.counters_from.map_or(0, u64::from);
                Machine::Mgs(Box::new(Mgs::new(config, slots(self.mgs_slots), now)))
            }
            Spec::Router { parents: p, slots: n } => {
                let config = RouterConfig::new(
                    node_name.clone(),
                    Generation(generation),
                    upstreams(p),
                    cluster_keys(),
                )
                .with_timing(self.timing);
                let n = if *n == 0 { self.router_slots } else { *n };
                Machine::Router(Box::new(Router::new(config, slots(n), now)))
            }
            Spec::Client { parents: p } => Machine::Client(Client::new(member(p) as ClientConfig, now)),
            Spec::Server { parents: p, target } => {
                let config = ServerConfig {
                    member: member(p),
                    target: ids::name(target).expect("short target name"),
                    addrs: [ids::nid(&format!("{name}@tcp")).expect("short nid")].into_iter().collect(),
                    window_ms: self.window_ms,
                };
                Machine::Server(Box::new(Server::new(config, now)))
            }
        }
    }

    /// Stops a node: it neither sends nor receives until restarted.
    pub fn stop(&mut self, i: usize) {
        self.nodes[i].up = false;
        self.hot[i].next_machine(false);
    }

    /// Restarts a node with the next generation (a reboot: all state lost).
    pub fn restart(&mut self, i: usize) {
        self.restart_as(i, self.nodes[i].generation.saturating_add(1));
    }

    /// The routers of node `i`'s subtree: those that list it as a parent, and those below them.
    fn routers_below(&self, i: usize) -> Vec<usize> {
        let mut below: Vec<usize> = Vec::new();
        let mut grew = true;
        while grew {
            grew = false;
            for (j, n) in self.nodes.iter().enumerate() {
                let Spec::Router { parents, .. } = &n.spec else { continue };
                if !below.contains(&j) && parents.iter().any(|p| *p == i || below.contains(p)) {
                    below.push(j);
                    grew = true;
                }
            }
        }
        below
    }

    /// Restarts a node with `generation`: below its last one if its state file was lost.
    pub fn restart_as(&mut self, i: usize, generation: u32) {
        let (name, spec) = (self.nodes[i].name.clone(), self.nodes[i].spec.clone());
        let mut machine = self.build(&name, &spec, generation);
        if let Machine::Mgs(m) = &mut machine {
            // Its configuration lists the routers of its tree (`vigil mgs --expect-router`), as
            // an operator's does: expected whatever its state file says.
            for j in self.routers_below(i) {
                if let Some(router) = ids::name(&self.nodes[j].name) {
                    m.expect_router(Instant(self.now), router);
                }
            }
            for router in &self.nodes[i].expected_routers {
                m.expect_router(Instant(self.now), router.clone());
            }
            if self.nodes[i].direct_clients {
                m.expect_direct_clients(Instant(self.now));
            }
        }
        let node = &mut self.nodes[i];
        node.machine = machine;
        node.generation = generation;
        node.up = true;
        self.hot[i].next_machine(true);
        self.service(i);
    }

    /// The wall clock a host daemon reads for its boot generation
    /// ([`vigil_proto::Generation::at_boot`]), in seconds: [`Net::wall_clock_from`] plus the
    /// simulated time. With the defaults every node's first generation is the clock's reading at
    /// its first boot; with generations started near their limit the clock is far below
    /// them, and a node that lost its state boots with a smaller generation than it had.
    pub fn wall_clock_s(&self) -> u32 {
        let elapsed = u32::try_from(self.now / 1000).unwrap_or(u32::MAX);
        self.wall_clock_from.saturating_add(elapsed)
    }

    /// Forgets what node `i` persisted (its state file is lost): restart it with
    /// [`Net::restart_as`] and the generation of its first boot.
    pub fn lose_state(&mut self, i: usize) {
        self.nodes[i].expected_routers.clear();
        self.nodes[i].direct_clients = false;
    }

    /// Cuts the link between two nodes (both directions).
    pub fn cut(&mut self, a: usize, b: usize) {
        self.cut.insert((a.min(b), a.max(b)));
    }

    /// Heals a cut link.
    pub fn heal(&mut self, a: usize, b: usize) {
        self.cut.remove(&(a.min(b), a.max(b)));
    }

    /// Sets the loss of the link between two nodes (both directions) in place of
    /// [`Conditions::loss`].
    pub fn set_link_loss(&mut self, a: usize, b: usize, loss: f64) {
        self.link_loss.insert((a.min(b), a.max(b)), loss);
    }

    /// Takes back every link's own loss: [`Conditions::loss`] holds everywhere again.
    pub fn clear_link_loss(&mut self) {
        self.link_loss.clear();
    }

    /// Whether the link between two nodes is cut.
    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }

    /// The loss on the link between two nodes.
    pub fn loss(&self, a: usize, b: usize) -> f64 {
        self.link_loss.get(&(a.min(b), a.max(b))).copied().unwrap_or(self.conditions.loss)
    }

    /// When node `i` was last heard: the time its last datagram reached a running node.
    pub fn heard_at(&self, i: usize) -> u64 {
        self.heard[i]
    }

    /// When node `i` was last heard after a silence of a client's dead threshold (see
    /// [`Net::heard_at`]), if ever.
    pub fn back_at(&self, i: usize) -> Option<u64> {
        self.back[i]
    }

    /// Takes the events node `i` kept since the last call.
    pub fn take_events(&mut self, i: usize) -> Vec<(u64, Event)> {
        std::mem::take(&mut self.nodes[i].events)
    }

    /// Runs an admin command on the MGS (if it runs) now, then drains its outputs.
    pub fn admin<R>(&mut self, command: impl FnOnce(&mut HostMgs, Instant) -> R) -> Option<R> {
        let i = self.nodes.iter().position(|n| matches!(n.machine, Machine::Mgs(_)))?;
        self.admin_at(i, command)
    }

    /// Runs an admin command on node `i`, a status holder, if it runs: as [`Net::admin`] on one
    /// of several holders.
    pub fn admin_at<R>(&mut self, i: usize, command: impl FnOnce(&mut HostMgs, Instant) -> R) -> Option<R> {
        let now = Instant(self.now);
        if !self.nodes[i].up {
            return None;
        }
        let Machine::Mgs(m) = &mut self.nodes[i].machine else { return None };
        let result = command(m, now);
        self.service(i);
        Some(result)
    }

    /// Queues at `at` a datagram or hook for `node`: `what`, with `bytes` copied into the
    /// slot's buffer.
    fn schedule(&mut self, at: u64, node: usize, what: What, bytes: &[u8]) {
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.slab.push(Entry { what: What::Deliver { from: 0 }, bytes: Vec::new() });
                u32::try_from(self.slab.len() - 1).expect("fewer than 2^32 happenings queued")
            }
        };
        let entry = &mut self.slab[slot as usize];
        entry.what = what;
        entry.bytes.clear();
        entry.bytes.extend_from_slice(bytes);
        self.queue.push(at, Ticket::slot(node, slot));
    }

    /// Drains a node's outputs and re-arms its deadline: the driver loop every daemon runs.
    fn service(&mut self, i: usize) {
        if !self.hot[i].up {
            return;
        }
        let now = Instant(self.now);
        let mut buf = [0u8; MAX_DATAGRAM];
        while let Some((to, len)) = self.nodes[i].machine.driven().poll_transmit(now, &mut buf) {
            self.outbound[i].datagrams += 1;
            self.outbound[i].bytes += len as u64;
            let Some(j) = index_of(to).filter(|&j| j < self.nodes.len()) else { continue };
            let cut = !self.cut.is_empty() && self.cut.contains(&(i.min(j), i.max(j)));
            let loss = match self.link_loss.is_empty() {
                true => self.conditions.loss,
                false => self.loss(i, j),
            };
            if cut || self.rng.chance(loss) {
                continue;
            }
            let copies = if self.rng.chance(self.conditions.duplicate) { 2 } else { 1 };
            for _ in 0..copies {
                let delay = self.conditions.latency_ms + self.rng.below(self.conditions.jitter_ms + 1);
                let at = if self.rng.chance(self.conditions.reorder) {
                    // Held back behind what follows it: a path change, a retransmitting NIC.
                    self.now + delay + 1 + self.rng.below(4 * (self.conditions.latency_ms + 5))
                } else {
                    // Links are FIFO, as real paths almost always are: jitter never reorders a
                    // burst.
                    self.link_clock.fifo(i, j, self.now, self.now + delay)
                };
                // Indices are below 2^24.
                self.schedule(at, j, What::Deliver { from: i as u32 }, &buf[..len]);
            }
        }
        while let Some(event) = self.nodes[i].machine.driven().poll_event() {
            if let Event::Order(order) = &event {
                let log = self.nodes[i].orders.entry(order.id);
                log.events += 1;
                log.received_at.get_or_insert(self.now);
                let hook = match order.action {
                    Action::BeginRecovery { .. } => {
                        self.conditions.hook_ms + self.rng.below(self.conditions.hook_ms + 1)
                    }
                    Action::CloseWindow { .. } => 1,
                };
                let epoch = self.hot[i].epoch;
                self.schedule(self.now + hook, i, What::HookDone { epoch, order: order.id }, &[]);
            }
            if let Event::GenerationRaised { generation, .. } = event {
                // As a daemon's state file notes it: the next boot counts on from there.
                self.nodes[i].generation = generation.0;
            }
            match event {
                Event::DirectClientsExpected => self.nodes[i].direct_clients = true,
                Event::DirectClientsRetired => self.nodes[i].direct_clients = false,
                _ => {}
            }
            if let (Event::RouterExpected { .. } | Event::RouterRetired { .. }, Machine::Mgs(m)) =
                (&event, &self.nodes[i].machine)
            {
                self.nodes[i].expected_routers = m.expected_routers().map(|(_, n)| n.clone()).collect();
            }
            if self.keep_events {
                self.nodes[i].events.push((self.now, event));
            }
        }
        if let Some(t) = self.nodes[i].machine.poll_timeout() {
            let at = t.0.max(self.now);
            let hot = &mut self.hot[i];
            if at < hot.armed {
                hot.armed = at;
                self.queue.push(at, Ticket::timeout(i, hot.epoch));
            }
        }
    }

    /// Runs the network until simulated time `until` (ms).
    pub fn run_until(&mut self, until: u64) {
        while self.step(until).is_some() {}
    }

    /// Runs the next happening at or before `until`: `Some(node)` with the node it touched
    /// (`None` in it if it touched none), or `None` when nothing is left before `until` (then
    /// the time is `until`).
    pub fn step(&mut self, until: u64) -> Option<Option<usize>> {
        let Some((at, ticket)) = self.queue.pop(until) else {
            self.now = self.now.max(until);
            return None;
        };
        self.now = at;
        match ticket.open() {
            Opened::Timeout { node, epoch } => {
                // Deadlines of an older machine are skipped. Of this machine's armings, the
                // earliest is always queued: when it fires, the next service re-arms.
                let hot = &mut self.hot[node];
                if !hot.up || hot.epoch != epoch || hot.armed != at {
                    return Some(None);
                }
                hot.armed = u64::MAX;
                let machine = &mut self.nodes[node].machine;
                if machine.poll_timeout().is_some_and(|t| t.0 <= self.now) {
                    machine.driven().handle_timeout(Instant(self.now));
                }
                self.service(node);
                Some(Some(node))
            }
            Opened::Slot { node, slot } => {
                // Freed at once: what runs below may queue into it only after its last read.
                self.free_slots.push(slot);
                let hot = self.hot[node];
                if !hot.up {
                    return Some(None);
                }
                let entry = &self.slab[slot as usize];
                match entry.what {
                    What::Deliver { from } => {
                        let sender = from as usize;
                        let dead_ms = self.timing.dead_ms(self.timing.ping_interval_ms);
                        if self.now - self.heard[sender] >= dead_ms {
                            self.back[sender] = Some(self.now);
                        }
                        self.heard[sender] = self.now;
                        self.inbound[node].datagrams += 1;
                        self.inbound[node].bytes += entry.bytes.len() as u64;
                        let now = Instant(self.now);
                        self.nodes[node].machine.driven().handle(now, address(sender), &entry.bytes);
                    }
                    What::HookDone { epoch, order } => {
                        if hot.epoch != epoch {
                            return Some(None);
                        }
                        self.nodes[node].orders.entry(order).done_at = Some(self.now);
                        self.nodes[node].machine.driven().order_done(Instant(self.now), order, true);
                    }
                }
                self.service(node);
                Some(Some(node))
            }
        }
    }

    /// Runs for `ms` more milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// Runs in steps of `step_ms` until `done` holds or `limit_ms` passed; the time it held, if
    /// it did.
    pub fn run_until_true(
        &mut self,
        step_ms: u64,
        limit_ms: u64,
        mut done: impl FnMut(&Net) -> bool,
    ) -> Option<u64> {
        let end = self.now + limit_ms;
        loop {
            if done(self) {
                return Some(self.now);
            }
            if self.now >= end {
                return None;
            }
            self.run_until((self.now + step_ms).min(end));
        }
    }

    /// The MGS machine (the first running node built with [`Spec::Mgs`]).
    pub fn mgs(&self) -> &HostMgs {
        self.nodes
            .iter()
            .filter(|n| n.up)
            .find_map(|n| match &n.machine {
                Machine::Mgs(m) => Some(&**m),
                _ => None,
            })
            .expect("the network runs an MGS")
    }

    /// The MGS's state for the node with this name.
    pub fn state_at_mgs(&self, name: &str) -> Option<vigil_proto::wire::NodeState> {
        self.mgs().node(NodeId::from_name(name), Instant(self.now)).map(|v| v.state)
    }
}

/// Indices of the nodes of a two-level tree built by [`two_level`].
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    /// The MGS.
    pub mgs: usize,
    /// First-level routers (children of the MGS).
    pub l1: Vec<usize>,
    /// Second-level routers (children of the first level).
    pub l2: Vec<usize>,
    /// Clients with one parent.
    pub clients: Vec<usize>,
    /// Clients with two parents, under different first-level routers.
    pub multipath: Vec<usize>,
    /// Servers, one per target, children of first-level routers.
    pub servers: Vec<usize>,
}

impl Cluster {
    /// Every client, single- and multipath.
    pub fn all_clients(&self) -> impl Iterator<Item = usize> + '_ {
        self.clients.iter().chain(&self.multipath).copied()
    }
}

/// Builds MGS → `l1` routers → `l2_per_l1` routers each → clients spread evenly over the second
/// level; `multipath` more clients with parents under two different first-level routers; one
/// server per target under the first level.
pub fn two_level(
    net: &mut Net,
    l1: usize,
    l2_per_l1: usize,
    clients: usize,
    multipath: usize,
    targets: usize,
) -> Cluster {
    let mut c = Cluster { mgs: net.add("mgs", Spec::Mgs), ..Cluster::default() };
    for a in 0..l1 {
        let r = net.add(&format!("r{a}"), Spec::Router { parents: vec![c.mgs], slots: 0 });
        c.l1.push(r);
    }
    for b in 0..l2_per_l1 {
        for a in 0..l1 {
            let parent = c.l1[a];
            c.l2.push(net.add(&format!("r{a}.{b}"), Spec::Router { parents: vec![parent], slots: 0 }));
        }
    }
    for k in 0..clients {
        let parent = c.l2[k % c.l2.len()];
        c.clients.push(net.add(&format!("c{k:05}"), Spec::Client { parents: vec![parent] }));
    }
    for k in 0..multipath {
        // l2 is ordered so that neighbours sit under different first-level routers.
        let a = c.l2[(2 * k) % c.l2.len()];
        let b = c.l2[(2 * k + 1) % c.l2.len()];
        c.multipath.push(net.add(&format!("m{k:04}"), Spec::Client { parents: vec![a, b] }));
    }
    for t in 0..targets {
        let parent = c.l1[t % c.l1.len()];
        let target = format!("testfs-OST{t:04x}");
        c.servers.push(net.add(&format!("oss{t}"), Spec::Server { parents: vec![parent], target }));
    }
    c
}
