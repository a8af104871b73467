//! The one driver loop every role runs: it moves datagrams and time between a UDP socket and a
//! sans-IO machine, and nothing else.
//!
//! Per turn: take one input (a batch of datagrams, a deadline, a command from elsewhere in the
//! process, or shutdown; a due deadline goes before datagrams and commands, which take turns when
//! both wait), feed it to the machine, draining events and transmits after each item
//! until both are `None`, send what the turn produced, then sleep until the machine's next
//! deadline. Datagrams move in batches both ways ([`crate::udp`]: `recvmmsg` with GRO, GSO runs
//! per destination), so a busy loop makes a few system calls per batch instead of two per ping. Commands are closures run against the machine inside
//! the loop: that is how hooks report results and how the MGS's HTTP side reads its view, with no
//! lock around the machine.
//!
//! Time is milliseconds since the process started, from the monotonic clock ([`Clock`]).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;
use tracing::{debug, trace, warn};
use vigil_proto::table::Slot;
use vigil_proto::{Event, Instant, Mgs, Router, MAX_TARGETS};

use crate::throttle::Throttle;
use crate::udp::{Inbox, Outbox, Udp, UdpWatch};

/// Node table storage on hosts.
pub type Slots = Box<[Slot]>;
/// The MGS machine as hosts run it.
pub type MgsMachine = Mgs<Slots, 256, MAX_TARGETS>;
/// The router machine as hosts run it: room for every target of a filesystem.
pub type RouterMachine = Router<Slots, 32, MAX_TARGETS>;

/// Table storage of `n` slots.
pub fn slots(n: usize) -> Slots {
    vec![None; n].into_boxed_slice()
}

/// How often the loop logs its machine's counters (at debug level).
const COUNTERS_EVERY: Duration = Duration::from_secs(10);
/// Queued commands before senders wait.
const COMMAND_QUEUE: usize = 1024;

/// The process's clock: milliseconds since it started, never going back.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Clock {
        Clock { origin: tokio::time::Instant::now() }
    }

    /// Now, as the machines count time.
    pub fn now(&self) -> Instant {
        let ms = self.origin.elapsed().as_millis();
        Instant(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// A machine instant as a tokio deadline.
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        self.origin + Duration::from_millis(at.as_millis())
    }
}

/// What the loop needs of a machine: proto's one polling interface, movable into the loop's task.
pub trait Machine: vigil_proto::Machine + Send + 'static {}

impl<M: vigil_proto::Machine + Send + 'static> Machine for M {}

/// What a role does with its machine's events.
pub trait Handler<M>: Send + 'static {
    /// One event, with the machine at hand (to report an order done at once, say).
    fn on_event(&mut self, machine: &mut M, now: Instant, event: Event);
}

/// Work for the loop to do on its machine, from elsewhere in the process.
pub type Command<M> = Box<dyn FnOnce(&mut M, Instant) + Send>;

/// The sending side of a loop's command queue.
pub struct Commands<M> {
    tx: mpsc::Sender<Command<M>>,
}

impl<M> Clone for Commands<M> {
    fn clone(&self) -> Self {
        Commands { tx: self.tx.clone() }
    }
}

impl<M: Machine> Commands<M> {
    /// A command queue and its receiving side, to hand to [`run`].
    pub fn channel() -> (Commands<M>, mpsc::Receiver<Command<M>>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        (Commands { tx }, rx)
    }

    /// Runs `f` on the machine in its loop; false if the loop has ended.
    pub async fn send(&self, f: impl FnOnce(&mut M, Instant) + Send + 'static) -> bool {
        self.tx.send(Box::new(f)).await.is_ok()
    }

    /// Runs `f` on the machine in its loop and returns its answer; `None` if the loop has ended.
    pub async fn ask<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut M, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .send(move |m, now| {
                // The asker may have given up; its answer is then not needed.
                let _ = tx.send(f(m, now));
            })
            .await;
        if !sent {
            return None;
        }
        rx.await.ok()
    }
}

/// Binds a UDP socket for a loop (`port 0` lets the OS choose), with a receive buffer of
/// `recv_buffer` bytes (the default when `None`).
pub async fn bind(addr: SocketAddr, recv_buffer: Option<usize>) -> anyhow::Result<Udp> {
    let socket = tokio::net::UdpSocket::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind UDP {addr}: {e}"))?;
    Udp::new(socket, recv_buffer).map_err(|e| anyhow::anyhow!("cannot set up UDP {addr}: {e}"))
}

/// The wildcard address of the family that reaches every one of `peers` (IPv6, dual-stack, when
/// any of them is IPv6).
pub fn wildcard_for(peers: &[SocketAddr]) -> SocketAddr {
    if peers.iter().any(SocketAddr::is_ipv6) {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    }
}

/// Resolves `host:port` strings (names or literal addresses) to one address each.
pub async fn resolve(addrs: &[String]) -> anyhow::Result<Vec<SocketAddr>> {
    let mut out = Vec::with_capacity(addrs.len());
    for a in addrs {
        let mut found = tokio::net::lookup_host(a.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("cannot resolve {a:?} (expected host:port): {e}"))?;
        out.push(found.next().ok_or_else(|| anyhow::anyhow!("{a:?} resolves to no address"))?);
    }
    Ok(out)
}

