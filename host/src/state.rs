//! The state directory: what a node keeps across restarts, written atomically.
//!
//! Each node keeps one small TOML file, `<state-dir>/<name>.state`: its boot generation (bumped on
//! every start, so its peers can tell a reboot, and never below the wall clock's reading in
//! seconds, so a node whose file is lost still boots above every generation it used: see
//! [`Generation::at_boot`] for the clock it assumes) and, on the MGS, the last order sequence
//! number issued. Writes go to a temporary file that is synced, renamed over the old one, and the
//! directory is synced, so a crash leaves either the old or the new state, never a torn one.
//!
//! The MGS also keeps the names of the child routers it expects (`expected_routers`): a
//! restarted MGS closes no window by order until each has reported again (or is retired), see
//! `vigil_proto::mgs`; and whether it has direct clients (`direct_clients`): a restarted MGS
//! with them closes no window for a dead threshold, until each could have been heard.
//!
//! The MGS continues its order sequence across generations rather than restarting at 1: order ids
//! are unique by (generation, sequence) already, and a monotonic sequence also keeps them apart if
//! an operator restores an old state file.
//!
//! Starting is two steps, so that a start that fails (a port in use, a bad key) does not use up a
//! generation: [`StateFile::boot`] reads the file and takes the lock, [`StateFile::commit`]
//! persists the new generation once the daemon is bound and about to send.
//!
//! A state file that cannot be read as one (a torn disk, a bad edit) is moved aside to
//! `<name>.state.corrupt` with a warning and the node starts as after a lost file, from the wall
//! clock's reading (should the clock be behind, its parents answer `Stale { newest }` and it takes
//! a generation above the one they hold). A daemon that stopped on such a file would crash-loop under `Restart=always`.
//!
//! `<state-dir>/<name>.lock` is held (`flock`, exclusive) for the daemon's life: a second daemon
//! of the same name and state directory is refused at start instead of leapfrogging generations
//! with the first. The kernel drops the lock when the process ends, however it ends.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tracing::warn;
use vigil_proto::{Event, Generation};

use crate::config::wire_name;

/// What a node persists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persisted {
    /// The boot generation of the last start.
    pub generation: u32,
    /// The last order sequence number issued (MGS only).
    #[serde(default)]
    pub order_seq: u64,
    /// The child routers the MGS expects, by name, sorted (MGS only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_routers: Vec<String>,
    /// The MGS has direct clients (not behind a router): a restart waits a dead threshold for
    /// them (MGS only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct_clients: bool,
}

/// A node's state file, and the lock that makes it this process's.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    state: Persisted,
    _lock: File,
}

impl StateFile {
    /// Locks and reads the state of node `name` in `dir` (creating the directory), with the
    /// generation of this start one above the stored one; call [`StateFile::commit`] before the
    /// node sends anything. A name that is not a node's on the wire, or holds a `/` or a NUL (it
    /// names the node's files in `dir`), is refused before anything is created.
    ///
    /// Without a stored generation (a first start, or the file lost) it waits for the wall
    /// clock's next second before reading it, up to a second: an earlier instance booted before
    /// now took at most this second's reading, so the next one is above it even if that instance
    /// started a moment ago (a crash loop on an emptied state directory).
    pub fn boot(dir: &Path, name: &str) -> anyhow::Result<StateFile> {
        StateFile::boot_at(dir, name, |lost| if lost { off_runtime(next_second) } else { wall_clock_s() })
    }

