//! The child side shared by clients and servers: pinging every parent, carrying out orders once,
//! and reporting progress until the parent has it.
//!
//! A member pings each of its parents every interval (multipath: it is alive if any path hears
//! it). It counts in order progress at one parent only, its *home*: the first parent that
//! answers, until that one's replies are late (see [`home`]). Orders arrive pushed or
//! repeated in replies; the order id tells a repeat from a new order, and a repeat is only
//! reported again, never carried out twice. A report rides in every ping, re-sent while
//! unanswered, until a parent acknowledges one that carried it (the reply's `ack` names the
//! ping's sequence); a parent that still lacks it repeats the order, which arms it again.
//!
//! One [`Member`], its rooms by concern:
//! - [`pings`]: what a ping carries and when it goes: every interval, sooner when something
//!   changed, and again while unanswered;
//! - [`replies`]: what a parent's answer tells: up, restarted, refused, which pings and reports
//!   it took, the interval it imposes, the orders it repeats;
//! - [`home`]: the one parent this node counts at, and moving it without being counted nowhere;
//! - [`orders`]: an order received: a repeat told from a new one, the same recovery from a new
//!   restart, and the report kept on it;
//! - [`driver`]: what goes to the driver and comes back: events, the orders handed, how they
//!   went, a client's hook tried again;
//! - [`deadlines`]: the member's timers: a parent late or down, the next ping, a retry due.
//!
//! [`crate::client`] and [`crate::server`] wrap a `Member` each, and differ in what they keep of
//! an order ([`Kept`]) and which orders they act on.

mod deadlines;
mod driver;
mod home;
mod orders;
mod pings;
mod replies;

use heapless::{Deque, Vec};

use crate::counters::Counters;
use crate::event::Events;
use crate::handed::{Handed, Kept, Notice};
use crate::ids::{Generation, Name, NodeId, OrderId};
use crate::link::Link;
use crate::time::Instant;
use crate::timing::Timing;
use crate::uplink::Uplink;
use crate::wire::OrderKeys;
use crate::wire::{Endpoint, Header, Keyring, Message, Role, MAX_ALTERNATES, MAX_MOUNTS, MAX_REPORTS};

use orders::{Recovered, Report, RECOVERED, SEEN};

/// Most parents a node pings.
pub const MAX_PARENTS: usize = 2;

/// Recovery orders whose hook a client can try again at once (one per target that failed
/// together); beyond them a failure is final at once. Also the orders a member keeps for its
/// driver to fetch ([`Handed`]).
const RETRIES: usize = 4;
/// Events a member queues. A driver drains them after every input, which yields at most six
/// (a reply: a restart, up, a refusal or raised generation, and two orders; a deadline: two
/// parents down and four retries due).
const EVENTS: usize = 8;

/// Configuration shared by clients and servers.
#[derive(Clone, Debug)]
pub struct MemberConfig {
    /// The node's name (its id is derived from it).
    pub name: Name,
    /// The node's boot generation (strictly greater on every start).
    pub generation: Generation,
    /// Next hops toward the MGS, primary first.
    pub parents: Vec<Endpoint, MAX_PARENTS>,
    /// Cluster keys.
    pub keys: Keyring,
    /// Ping interval (until a parent says otherwise) and thresholds.
    pub timing: Timing,
}

/// A parent, and what a member keeps of it besides the [`Uplink`].
#[derive(Clone, Debug)]
struct Parent {
    uplink: Uplink,
    /// The sequence of the last ping that carried the name: only a reply that accepted it (or a
    /// later ping) confirms what it announced, not one to an older ping still on its way.
    announced: u32,
    /// Silent past the suspect threshold: still up, but no longer the home while another
    /// parent answers (see [`Member::rehome`]).
    late: bool,
    refused: bool,
    /// The sequence number of the last ping sent with a re-send armed: only a reply that
    /// acknowledges it (or a later ping) disarms the re-send.
    awaiting: u32,
    /// Where the parent's last refusal suggested to go instead, until its event is polled.
    alternates: Vec<Endpoint, MAX_ALTERNATES>,
    /// The parent answered our first contact and the addressed ping it asked for has not gone
    /// yet: that ping is the first the parent takes, and spreads the herd as a first ping does.
    met: bool,
    /// A server's first ping of a boot is still to go: it tells the parent the target
    /// restarted, and the whole recovery waits on it, so it is re-sent as urgent news is even
    /// though the parent has not answered yet (see [`Member::poll_transmit`]).
    boot_news: bool,
}

