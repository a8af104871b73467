//! Batched datagram I/O for the driver loop: many datagrams per system call each way, and the
//! kernel's receive-queue drops counted.
//!
//! A loop that makes one `recvfrom` and one `sendto` per datagram is bound by the system calls,
//! not by the protocol (a router machine answers a ping in well under a microsecond). So:
//!
//! - **Receive**: one `recvmmsg` takes up to [`BATCH_SIZE`] datagrams, and with UDP GRO (Linux)
//!   each of them may be several datagrams of one flow coalesced by the kernel; [`Inbox`] splits
//!   them again. Every slot has room for a whole coalesced batch (64 KiB): the memory is
//!   reserved, and only what datagrams touch becomes resident.
//! - **Send**: what the machine sends while a batch is handled waits in an [`Outbox`]; a flush
//!   groups it by destination (order per destination kept) and sends each run of equal-sized
//!   datagrams to one destination as one GSO `sendmsg` (a burst of replies to one busy peer
//!   costs one call). Where the kernel or the interface lacks GSO, `quinn-udp` notices and every
//!   datagram goes alone.
//! - **Receive buffer**: `SO_RCVBUF` is raised to [`DEFAULT_RECV_BUFFER`] (or as configured) so
//!   a burst (every child of a router pinging at once after a parent restart) waits in the
//!   kernel instead of being dropped; the kernel caps it at `net.core.rmem_max`, and a smaller
//!   buffer than asked is logged with the sysctl to raise.
//! - **Drops**: datagrams the kernel dropped because the receive queue was full are read from
//!   the `drops` column of `/proc/self/net/udp{,6}` for this socket ([`Udp::kernel_drops`]); the
//!   daemons export them with the loop's own counts ([`UdpWatch`]) in `/metrics` and the MGS's status.
//!
//! The system calls themselves are `quinn-udp`'s (the QUIC stack's UDP layer), not written here.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::{debug, warn};
use vigil_proto::wire::MAX_DATAGRAM;
use vigil_proto::Endpoint;

/// `SO_RCVBUF` asked for when not configured: room for about 8,000 small datagrams (each costs
/// about a kilobyte of kernel memory), a router's default table pinging at once.
pub const DEFAULT_RECV_BUFFER: usize = 8 << 20;
/// One receive slot: the largest UDP payload, room for a GRO-coalesced batch.
const SLOT: usize = 65_535;
/// Bytes waiting in an [`Outbox`] before the loop flushes it mid-batch.
const OUTBOX_FLUSH_AT: usize = 256 << 10;

/// The loop's own counts of its socket, shared with whoever exports them.
#[derive(Debug, Default)]
struct UdpStats {
    /// Datagrams received.
    received: AtomicU64,
    /// Receive system calls that returned datagrams.
    receive_calls: AtomicU64,
    /// Datagrams sent.
    sent: AtomicU64,
    /// Send system calls made.
    send_calls: AtomicU64,
    /// Datagrams whose send failed.
    send_errors: AtomicU64,
}

