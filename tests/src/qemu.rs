//! The router firmware of the QEMU board (`boards/qemu-mps2-an386`) as a test fixture.
//!
//! [`firmware`] builds the image (`cargo build --release --locked` in the board's directory, in
//! the board's own `target/`, as `boards/build-all.sh` does; a no-op when it is up to date) and
//! returns its path; `VIGIL_QEMU_ELF` names a prebuilt image instead. [`Firmware::boot`] runs it
//! in `qemu-system-arm -M mps2-an386` with semihosting (the console and the `-append` command
//! line, which is the router's top configuration layer) and QEMU's user-mode network, forwarding
//! a host UDP port to the router's udp/7000. The console goes to a file, readable at any time
//! ([`Firmware::console`]); dropping the fixture kills QEMU.
//!
//! Addresses under user-mode networking: the guest reaches host port `P` as `10.0.2.2:P` (so a
//! host parent listening on `127.0.0.1:P` is `parent=10.0.2.2:P`), and host processes reach the
//! router at `127.0.0.1:`[`Firmware::port`]. All host processes look to the router like
//! `10.0.2.2` with different ports: identity is the node id, never the address.
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` Rust target; [`unavailable`] says
//! whether QEMU is missing, so that a test can skip on a developer's machine without it. Set
//! `VIGIL_REQUIRE_QEMU=1` to make a missing QEMU an error instead (CI installs it).

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The emulator binary.
pub const QEMU: &str = "qemu-system-arm";
/// The board's directory, from this package's.
const BOARD: &str = "boards/qemu-mps2-an386";
/// The image, from the board's directory.
const IMAGE: &str = "target/thumbv7em-none-eabihf/release/vigil-board-qemu-mps2-an386";
/// What the router prints once its socket is bound (router-fw's `run`).
pub const LISTENING: &str = "listening on udp/7000";

/// Why QEMU tests cannot run here, or `None` if they can. With `VIGIL_REQUIRE_QEMU=1` a missing
/// emulator panics instead of returning a reason to skip.
pub fn unavailable() -> Option<String> {
    let found = Command::new(QEMU)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return None;
    }
    let why = format!("`{QEMU}` is not installed (Debian: apt-get install qemu-system-arm)");
    if std::env::var_os("VIGIL_REQUIRE_QEMU").is_some_and(|v| v == "1") {
        panic!("VIGIL_REQUIRE_QEMU=1 but {why}");
    }
    Some(why)
}

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The firmware image, built first (once per test process) unless `VIGIL_QEMU_ELF` names one.
pub fn firmware() -> Result<PathBuf, String> {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    if let Some(elf) = std::env::var_os("VIGIL_QEMU_ELF") {
        let elf = PathBuf::from(elf);
        return if elf.is_file() {
            Ok(elf)
        } else {
            Err(format!("VIGIL_QEMU_ELF={}: no such file", elf.display()))
        };
    }
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(elf) = built.as_ref() {
        return Ok(elf.clone());
    }
    let dir = root().join(BOARD);
    // The board is its own package with its own lockfile, target and `.cargo/config.toml`: build
    // it from its directory, away from the target directory of the cargo running this test.
    let out = Command::new("cargo")
        .args(["build", "--release", "--locked"])
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo in {}: {e}", dir.display()))?;
    if !out.status.success() {
        return Err(format!(
            "building the firmware in {} failed ({}); it needs `rustup target add thumbv7em-none-eabihf`:\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let elf = dir.join(IMAGE);
    if !elf.is_file() {
        return Err(format!("the firmware built, but {} is missing", elf.display()));
    }
    *built = Some(elf.clone());
    Ok(elf)
}

/// A host UDP port that was free a moment ago.
fn free_udp_port() -> Result<u16, String> {
    let probe = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind a probe socket: {e}"))?;
    Ok(probe.local_addr().map_err(|e| format!("probe address: {e}"))?.port())
}

/// A running firmware image; QEMU is killed on drop.
pub struct Firmware {
    child: Child,
    port: u16,
    console: PathBuf,
}

impl Firmware {
    /// Boots `elf` with `append` as its command line (`key=value` configuration, see
    /// `router-fw/src/config.rs`) and waits, at most `limit`, until the router listens. The
    /// console is written to `console`.
    ///
    /// The forwarded host port is chosen free just before QEMU binds it; if another process
    /// takes it in between, QEMU exits at once and the boot is retried on another port.
    pub fn boot(elf: &Path, append: &str, console: &Path, limit: Duration) -> Result<Firmware, String> {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_udp_port()?;
            let log = File::create(console).map_err(|e| format!("create {}: {e}", console.display()))?;
            let err = log.try_clone().map_err(|e| format!("clone a file handle: {e}"))?;
            let child = Command::new(QEMU)
                .args(["-M", "mps2-an386", "-nographic", "-monitor", "none"])
                .args(["-semihosting-config", "enable=on,target=native"])
                .arg("-nic")
                .arg(format!("user,model=lan9118,hostfwd=udp:127.0.0.1:{port}-10.0.2.15:7000"))
                .arg("-kernel")
                .arg(elf)
                .arg("-append")
                .arg(append)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("start {QEMU}: {e}"))?;
            let mut firmware = Firmware { child, port, console: console.to_path_buf() };
            match firmware.wait_console(LISTENING, limit) {
                Ok(()) => return Ok(firmware),
                Err(e) => {
                    let exited = firmware.child.try_wait().ok().flatten().is_some();
                    last = format!("{e}\n---- firmware console ----\n{}", firmware.console());
                    if !exited {
                        // Running but silent: no point in another port.
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// The host port forwarded to the router's udp/7000.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where host children reach the router.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Everything the firmware has printed so far (QEMU's own errors included).
    pub fn console(&self) -> String {
        std::fs::read(&self.console).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// Waits, at most `limit`, until the console contains `needle`; fails at once if QEMU exits.
    pub fn wait_console(&mut self, needle: &str, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if self.console().contains(needle) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{QEMU} exited ({status}) before the console showed {needle:?}"));
            }
            if start.elapsed() >= limit {
                return Err(format!("the console did not show {needle:?} within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Firmware {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
