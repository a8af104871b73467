//! A load generator for the datagram path: many simulated clients pinging one `vigil router` with
//! real authenticated pings (the project's own codec and cluster key), and a plain UDP echo to
//! measure the same way beside it.
//!
//! ```text
//! cargo build --release -p vigil-host --bin vigil --example loadgen
//! target/release/examples/loadgen echo --listen 127.0.0.1:7600            # the baseline
//! target/release/examples/loadgen ping --to 127.0.0.1:7600 --echo --key-file k --seconds 10
//! target/release/examples/loadgen ping --to 127.0.0.1:7470 --key-file k --seconds 10
//! ```
//!
//! `scripts/bench-datapath.sh` runs both side by side, each side pinned to its own core.
//!
//! How it loads: `--clients` clients (ids from the names `lg0`, `lg1`, ...; a new generation per
//! run, so the router's replay guard takes every run afresh) are spread over `--sockets` UDP
//! sockets. Each client keeps one ping in flight: a reply makes it ready again, so the offered load
//! is a closed loop of `--clients` pings and the answered rate is what the far side sustains. A
//! ping unanswered for [`LOST_AFTER`] counts lost and its client goes on. Pings leave in batches of
//! equal-sized datagrams per socket (GSO where the kernel has it) and replies come in with
//! `recvmmsg` (and GRO), so the generator is not the bound.
//!
//! Against a router, clients first learn the router's id from its answer to a first contact, then
//! announce themselves (a named ping), then send steady-state pings. A reply is matched to its
//! client by the header's receiver id; one reply in [`VERIFY_EVERY`] is decoded in full (tag
//! checked), and a reply that fails is counted `bad`. Against an echo (`--echo`) the reply is the
//! ping itself, matched by its sender id. Latency is from a ping's send to its reply's arrival.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};
use vigil_host::key;
use vigil_proto::wire::{self, Kind, Message, Ping, ReplyStatus, Role, MAX_DATAGRAM};
use vigil_proto::{ids, Generation, Keyring, NodeId};

/// A ping unanswered this long is lost.
const LOST_AFTER: Duration = Duration::from_secs(1);
/// One reply in this many is decoded and its tag checked.
const VERIFY_EVERY: u64 = 64;
/// Room for one GRO-coalesced receive (the largest UDP payload).
const RX_BUF: usize = 65_535;
/// How long one wait for the sockets lasts when nothing is ready.
const POLL_MS: i32 = 5;

#[derive(Parser)]
#[command(about = "Load generator for the datagram path (see the crate docs)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A plain UDP echo: one `recv_from` and one `send_to` per datagram, as a bare service does.
    Echo {
        /// Where to listen.
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Ping a router (or an echo, with `--echo`) and report pings/s answered and latency.
    Ping {
        /// The router or echo to load.
        #[arg(long)]
        to: SocketAddr,
        /// The cluster key file the router uses.
        #[arg(long)]
        key_file: PathBuf,
        /// Simulated clients (one ping in flight each).
        #[arg(long, default_value_t = 2_000)]
        clients: usize,
        /// UDP sockets the clients are spread over.
        #[arg(long, default_value_t = 8)]
        sockets: usize,
        /// How long to measure.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// The far side is an echo: a reply is the ping itself.
        #[arg(long)]
        echo: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Echo { listen } => echo(listen),
        Command::Ping { to, key_file, clients, sockets, seconds, echo } => {
            if clients == 0 || sockets == 0 || seconds <= 0.0 {
                bail!("--clients, --sockets and --seconds must be positive");
            }
            let keys = key::load(&key_file)?;
            let mut load = Load::new(to, keys, clients, sockets.min(clients), echo)?;
            let report = load.run(Duration::from_secs_f64(seconds))?;
            println!("{report}");
            Ok(())
        }
    }
}

/// The plain echo: blocking, one syscall per datagram each way.
fn echo(listen: SocketAddr) -> anyhow::Result<()> {
    let socket = UdpSocket::bind(listen).with_context(|| format!("cannot bind {listen}"))?;
    println!("echo listening on {}", socket.local_addr()?);
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) => {
                eprintln!("receive failed: {e}");
                continue;
            }
        };
        if let Err(e) = socket.send_to(&buf[..len], from) {
            eprintln!("send to {from} failed: {e}");
        }
    }
}

