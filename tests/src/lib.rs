//! Harness for Vigil's whole-system tests: real `vigil` processes, observed only through what an
//! operator sees (the MGS status API, `/metrics`, hook side effects, logs).
//!
//! Suites built on it: `tests/e2e.rs` (loopback), `tests/faults.rs` (network namespaces, with
//! [`netns`]), `tests/qemu_hil.rs` (the router firmware in QEMU, with [`qemu`]) and
//! `tests/lustre.rs` (the Lustre hooks against the Lustre model, [`lustre`], whose `lctl` is the
//! binary `src/bin/lctl.rs`). What it gives them:
//!
//! - [`vigil_bin`]: the `vigil` binary under test. `VIGIL_BIN=/path/to/vigil` uses that one;
//!   otherwise it runs `cargo build --locked -p vigil-host --bin vigil` once per test process, with
//!   the profile and target directory of the running test executable, and takes the path cargo
//!   reports. (`CARGO_BIN_EXE_vigil` is only set for tests of the package that owns the binary, and
//!   a dependency on `vigil-host` builds its library, not its binary: artifact dependencies are
//!   unstable. Cargo's no-op build costs well under a second, and it never hands a test a stale
//!   binary.)
//! - [`Cluster`]: one test's world: a fresh directory (state dirs, logs, ready files, hook
//!   files), a cluster key made by `vigil keygen`, and the [`Timing`] every daemon gets. It builds
//!   [`Daemon`]s for each role on loopback (or [`Cluster::with_ip`]) with port 0, and waits on the
//!   MGS's status ([`Cluster::wait_status`], [`Cluster::wait_until`]) or a hook file
//!   ([`Cluster::wait_hook`]) with a bounded time-out whose failure message shows the last status
//!   JSON and the tail of every daemon's log; [`Cluster::fail`] does the same for an invariant
//!   checked inside a wait.
//! - [`Daemon`]: one `vigil` process that can be started, killed (SIGKILL), terminated (SIGTERM)
//!   and restarted with the same arguments and state dir. After its first start, its listening
//!   addresses given as port 0 are pinned to the ports it got, so a restarted MGS or router is
//!   found again by its children. Dropping it kills the process (so a panicking test leaks
//!   nothing), and the process also gets SIGKILL from the kernel if the thread that spawned it
//!   dies (`PR_SET_PDEATHSIG`): spawn daemons from the test's own thread, not a helper thread that
//!   ends before them. Logs are plain text (`NO_COLOR=1`), `RUST_LOG=info`.
//! - [`status`]: the status JSON as a typed contract (deserialising fails if a contract field goes
//!   missing) with lookups by name; [`http`]: a tiny HTTP/1.1 client; [`metrics`]: Prometheus text
//!   lookups; [`datagrams`]: hostile datagrams (garbage, wrong key) for robustness tests;
//!   [`tap`]: a wiretap between a child and its parent, for replaying what it captured.
//!
//! A daemon's command can be wrapped (e.g. `ip netns exec NS`) with [`Daemon::wrap`], so suites
//! that place daemons elsewhere still get the lifecycle and log handling.
//!
//! Every wait in here is bounded, and every panic says what was awaited and what was seen.
//!
//! A test, start to end (daemons declared after the cluster, so they die before its directory
//! goes):
//!
//! ```no_run
//! use std::time::Duration;
//! use vigil_tests::{start_all, Cluster, Timing};
//!
//! let cluster = Cluster::new("example", Timing::FAST);
//! let mut mgs = cluster.mgs();
//! mgs.start();
//! let mut router = cluster.router("r1", &[mgs.udp()]);
//! router.start();
//! let mut clients: Vec<_> = (0..3).map(|i| cluster.client(&format!("c{i}"), &[router.udp()])).collect();
//! start_all(clients.iter_mut());
//! let names = ["c0", "c1", "c2"].map(String::from);
//! cluster.wait_until(&mgs, "every client alive", Duration::from_secs(10), |s| s.all_in(&names, "alive"));
//! clients[0].kill();
//! cluster.wait_until(&mgs, "c0 dead", Duration::from_secs(10), |s| s.state("c0") == Some("dead"));
//! let (exit, out, _) = cluster.run(&["recover", "--force", "--target", "fs-OST0001", "--mgs", &format!("http://{}", mgs.http())]);
//! assert!(exit.success(), "{out}");
//! cluster.wait_hook("c1", "the order ran", Duration::from_secs(10), |lines| !lines.is_empty());
//! ```

