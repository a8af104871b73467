//! End to end: the QEMU board's image, booted in `qemu-system-arm`, accepts a client driven by
//! the proto's own client machine over the host's UDP stack, and logs the new child.
//!
//! Needs `qemu-system-arm` (Debian package `qemu-system-arm`) and the board's image
//! (`boards/build-all.sh --check` builds it first and runs this test after); without either it
//! skips with one line, unless `VIGIL_REQUIRE_QEMU=1` (CI) makes that a failure.
//! `VIGIL_QEMU_ELF` overrides where the image is looked for.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant as StdInstant};

use vigil_proto::ids::name;
use vigil_proto::{Client, ClientConfig, Endpoint, Event, Generation, Instant, Key, Keyring};

/// The board's development key (see `DEFAULTS` in the board's `main.rs`).
const DEV_KEY: &[u8; 32] = b"vigil-dev-key-do-not-use-in-prod";
const DEADLINE: Duration = Duration::from_secs(15);

/// Kills QEMU however the test ends; what the firmware prints arrives line by line on `lines`.
struct Qemu {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: String,
}

impl Qemu {
    fn start(command: &mut Command) -> Qemu {
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start qemu-system-arm");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Qemu { child, lines, log: String::new() }
    }

    /// Waits until the firmware prints a line containing `what`, until `deadline`.
    fn wait_for_line(&mut self, what: &str, deadline: StdInstant) -> bool {
        while let Some(left) = deadline.checked_duration_since(StdInstant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(what);
                    self.log.push_str(&line);
                    self.log.push('\n');
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// What the firmware printed so far.
    fn log(&mut self) -> &str {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push_str(&line);
            self.log.push('\n');
        }
        &self.log
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn image() -> PathBuf {
    std::env::var_os("VIGIL_QEMU_ELF").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
            "../boards/qemu-mps2-an386/target/thumbv7em-none-eabihf/release/vigil-board-qemu-mps2-an386",
        )
    })
}

/// A host port that was free a moment ago, for QEMU to forward to the router.
fn free_port() -> u16 {
    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    probe.local_addr().expect("probe address").port()
}

/// Why this test cannot run here: QEMU or the image missing. Fails instead with
/// `VIGIL_REQUIRE_QEMU=1`.
fn missing(elf: &Path) -> Option<String> {
    let qemu = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("qemu-system-arm").is_file()));
    let why = if !qemu {
        "qemu-system-arm missing (Debian package qemu-system-arm)".to_owned()
    } else if !elf.is_file() {
        format!("no image at {} (boards/build-all.sh builds it)", elf.display())
    } else {
        return None;
    };
    assert!(
        std::env::var_os("VIGIL_REQUIRE_QEMU").is_none_or(|v| v != "1"),
        "VIGIL_REQUIRE_QEMU=1 but {why}"
    );
    Some(why)
}

#[test]
fn client_joins_router_in_qemu() {
    let elf = image();
    if let Some(why) = missing(&elf) {
        eprintln!("SKIPPED client_joins_router_in_qemu: {why}");
        return;
    }
    let router_port = free_port();
    let mut qemu = Qemu::start(
        Command::new("qemu-system-arm")
            .args(["-M", "mps2-an386", "-nographic", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-nic")
            .arg(format!("user,model=lan9118,hostfwd=udp:127.0.0.1:{router_port}-10.0.2.15:7000"))
            .arg("-kernel")
            .arg(&elf)
            .args(["-append", "name=e2e-r1"]),
    );

    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the client socket");
    let router: SocketAddr = ([127, 0, 0, 1], router_port).into();
    let start = StdInstant::now();
    let now = || Instant(start.elapsed().as_millis() as u64);
    let mut parents = heapless::Vec::new();
    parents.push(Endpoint::from(router)).expect("one parent fits");
    let config = ClientConfig {
        name: name("e2e-c1").expect("short name"),
        generation: Generation(1),
        parents,
        keys: Keyring::new(Key::new(1, DEV_KEY)),
        timing: Default::default(),
    };
    let mut client = Client::new(config, now());

    let mut buf = [0u8; 2048];
    let mut joined = false;
    while !joined && start.elapsed() < DEADLINE {
        while let Some((to, len)) = client.poll_transmit(now(), &mut buf) {
            // Lost datagrams are the protocol's business (QEMU may not be listening yet).
            let _ = socket.send_to(&buf[..len], SocketAddr::from(to));
        }
        while let Some(event) = client.poll_event() {
            joined |= matches!(event, Event::ParentUp { .. });
        }
        let wait = client
            .poll_timeout()
            .map_or(Duration::from_millis(200), |at| Duration::from_millis(at.since(now())))
            .clamp(Duration::from_millis(1), Duration::from_millis(200));
        socket.set_read_timeout(Some(wait)).expect("set timeout");
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => client.handle(now(), from.into(), &buf[..len]),
            Err(_) => client.handle_timeout(now()),
        }
    }
    assert!(joined, "the router never answered the client; firmware log:\n{}", qemu.log());
    // The firmware logs the join around the time it answers: wait for the line itself.
    let logged = qemu.wait_for_line("ChildJoined", start + DEADLINE);
    assert!(logged, "the router did not log the new child; firmware log:\n{}", qemu.log());
}
