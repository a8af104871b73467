//! End to end: the QEMU board's image, booted in `qemu-system-arm`, accepts a client driven by
//! the proto's own client machine over the host's UDP stack, and logs the new child.
//!
//! Ignored by default because it needs `qemu-system-arm` and the board's image:
//! ```text
//! (cd boards/qemu-mps2-an386 && cargo build --release)
//! (cd router-fw && cargo test --test qemu -- --ignored)
//! ```
//! `VIGIL_QEMU_ELF` overrides where the image is looked for.

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant as StdInstant};

use vigil_proto::ids::name;
use vigil_proto::{Client, ClientConfig, Endpoint, Event, Generation, Instant, Key, Keyring};

/// The board's development key (see `DEFAULTS` in the board's `main.rs`).
const DEV_KEY: &[u8; 32] = b"vigil-dev-key-do-not-use-in-prod";
const DEADLINE: Duration = Duration::from_secs(15);

/// Kills QEMU however the test ends, and hands back what the firmware printed.
struct Qemu(Child);

impl Qemu {
    fn stop(mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut log = String::new();
        if let Some(mut out) = self.0.stdout.take() {
            let _ = out.read_to_string(&mut log);
        }
        log
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
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

#[test]
#[ignore = "needs qemu-system-arm and the qemu-mps2-an386 image"]
fn client_joins_router_in_qemu() {
    let elf = image();
    assert!(elf.exists(), "no image at {}: build boards/qemu-mps2-an386 first", elf.display());
    let router_port = free_port();
    let qemu = Qemu(
        Command::new("qemu-system-arm")
            .args(["-M", "mps2-an386", "-nographic", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-nic")
            .arg(format!("user,model=lan9118,hostfwd=udp:127.0.0.1:{router_port}-10.0.2.15:7000"))
            .arg("-kernel")
            .arg(&elf)
            .args(["-append", "name=e2e-r1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start qemu-system-arm"),
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
    // Give the router's log a moment to reach the console before stopping QEMU.
    std::thread::sleep(Duration::from_millis(200));
    let log = qemu.stop();
    assert!(joined, "the router never answered the client; firmware log:\n{log}");
    assert!(log.contains("ChildJoined"), "the router did not log the new child; firmware log:\n{log}");
}