    /// [`StateFile::boot`] with the wall clock `wall_clock_s` reads in seconds since the epoch,
    /// told whether the stored generation is lost.
    fn boot_at(dir: &Path, name: &str, wall_clock_s: impl FnOnce(bool) -> u32) -> anyhow::Result<StateFile> {
        check_file_name(name)?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create state directory {}", dir.display()))?;
        let lock = lock(dir, name)?;
        let path = dir.join(format!("{name}.state"));
        let mut state: Persisted = match std::fs::read_to_string(&path) {
            Ok(text) => match toml::from_str(&text) {
                Ok(state) => state,
                Err(e) => {
                    let aside = dir.join(format!("{name}.state.corrupt"));
                    std::fs::rename(&path, &aside).with_context(|| {
                        format!("bad state file {} and cannot move it aside", path.display())
                    })?;
                    warn!(
                        path = %path.display(),
                        moved_to = %aside.display(),
                        "bad state file moved aside; starting from the wall clock's reading \
                         as a generation (parents that knew a newer one raise it): {}",
                        e.message()
                    );
                    Persisted::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Persisted::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read state file {}", path.display())),
        };
        // A file never committed holds generation 0: as good as none.
        let persisted = (state.generation > 0).then_some(Generation(state.generation));
        // No node on the wire takes a generation at the limit (proto `Generation`), so peers hold
        // no instance of this one that high: a stored one without a successor (an edited or
        // damaged file) is as good as none.
        let persisted = persisted.filter(|&g| Generation::at_boot(Some(g), 0).is_some());
        if persisted.is_none() && state.generation > 0 {
            warn!(
                path = %path.display(),
                stored = state.generation,
                "stored generation at its limit; starting from the wall clock's reading"
            );
        }
        let generation = Generation::at_boot(persisted, wall_clock_s(persisted.is_none()))
            .context("the wall clock is past the last generation (in 2105)")?;
        state.generation = generation.0;
        Ok(StateFile { path, state, _lock: lock })
    }

    /// Persists this start's generation: the daemon is bound and about to send.
    pub fn commit(&mut self) -> anyhow::Result<()> {
        self.write()
    }

    /// This start's generation.
    pub fn generation(&self) -> Generation {
        Generation(self.state.generation)
    }

    /// Keeps for the next boot a generation the node was raised to at run time (event
    /// `GenerationRaised`: a parent held a newer one of it, this file had been lost or restored
    /// from an old copy). Other events are ignored; a failure is logged and the node runs on.
    pub fn note(&mut self, node: &str, event: &Event) {
        if let Event::GenerationRaised { generation, .. } = *event {
            if let Err(e) = self.raise_generation(generation) {
                warn!(node, "cannot persist the raised generation: {e:#}");
            }
        }
    }

    /// Persists `generation` if it is newer than the one stored.
    fn raise_generation(&mut self, generation: Generation) -> anyhow::Result<()> {
        if generation.0 <= self.state.generation {
            return Ok(());
        }
        self.state.generation = generation.0;
        self.write()
    }

    /// The last order sequence number persisted.
    pub fn order_seq(&self) -> u64 {
        self.state.order_seq
    }

    /// Persists a new last order sequence number (ignored if not newer).
    pub fn set_order_seq(&mut self, seq: u64) -> anyhow::Result<()> {
        if seq <= self.state.order_seq {
            return Ok(());
        }
        self.state.order_seq = seq;
        self.write()
    }

    /// The child routers persisted as expected (MGS only).
    pub fn expected_routers(&self) -> &[String] {
        &self.state.expected_routers
    }

    /// Persists the set of expected child routers (written only if it changed).
    pub fn set_expected_routers(&mut self, mut names: Vec<String>) -> anyhow::Result<()> {
        names.sort_unstable();
        names.dedup();
        if names == self.state.expected_routers {
            return Ok(());
        }
        self.state.expected_routers = names;
        self.write()
    }

    /// Whether the MGS persisted that it has direct clients.
    pub fn direct_clients(&self) -> bool {
        self.state.direct_clients
    }

    /// Persists whether the MGS has direct clients (written when it changes).
    pub fn set_direct_clients(&mut self, has: bool) -> anyhow::Result<()> {
        if self.state.direct_clients == has {
            return Ok(());
        }
        self.state.direct_clients = has;
        self.write()
    }

    fn write(&mut self) -> anyhow::Result<()> {
        let text = toml::to_string(&self.state).context("cannot encode state")?;
        off_runtime(|| write_atomically(&self.path, text.as_bytes()))
            .with_context(|| format!("cannot write state file {}", self.path.display()))
    }
}

/// The wall clock in seconds since the Unix epoch, for [`Generation::at_boot`]; 0 (the counter
/// alone) if it reads before 1970, and the last second of 32 bits after 2106.
fn wall_clock_s() -> u32 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// Sleeps until the wall clock's next second begins and reads it (as [`wall_clock_s`]).
fn next_second() -> u32 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    if let Ok(d) = since {
        std::thread::sleep(std::time::Duration::from_nanos(u64::from(1_000_000_000 - d.subsec_nanos())));
    }
    wall_clock_s()
}

/// Runs blocking `f` from a task of the runtime (a node's loop, the Lustre follower). A synced
/// write can take seconds on a busy disk; meanwhile the runtime hands this worker's other tasks
/// (an HTTP answer the loop just woke) to another thread instead of holding them behind the write.
pub(crate) fn off_runtime<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Checks that node `name` can name its files in the state directory (`<name>.state`,
/// `<name>.lock` and the like): a name of the wire (not empty, at most
/// [`NAME_LEN`](vigil_proto::ids::NAME_LEN) bytes) with no `/` (a path out of the directory, such
/// as `../x`) and no NUL (no file name holds one).
fn check_file_name(name: &str) -> anyhow::Result<()> {
    wire_name(name, "node")?;
    for (c, what) in [('/', "'/'"), ('\0', "NUL")] {
        if name.contains(c) {
            bail!(
                "the node name {name:?} holds a {what}: it cannot name the node's files in the state \
                 directory"
            );
        }
    }
    Ok(())
}

/// Takes `<dir>/<name>.lock` for this process's life (and writes its pid there, for the error
/// a second daemon gets).
fn lock(dir: &Path, name: &str) -> anyhow::Result<File> {
    let path = dir.join(format!("{name}.lock"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            anyhow::bail!(
                "another vigil daemon named {name:?} is running with state directory {} (pid {}, \
                 lock {}): two daemons of one name would leapfrog each other's generations",
                dir.display(),
                holder.trim(),
                path.display()
            );
        }
        return Err(err).with_context(|| format!("cannot lock {}", path.display()));
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigil-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A boot on a host whose clock reads 0 (the counter alone decides).
    fn boot(dir: &Path, name: &str) -> anyhow::Result<StateFile> {
        StateFile::boot_at(dir, name, |_| 0)
    }

    /// A start that gets as far as sending.
    fn started(dir: &Path, name: &str) -> StateFile {
        let mut state = boot(dir, name).unwrap();
        state.commit().unwrap();
        state
    }

    #[test]
    fn a_raised_generation_is_where_the_next_boot_starts_from() {
        let dir = temp_dir("raise");
        let mut state = started(&dir, "r1");
        let addr = vigil_proto::wire::Endpoint::V4 { ip: [10, 0, 0, 1], port: 7470 };
        let raised = |g| Event::GenerationRaised { addr, generation: Generation(g) };
        state.note("r1", &raised(41));
        state.note("r1", &raised(7));
        state.note("r1", &Event::ParentUp { addr });
        drop(state);
        assert_eq!(boot(&dir, "r1").unwrap().generation(), Generation(42));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_boot_bumps_the_generation() {
        let dir = temp_dir("bump");
        assert_eq!(started(&dir, "c1").generation(), Generation(1));
        assert_eq!(started(&dir, "c1").generation(), Generation(2));
        assert_eq!(started(&dir, "c2").generation(), Generation(1), "per node");
        assert_eq!(started(&dir, "c1").generation(), Generation(3));
        let leftovers = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp.")));
        assert_eq!(leftovers.count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_node_whose_state_file_is_lost_boots_above_every_generation_it_used() {
        let dir = temp_dir("lost");
        let at = |clock| {
            let mut state = StateFile::boot_at(&dir, "c1", |_| clock).unwrap();
            state.commit().unwrap();
            state.generation()
        };
        assert_eq!(at(1_700_000_000), Generation(1_700_000_000), "the clock, on a first boot");
        assert_eq!(at(1_700_000_000), Generation(1_700_000_001), "twice in a second: the counter");
        assert_eq!(at(1_700_000_300), Generation(1_700_000_300));
        std::fs::remove_file(dir.join("c1.state")).unwrap();
        assert_eq!(at(1_700_000_301), Generation(1_700_000_301), "lost: still above the last");
        // The real clock: after 2023 (a reading of 0 would leave the counter alone).
        assert!(StateFile::boot(&dir, "c2").unwrap().generation() > Generation(1_672_531_200));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_node_that_loses_its_state_file_twice_in_a_second_boots_with_two_generations() {
        let dir = temp_dir("lost-twice");
        let lost_boot = || {
            let mut state = StateFile::boot(&dir, "mgs").unwrap();
            state.commit().unwrap();
            std::fs::remove_file(dir.join("mgs.state")).unwrap();
            state.generation()
        };
        let (first, second) = (lost_boot(), lost_boot());
        assert!(second > first, "the second instance took {second:?}, the first {first:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_order_sequence_survives_restarts_and_only_grows() {
        let dir = temp_dir("seq");
        let mut s = started(&dir, "mgs");
        s.set_order_seq(5).unwrap();
        s.set_order_seq(3).unwrap();
        drop(s);
        let s = boot(&dir, "mgs").unwrap();
        assert_eq!((s.generation(), s.order_seq()), (Generation(2), 5));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn that_the_mgs_has_direct_clients_survives_restarts() {
        let dir = temp_dir("direct");
        let mut s = started(&dir, "mgs");
        assert!(!s.direct_clients());
        s.set_direct_clients(true).unwrap();
        drop(s);
        let mut s = StateFile::boot(&dir, "mgs").unwrap();
        assert!(s.direct_clients());
        s.set_direct_clients(false).unwrap();
        drop(s);
        assert!(!StateFile::boot(&dir, "mgs").unwrap().direct_clients(), "retired, and that survives too");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_state_file_is_moved_aside_and_the_node_starts() {
        let dir = temp_dir("bad");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("r1.state"), "generation = \"x\"").unwrap();
        assert_eq!(started(&dir, "r1").generation(), Generation(1));
        let aside = std::fs::read_to_string(dir.join("r1.state.corrupt")).unwrap();
        assert_eq!(aside, "generation = \"x\"", "kept for a post-mortem");
        assert_eq!(started(&dir, "r1").generation(), Generation(2));
        // A stored generation at the limit (no peer holds one that high): the wall clock's.
        std::fs::write(dir.join("r1.state"), format!("generation = {}", u32::MAX)).unwrap();
        assert_eq!(started(&dir, "r1").generation(), Generation(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_daemon_of_the_same_name_is_refused_while_the_first_runs() {
        let dir = temp_dir("lock");
        let first = started(&dir, "c1");
        let err = format!("{:#}", boot(&dir, "c1").unwrap_err());
        assert!(
            err.contains("another vigil daemon named \"c1\"")
                && err.contains(&std::process::id().to_string()),
            "{err}"
        );
        assert!(boot(&dir, "c2").is_ok(), "other names are not locked");
        drop(first);
        assert_eq!(started(&dir, "c1").generation(), Generation(2), "free once the first is gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_name_that_is_no_file_name_in_the_state_directory_is_refused_before_it_is_touched() {
        let base = temp_dir("names");
        let dir = base.join("state");
        for (name, why) in [
            ("../x", "'/'"),
            ("a/b", "'/'"),
            ("a\0b", "NUL"),
            ("", "empty"),
            (&"x".repeat(33), "longer than 32"),
        ] {
            let err = format!("{:#}", boot(&dir, name).map(|_| ()).unwrap_err());
            assert!(err.contains("node name") && err.contains(why), "{name:?}: {err}");
        }
        assert!(!base.exists(), "nothing created, in the state directory or beside it");
    }

    #[test]
    fn a_start_that_fails_before_commit_uses_up_no_generation() {
        let dir = temp_dir("uncommitted");
        assert_eq!(started(&dir, "s1").generation(), Generation(1));
        assert_eq!(boot(&dir, "s1").unwrap().generation(), Generation(2)); // dropped
        assert_eq!(started(&dir, "s1").generation(), Generation(2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