/// Where an order came from is irrelevant once authenticated; what matters is whether it is new.
/// `K` is what the member keeps of the orders it acts on ([`Kept`]).
#[derive(Clone, Debug)]
pub(crate) struct Member<K: Kept> {
    pub(crate) link: Link,
    name: Name,
    role: Role,
    timing: Timing,
    interval_ms: u32,
    parents: Vec<Parent, MAX_PARENTS>,
    /// The parent this node counts at (see [`Member::rehome`]).
    home: usize,
    /// The home before the last move, while the new home has not confirmed it counts this node:
    /// until then it is still told it is home (see [`Member::rehome`]), and the sequence of the
    /// first ping that told the new one, once sent.
    moving_from: Option<(usize, Option<u32>)>,
    reports: Deque<Report, MAX_REPORTS>,
    seen: Deque<OrderId, SEEN>,
    recovered: Deque<Recovered, RECOVERED>,
    /// Orders handed to the driver: fetched when their event is polled, handed again when a
    /// client's hook failed.
    handed: Vec<Handed<K>, RETRIES>,
    pub(crate) target: K::Target,
    /// A client's filesystem mounts, sent with the name.
    mounts: Vec<u64, MAX_MOUNTS>,
    pub(crate) order_keys: OrderKeys,
    events: Events<EVENTS, Notice>,
    pub(crate) counters: Counters,
}

impl<K: Kept> Member<K> {
    pub(crate) fn new(config: MemberConfig, role: Role, now: Instant) -> Self {
        let id = NodeId::from_name(&config.name);
        let parents = config
            .parents
            .iter()
            .map(|&addr| Parent {
                uplink: Uplink::new(addr, now),
                announced: 0,
                late: false,
                refused: false,
                awaiting: 0,
                alternates: Vec::new(),
                met: false,
                boot_news: role == Role::Server,
            })
            .collect();
        Member {
            link: Link::new(id, config.generation, config.keys),
            name: config.name,
            role,
            timing: config.timing,
            interval_ms: config.timing.ping_interval_ms,
            parents,
            home: 0,
            moving_from: None,
            reports: Deque::new(),
            seen: Deque::new(),
            recovered: Deque::new(),
            handed: Vec::new(),
            target: K::Target::default(),
            mounts: Vec::new(),
            order_keys: OrderKeys::default(),
            events: Events::new(),
            counters: Counters::default(),
        }
    }

    pub(crate) fn handle(&mut self, now: Instant, from: Endpoint, bytes: &[u8]) {
        let mut message = Message::default();
        let Some(header) = self.link.receive(bytes, &mut message, &mut self.counters) else {
            return;
        };
        let Some(p) = self.parent_index(from, &header) else {
            self.counters.unexpected += 1;
            return;
        };
        match message {
            Message::PingReply(reply) => self.handle_reply(now, p, &header, reply),
            Message::Order(order) => {
                if self.accept_from_parent(p, &header) {
                    self.handle_order(now, order);
                }
            }
            _ => self.counters.unexpected += 1,
        }
    }

    fn parent_index(&self, from: Endpoint, header: &Header) -> Option<usize> {
        Uplink::find(self.parents.iter().map(|p| &p.uplink), from, header)
    }

    /// Generation and replay checks for a datagram from parent `p`.
    fn accept_from_parent(&mut self, p: usize, header: &Header) -> bool {
        self.parents[p].uplink.accept(header, &mut self.counters)
    }

    pub(crate) fn parents_up(&self) -> usize {
        self.parents.iter().filter(|p| p.uplink.up).count()
    }
}