impl UdpStats {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A UDP socket with batched I/O state.
pub struct Udp {
    socket: UdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
    stats: Arc<UdpStats>,
    drops: KernelDrops,
}

impl Udp {
    /// Takes `socket` over, with a receive buffer of `recv_buffer` bytes ([`DEFAULT_RECV_BUFFER`]
    /// when not configured).
    pub fn new(socket: UdpSocket, recv_buffer: Option<usize>) -> io::Result<Udp> {
        let state = UdpSocketState::new((&socket).into())?;
        let asked = recv_buffer.unwrap_or(DEFAULT_RECV_BUFFER);
        if let Err(e) = state.set_recv_buffer_size((&socket).into(), asked) {
            warn!("cannot set the UDP receive buffer to {asked} bytes: {e}");
        }
        // Linux reports twice what it granted (the doubling covers its bookkeeping).
        let granted = state.recv_buffer_size((&socket).into()).unwrap_or(0) / 2;
        if granted < asked {
            let hint = "raise net.core.rmem_max (sysctl) to allow it";
            // An operator who asked for a size hears that it was cut; the default only says so
            // where asked.
            if recv_buffer.is_some() {
                warn!(asked, granted, "UDP receive buffer smaller than asked: {hint}");
            } else {
                debug!(asked, granted, "UDP receive buffer smaller than the default: {hint}");
            }
        }
        let local = socket.local_addr()?;
        let drops = KernelDrops::of(&socket);
        Ok(Udp { socket, state, local, stats: Arc::default(), drops })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// What to export of this socket, readable while the loop runs.
    pub fn watch(&self) -> UdpWatch {
        UdpWatch { stats: self.stats.clone(), drops: self.drops.clone() }
    }

    /// Waits until datagrams may be waiting.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Receives what is waiting (one system call) into `inbox`; 0 when nothing was.
    pub fn try_recv(&self, inbox: &mut Inbox) -> io::Result<usize> {
        let Inbox { buf, meta, count } = inbox;
        let mut slices: Vec<IoSliceMut<'_>> = buf.chunks_mut(SLOT).map(IoSliceMut::new).collect();
        *count = 0;
        let n = match self
            .socket
            .try_io(Interest::READABLE, || self.state.recv((&self.socket).into(), &mut slices, &mut meta[..]))
        {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        *count = n;
        UdpStats::add(&self.stats.receive_calls, 1);
        let datagrams: usize = meta[..n].iter().map(|m| segments(m.len, m.stride)).sum();
        UdpStats::add(&self.stats.received, datagrams);
        Ok(datagrams)
    }

    /// Sends everything in `outbox` and empties it.
    pub async fn flush(&self, outbox: &mut Outbox) {
        if outbox.queued.is_empty() {
            return;
        }
        // Grouped by destination, each destination's datagrams in the order they were made.
        outbox.queued.sort_by_key(|q| q.to);
        let mut start = 0;
        while start < outbox.queued.len() {
            let max = self.state.max_gso_segments().max(1);
            let first = outbox.queued[start];
            let mut end = start + 1;
            while end < outbox.queued.len()
                && end - start < max
                && outbox.queued[end].to == first.to
                && outbox.queued[end].len == first.len
                && (end - start + 1) * first.len <= SLOT
            {
                end += 1;
            }
            outbox.run.clear();
            for q in &outbox.queued[start..end] {
                outbox.run.extend_from_slice(&outbox.bytes[q.at..q.at + q.len]);
            }
            let segments = end - start;
            if let Err(e) = self.send(first.to, &outbox.run, first.len, segments).await {
                if segments > 1 && self.state.max_gso_segments() == 1 {
                    // GSO turned out to be missing here (quinn-udp now knows): send them one by one.
                    for d in outbox.run.chunks(first.len) {
                        if let Err(e) = self.send(first.to, d, d.len(), 1).await {
                            self.failed(first.to, 1, &e);
                        }
                    }
                } else {
                    self.failed(first.to, segments, &e);
                }
            }
            start = end;
        }
        outbox.queued.clear();
        outbox.bytes.clear();
    }

    /// One send system call: `segments` datagrams of `size` bytes (the last may be shorter).
    async fn send(&self, to: SocketAddr, contents: &[u8], size: usize, segments: usize) -> io::Result<()> {
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents,
            segment_size: (segments > 1).then_some(size),
            src_ip: None,
        };
        loop {
            self.socket.writable().await?;
            UdpStats::add(&self.stats.send_calls, 1);
            match self
                .socket
                .try_io(Interest::WRITABLE, || self.state.try_send((&self.socket).into(), &transmit))
            {
                Ok(()) => {
                    UdpStats::add(&self.stats.sent, segments);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn failed(&self, to: SocketAddr, datagrams: usize, e: &io::Error) {
        // Loss is part of the protocol's model: a failed send is counted and logged, never fatal.
        UdpStats::add(&self.stats.send_errors, datagrams);
        debug!(%to, datagrams, "send failed: {e}");
    }

    /// Where to send to `to` from this socket: IPv4 peers of an IPv6 (dual-stack) socket as
    /// mapped addresses, since such a socket cannot take an IPv4 destination.
    pub fn destination(&self, to: Endpoint) -> SocketAddr {
        destination(self.local, to)
    }
}

fn destination(local: SocketAddr, to: Endpoint) -> SocketAddr {
    let to = SocketAddr::from(to);
    match (local, to) {
        (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        _ => to,
    }
}

/// Datagrams received by one system call, kept until handled.
pub struct Inbox {
    /// [`BATCH_SIZE`] slots of [`SLOT`] bytes in one allocation, large enough to be mapped
    /// lazily: pages no datagram touched take no memory.
    buf: Box<[u8]>,
    meta: [RecvMeta; BATCH_SIZE],
    count: usize,
}

impl Default for Inbox {
    fn default() -> Inbox {
        Inbox {
            buf: vec![0u8; BATCH_SIZE * SLOT].into_boxed_slice(),
            meta: [RecvMeta::default(); BATCH_SIZE],
            count: 0,
        }
    }
}

impl Inbox {
    /// Each datagram of the last receive and its sender, coalesced ones split.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.meta[..self.count].iter().zip(self.buf.chunks(SLOT)).flat_map(|(m, buf)| {
            // A datagram larger than any Vigil sends still arrives whole (the machine counts it
            // too large), since the stride is the sender's datagram size.
            let (len, stride) = (m.len.min(SLOT), m.stride.clamp(1, SLOT));
            // An empty datagram is one too (the machine counts it malformed).
            (0..segments(len, stride)).map(move |i| (m.addr, &buf[i * stride..len.min((i + 1) * stride)]))
        })
    }
}

/// How many datagrams a receive of `len` bytes coalesced from datagrams of `stride` bytes holds.
fn segments(len: usize, stride: usize) -> usize {
    len.div_ceil(stride.max(1)).max(1)
}

/// One datagram waiting in an [`Outbox`].
#[derive(Clone, Copy)]
struct Queued {
    to: SocketAddr,
    at: usize,
    len: usize,
}

/// Datagrams made while a batch is handled, sent together by [`Udp::flush`].
#[derive(Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    queued: Vec<Queued>,
    /// One GSO run, assembled.
    run: Vec<u8>,
}

impl Outbox {
    /// Queues the datagram `make` writes into a datagram-sized buffer (`None`: nothing to send).
    pub fn push_with(&mut self, make: impl FnOnce(&mut [u8]) -> Option<(SocketAddr, usize)>) -> bool {
        let at = self.bytes.len();
        self.bytes.resize(at + MAX_DATAGRAM, 0);
        match make(&mut self.bytes[at..]) {
            Some((to, len)) => {
                let len = len.min(MAX_DATAGRAM);
                self.bytes.truncate(at + len);
                self.queued.push(Queued { to, at, len });
                true
            }
            None => {
                self.bytes.truncate(at);
                false
            }
        }
    }

    /// Whether enough waits that the loop should flush before handling more.
    pub fn full(&self) -> bool {
        self.bytes.len() >= OUTBOX_FLUSH_AT
    }
}

/// What a daemon exports of its loop's socket: the loop's counts and the kernel's drops.
#[derive(Clone, Debug)]
pub struct UdpWatch {
    stats: Arc<UdpStats>,
    drops: KernelDrops,
}

impl UdpWatch {
    /// Each count by name (`kernel_drops` only where the kernel says).
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        let mut out = vec![
            ("received", UdpStats::get(&s.received)),
            ("receive_calls", UdpStats::get(&s.receive_calls)),
            ("sent", UdpStats::get(&s.sent)),
            ("send_calls", UdpStats::get(&s.send_calls)),
            ("send_errors", UdpStats::get(&s.send_errors)),
        ];
        if let Some(drops) = self.drops.read() {
            out.push(("kernel_drops", drops));
        }
        out
    }

    /// Prometheus text of [`UdpWatch::counts`].
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let counts = self.counts();
        let get = |name: &str| counts.iter().find(|c| c.0 == name).map(|c| c.1);
        out.push_str("# HELP vigil_udp_datagrams_total Datagrams through the UDP socket, by direction.\n");
        out.push_str("# TYPE vigil_udp_datagrams_total counter\n");
        out.push_str("# HELP vigil_udp_syscalls_total System calls that moved them (one per batch).\n");
        out.push_str("# TYPE vigil_udp_syscalls_total counter\n");
        for (dir, datagrams, calls) in [("in", "received", "receive_calls"), ("out", "sent", "send_calls")] {
            let _ =
                writeln!(out, "vigil_udp_datagrams_total{{dir=\"{dir}\"}} {}", get(datagrams).unwrap_or(0));
            let _ = writeln!(out, "vigil_udp_syscalls_total{{dir=\"{dir}\"}} {}", get(calls).unwrap_or(0));
        }
        out.push_str("# HELP vigil_udp_send_errors_total Datagrams whose send failed.\n");
        out.push_str("# TYPE vigil_udp_send_errors_total counter\n");
        let _ = writeln!(out, "vigil_udp_send_errors_total {}", get("send_errors").unwrap_or(0));
        if let Some(drops) = get("kernel_drops") {
            out.push_str(
                "# HELP vigil_udp_kernel_drops_total Datagrams the kernel dropped on this socket (receive queue full).\n",
            );
            out.push_str("# TYPE vigil_udp_kernel_drops_total counter\n");
            let _ = writeln!(out, "vigil_udp_kernel_drops_total {drops}");
        }
    }
}

/// Reads the kernel's count of datagrams dropped on one socket (its receive queue was full, or
/// its checksum bad): the `drops` column of `/proc/self/net/udp` or `udp6`, found by the
/// socket's inode.
#[derive(Clone, Debug)]
struct KernelDrops {
    inode: Option<u64>,
    /// The last count read (`u64::MAX`: none yet), said again when a read misses the line.
    last: Arc<AtomicU64>,
}

/// Reads of the tables before a count is taken as missed this time.
const DROPS_READS: usize = 3;

impl KernelDrops {
    fn of(socket: &UdpSocket) -> KernelDrops {
        use std::os::fd::AsRawFd;
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok().map(|m| m.ino());
        KernelDrops { inode, last: Arc::new(AtomicU64::new(u64::MAX)) }
    }

