//! Vigil router firmware logic, independent of the board.
//!
//! A board brings up its clocks, its network interface and an `embassy_net::Stack`, reads a
//! [`Config`], chooses a boot [`Generation`], and calls [`run`]. From there this crate owns the
//! router's UDP socket and moves bytes and time between it and the sans-IO router machine of
//! `vigil-proto`; all the protocol lives in that machine.
//!
//! # Sizes a board chooses
//! Each is RAM the board sets aside, and each has an explicit limit when full:
//! - the node table's slots (`N` of [`Storage`]): past them a new child is refused and pointed
//!   to alternates (the proto's `TableFull`, counted in `refused`);
//! - the child routers whose subtree summaries the router keeps (`R` of [`run`], about 740
//!   bytes each): past them a further child router is still tracked, but its summary is not
//!   kept (counted in `overflow`), so it counts as not holding any order, and while it is live
//!   this router reports no order progress up: no window closes by order over this router's
//!   subtree (each runs its own course);
//! - the targets whose status the router relays up (`T` of [`run`], about 180 bytes each): past
//!   them a target's report is refused (`TargetTableFull`, counted in `targets_refused`).
//!
//! [`CHILD_ROUTERS`] and [`TARGETS`] suit a router with routers below it; a leaf router with
//! clients below it needs few of either.
//!
//! # The driver loop
//! ```text
//! loop {
//!     drain: poll_transmit → socket, poll_event → log      (until each returns None)
//!     if poll_timeout is already due: handle_timeout(now), and round again
//!     wait for the first of: a datagram, the router's poll_timeout
//!     feed it: handle(now, from, bytes) or handle_timeout(now)
//! }
//! ```
//! Draining after *every* input is the one rule of the proto machines: a transmit left queued
//! would wait for the next input, which may be seconds away. Time is `embassy_time::Instant` in
//! milliseconds since boot, so the router's deadlines map one to one onto `Timer::at`.
//!
//! # Logging
//! Feature `log` (text, for consoles) or `defmt` (for probes); with neither, the firmware is
//! silent.
//!
//! # Limits
//! IPv4 only: the router cannot send to an IPv6 endpoint (it could only learn one from a
//! parent's redirect), and logs each such datagram instead.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod fmt;

pub mod config;
pub mod footprint;

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use embassy_futures::select::{select, Either};
use embassy_net::udp::{BindError, PacketMetadata, RecvError, UdpSocket};
use embassy_net::{IpAddress, IpEndpoint, Stack};
use embassy_time::Timer;
use vigil_proto::table::{empty_slots, Slot};
use vigil_proto::wire::MAX_DATAGRAM;
use vigil_proto::{Endpoint, Instant, Key, Keyring, Router, RouterConfig};

pub use config::Config;
use fmt::Dbg;
pub use footprint::{footprint, FOOTPRINT_LEN, SLOT_BYTES};
/// Boards choose the generation, so they need its type without depending on the proto.
pub use vigil_proto::Generation;

/// Child routers whose summaries a router with routers below it keeps (`R` of [`run`]).
pub const CHILD_ROUTERS: usize = 32;
/// Targets whose status a router with servers below it relays (`T` of [`run`]).
pub const TARGETS: usize = 32;

/// Datagrams the socket queues on receipt: a burst of children pinging at once while the router
/// is busy (past it the network stack drops them, and the children ping again).
const RX_QUEUE: usize = 8;
/// Datagrams the socket queues to send: an order pushed to every live child at once, a round of
/// update pages. The loop waits for room rather than dropping, so this only smooths bursts, and
/// the network driver's queue and the NIC's buffer follow it.
const TX_QUEUE: usize = 4;

/// Everything the router keeps in memory besides its own state: the node table (`N` slots, the
/// number of nodes, children and their descendants, it can track) and its socket's buffers.
/// Boards place it in a `static`, built there at run time ([`Storage::init`]) so that it takes
/// .bss rather than flash for initial values, and no stack on its way.
pub struct Storage<const N: usize> {
    slots: [Slot; N],
    rx_meta: [PacketMetadata; RX_QUEUE],
    rx: [u8; RX_QUEUE * MAX_DATAGRAM],
    tx_meta: [PacketMetadata; TX_QUEUE],
    tx: [u8; TX_QUEUE * MAX_DATAGRAM],
    datagram: [u8; MAX_DATAGRAM],
}

impl<const N: usize> Storage<N> {
    /// An empty table and zeroed buffers.
    pub const fn new() -> Self {
        Storage {
            slots: empty_slots(),
            rx_meta: [PacketMetadata::EMPTY; RX_QUEUE],
            rx: [0; RX_QUEUE * MAX_DATAGRAM],
            tx_meta: [PacketMetadata::EMPTY; TX_QUEUE],
            tx: [0; TX_QUEUE * MAX_DATAGRAM],
            datagram: [0; MAX_DATAGRAM],
        }
    }
}

