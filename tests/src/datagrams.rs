//! Hostile datagrams for robustness tests: garbage, and well-formed Vigil datagrams tagged with a
//! key the cluster does not hold. Built with `vigil-proto`'s own codec, so the only thing wrong
//! with a wrong-key datagram is its key (the same datagram under the cluster key is accepted; see
//! [`ping`] with [`read_key`]). A [`Flood`] sends such datagrams as fast as a thread can.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use vigil_proto::wire::{self, Message, Ping, Role};
use vigil_proto::{Generation, Key, NodeId};

/// `count` garbage datagrams of assorted lengths (1..=1200 bytes), from a fixed seed: some start
/// with Vigil's magic and version so they get past the first checks.
pub fn garbage(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64: plenty for noise.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|i| {
            let len = 1 + (next() % 1200) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 1 {
                // A plausible header over a random body: magic, version, a real kind.
                let header = [wire::MAGIC[0], wire::MAGIC[1], wire::VERSION, 1];
                for (b, h) in bytes.iter_mut().zip(header) {
                    *b = h;
                }
            }
            bytes
        })
        .collect()
}

/// A key with id `id` and secret bytes all `fill`: with the cluster's key id it is a wrong
/// secret (a bad tag); with another id, an unknown key. Both count as unauthenticated.
pub fn wrong_key(id: u8, fill: u8) -> Key {
    Key::new(id, &[fill; wire::KEY_LEN])
}

/// Reads a `vigil keygen` key file (its first key line).
pub fn read_key(path: &Path) -> Key {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let line = text
        .lines()
        .find(|l| l.starts_with("vigil-key "))
        .unwrap_or_else(|| panic!("no key line in {}", path.display()));
    let mut fields = line.split_whitespace().skip(2);
    let id = fields.next().and_then(|f| f.strip_prefix("id=")).and_then(|i| i.parse().ok());
    let hex = fields.next().filter(|h| h.len() == 2 * wire::KEY_LEN);
    let (Some(id), Some(hex)) = (id, hex) else { panic!("bad key line in {}", path.display()) };
    let mut secret = [0u8; wire::KEY_LEN];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex key");
    }
    Key::new(id, &secret)
}

/// A client's ping from node `name` to node `to` (none: a first contact), generation 1,
/// sequence `seq`, tagged with `key`.
pub fn ping(name: &str, to: Option<&str>, seq: u32, interval_ms: u32, key: &Key) -> Vec<u8> {
    let message = Message::Ping(Ping {
        mounts: Default::default(),
        role: Role::Client,
        interval_ms,
        home: true,
        name: Some(vigil_proto::name(name).expect("name fits")),
        reports: heapless::Vec::new(),
        target: None,
    });
    let mut buf = [0u8; wire::MAX_DATAGRAM];
    let (from, to) = (NodeId::from_name(name), to.map_or(NodeId::NOBODY, NodeId::from_name));
    let len = wire::encode(from, to, Generation(1), seq, &message, key, &mut buf).expect("a ping encodes");
    buf[..len].to_vec()
}

/// How long a [`Flood`] rests between rounds.
pub const ROUND_REST: Duration = Duration::from_millis(20);

/// A thread sending datagrams to daemons round after round until stopped (or dropped): each
/// round sends every batch of [`Flood::start`] to its address in turn, then rests [`ROUND_REST`].
///
/// A round of a few hundred datagrams overflows a socket's receive buffer by itself, so a
/// daemon has input waiting nearly all along; the rest leaves the CPU to the daemons flooded
/// and the tests beside this one (with a shorter rest, on a loaded machine, the sender starved
/// the daemons it floods: an MGS took 571 datagrams in 20 s, which measures the scheduler).
pub struct Flood {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Flood {
    /// Starts flooding each `(address, batch)` from one socket on 127.0.0.1.
    pub fn start(targets: Vec<(SocketAddr, Vec<Vec<u8>>)>) -> io::Result<Flood> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let send = {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    for (to, batch) in &targets {
                        for datagram in batch {
                            // A full socket buffer is part of a flood: the kernel drops, we go on.
                            if socket.send_to(datagram, to).is_ok() {
                                sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    std::thread::sleep(ROUND_REST);
                }
            }
        };
        let thread = std::thread::Builder::new().name("flood".into()).spawn(send)?;
        Ok(Flood { stop, sent, thread: Some(thread) })
    }

    /// Datagrams sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops the thread; how many datagrams it sent.
    pub fn stop(mut self) -> u64 {
        self.halt();
        self.sent()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.halt();
    }
}
