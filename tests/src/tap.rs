//! A wiretap on loopback: a UDP forwarder between one child and its parent that keeps a copy of
//! every datagram the child sends, as an eavesdropper on the path would (for replay tests).
//!
//! The child is configured with [`Tap::addr`] as its parent's address; the tap forwards what it
//! sends to the parent from a socket of its own, and the parent's answers back to the child.
//! Stopped and joined on drop.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// A running tap; stopped on drop.
pub struct Tap {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Tap {
    /// Starts a tap on 127.0.0.1 (port 0) in front of `parent`.
    pub fn start(parent: SocketAddr) -> io::Result<Tap> {
        let down = Arc::new(UdpSocket::bind("127.0.0.1:0")?);
        let up = Arc::new(UdpSocket::bind("127.0.0.1:0")?);
        down.set_read_timeout(Some(POLL))?;
        up.set_read_timeout(Some(POLL))?;
        let addr = down.local_addr()?;
        let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let child: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let upward = {
            let (down, up, seen, stop, child) = (
                Arc::clone(&down),
                Arc::clone(&up),
                Arc::clone(&seen),
                Arc::clone(&stop),
                Arc::clone(&child),
            );
            move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((len, from)) = down.recv_from(&mut buf) else { continue };
                    if let Ok(mut c) = child.lock() {
                        *c = Some(from);
                    }
                    if let Ok(mut s) = seen.lock() {
                        s.push(buf[..len].to_vec());
                    }
                    let _ = up.send_to(&buf[..len], parent);
                }
            }
        };
        let downward = {
            let stop = Arc::clone(&stop);
            move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(len) = up.recv(&mut buf) else { continue };
                    let to = child.lock().ok().and_then(|c| *c);
                    if let Some(to) = to {
                        let _ = down.send_to(&buf[..len], to);
                    }
                }
            }
        };
        let threads = vec![
            std::thread::Builder::new().name("tap-up".into()).spawn(upward)?,
            std::thread::Builder::new().name("tap-down".into()).spawn(downward)?,
        ];
        Ok(Tap { addr, seen, stop, threads })
    }

    /// The address the child sends to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first datagram the child sent that `wanted` picks, waiting up to `timeout` for one.
    pub fn wait_for(&self, timeout: Duration, wanted: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let start = Instant::now();
        loop {
            let found = self.seen.lock().ok().and_then(|s| s.iter().find(|d| wanted(d)).cloned());
            if found.is_some() || start.elapsed() > timeout {
                return found;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