    /// The count now; `None` where the kernel does not say (no procfs).
    ///
    /// The kernel writes a table a page at a time and finds its place again by counting lines,
    /// so a socket closed meanwhile (on a busy host, any process's) shifts the lines and a read
    /// can skip this socket's: it is read again a few times, then the last count read stands
    /// (the count only grows, and a counter that vanishes from `/metrics` is worse than one a
    /// moment old).
    fn read(&self) -> Option<u64> {
        let inode = self.inode?;
        let now = (0..DROPS_READS).find_map(|_| {
            ["/proc/self/net/udp", "/proc/self/net/udp6"]
                .iter()
                .filter_map(|path| std::fs::read_to_string(path).ok())
                .find_map(|table| drops_of(&table, inode))
        });
        match now {
            Some(drops) => {
                self.last.store(drops, Ordering::Relaxed);
                Some(drops)
            }
            None => Some(self.last.load(Ordering::Relaxed)).filter(|&d| d != u64::MAX),
        }
    }
}

/// The `drops` of the socket with `inode` in a `/proc/net/udp`-format table.
fn drops_of(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        (fields.get(9)?.parse::<u64>().ok()? == inode).then(|| fields.get(12)?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_peers_of_a_dual_stack_socket_are_mapped() {
        let v6: SocketAddr = "[::]:0".parse().unwrap();
        let v4: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let peer: SocketAddr = "10.0.0.1:7470".parse().unwrap();
        assert_eq!(destination(v6, peer.into()), "[::ffff:10.0.0.1]:7470".parse::<SocketAddr>().unwrap());
        assert_eq!(destination(v4, peer.into()), peer);
        let peer6: SocketAddr = "[fd00::1]:7470".parse().unwrap();
        assert_eq!(destination(v6, peer6.into()), peer6);
    }

    async fn udp(recv_buffer: Option<usize>) -> Udp {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Udp::new(socket, recv_buffer).unwrap()
    }

    fn count(watch: &UdpWatch, name: &str) -> u64 {
        let counts = watch.counts();
        counts.iter().find(|c| c.0 == name).unwrap_or_else(|| panic!("no {name} in {counts:?}")).1
    }

    /// Receives until `n` datagrams came (bounded), with their senders.
    async fn receive(udp: &Udp, n: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut inbox = Inbox::default();
        let mut got = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while got.len() < n {
                udp.readable().await.unwrap();
                udp.try_recv(&mut inbox).unwrap();
                got.extend(inbox.datagrams().map(|(from, d)| (from, d.to_vec())));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{} of {n} datagrams arrived", got.len()));
        got
    }

    #[tokio::test]
    async fn a_flushed_outbox_arrives_whole_and_in_order_per_destination() {
        let (tx, a, b) = (udp(None).await, udp(None).await, udp(None).await);
        let mut outbox = Outbox::default();
        // Two destinations interleaved, sizes changing midway: runs of equal size batch together.
        for i in 0..300u16 {
            let (to, size) = if i % 3 == 0 {
                (b.local_addr(), 90)
            } else {
                (a.local_addr(), 40 + usize::from(i / 150) * 20)
            };
            let mut datagram = vec![0xA5; size];
            datagram[..2].copy_from_slice(&i.to_le_bytes());
            assert!(outbox.push_with(|buf| {
                buf[..size].copy_from_slice(&datagram);
                Some((to, size))
            }));
        }
        assert!(!outbox.push_with(|_| None), "nothing to send queues nothing");
        tx.flush(&mut outbox).await;
        for (rx, expected) in [
            (&a, (0..300u16).filter(|i| i % 3 != 0).collect::<Vec<_>>()),
            (&b, (0..300).step_by(3).collect()),
        ] {
            let got = receive(rx, expected.len()).await;
            assert!(got.iter().all(|(from, _)| *from == tx.local_addr()));
            let order: Vec<u16> = got.iter().map(|(_, d)| u16::from_le_bytes([d[0], d[1]])).collect();
            assert_eq!(order, expected, "every datagram, in the order made");
            for (i, (_, d)) in order.iter().zip(&got) {
                let size = if i % 3 == 0 { 90 } else { 40 + usize::from(i / 150) * 20 };
                assert_eq!(d.len(), size, "datagram {i} split at its own size");
            }
        }
        let watch = tx.watch();
        assert_eq!(count(&watch, "sent"), 300);
        let max = tx.state.max_gso_segments();
        if max > 1 {
            // Three runs of 100 (to b at 90 B, to a at 40 B, to a at 60 B), each in GSO sends of
            // at most `max` datagrams.
            assert_eq!(count(&watch, "send_calls") as usize, 3 * 100usize.div_ceil(max), "GSO sends per run");
        }
        let received = count(&a.watch(), "received");
        assert_eq!(received, 200);
        assert!(count(&a.watch(), "receive_calls") <= received);
    }

    #[tokio::test]
    async fn the_kernel_s_drops_are_read_for_this_socket() {
        // The smallest receive buffer the kernel grants holds a handful of datagrams.
        let rx = udp(Some(1)).await;
        let watch = rx.watch();
        assert_eq!(count(&watch, "kernel_drops"), 0);
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..1000 {
            tx.send_to(&[0u8; 100], rx.local_addr()).unwrap();
        }
        let drops = count(&watch, "kernel_drops");
        assert!(drops > 0 && drops < 1000, "{drops} of 1,000 dropped (the queue held some)");
        let queued = 1000 - drops as usize;
        assert_eq!(receive(&rx, queued).await.len(), queued, "the rest wait in the queue");
    }

    #[test]
    fn drops_are_read_from_the_socket_s_line() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            \x20 12: 00000000:1D2E 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n\
            \x20 13: 0100007F:1D2F 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 777 2 0000000000000000 31\n";
        assert_eq!(drops_of(table, 777), Some(31));
        assert_eq!(drops_of(table, 4242), Some(0));
        assert_eq!(drops_of(table, 1), None);
    }
}