/// Runs `machine` on `udp` until `shutdown` completes, and returns the machine.
///
/// The machine stays boxed: an MGS is ~290 KB and a router ~70 KB (their tables are already on
/// the heap, their bounded lists of recoveries and targets are not), and held by value in the
/// task's future and its output it would need runtime threads with stacks several times larger
/// than the default 2 MiB in unoptimised builds.
pub async fn run<M: Machine, H: Handler<M>>(
    udp: Udp,
    mut machine: Box<M>,
    mut handler: H,
    clock: Clock,
    mut commands: mpsc::Receiver<Command<M>>,
    shutdown: impl Future<Output = ()>,
) -> Box<M> {
    let mut inbox = Inbox::default();
    let mut outbox = Outbox::default();
    let mut commands_open = true;
    let mut counters_tick = tokio::time::interval(COUNTERS_EVERY);
    let mut forged = machine.counters().forged;
    let mut forged_warning = Throttle::new(COUNTERS_EVERY);
    tokio::pin!(shutdown);
    drain(&udp, &mut *machine, &mut handler, clock.now(), &mut outbox);
    udp.flush(&mut outbox).await;
    let mut socket_next = false;
    loop {
        // With no deadline the loop only waits for input; a far deadline is the same thing.
        let wake = machine
            .poll_timeout()
            .map_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600), |at| clock.deadline(at));
        // Deadlines first: under a flood of datagrams the socket is always ready, and silence
        // must still be judged on time. Then commands and the socket take turns, so a command
        // queue that never empties (HTTP clients polling the MGS's status, a snapshot each)
        // cannot leave datagrams unread while the deadlines judge the silence that makes.
        let input = tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = sleep_until(wake) => Input::Deadline,
            ready = udp.readable(), if socket_next => Input::Socket(ready),
            command = commands.recv(), if commands_open => Input::Command(command),
            ready = udp.readable(), if !socket_next => Input::Socket(ready),
            _ = counters_tick.tick() => Input::Counters,
        };
        match input {
            Input::Deadline => machine.handle_timeout(clock.now()),
            Input::Command(Some(f)) => {
                f(&mut *machine, clock.now());
                socket_next = true;
            }
            Input::Command(None) => commands_open = false,
            Input::Socket(ready) => {
                socket_next = false;
                match ready.and_then(|()| udp.try_recv(&mut inbox)) {
                    Ok(_) => {
                        let now = clock.now();
                        for (from, datagram) in inbox.datagrams() {
                            trace!(%from, len = datagram.len(), "datagram in");
                            machine.handle(now, from.into(), datagram);
                            drain(&udp, &mut *machine, &mut handler, now, &mut outbox);
                            if outbox.full() {
                                udp.flush(&mut outbox).await;
                            }
                        }
                        // A batch is many datagrams but one readiness check: tokio's cooperative
                        // budget (which made a one-datagram loop yield every 128 datagrams) would
                        // let a flood hold this thread for 128 batches, starving the process's
                        // other tasks (its HTTP side) and the I/O driver. Yield once per batch
                        // instead.
                        udp.flush(&mut outbox).await;
                        tokio::task::yield_now().await;
                    }
                    // Such errors (e.g. an ICMP error reported on the socket) are about one peer.
                    Err(e) => debug!("receive failed: {e}"),
                }
            }
            Input::Counters => debug!(counters = ?machine.counters(), "counters"),
        }
        // Someone holding the cluster key sends orders the MGS did not sign: an operator must
        // hear of it at once, not in the next counters dump; but a forged order is repeated in
        // every reply, so say it once per counters period (the tick makes a turn at least that
        // often, to tell the ones held back).
        let dropped = machine.counters().forged.saturating_sub(forged);
        forged = machine.counters().forged;
        if let Some(since_last_warning) = forged_warning.note(dropped, std::time::Instant::now()) {
            warn!(
                since_last_warning,
                forged, "order dropped: its MGS signature does not verify (forged or tampered)"
            );
        }
        drain(&udp, &mut *machine, &mut handler, clock.now(), &mut outbox);
        udp.flush(&mut outbox).await;
    }
    machine
}

/// What one turn of [`run`] takes.
enum Input<M> {
    /// The machine's deadline came.
    Deadline,
    /// A command, or `None` when every sender is gone.
    Command(Option<Command<M>>),
    /// The socket may hold datagrams.
    Socket(io::Result<()>),
    /// Time to log the machine's counters.
    Counters,
}

/// Drains events and datagrams until the machine has nothing more to say; the datagrams wait in
/// `outbox` for the turn's flush.
fn drain<M: Machine, H: Handler<M>>(
    udp: &Udp,
    machine: &mut M,
    handler: &mut H,
    now: Instant,
    outbox: &mut Outbox,
) {
    loop {
        let mut idle = true;
        while let Some(event) = machine.poll_event() {
            idle = false;
            handler.on_event(machine, now, event);
        }
        while outbox
            .push_with(|buf| machine.poll_transmit(now, buf).map(|(to, len)| (udp.destination(to), len)))
        {
            idle = false;
        }
        if idle {
            return;
        }
    }
}