pub mod datagrams;
pub mod gate;
pub mod http;
pub mod lustre;
pub mod metrics;
pub mod netns;
pub mod qemu;
pub mod relay;
pub mod status;
pub mod tap;

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use status::Status;

/// How long a daemon may take from spawn to its ready file.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a daemon may take to exit after SIGTERM.
pub const TERM_TIMEOUT: Duration = Duration::from_secs(10);
/// How often waits poll.
pub const POLL: Duration = Duration::from_millis(25);
/// Lines of each daemon's log shown when a wait fails.
pub const LOG_TAIL: usize = 15;

// ----- the binary -------------------------------------------------------------------------------

/// The `vigil` binary under test (see the crate docs). Panics with cargo's output if it cannot be
/// built.
pub fn vigil_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("VIGIL_BIN") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "VIGIL_BIN={} is not a file", path.display());
            path
        }
        None => build_vigil(),
    })
    .clone()
}

fn build_vigil() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from(env!("CARGO")));
    let mut cmd = Command::new(cargo);
    cmd.arg("build").arg("--locked").arg("--manifest-path").arg(&manifest);
    cmd.args(["-p", "vigil-host", "--bin", "vigil", "--message-format", "json-render-diagnostics"]);
    // The test executable is `<target-dir>[/<triple>]/<profile dir>/deps/<name>-<hash>`: build the
    // binary with the same profile, into the same target directory when it can be told apart.
    let exe = std::env::current_exe().expect("the test executable's path");
    if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        cmd.args(["--profile", profile]);
        if let Some(root) = profile_dir.parent().filter(|r| r.join("CACHEDIR.TAG").is_file()) {
            cmd.arg("--target-dir").arg(root);
        }
    }
    let out = cmd.stderr(Stdio::inherit()).output().expect("cannot run cargo to build vigil");
    assert!(out.status.success(), "`cargo build -p vigil-host` failed ({}); see above", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "vigil")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from));
    path.unwrap_or_else(|| panic!("cargo built no `vigil` executable:\n{stdout}"))
}

// ----- timing -----------------------------------------------------------------------------------

/// The timing every daemon of a [`Cluster`] runs with (the `--ping-interval-ms` family).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Clients and servers ping every this many ms.
    pub ping_ms: u64,
    /// Routers send an update every this many ms.
    pub update_ms: u64,
    /// Silent intervals before suspect.
    pub suspect_after: u32,
    /// Silent intervals before dead.
    pub dead_after: u32,
}

impl Timing {
    /// Fast timing for tests: ping and update every 250 ms, suspect after 4 silent intervals
    /// (1 s), dead after 8 (2 s: production's count of intervals, at an eighth of its interval).
    ///
    /// A process starved of CPU is silent, and to its parent a silent process is a dead one.
    /// On a loaded test machine (2 shared cores, a few suites and builds beside) a daemon's loop
    /// was seen to stall for up to 1.3 s, so the dead threshold must sit well above that, or a
    /// starved router turns its whole subtree unreachable and a starved client drops out of a
    /// recovery, and tests fail for the scheduler's sake. At 2 s a stall of 1.3 s plus one
    /// interval on either side still leaves a node alive.
    pub const FAST: Timing = Timing { ping_ms: 250, update_ms: 250, suspect_after: 4, dead_after: 8 };

    /// The daemon flags for this timing.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--ping-interval-ms".into(),
            self.ping_ms.to_string(),
            "--update-interval-ms".into(),
            self.update_ms.to_string(),
            "--suspect-after".into(),
            self.suspect_after.to_string(),
            "--dead-after".into(),
            self.dead_after.to_string(),
        ]
    }

    /// One ping interval.
    pub fn ping(&self) -> Duration {
        Duration::from_millis(self.ping_ms)
    }

    /// One update interval.
    pub fn update(&self) -> Duration {
        Duration::from_millis(self.update_ms)
    }

    /// How long a silent client takes to be declared dead by its parent (without the trip up).
    pub fn dead(&self) -> Duration {
        self.ping() * self.dead_after
    }
}