/// One simulated client.
struct Client {
    id: NodeId,
    seq: u32,
    /// When its ping in flight left, if one is.
    sent: Option<Instant>,
}

/// One socket and the clients ready to send on it.
struct Sock {
    socket: UdpSocket,
    state: UdpSocketState,
    ready: VecDeque<usize>,
}

/// What a run measured.
struct Report {
    to: SocketAddr,
    echo: bool,
    clients: usize,
    sockets: usize,
    seconds: f64,
    sent: u64,
    answered: u64,
    lost: u64,
    bad: u64,
    /// Latencies of answered pings, in µs.
    latencies: Vec<u32>,
}

impl Report {
    fn new(load: &Load) -> Report {
        Report {
            to: load.to,
            echo: load.echo,
            clients: load.clients.len(),
            sockets: load.socks.len(),
            seconds: 0.0,
            sent: 0,
            answered: 0,
            lost: 0,
            bad: 0,
            latencies: Vec::new(),
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let pct = |p: f64| l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1))).copied();
        let ms = |v: Option<u32>| v.map_or("-".to_string(), |us| format!("{:.2} ms", f64::from(us) / 1000.0));
        write!(
            f,
            "{} {}: {} clients on {} sockets, {:.1} s: {:.0} pings/s answered ({} sent, {} answered, {} lost, \
             {} bad), latency p50 {} p99 {} p99.9 {}",
            if self.echo { "echo" } else { "router" },
            self.to,
            self.clients,
            self.sockets,
            self.seconds,
            self.answered as f64 / self.seconds,
            self.sent,
            self.answered,
            self.lost,
            self.bad,
            ms(pct(0.5)),
            ms(pct(0.99)),
            ms(pct(0.999)),
        )
    }
}

/// The generator's state.
struct Load {
    to: SocketAddr,
    keys: Keyring,
    echo: bool,
    generation: Generation,
    router: NodeId,
    clients: Vec<Client>,
    by_id: HashMap<NodeId, usize>,
    socks: Vec<Sock>,
    /// Receive buffers (one per message of a `recvmmsg` batch).
    rx: Vec<Vec<u8>>,
    /// Equal-sized pings of one batch, back to back.
    tx: Vec<u8>,
}

