//! Real hosts made of Linux network namespaces, for the fault suite.
//!
//! A [`Lab`] is one switch namespace holding a bridge, and one namespace per host joined to the
//! bridge by a veth pair (`eth0` in the host, `h<i>` on the switch). Every lab has its own
//! switch, so labs are isolated from each other and from the machine: every lab can use the same
//! addresses (`10.77.0.<i+1>/24`), and tests run in parallel. Namespace names are
//! `vigil-<pid>-<lab>-<host>`, unique per process and lab; dropping the lab kills whatever still
//! runs in its namespaces and deletes them, and [`sweep_stale`] deletes those of processes that
//! died without dropping theirs.
//!
//! Faults are made inside the host namespaces with nftables (this kernel has no `netem`): random
//! loss of incoming UDP on `eth0` (`numgen random mod 100 < P drop`), a partition that drops all
//! of a host's traffic on `eth0`, and a cut link (the switch side of the veth down). Loopback
//! traffic is never touched, so a test can always reach a daemon's HTTP API inside its namespace
//! ([`http_get`], through a socket made inside the namespace).
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables); [`unavailable`] says what is missing.

use std::fs::File;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Prefix of every namespace the suite makes.
pub const PREFIX: &str = "vigil-";
/// The nftables table the suite owns in each host namespace.
const TABLE: &str = "vigil_faults";

static LABS: AtomicU32 = AtomicU32::new(0);

/// Runs a command to completion; an error names the command and carries its stderr.
fn run(program: &str, args: &[&str]) -> io::Result<Output> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

fn ip(args: &[&str]) -> io::Result<()> {
    run("ip", args).map(drop)
}

/// Feeds an nftables script to `nft -f -` inside `ns`.
fn nft(ns: &str, script: &str) -> io::Result<()> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().ok_or_else(|| io::Error::other("no stdin"))?.write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "nft in {ns} failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Why namespaces cannot be used here, or `None` when they can (probed once per process).
pub fn unavailable() -> Option<String> {
    static PROBE: OnceLock<Option<String>> = OnceLock::new();
    PROBE.get_or_init(probe).clone()
}

fn probe() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)".into());
    }
    let probe = format!("{PREFIX}{}-probe", std::process::id());
    if let Err(e) = ip(&["netns", "add", &probe]) {
        return Some(format!("`ip netns` unavailable (apt-get install iproute2): {e}"));
    }
    let nft = run("ip", &["netns", "exec", &probe, "nft", "list", "ruleset"]);
    let _ = ip(&["netns", "del", &probe]);
    nft.err().map(|e| format!("`nft` unavailable (apt-get install nftables): {e}"))
}

/// Whether a test must be skipped; says why, loudly (past the test harness's capture), if so.
/// With `VIGIL_NETNS_REQUIRED=1` in the environment it fails instead.
pub fn skip(test: &str) -> bool {
    let Some(why) = unavailable() else { return false };
    if std::env::var_os("VIGIL_NETNS_REQUIRED").is_some_and(|v| v == "1") {
        panic!("{test}: network namespaces required (VIGIL_NETNS_REQUIRED=1) but {why}");
    }
    let bar = "!".repeat(78);
    let _ = writeln!(
        io::stderr(),
        "\n{bar}\n!! SKIPPED {test}: {why}\n!! (CI runs as root with iproute2 and nftables: there it runs)\n{bar}\n"
    );
    true
}