// ----- temporary directory ----------------------------------------------------------------------

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system temp dir, removed on drop unless the test is panicking
/// (then it is kept, and its path printed, for inspection).
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// `<tmp>/vigil-<label>-<pid>-<n>`, empty.
    pub fn new(label: &str) -> TestDir {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("vigil-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TestDir { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(kept {} for inspection)", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ----- daemons ----------------------------------------------------------------------------------

/// What a daemon's ready file says: the addresses it bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// The UDP socket.
    pub udp: Option<SocketAddr>,
    /// The MGS's HTTP API.
    pub http: Option<SocketAddr>,
    /// A router's metrics endpoint.
    pub metrics: Option<SocketAddr>,
}

impl Ready {
    /// Parses the ready file's TOML lines (`udp = "ADDR"`); `None` if it names no address yet.
    pub fn parse(text: &str) -> Option<Ready> {
        let mut ready = Ready::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else { continue };
            let addr = value.trim().trim_matches('"').parse().ok();
            match key.trim() {
                "udp" => ready.udp = addr,
                "http" => ready.http = addr,
                "metrics" => ready.metrics = addr,
                _ => {}
            }
        }
        (ready != Ready::default()).then_some(ready)
    }
}

/// Reads one address out of a [`Ready`].
type AddrOf = fn(&Ready) -> Option<SocketAddr>;

/// Flags whose port-0 value is replaced by the bound address after the first start.
const PINNED: [(&str, AddrOf); 3] =
    [("--listen", |r| r.udp), ("--http", |r| r.http), ("--metrics", |r| r.metrics)];

/// One `vigil` process (see the crate docs). Its stdout and stderr go to `<name>.log`, appended
/// over restarts with a `=== start N ===` line before each.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    program: PathBuf,
    wrapper: Vec<OsString>,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    log: PathBuf,
    ready_file: PathBuf,
    child: Option<Child>,
    ready: Option<Ready>,
    starts: u32,
}

impl Daemon {
    /// A daemon named `name` running `vigil ARGS --ready-file DIR/NAME.ready`, logging to
    /// `DIR/NAME.log`; not started yet.
    pub fn new(name: &str, dir: &Path, args: impl IntoIterator<Item = impl Into<OsString>>) -> Daemon {
        Daemon {
            name: name.to_owned(),
            program: vigil_bin(),
            wrapper: Vec::new(),
            args: args.into_iter().map(Into::into).collect(),
            envs: vec![("RUST_LOG".into(), "info".into()), ("NO_COLOR".into(), "1".into())],
            log: dir.join(format!("{name}.log")),
            ready_file: dir.join(format!("{name}.ready")),
            child: None,
            ready: None,
            starts: 0,
        }
    }

    /// Runs the daemon through `wrapper` (e.g. `["ip", "netns", "exec", "NS"]`): the wrapper must
    /// exec the program, so that signals reach the daemon itself.
    pub fn wrap(mut self, wrapper: impl IntoIterator<Item = impl Into<OsString>>) -> Daemon {
        self.wrapper = wrapper.into_iter().map(Into::into).collect();
        self
    }

