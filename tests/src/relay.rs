//! A userspace UDP impairment relay: delay, jitter (hence reordering) and duplication, which
//! this kernel cannot make (no `netem`).
//!
//! A [`Relay`] listens on one address inside a lab host's namespace and forwards every datagram
//! to one upstream address, like a NAT: each downstream peer gets its own upstream socket, so
//! the upstream side sees one source address per peer and its replies find their way back.
//! Every datagram, in both directions, is held for `delay` plus a uniform draw in `[0, jitter]`
//! and, with `duplicate_percent` chance, sent twice (each copy with its own draw). With a jitter
//! wider than the gap between datagrams, later datagrams overtake earlier ones.
//!
//! Seeded (one splitmix64 stream per relay: a failing run replays with the same draws for the
//! same arrival order) and bounded: at most `max_queued` datagrams held and `max_peers` peers;
//! beyond that datagrams are dropped and counted. [`RelayStats`] counts what it did, for the
//! suite's figures. Stopped and joined on drop.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::netns;

/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// The largest datagram relayed (bigger ones are truncated by `recv`, as on a real path MTU).
const MAX_DATAGRAM: usize = 2048;

/// What the relay does to each datagram.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` per datagram.
    pub jitter: Duration,
    /// Chance, in percent, that a datagram is sent twice.
    pub duplicate_percent: u32,
    /// Seed of the draws.
    pub seed: u64,
    /// Datagrams held at once; more are dropped (counted in `overflow`).
    pub max_queued: usize,
    /// Downstream peers; datagrams from more are dropped (counted in `overflow`).
    pub max_peers: usize,
}

/// What a relay has done so far.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Datagrams received, both directions.
    pub received: AtomicU64,
    /// Datagrams sent on, duplicates included.
    pub sent: AtomicU64,
    /// Extra copies made.
    pub duplicated: AtomicU64,
    /// Datagrams sent after one that arrived later on the same flow.
    pub reordered: AtomicU64,
    /// Datagrams dropped because the queue or the peer table was full.
    pub overflow: AtomicU64,
}

impl RelayStats {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A one-line summary.
    pub fn brief(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{} received, {} sent, {} duplicated, {} reordered, {} overflow",
            get(&self.received),
            get(&self.sent),
            get(&self.duplicated),
            get(&self.reordered),
            get(&self.overflow)
        )
    }

    /// The `reordered` count.
    pub fn reordered(&self) -> u64 {
        self.reordered.load(Ordering::Relaxed)
    }

    /// The `duplicated` count.
    pub fn duplicated(&self) -> u64 {
        self.duplicated.load(Ordering::Relaxed)
    }
}

/// One flow: a downstream peer's datagrams going up, or the replies coming down to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Flow {
    peer: SocketAddr,
    up: bool,
}

/// A datagram received, on its way to the scheduler.
struct Arrival {
    flow: Flow,
    bytes: Vec<u8>,
}

/// A datagram held until `due`.
struct Held {
    flow: Flow,
    /// Its arrival number on its flow.
    number: u64,
    bytes: Vec<u8>,
}

/// A running relay; stopped on drop.
pub struct Relay {
    listen: SocketAddr,
    stop: Arc<AtomicBool>,
    stats: Arc<RelayStats>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Starts a relay inside namespace `ns`, listening on `listen` and forwarding to `upstream`.
    pub fn start(
        ns: &str,
        listen: SocketAddr,
        upstream: SocketAddr,
        impairment: Impairment,
    ) -> io::Result<Relay> {
        let down = Arc::new(bind_in(ns, listen)?);
        down.set_read_timeout(Some(POLL))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RelayStats::default());
        let peers: Arc<std::sync::Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
        let (tx, rx) = mpsc::channel::<Arrival>();
        let mut threads = Vec::new();

        let scheduler = Scheduler {
            rx,
            down: Arc::clone(&down),
            peers: Arc::clone(&peers),
            upstream,
            impairment,
            rng: SplitMix(impairment.seed),
            heap: BinaryHeap::new(),
            held: HashMap::new(),
            next_key: 0,
            arrivals: HashMap::new(),
            sent_upto: HashMap::new(),
            stop: Arc::clone(&stop),
            stats: Arc::clone(&stats),
        };
        threads
            .push(std::thread::Builder::new().name("relay-scheduler".into()).spawn(move || scheduler.run())?);