impl Load {
    fn new(
        to: SocketAddr,
        keys: Keyring,
        clients: usize,
        sockets: usize,
        echo: bool,
    ) -> anyhow::Result<Load> {
        let local: SocketAddr = if to.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }.parse()?;
        let mut socks = Vec::with_capacity(sockets);
        for _ in 0..sockets {
            let socket = UdpSocket::bind(local).context("cannot bind a client socket")?;
            let state = UdpSocketState::new((&socket).into())?;
            // Room for every reply of a burst: the router answers all clients at once.
            state.set_recv_buffer_size((&socket).into(), 4 << 20)?;
            socks.push(Sock { socket, state, ready: VecDeque::new() });
        }
        // Seconds since the epoch: a new generation for every run (a restarted client).
        let generation = Generation(
            u32::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs()).unwrap_or(u32::MAX),
        );
        let clients: Vec<Client> = (0..clients)
            .map(|k| Client { id: NodeId::from_name(&format!("lg{k}")), seq: 0, sent: None })
            .collect();
        let by_id: HashMap<NodeId, usize> = clients.iter().enumerate().map(|(k, c)| (c.id, k)).collect();
        if by_id.len() != clients.len() {
            bail!("two client names map to one id; use fewer --clients");
        }
        Ok(Load {
            to,
            keys,
            echo,
            generation,
            router: NodeId::NOBODY,
            clients,
            by_id,
            socks,
            rx: (0..BATCH_SIZE).map(|_| vec![0u8; RX_BUF]).collect(),
            tx: Vec::with_capacity(RX_BUF),
        })
    }

    /// Learns the router's id, announces every client, then measures for `length`.
    fn run(&mut self, length: Duration) -> anyhow::Result<Report> {
        if self.echo {
            self.router = NodeId::from_name("echo");
        } else {
            self.router = self.first_contact()?;
        }
        self.announce()?;
        let mut report = Report::new(self);
        report.seconds = length.as_secs_f64();
        for k in 0..self.clients.len() {
            self.clients[k].sent = None;
            let n = self.socks.len();
            self.socks[k % n].ready.push_back(k);
        }
        let start = Instant::now();
        let end = start + length;
        let mut swept = start;
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let mut busy = false;
            for s in 0..self.socks.len() {
                busy |= self.send_ready(s, false, &mut report)? > 0;
                busy |= self.receive(s, &mut report)? > 0;
            }
            if now.duration_since(swept) >= LOST_AFTER / 4 {
                swept = now;
                self.sweep_lost(now, &mut report);
            }
            if !busy {
                self.wait();
            }
        }
        // Replies still in flight at the end are neither answered nor lost.
        Ok(report)
    }

    /// Sends an unaddressed ping and returns the id the router's answer names.
    fn first_contact(&mut self) -> anyhow::Result<NodeId> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let ping = self.ping(0, true, NodeId::NOBODY)?;
            self.socks[0].socket.send_to(&ping, self.to)?;
            let wait_until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < wait_until {
                self.wait();
                let mut found = None;
                recv_all(&self.socks[0], &mut self.rx, |bytes| {
                    if let Ok(h) = wire::peek_header(bytes) {
                        if h.kind == Kind::PingReply {
                            found = Some(h.sender);
                        }
                    }
                })?;
                if let Some(id) = found {
                    return Ok(id);
                }
            }
        }
        bail!("no answer from {} to a first contact within 5 s (is it a router with this key?)", self.to)
    }

    /// Every client sends a named ping until the far side has answered each.
    fn announce(&mut self) -> anyhow::Result<()> {
        let mut announced = vec![false; self.clients.len()];
        let mut waiting = self.clients.len();
        let mut refused = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut ignored = Report::new(self);
        while waiting > 0 {
            if Instant::now() >= deadline {
                bail!("{waiting} clients not answered within 30 s ({refused} refusals: is --table-slots big enough?)");
            }
            for (k, done) in announced.iter().enumerate() {
                if !done {
                    let n = self.socks.len();
                    self.socks[k % n].ready.push_back(k);
                }
            }
            for s in 0..self.socks.len() {
                self.send_ready(s, true, &mut ignored)?;
            }
            let round_end = Instant::now() + Duration::from_millis(500);
            while Instant::now() < round_end && waiting > 0 {
                self.wait();
                for s in 0..self.socks.len() {
                    let (echo, keys, by_id) = (self.echo, &self.keys, &self.by_id);
                    recv_all(&self.socks[s], &mut self.rx, |bytes| {
                        let Ok((h, m)) = wire::decode(bytes, keys) else { return };
                        let client = if echo { h.sender } else { h.receiver };
                        let Some(&k) = by_id.get(&client) else { return };
                        let accepted = match m {
                            Message::PingReply(r) => r.status == ReplyStatus::Accepted,
                            Message::Ping(_) => echo,
                            _ => false,
                        };
                        if !accepted {
                            refused += 1;
                        } else if !announced[k] {
                            announced[k] = true;
                            waiting -= 1;
                        }
                    })?;
                }
            }
            for s in &mut self.socks {
                s.ready.clear();
            }
        }
        Ok(())
    }

    /// Client `k`'s next ping to `receiver`, with its name when `named`.
    fn ping(&mut self, k: usize, named: bool, receiver: NodeId) -> anyhow::Result<Vec<u8>> {
        let client = &mut self.clients[k];
        client.seq += 1;
        let name =
            if named { Some(ids::name(&format!("lg{k}")).context("client name too long")?) } else { None };
        let ping = Ping {
            role: Role::Client,
            interval_ms: 2_000,
            home: true,
            name,
            reports: Default::default(),
            target: None,
            mounts: Default::default(),
        };
        let mut buf = [0u8; MAX_DATAGRAM];
        let len = wire::encode(
            client.id,
            receiver,
            self.generation,
            client.seq,
            &Message::Ping(ping),
            &self.keys.current,
            &mut buf,
        )
        .context("a ping fits a datagram")?;
        Ok(buf[..len].to_vec())
    }

    /// Sends a ping for every ready client of socket `s`, equal-sized ones in one GSO batch.
    fn send_ready(&mut self, s: usize, named: bool, report: &mut Report) -> anyhow::Result<usize> {
        let mut sent = 0;
        let max_segments = self.socks[s].state.max_gso_segments().max(1);
        while !self.socks[s].ready.is_empty() {
            self.tx.clear();
            let mut size = 0;
            let mut batch = Vec::new();
            while batch.len() < max_segments {
                let Some(&k) = self.socks[s].ready.front() else { break };
                let ping = self.ping(k, named, self.router)?;
                if size != 0 && ping.len() != size {
                    self.clients[k].seq -= 1;
                    break;
                }
                size = ping.len();
                self.socks[s].ready.pop_front();
                self.tx.extend_from_slice(&ping);
                batch.push(k);
            }
            let transmit = Transmit {
                destination: self.to,
                ecn: None,
                contents: &self.tx,
                segment_size: (batch.len() > 1).then_some(size),
                src_ip: None,
            };
            let sock = &self.socks[s];
            match sock.state.try_send((&sock.socket).into(), &transmit) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The socket's send buffer is full: these clients try again next pass.
                    for &k in batch.iter().rev() {
                        self.clients[k].seq -= 1;
                        self.socks[s].ready.push_front(k);
                    }
                    return Ok(sent);
                }
                Err(e) => bail!("send to {} failed: {e}", self.to),
            }
            let now = Instant::now();
            for &k in &batch {
                self.clients[k].sent = Some(now);
            }
            sent += batch.len();
            report.sent += batch.len() as u64;
        }
        Ok(sent)
    }

    /// Takes every reply waiting on socket `s`.
    fn receive(&mut self, s: usize, report: &mut Report) -> anyhow::Result<usize> {
        let (echo, keys, by_id, clients) = (self.echo, &self.keys, &self.by_id, &mut self.clients);
        let mut answered = Vec::new();
        let mut count = 0;
        recv_all(&self.socks[s], &mut self.rx, |bytes| {
            count += 1;
            let Ok(h) = wire::peek_header(bytes) else { return };
            let client = match (echo, h.kind) {
                (true, Kind::Ping) => h.sender,
                (false, Kind::PingReply) => h.receiver,
                _ => return,
            };
            let Some(&k) = by_id.get(&client) else { return };
            if (report.answered + 1) % VERIFY_EVERY == 0 && wire::decode(bytes, keys).is_err() {
                report.bad += 1;
                return;
            }
            let Some(sent) = clients[k].sent.take() else { return };
            report.answered += 1;
            report.latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
            answered.push(k);
        })?;
        self.socks[s].ready.extend(answered);
        Ok(count)
    }

    /// Clients whose ping went unanswered too long go on with a new one.
    fn sweep_lost(&mut self, now: Instant, report: &mut Report) {
        for (k, c) in self.clients.iter_mut().enumerate() {
            if c.sent.is_some_and(|t| now.duration_since(t) >= LOST_AFTER) {
                c.sent = None;
                report.lost += 1;
                let n = self.socks.len();
                self.socks[k % n].ready.push_back(k);
            }
        }
    }

    /// Waits until a socket is readable or a short time has passed.
    fn wait(&self) {
        let mut fds: Vec<libc::pollfd> = self
            .socks
            .iter()
            .map(|s| libc::pollfd { fd: s.socket.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        // SAFETY: `fds` is a live array of `fds.len()` pollfd structs for the call's duration.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_MS) };
    }
}

/// Calls `f` on every datagram waiting on `sock` (GRO batches split), without blocking.
fn recv_all(sock: &Sock, rx: &mut [Vec<u8>], mut f: impl FnMut(&[u8])) -> anyhow::Result<()> {
    let mut meta = [RecvMeta::default(); BATCH_SIZE];
    loop {
        let mut bufs: Vec<IoSliceMut<'_>> = rx.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let n = match sock.state.recv((&sock.socket).into(), &mut bufs, &mut meta) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            // An ICMP error (the far side not listening yet) is about one datagram.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => bail!("receive failed: {e}"),
        };
        for (m, buf) in meta.iter().zip(bufs.iter()).take(n) {
            for d in buf[..m.len].chunks(m.stride.max(1)) {
                f(d);
            }
        }
    }
}