/// The namespaces currently present.
fn namespaces() -> Vec<String> {
    match run("ip", &["netns", "list"]) {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Kills every process left in `ns` and deletes it.
fn destroy(ns: &str) {
    if let Ok(out) = run("ip", &["netns", "pids", ns]) {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill has no memory preconditions; these processes live in our namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    if let Err(e) = ip(&["netns", "del", ns]) {
        eprintln!("netns: cannot delete {ns}: {e}");
    }
}

/// Deletes the `vigil-<pid>-...` namespaces of processes that no longer run (a test run that
/// was killed before it could clean up). Namespaces of live processes, parallel runs included,
/// are left alone. Returns how many were deleted.
pub fn sweep_stale() -> usize {
    let mut swept = 0;
    for ns in namespaces() {
        let Some(rest) = ns.strip_prefix(PREFIX) else { continue };
        let owner = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let stale = match owner {
            Some(pid) => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            None => false,
        };
        if stale {
            eprintln!("netns: sweeping stale namespace {ns}");
            destroy(&ns);
            swept += 1;
        }
    }
    swept
}

/// One host of a lab.
#[derive(Clone, Debug)]
pub struct Host {
    /// Its name in the test (e.g. `mgs`, `r1`, `c3`).
    pub name: String,
    /// Its namespace.
    pub ns: String,
    /// Its address on the lab's bridge.
    pub ip: Ipv4Addr,
    /// The switch side of its veth.
    port: String,
}

impl Host {
    /// `program` run inside this host (`ip netns exec NS program`): the process keeps the pid.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns]).arg(program);
        cmd
    }

    /// `ip:port` of this host.
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip.into(), port)
    }
}

/// A switch and its hosts; dropped, it leaves nothing behind.
pub struct Lab {
    switch: String,
    hosts: Vec<Host>,
}

impl Lab {
    /// A switch and one namespace per host, all up, with empty fault rules.
    pub fn new(hosts: &[&str]) -> io::Result<Lab> {
        assert!(hosts.len() < 250, "one /24 per lab");
        let prefix = format!("{PREFIX}{}-{}", std::process::id(), LABS.fetch_add(1, Ordering::Relaxed));
        let switch = format!("{prefix}-sw");
        ip(&["netns", "add", &switch])?;
        // From here on, drop cleans up whatever was made.
        let mut lab = Lab { switch, hosts: Vec::new() };
        ip(&["-n", &lab.switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &lab.switch, "link", "set", "br0", "up"])?;
        for (i, name) in hosts.iter().enumerate() {
            let host = Host {
                name: (*name).to_owned(),
                ns: format!("{prefix}-{name}"),
                ip: Ipv4Addr::new(10, 77, 0, u8::try_from(i + 1).unwrap_or(u8::MAX)),
                port: format!("h{i}"),
            };
            ip(&["netns", "add", &host.ns])?;
            lab.hosts.push(host.clone());
            let sw = lab.switch.as_str();
            ip(&[
                "-n", sw, "link", "add", &host.port, "type", "veth", "peer", "name", "eth0", "netns",
                &host.ns,
            ])?;
            ip(&["-n", sw, "link", "set", &host.port, "master", "br0", "up"])?;
            ip(&["-n", &host.ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &host.ns, "addr", "add", &format!("{}/24", host.ip), "dev", "eth0"])?;
            ip(&["-n", &host.ns, "link", "set", "eth0", "up"])?;
            nft(
                &host.ns,
                &format!(
                    "table inet {TABLE} {{\n\
                     chain loss_in {{ type filter hook input priority 0; policy accept; }}\n\
                     chain cut_in {{ type filter hook input priority 1; policy accept; }}\n\
                     chain cut_out {{ type filter hook output priority 1; policy accept; }}\n\
                     }}\n"
                ),
            )?;
        }
        Ok(lab)
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).unwrap_or_else(|| panic!("no host {name:?} in the lab"))
    }

    /// Every host.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Drops `percent`% of the UDP datagrams arriving at `host` from the network, at random
    /// (0 removes the loss).
    pub fn loss(&self, host: &str, percent: u32) -> io::Result<()> {
        let ns = &self.host(host).ns;
        let mut script = format!("flush chain inet {TABLE} loss_in\n");
        if percent > 0 {
            script.push_str(&format!(
                "add rule inet {TABLE} loss_in iifname \"eth0\" meta l4proto udp numgen random mod 100 < {percent} counter drop\n"
            ));
        }
        nft(ns, &script)
    }

    /// The same loss on every host: every datagram loses `percent`% on each hop.
    pub fn loss_everywhere(&self, percent: u32) -> io::Result<()> {
        self.hosts.iter().try_for_each(|h| self.loss(&h.name, percent))
    }

    /// Cuts `host` off the network: everything in or out of `eth0` is dropped (loopback works).
    pub fn partition(&self, host: &str) -> io::Result<()> {
        let ns = &self.host(host).ns;
        nft(
            ns,
            &format!(
                "flush chain inet {TABLE} cut_in\nflush chain inet {TABLE} cut_out\n\
                 add rule inet {TABLE} cut_in iifname \"eth0\" drop\n\
                 add rule inet {TABLE} cut_out oifname \"eth0\" drop\n"
            ),
        )
    }

    /// Cuts the path between hosts `a` and `b` only (both directions); each keeps its other
    /// paths. [`Lab::heal`] on either host ends it.
    pub fn cut_between(&self, a: &str, b: &str) -> io::Result<()> {
        for (this, other) in [(a, b), (b, a)] {
            let peer = self.host(other).ip;
            nft(
                &self.host(this).ns,
                &format!(
                    "add rule inet {TABLE} cut_in ip saddr {peer} drop\n\
                     add rule inet {TABLE} cut_out ip daddr {peer} drop\n"
                ),
            )?;
        }
        Ok(())
    }

    /// Ends a [`Lab::partition`] or [`Lab::cut_between`] (on this host's side).
    pub fn heal(&self, host: &str) -> io::Result<()> {
        let ns = &self.host(host).ns;
        nft(ns, &format!("flush chain inet {TABLE} cut_in\nflush chain inet {TABLE} cut_out\n"))
    }

    /// Downs (or ups again) the switch side of `host`'s veth: its cable pulled.
    pub fn link(&self, host: &str, up: bool) -> io::Result<()> {
        let port = &self.host(host).port;
        ip(&["-n", &self.switch, "link", "set", port, if up { "up" } else { "down" }])
    }

    /// How many datagrams the loss rule of `host` has dropped since it was set.
    pub fn dropped(&self, host: &str) -> io::Result<u64> {
        let ns = &self.host(host).ns;
        let out = run("ip", &["netns", "exec", ns, "nft", "list", "chain", "inet", TABLE, "loss_in"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .split("packets ")
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .sum())
    }

    /// Datagrams dropped by loss rules on every host.
    pub fn dropped_everywhere(&self) -> u64 {
        self.hosts.iter().filter_map(|h| self.dropped(&h.name).ok()).sum()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for host in &self.hosts {
            destroy(&host.ns);
        }
        destroy(&self.switch);
    }
}