impl<const N: usize> Storage<N> {
    /// Builds the storage where it lies, slot by slot: `place` is typically a `StaticCell`'s
    /// (`Storage::init(STORAGE.uninit())`). Built by value (`new`), it would pass through the
    /// stack on its way: one stack frame the size of the whole table (172 KB for 1,024 slots)
    /// once at boot, which a board would have to set aside for nothing.
    #[allow(unsafe_code)]
    pub fn init(place: &mut MaybeUninit<Self>) -> &mut Self {
        let p = place.as_mut_ptr();
        // SAFETY: every field is written through a raw pointer into `place` (no reference to an
        // uninitialised value is made), element by element, before `assume_init_mut`; `p` is
        // valid and aligned, being `place`'s own pointer.
        unsafe {
            let slots = addr_of_mut!((*p).slots).cast::<Slot>();
            for k in 0..N {
                slots.add(k).write(None);
            }
            let rx_meta = addr_of_mut!((*p).rx_meta).cast::<PacketMetadata>();
            let tx_meta = addr_of_mut!((*p).tx_meta).cast::<PacketMetadata>();
            for (meta, len) in [(rx_meta, RX_QUEUE), (tx_meta, TX_QUEUE)] {
                for k in 0..len {
                    meta.add(k).write(PacketMetadata::EMPTY);
                }
            }
            addr_of_mut!((*p).rx).write_bytes(0, 1);
            addr_of_mut!((*p).tx).write_bytes(0, 1);
            addr_of_mut!((*p).datagram).write_bytes(0, 1);
            place.assume_init_mut()
        }
    }
}

impl<const N: usize> Default for Storage<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the router for ever on `stack`, with room for `R` child routers and `T` targets (see
/// the crate docs); returns only if its UDP port cannot be bound.
///
/// `generation` must differ on every boot (see [`Generation`]).
pub async fn run<const N: usize, const R: usize, const T: usize>(
    stack: Stack<'_>,
    config: &Config,
    generation: Generation,
    storage: &mut Storage<N>,
) -> BindError {
    info!("router {} generation {}", config.name.as_str(), generation.0);
    info!("config {:?}", Dbg(config));
    info!("table: {} slots of {} bytes; {} child routers, {} targets", N, SLOT_BYTES, R, T);
    stack.wait_config_up().await;

    let Storage { slots, rx_meta, rx, tx_meta, tx, datagram } = storage;
    let mut socket = UdpSocket::new(stack, rx_meta, rx, tx_meta, tx);
    if let Err(e) = socket.bind(config.port) {
        return e;
    }
    info!("listening on udp/{}", config.port);

    let mut router: Router<_, R, T> = Router::new(router_config(config, generation), slots, now());
    loop {
        drain(&mut router, &socket, datagram).await;
        let wake = router.poll_timeout();
        // A deadline already due is served before looking at the socket: under a flood of
        // datagrams `select` would otherwise find the socket ready every time and starve the
        // router's timers (its updates upstream and its silence checks).
        if wake.is_some_and(|at| at <= now()) {
            on_timeout(&mut router);
            continue;
        }
        match select(socket.recv_from(datagram), sleep_until(wake)).await {
            Either::First(Ok((len, meta))) => {
                let from = endpoint_from(meta.endpoint);
                on_datagram(&mut router, from, &datagram[..len]);
            }
            Either::First(Err(RecvError::Truncated)) => {
                warn!("dropped a datagram over {} bytes", MAX_DATAGRAM);
            }
            Either::Second(()) => on_timeout(&mut router),
        }
    }
}

/// Sends everything the router has queued and logs its events.
async fn drain<S, const R: usize, const T: usize>(
    router: &mut Router<S, R, T>,
    socket: &UdpSocket<'_>,
    buf: &mut [u8; MAX_DATAGRAM],
) where
    S: AsRef<[Slot]> + AsMut<[Slot]>,
{
    while let Some((to, len)) = next_datagram(router, buf) {
        let Some(to) = endpoint_to(to) else {
            warn!("cannot send to {:?}: IPv4 only", Dbg(&to));
            continue;
        };
        if let Err(e) = socket.send_to(&buf[..len], to).await {
            warn!("send to {:?}: {:?}", Dbg(&to), Dbg(&e));
        }
    }
    while let Some(event) = router.poll_event() {
        info!("{:?}", Dbg(&event));
    }
}

// The machine's entry points, each kept out of line. Inlined into `run`'s future, their locals
// shared its one frame (26 KB on thumbv7em), so the stack had to hold all of them at once; out of
// line, they take turns with it and the deepest one sets the stack's size (see boards/README.md).

#[inline(never)]
fn on_datagram<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize>(
    router: &mut Router<S, R, T>,
    from: Endpoint,
    datagram: &[u8],
) {
    router.handle(now(), from, datagram);
}

#[inline(never)]
fn on_timeout<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize>(
    router: &mut Router<S, R, T>,
) {
    router.handle_timeout(now());
}

#[inline(never)]
fn next_datagram<S: AsRef<[Slot]> + AsMut<[Slot]>, const R: usize, const T: usize>(
    router: &mut Router<S, R, T>,
    buf: &mut [u8; MAX_DATAGRAM],
) -> Option<(Endpoint, usize)> {
    router.poll_transmit(now(), buf)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => Timer::at(embassy_time::Instant::from_millis(at.0)).await,
        None => core::future::pending().await,
    }
}

/// The router's clock: milliseconds since boot.
fn now() -> Instant {
    Instant(embassy_time::Instant::now().as_millis())
}

fn router_config(config: &Config, generation: Generation) -> RouterConfig {
    let key = Key::new(config.key_id, &config.key);
    RouterConfig::new(config.name.clone(), generation, config.parents.clone(), Keyring::new(key))
        .with_timing(config.timing)
}

fn endpoint_from(endpoint: IpEndpoint) -> Endpoint {
    match endpoint.addr {
        IpAddress::Ipv4(ip) => Endpoint::V4 { ip: ip.octets(), port: endpoint.port },
    }
}

fn endpoint_to(endpoint: Endpoint) -> Option<IpEndpoint> {
    match endpoint {
        Endpoint::V4 { ip, port } => Some(IpEndpoint::new(IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), port)),
        Endpoint::V6 { .. } => None,
    }
}
