//! Real `vigil` daemons for end-to-end tests: a scratch directory with a cluster key, an MGS on
//! loopback with fast timing, and a bounded wait for what its HTTP API says.
#![allow(dead_code)] // each test crate uses its own part

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fast timing for every daemon of a test.
pub const TIMING: [&str; 4] = ["--ping-interval-ms", "200", "--update-interval-ms", "200"];

/// The `vigil` binary under test.
pub fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

/// A scratch directory with a cluster key, removed on drop.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vigil-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let status = vigil().arg("keygen").arg("--out").arg(dir.join("cluster.key")).output().unwrap();
        assert!(status.status.success(), "{status:?}");
        let status =
            vigil().args(["keygen", "--api-token", "--out"]).arg(dir.join("api.token")).output().unwrap();
        assert!(status.status.success(), "{status:?}");
        Scratch { dir }
    }

    /// The MGS's admin API token file.
    pub fn api_token(&self) -> PathBuf {
        self.dir.join("api.token")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("cluster.key")
    }

    /// `--key-file`, `--state-dir` and `--ready-file` for a daemon called `name`.
    pub fn node_args(&self, name: &str) -> Vec<String> {
        vec![
            "--key-file".into(),
            self.key().display().to_string(),
            "--state-dir".into(),
            self.dir.display().to_string(),
            "--ready-file".into(),
            self.dir.join(format!("{name}.ready")).display().to_string(),
        ]
    }

    /// Waits for a daemon's ready file and returns its `key = "value"` entry.
    pub fn ready(&self, name: &str, key: &str) -> String {
        let path = self.dir.join(format!("{name}.ready"));
        let text = wait_for(Duration::from_secs(20), || std::fs::read_to_string(&path).ok(), &path.display());
        let prefix = format!("{key} = \"");
        let line = text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{text}"));
        line.trim_end_matches('"').to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed on drop.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `vigil mgs` on loopback; returns it with its UDP and HTTP addresses.
pub fn start_mgs(scratch: &Scratch) -> (Daemon, String, String) {
    let child = vigil()
        .args(["mgs", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(TIMING)
        .args(scratch.node_args("mgs"))
        .arg("--api-token-file")
        .arg(scratch.api_token())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mgs = Daemon(child);
    (mgs, scratch.ready("mgs", "udp"), scratch.ready("mgs", "http"))
}

/// Polls `f` every 50 ms until it answers, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>, what: &dyn std::fmt::Display) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET path` from an HTTP address; the body, or none on any error.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The value of one metric series (the whole series name with labels) in `/metrics`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `vigil recover --force --target T` against an MGS (T has no server); panics unless it succeeds.
pub fn recover(scratch: &Scratch, http: &str, target: &str) {
    let out = vigil()
        .args(["recover", "--force", "--target", target, "--mgs", &format!("http://{http}")])
        .env("VIGIL_API_TOKEN_FILE", scratch.api_token())
        .output()
        .unwrap();
    assert!(out.status.success(), "vigil recover: {}", String::from_utf8_lossy(&out.stderr));
}

/// A path in the source tree.
pub fn source(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Whether `program` (an absolute path, or a name looked up on `PATH`) is installed. Without it a
/// test skips with one line naming the Debian `package`, unless `required` (an environment
/// variable CI sets to `1`) makes the absence a failure.
pub fn have_tool(program: &str, package: &str, required: &str) -> bool {
    let found = if program.contains('/') {
        Path::new(program).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    if found {
        return true;
    }
    if std::env::var_os(required).is_some_and(|v| v == "1") {
        panic!("{program} is required ({required}=1) but missing: install Debian package {package}");
    }
    eprintln!("SKIPPED: {program} missing (Debian package {package}; {required}=1 makes this an error)");
    false
}

/// Asserts `page` contains `want`; else fails with what was expected and what the page has in
/// its place (the text around the first attribute of `want`), not the whole page.
pub fn assert_on_page(page: &str, want: &str, what: &str) {
    if page.contains(want) {
        return;
    }
    // `data-node="c3" data-state="dead"` is looked up by `data-node="c3"`.
    let key = want.match_indices('"').nth(1).map_or(want, |(end, _)| &want[..=end]);
    let found: Vec<String> = page
        .match_indices(key)
        .take(3)
        .map(|(at, _)| {
            let mut start = at.saturating_sub(40);
            while !page.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (at + key.len() + 80).min(page.len());
            while !page.is_char_boundary(end) {
                end += 1;
            }
            format!("  have: …{}…", page[start..end].replace('\n', " "))
        })
        .collect();
    let found = if found.is_empty() {
        format!("  have: nothing with {key} in {} bytes of page", page.len())
    } else {
        found.join("\n")
    };
    panic!("{what}:\n  want: {want}\n{found}");
}