    /// Sets an environment variable for the daemon (`RUST_LOG=info` and `NO_COLOR=1`, for plain
    /// logs, are set by default).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Daemon {
        let key = key.into();
        self.envs.retain(|(k, _)| *k != key);
        self.envs.push((key, value.into()));
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Its arguments (with addresses pinned after the first start).
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// How many times it was spawned.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Spawns the process without waiting for it to be ready (see [`Daemon::wait_ready`]).
    /// Panics if it is already running.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{}: spawned while running", self.name);
        let _ = fs::remove_file(&self.ready_file);
        self.ready = None;
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("{}: cannot open {}: {e}", self.name, self.log.display()));
        let _ = writeln!(log, "=== start {} ===", self.starts);
        let err = log.try_clone().expect("log file handle");
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(&self.program);
                cmd
            }
            None => Command::new(&self.program),
        };
        cmd.args(&self.args).arg("--ready-file").arg(&self.ready_file);
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null()).stdout(log).stderr(err);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{}: cannot spawn {:?}: {e}", self.name, cmd));
        self.child = Some(child);
    }

    /// Waits (at most `timeout`) for the ready file; panics with the log if the process exits or
    /// the time runs out. Pins port-0 listening flags to the bound addresses.
    pub fn wait_ready(&mut self, timeout: Duration) -> Ready {
        if let Some(ready) = self.ready {
            return ready;
        }
        let deadline = Instant::now() + timeout;
        let ready = loop {
            if let Some(ready) = fs::read_to_string(&self.ready_file).ok().as_deref().and_then(Ready::parse) {
                break ready;
            }
            if let Some(status) = self.try_wait() {
                panic!("{}: exited ({status}) before it was ready; log:\n{}", self.name, self.log_tail(40));
            }
            if Instant::now() > deadline {
                panic!("{}: not ready within {timeout:?}; log:\n{}", self.name, self.log_tail(40));
            }
            std::thread::sleep(POLL);
        };
        self.pin(&ready);
        self.ready = Some(ready);
        ready
    }

    fn pin(&mut self, ready: &Ready) {
        for (flag, addr_of) in PINNED {
            let Some(at) = self.args.iter().position(|a| a == flag) else { continue };
            let Some(value) = self.args.get(at + 1).and_then(|v| v.to_str()) else { continue };
            if let (true, Some(addr)) = (value.ends_with(":0"), addr_of(ready)) {
                self.args[at + 1] = addr.to_string().into();
            }
        }
    }

    /// Spawns and waits until ready ([`READY_TIMEOUT`]).
    pub fn start(&mut self) -> Ready {
        self.spawn();
        self.wait_ready(READY_TIMEOUT)
    }

    /// The addresses of the running (ready) process; panics if it is not ready.
    pub fn ready(&self) -> Ready {
        self.ready.unwrap_or_else(|| panic!("{}: not started (or not ready)", self.name))
    }

    /// Its UDP address (as it was last ready).
    pub fn udp(&self) -> SocketAddr {
        self.ready().udp.unwrap_or_else(|| panic!("{}: no udp address in its ready file", self.name))
    }

    /// Its HTTP API address (the MGS).
    pub fn http(&self) -> SocketAddr {
        self.ready().http.unwrap_or_else(|| panic!("{}: no http address in its ready file", self.name))
    }

    /// Its metrics address (a router given `--metrics`).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.ready().metrics.unwrap_or_else(|| panic!("{}: no metrics address in its ready file", self.name))
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running (reaps it if it exited).
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    /// Reaps the process if it has exited, returning how it exited.
    fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// SIGKILL and reap; nothing happens if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.ready = None;
    }

    /// SIGTERM, then waits (at most [`TERM_TIMEOUT`]) for it to exit and returns how it exited;
    /// panics (after a SIGKILL) if it does not exit in time or was not running.
    pub fn terminate(&mut self) -> ExitStatus {
        self.stop(libc::SIGTERM)
    }

    /// [`Daemon::terminate`] with `signal` (`libc::SIGTERM`, or `libc::SIGINT` as Ctrl-C sends).
    pub fn stop(&mut self, signal: libc::c_int) -> ExitStatus {
        let pid = self.pid().unwrap_or_else(|| panic!("{}: signal {signal} while not running", self.name));
        let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
        // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
        unsafe { libc::kill(pid, signal) };
        let deadline = Instant::now() + TERM_TIMEOUT;
        loop {
            if let Some(status) = self.try_wait() {
                self.ready = None;
                return status;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "{}: still running {TERM_TIMEOUT:?} after signal {signal}; log:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGKILL, then start again with the same arguments (and state dir): a crash and a reboot.
    pub fn restart(&mut self) -> Ready {
        self.kill();
        self.start()
    }

    /// The whole log (every start).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_text(), lines)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ----- the cluster ------------------------------------------------------------------------------

/// One test's world (see the crate docs). Daemons it makes write everything under its directory.
/// Declare daemons *after* the cluster in a test, so they drop (and die) before the directory
/// goes.
#[derive(Debug)]
pub struct Cluster {
    dir: TestDir,
    key: PathBuf,
    timing: Timing,
    ip: IpAddr,
}

impl Cluster {
    /// A fresh directory named after `test`, a cluster key from `vigil keygen`, and `timing`.
    pub fn new(test: &str, timing: Timing) -> Cluster {
        let dir = TestDir::new(test);
        for sub in ["state", "logs", "hooks"] {
            fs::create_dir_all(dir.path().join(sub)).expect("cluster subdirectory");
        }
        let key = dir.path().join("cluster.key");
        let cluster = Cluster { dir, key, timing, ip: Ipv4Addr::LOCALHOST.into() };
        cluster.keygen(&cluster.key, 1);
        api_keygen(&cluster.api_token_file());
        cluster
    }

    /// The MGS's admin API token file (`vigil keygen --api-token`); [`Cluster::run`] hands it to
    /// the CLI.
    pub fn api_token_file(&self) -> PathBuf {
        self.dir().join("api.token")
    }

    /// The admin API token, as `Authorization` wants it: `Bearer <hex>`.
    pub fn bearer(&self) -> String {
        bearer_of(&self.api_token_file())
    }

    /// Daemons made after this bind `ip` instead of 127.0.0.1 (e.g. `::1`).
    pub fn with_ip(mut self, ip: IpAddr) -> Cluster {
        self.ip = ip;
        self
    }

    /// `IP:0` on this cluster's address: a port the OS chooses.
    pub fn any_port(&self) -> String {
        SocketAddr::new(self.ip, 0).to_string()
    }

    /// Writes a new cluster key (`vigil keygen --out PATH --id ID`).
    pub fn keygen(&self, path: &Path, id: u8) {
        let out = Command::new(vigil_bin())
            .arg("keygen")
            .arg("--out")
            .arg(path)
            .args(["--id", &id.to_string()])
            .output()
            .expect("cannot run vigil keygen");
        assert!(out.status.success(), "vigil keygen failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cluster key file.
    pub fn key_file(&self) -> &Path {
        &self.key
    }

    /// The timing daemons get.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    fn logs(&self) -> PathBuf {
        self.dir().join("logs")
    }

    /// What every daemon takes: key, state dir, timing.
    pub fn common_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--key-file".into(), self.key.clone().into()];
        args.extend(["--state-dir".into(), self.dir().join("state").into()]);
        args.extend(self.timing.args().into_iter().map(OsString::from));
        args
    }

    /// A daemon of role `role` (`mgs`, `router`, ...) with the common arguments and `args`.
    pub fn daemon(&self, name: &str, role: &str, args: &[&str]) -> Daemon {
        let mut all: Vec<OsString> = vec![role.into()];
        all.extend(args.iter().map(OsString::from));
        all.extend(self.common_args());
        Daemon::new(name, &self.logs(), all)
    }

    /// An MGS named `mgs` on the cluster's address (UDP and HTTP on port 0) with the cluster's
    /// API token, not started.
    pub fn mgs(&self) -> Daemon {
        let (any, token) = (self.any_port(), self.api_token_file());
        let token = token.to_string_lossy();
        self.daemon("mgs", "mgs", &["--listen", &any, "--http", &any, "--api-token-file", &token])
    }

    /// A router on the cluster's address, port 0, with metrics, below `parents`, not started.
    pub fn router(&self, name: &str, parents: &[SocketAddr]) -> Daemon {
        let any = self.any_port();
        let mut args = vec!["--name", name, "--listen", &any, "--metrics", &any];
        let parents: Vec<String> = parents.iter().map(ToString::to_string).collect();
        args.extend(parents.iter().flat_map(|p| ["--parent", p.as_str()]));
        self.daemon(name, "router", &args)
    }

    /// The shell command of a hook that appends `$VIGIL_ORDER_ID $VIGIL_TARGET
    /// $VIGIL_TARGET_GENERATION` as one line to [`Cluster::hook_file`] of `name`.
    pub fn hook_command(&self, name: &str) -> String {
        format!(
            "echo \"$VIGIL_ORDER_ID $VIGIL_TARGET $VIGIL_TARGET_GENERATION\" >> '{}'",
            self.hook_file(name).display()
        )
    }

    /// A client bound to the cluster's address below `parents`, with the
    /// [`Cluster::hook_command`] as its order hook, not started.
    pub fn client(&self, name: &str, parents: &[SocketAddr]) -> Daemon {
        self.client_with_hook(name, parents, &self.hook_command(name))
    }

    /// A client bound to the cluster's address below `parents`, with `hook` as its order hook
    /// (e.g. the [`Cluster::hook_command`] and then a `sleep`), not started.
    pub fn client_with_hook(&self, name: &str, parents: &[SocketAddr], hook: &str) -> Daemon {
        let any = self.any_port();
        let mut args = vec!["--name", name, "--bind", &any, "--on-order", hook];
        let parents: Vec<String> = parents.iter().map(ToString::to_string).collect();
        args.extend(parents.iter().flat_map(|p| ["--parent", p.as_str()]));
        self.daemon(name, "client", &args)
    }

    /// A server of `target` below `parents`, with `extra` arguments (e.g. `--window-ms`); its
    /// close-window hook is the [`Cluster::hook_command`]. Not started.
    pub fn server(&self, name: &str, target: &str, parents: &[SocketAddr], extra: &[&str]) -> Daemon {
        let (hook, any) = (self.hook_command(name), self.any_port());
        let mut args = vec!["--name", name, "--target", target, "--bind", &any];
        args.extend(["--on-close-window", &hook]);
        let parents: Vec<String> = parents.iter().map(ToString::to_string).collect();
        args.extend(parents.iter().flat_map(|p| ["--parent", p.as_str()]));
        args.extend(extra);
        self.daemon(name, "server", &args)
    }

    /// The file node `name`'s hook appends to.
    pub fn hook_file(&self, name: &str) -> PathBuf {
        self.dir().join("hooks").join(format!("{name}.orders"))
    }

    /// The lines node `name`'s hook wrote so far (none if it never ran).
    pub fn hook_lines(&self, name: &str) -> Vec<String> {
        fs::read_to_string(self.hook_file(name)).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    /// Runs `vigil ARGS` to completion ([`TERM_TIMEOUT`] at most): its exit status, stdout and
    /// stderr.
    pub fn run(&self, args: &[&str]) -> (ExitStatus, String, String) {
        let mut child = Command::new(vigil_bin())
            .args(args)
            .env("VIGIL_API_TOKEN_FILE", self.api_token_file())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run vigil");
        let deadline = Instant::now() + TERM_TIMEOUT;
        while child.try_wait().expect("wait for vigil").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`vigil {}` did not finish within {TERM_TIMEOUT:?}", args.join(" "));
            }
            std::thread::sleep(POLL);
        }
        let out = child.wait_with_output().expect("vigil output");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (out.status, text(out.stdout), text(out.stderr))
    }

    /// The longest a daemon of this cluster logged its own loop late (`late_ms=`, the
    /// machines' stall guard), with the daemon's name: how long the machine starved it.
    pub fn longest_stall(&self) -> Option<(String, u64)> {
        let logs = fs::read_dir(self.logs()).ok()?;
        let mut longest: Option<(String, u64)> = None;
        for log in logs.filter_map(|e| e.ok().map(|e| e.path())) {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let name = log.file_stem().unwrap_or_default().to_string_lossy().into_owned();
            let stalls = text.split("late_ms=").skip(1);
            let ms = stalls.filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
            if let Some(ms) = ms.max().filter(|&ms| longest.as_ref().is_none_or(|(_, l)| ms > *l)) {
                longest = Some((name, ms));
            }
        }
        longest
    }

    /// A line for failure messages when a daemon stalled for longer than a silent node takes to
    /// be declared dead: then a false `dead` or `unreachable` was the machine's doing (a starved
    /// process is silent), and the failure says so instead of leaving it to be guessed.
    fn starved(&self) -> String {
        let dead_ms = (self.timing.ping_ms.max(self.timing.update_ms)) * u64::from(self.timing.dead_after);
        match self.longest_stall() {
            Some((name, ms)) if ms >= dead_ms => format!(
                "\n!!! {name} logged its own loop {ms} ms late, beyond the dead threshold ({dead_ms} ms): \
                 the machine starved the daemons of CPU for longer than this timing tolerates\n"
            ),
            _ => String::new(),
        }
    }

    /// The tail of every daemon log of this cluster, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut logs: Vec<PathBuf> = fs::read_dir(self.logs())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
        logs.sort();
        let mut out = String::new();
        for log in logs {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let name = log.file_stem().unwrap_or_default().to_string_lossy();
            out.push_str(&format!("--- {name} (last {lines} lines) ---\n{}\n", tail(&text, lines)));
        }
        out
    }

    /// The MGS's status now; panics if it cannot be read or breaks the contract.
    pub fn status(&self, mgs: &Daemon) -> Status {
        let text = http::get_ok(mgs.http(), "/api/v1/status", http::TIMEOUT)
            .unwrap_or_else(|e| panic!("GET /api/v1/status failed: {e}\n{}", self.log_tails(LOG_TAIL)));
        Status::parse(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The MGS's metrics now.
    pub fn metrics(&self, mgs: &Daemon) -> metrics::Metrics {
        http::get_ok(mgs.http(), "/metrics", http::TIMEOUT)
            .map(|t| metrics::Metrics::parse(&t))
            .unwrap_or_else(|e| panic!("GET /metrics failed: {e}\n{}", self.log_tails(LOG_TAIL)))
    }

    /// Polls the MGS's status until `check` returns `Some`, and returns that; panics after
    /// `timeout` naming `what`, with the last status JSON (or the last error) and every log's tail.
    /// Transient HTTP errors (an MGS being restarted) are retried.
    pub fn wait_status<T>(
        &self,
        mgs: &Daemon,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Status) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            let last = match http::get_ok(mgs.http(), "/api/v1/status", http::TIMEOUT) {
                Ok(text) => {
                    let status = Status::parse(&text).unwrap_or_else(|e| panic!("{e}"));
                    if let Some(found) = check(&status) {
                        return found;
                    }
                    Ok(status)
                }
                Err(e) => Err(format!("(error: {e})")),
            };
            if start.elapsed() > timeout {
                let last = match &last {
                    Ok(status) => self.show(status),
                    Err(e) => e.clone(),
                };
                panic!(
                    "timed out after {timeout:?} waiting for: {what}\n=== last status ===\n{last}\n{}=== logs ===\n{}",
                    self.starved(),
                    self.log_tails(LOG_TAIL)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Panics with `what`, the status in brief (if given) and the tail of every daemon's log:
    /// for invariants checked inside a wait, so their failures explain themselves like time-outs
    /// do.
    pub fn fail(&self, what: &str, status: Option<&Status>) -> ! {
        let shown = status.map_or_else(|| "(none)".to_owned(), |s| self.show(s));
        panic!(
            "{what}\n=== status ===\n{shown}\n{}=== logs ===\n{}",
            self.starved(),
            self.log_tails(LOG_TAIL)
        )
    }

    /// [`Status::brief`] for a failure message; the whole document goes to `status.json` in the
    /// test's directory (kept when the test fails), whose path the message names.
    fn show(&self, status: &Status) -> String {
        let file = self.dir().join("status.json");
        let saved = match fs::write(&file, &status.raw) {
            Ok(()) => format!("(the whole document: {})", file.display()),
            Err(e) => format!("(cannot save the whole document to {}: {e})", file.display()),
        };
        format!("{}\n{saved}", status.brief())
    }

    /// [`Cluster::wait_status`] for a plain condition.
    pub fn wait_until(
        &self,
        mgs: &Daemon,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Status) -> bool,
    ) {
        self.wait_status(mgs, what, timeout, |s| check(s).then_some(()))
    }

    /// Waits (bounded) until the lines node `name`'s hook wrote satisfy `check`; panics
    /// with the file's content and the logs otherwise.
    pub fn wait_hook(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&[String]) -> bool,
    ) {
        let start = Instant::now();
        loop {
            let lines = self.hook_lines(name);
            if check(&lines) {
                return;
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {name}'s hook: {what}\nits lines: {lines:?}\n=== logs ===\n{}",
                    self.log_tails(LOG_TAIL)
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Starts every daemon: spawns them all first, then waits for each to be ready (faster than one
/// by one).
pub fn start_all<'a>(daemons: impl IntoIterator<Item = &'a mut Daemon>) {
    let mut daemons: Vec<&mut Daemon> = daemons.into_iter().collect();
    for d in daemons.iter_mut() {
        d.spawn();
    }
    for d in daemons.iter_mut() {
        d.wait_ready(READY_TIMEOUT);
    }
}

/// Opens `path` for writing (truncating): a small helper for suites writing config files.
pub fn write_file(path: &Path, text: &str) {
    File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Writes a new admin API token file (`vigil keygen --api-token --out PATH`).
pub fn api_keygen(path: &Path) {
    let out = Command::new(vigil_bin())
        .args(["keygen", "--api-token", "--out"])
        .arg(path)
        .output()
        .expect("cannot run vigil keygen");
    assert!(
        out.status.success(),
        "vigil keygen --api-token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `Authorization` value for the token in token file `path`.
pub fn bearer_of(path: &Path) -> String {
    let text = fs::read_to_string(path).expect("the API token file");
    let token = text.lines().find_map(|l| l.strip_prefix("vigil-api-token v1 ")).expect("a token line");
    format!("Bearer {}", token.trim())
}