/// Runs `f` on a short-lived thread that has entered namespace `ns`: sockets it makes belong to
/// that namespace for their whole life, wherever they are used afterwards.
pub fn within<T: Send>(ns: &str, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let netns = File::open(format!("/run/netns/{ns}"))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on a valid namespace fd; it changes only this short-lived thread.
            if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        })
        .join()
        .map_err(|_| io::Error::other("namespace thread panicked"))?
    })
}

/// A TCP connection made inside namespace `ns`.
pub fn connect(ns: &str, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    within(ns, || TcpStream::connect_timeout(&addr, timeout))
}

/// `GET path` over HTTP/1.1 from inside `ns`: the status code and the body.
pub fn http_get(ns: &str, addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<(u16, String)> {
    http(ns, addr, "GET", path, None, timeout)
}

/// One HTTP/1.1 request from inside `ns` (a JSON body for POST): the status code and the body.
pub fn http(
    ns: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
    timeout: Duration,
) -> io::Result<(u16, String)> {
    http_with(ns, addr, method, path, &[], json, timeout)
}

/// [`http`] with `headers` added (e.g. `("Authorization", "Bearer ...")`).
pub fn http_with(
    ns: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&str>,
    timeout: Duration,
) -> io::Result<(u16, String)> {
    let request = crate::http::compose(addr, method, path, headers, json);
    let response = crate::http::exchange(connect(ns, addr, timeout)?, &request, timeout)?;
    Ok((response.code, response.body))
}