/// A loop running in its own task.
pub struct Spawned<M> {
    /// The address its socket is bound to.
    pub addr: SocketAddr,
    /// Its command queue.
    pub commands: Commands<M>,
    /// The task; it yields the machine when the loop ends.
    pub task: tokio::task::JoinHandle<Box<M>>,
    /// Its socket's counts, for export.
    pub udp: UdpWatch,
}

/// Starts [`run`] in a task; `handler` gets the loop's command queue (for hooks to report).
pub fn spawn<M: Machine, H: Handler<M>>(
    udp: Udp,
    machine: M,
    handler: impl FnOnce(Commands<M>) -> H,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<Spawned<M>> {
    let addr = udp.local_addr();
    let watch = udp.watch();
    let (commands, rx) = Commands::channel();
    let handler = handler(commands.clone());
    let task = tokio::spawn(run(udp, Box::new(machine), handler, clock, rx, shutdown));
    Ok(Spawned { addr, commands, task, udp: watch })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use vigil_proto::{Generation, Key, Keyring, MgsConfig};

    /// A role that does nothing with its machine's events.
    struct Ignore;

    impl<M> Handler<M> for Ignore {
        fn on_event(&mut self, _: &mut M, _: Instant, _: Event) {}
    }

    /// The machine's count of datagrams handled, asked of its loop.
    async fn handled(commands: &Commands<MgsMachine>) -> u64 {
        commands.ask(|m, _| vigil_proto::Machine::counters(m).received).await.unwrap_or(0)
    }

    /// Starts an MGS loop on `socket` until `stop`. The machine is built on a thread with the
    /// stack for it: unoptimised, its ~650 KB are copied a few times on the way into the loop.
    fn spawn_mgs(socket: Udp, stop: oneshot::Receiver<()>) -> Spawned<MgsMachine> {
        let runtime = tokio::runtime::Handle::current();
        let build = move || {
            let _in_runtime = runtime.enter();
            let clock = Clock::start();
            let keys = Keyring::new(Key::new(1, &[7; 32]));
            let config = MgsConfig::new(vigil_proto::ids::name("mgs").unwrap(), Generation(1), keys);
            let machine = MgsMachine::new(config, slots(1024), clock.now());
            spawn(socket, machine, |_| Ignore, clock, async move {
                let _ = stop.await;
            })
            .unwrap()
        };
        std::thread::Builder::new().stack_size(16 << 20).spawn(build).unwrap().join().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn datagrams_are_read_while_commands_keep_coming() {
        // Enough askers that the queue never empties while the loop works, even when the
        // machine is loaded and a runtime thread is held up for a while.
        const ASKERS: usize = 32;
        const DATAGRAMS: u64 = 200;
        const LIMIT: Duration = Duration::from_secs(5);
        let socket = bind("127.0.0.1:0".parse().unwrap(), None).await.unwrap();
        let (stop_loop, stopped) = oneshot::channel();
        let spawned = spawn_mgs(socket, stopped);
        // Each asker keeps one command queued, as HTTP clients polling the MGS's status do; the
        // command's 1 ms of work stands in for a snapshot of a large cluster.
        let stop_asking = Arc::new(AtomicBool::new(false));
        let all_asking = Arc::new(tokio::sync::Barrier::new(ASKERS + 1));
        let mut askers = tokio::task::JoinSet::new();
        for _ in 0..ASKERS {
            let (commands, stop, all_asking) =
                (spawned.commands.clone(), stop_asking.clone(), all_asking.clone());
            askers.spawn(async move {
                let snapshot = |_: &mut MgsMachine, _| std::thread::sleep(Duration::from_millis(1));
                commands.ask(snapshot).await;
                all_asking.wait().await;
                while !stop.load(Ordering::Relaxed) && commands.ask(snapshot).await.is_some() {}
            });
        }
        all_asking.wait().await;
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..DATAGRAMS {
            tx.send_to(&[0; 40], spawned.addr).unwrap();
        }
        let all_read =
            tokio::time::timeout(LIMIT, async { while handled(&spawned.commands).await < DATAGRAMS {} })
                .await;
        stop_asking.store(true, Ordering::Relaxed);
        let seen = handled(&spawned.commands).await;
        assert!(all_read.is_ok(), "the machine handled {seen} of {DATAGRAMS} datagrams in {LIMIT:?}");
        tokio::time::timeout(LIMIT, async {
            while askers.join_next().await.is_some() {}
            let _ = stop_loop.send(());
            spawned.task.await.unwrap();
        })
        .await
        .expect("the askers and the loop end");
    }

    #[test]
    fn the_wildcard_reaches_every_peer() {
        let v4: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let v6: SocketAddr = "[::]:0".parse().unwrap();
        let peer: SocketAddr = "10.0.0.1:7470".parse().unwrap();
        let peer6: SocketAddr = "[fd00::1]:7470".parse().unwrap();
        assert_eq!(wildcard_for(&[peer]), v4);
        assert_eq!(wildcard_for(&[peer, peer6]), v6);
    }
}