        let (ns, stop2, stats2) = (ns.to_owned(), Arc::clone(&stop), Arc::clone(&stats));
        let listener = move || {
            let mut readers = Vec::new();
            let mut buf = [0u8; MAX_DATAGRAM];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((len, peer)) = down.recv_from(&mut buf) else { continue };
                RelayStats::add(&stats2.received);
                let known = peers.lock().map(|p| p.contains_key(&peer)).unwrap_or(false);
                if !known {
                    let full = peers.lock().map(|p| p.len() >= impairment.max_peers).unwrap_or(true);
                    let socket =
                        if full { None } else { bind_in(&ns, SocketAddr::from(([0, 0, 0, 0], 0))).ok() };
                    let Some(socket) = socket else {
                        RelayStats::add(&stats2.overflow);
                        continue;
                    };
                    let socket = Arc::new(socket);
                    if socket.set_read_timeout(Some(POLL)).is_err() {
                        RelayStats::add(&stats2.overflow);
                        continue;
                    }
                    if let Ok(mut p) = peers.lock() {
                        p.insert(peer, Arc::clone(&socket));
                    }
                    readers.push(spawn_reader(
                        socket,
                        peer,
                        tx.clone(),
                        Arc::clone(&stop2),
                        Arc::clone(&stats2),
                    ));
                }
                let arrival = Arrival { flow: Flow { peer, up: true }, bytes: buf[..len].to_vec() };
                if tx.send(arrival).is_err() {
                    break;
                }
            }
            for r in readers {
                let _ = r.join();
            }
        };
        threads.push(std::thread::Builder::new().name("relay-listener".into()).spawn(listener)?);
        Ok(Relay { listen, stop, stats, threads })
    }

    /// The address downstream peers send to.
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// What it has done so far.
    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Reads the upstream side's replies to `peer` and hands them to the scheduler.
fn spawn_reader(
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    tx: Sender<Arrival>,
    stop: Arc<AtomicBool>,
    stats: Arc<RelayStats>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; MAX_DATAGRAM];
        while !stop.load(Ordering::Relaxed) {
            let Ok(len) = socket.recv(&mut buf) else { continue };
            RelayStats::add(&stats.received);
            if tx.send(Arrival { flow: Flow { peer, up: false }, bytes: buf[..len].to_vec() }).is_err() {
                return;
            }
        }
    })
}

/// Holds datagrams until they are due and sends them on.
struct Scheduler {
    rx: Receiver<Arrival>,
    down: Arc<UdpSocket>,
    peers: Arc<std::sync::Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>,
    upstream: SocketAddr,
    impairment: Impairment,
    rng: SplitMix,
    /// Due times, earliest first, with a key into `held` (the key also keeps equal times FIFO).
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    held: HashMap<u64, Held>,
    next_key: u64,
    /// Arrivals so far per flow.
    arrivals: HashMap<Flow, u64>,
    /// The highest arrival number sent per flow.
    sent_upto: HashMap<Flow, u64>,
    stop: Arc<AtomicBool>,
    stats: Arc<RelayStats>,
}

impl Scheduler {
    fn run(mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let wait = match self.heap.peek() {
                Some(Reverse((due, _))) => due.saturating_duration_since(now).min(POLL),
                None => POLL,
            };
            match self.rx.recv_timeout(wait) {
                Ok(arrival) => self.hold(arrival),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.send_due(Instant::now());
        }
    }

    fn hold(&mut self, arrival: Arrival) {
        let count = self.arrivals.entry(arrival.flow).or_insert(0);
        *count += 1;
        let number = *count;
        let copies = if self.rng.below(100) < u64::from(self.impairment.duplicate_percent) { 2 } else { 1 };
        for copy in 0..copies {
            if self.held.len() >= self.impairment.max_queued {
                RelayStats::add(&self.stats.overflow);
                return;
            }
            if copy == 1 {
                RelayStats::add(&self.stats.duplicated);
            }
            let jitter = self.impairment.jitter.as_micros() as u64;
            let extra = if jitter == 0 { 0 } else { self.rng.below(jitter + 1) };
            let due = Instant::now() + self.impairment.delay + Duration::from_micros(extra);
            let key = self.next_key;
            self.next_key += 1;
            self.heap.push(Reverse((due, key)));
            self.held.insert(key, Held { flow: arrival.flow, number, bytes: arrival.bytes.clone() });
        }
    }

    fn send_due(&mut self, now: Instant) {
        while let Some(&Reverse((due, key))) = self.heap.peek() {
            if due > now {
                return;
            }
            self.heap.pop();
            let Some(held) = self.held.remove(&key) else { continue };
            let upto = self.sent_upto.entry(held.flow).or_insert(0);
            if held.number < *upto {
                RelayStats::add(&self.stats.reordered);
            }
            *upto = (*upto).max(held.number);
            let sent = if held.flow.up {
                let socket = self.peers.lock().ok().and_then(|p| p.get(&held.flow.peer).cloned());
                socket.map(|s| s.send_to(&held.bytes, self.upstream))
            } else {
                Some(self.down.send_to(&held.bytes, held.flow.peer))
            };
            if matches!(sent, Some(Ok(_))) {
                RelayStats::add(&self.stats.sent);
            }
        }
    }
}

/// A UDP socket bound to `addr` inside namespace `ns` (it stays in that namespace).
fn bind_in(ns: &str, addr: SocketAddr) -> io::Result<UdpSocket> {
    netns::within(ns, || UdpSocket::bind(addr))
}

/// splitmix64: a small, seedable generator (quality is plenty for impairment draws).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A draw in `[0, n)` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
