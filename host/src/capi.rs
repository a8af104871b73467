//! The C library (`libvigil_host.so` / `libvigil_host.a`, header `host/include/vigil.h`): a Vigil
//! client or server agent inside a host program, such as a filesystem daemon, that carries out
//! orders itself instead of through a hook command.
//!
//! The agent runs the same machine and UDP loop as `vigil client` / `vigil server`, on threads of
//! its own, configured by the same TOML file (`on_order`, `on_close_window` and
//! `hook_timeout_ms` are ignored: the host program is the hook). Orders arrive in a mailbox whose
//! file descriptor is readable while orders wait, for the host's `poll`/`epoll` loop:
//!
//! ```c
//! char err[256];
//! vigil_agent *agent = vigil_agent_start(VIGIL_ROLE_CLIENT, "/etc/vigil/client.toml", err, sizeof err);
//! if (!agent) errx(1, "vigil: %s", err);
//! struct pollfd p = { .fd = vigil_agent_fd(agent), .events = POLLIN };
//! while (poll(&p, 1, -1) >= 0) {
//!     vigil_order order;
//!     while (vigil_agent_next_order(agent, &order) == 1) {
//!         bool ok = reconnect(order.target, order.addrs, order.addr_count);
//!         vigil_agent_report(agent, order.handle, ok ? VIGIL_OUTCOME_DONE : VIGIL_OUTCOME_FAILED);
//!     }
//! }
//! vigil_agent_stop(agent);
//! ```
//!
//! A report tells the MGS the order was applied and how it went (for a client, reconnected or
//! failed; for a server, window closed or not), as the exit status of a hook command does. An
//! order never reported stays pending: the MGS keeps waiting for that client until it dies or
//! the target's own window ends. Every function may be called from any thread. A stopped agent's
//! handle names no agent, whatever was started since: every function refuses it (returns -1, or
//! does nothing). Set `VIGIL_LOG` (e.g. `info`) to log to stderr.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::{c_char, c_int, CStr};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use vigil_proto::ids::{NAME_LEN, NID_LEN};
use vigil_proto::wire::MAX_TARGET_ADDRS;

use crate::config::{ClientOpts, Layered, ServerOpts};
use crate::daemon::member::{start_client, start_server};
use crate::hook::{Hook, OrderEnv, OrderKind};

/// `vigil_agent_start` role: a filesystem client (receives `BeginRecovery`).
pub const VIGIL_ROLE_CLIENT: c_int = 1;
/// `vigil_agent_start` role: a target's server (receives `CloseWindow`).
pub const VIGIL_ROLE_SERVER: c_int = 2;

/// `vigil_order.kind`: reconnect to `target` now, at one of `addrs`.
pub const VIGIL_ORDER_BEGIN_RECOVERY: c_int = 1;
/// `vigil_order.kind`: every live client reconnected to `target`; its window may close.
pub const VIGIL_ORDER_CLOSE_WINDOW: c_int = 2;

/// `vigil_agent_report` outcome: reconnected (client) or window closed (server).
pub const VIGIL_OUTCOME_DONE: c_int = 0;
/// `vigil_agent_report` outcome: it did not work.
pub const VIGIL_OUTCOME_FAILED: c_int = 1;

/// Bytes of `vigil_order.id`, with its NUL.
pub const VIGIL_ORDER_ID_MAX: usize = 48;
/// Bytes of `vigil_order.target`, with its NUL.
pub const VIGIL_NAME_MAX: usize = 33;
/// Bytes of each of `vigil_order.addrs`, with its NUL.
pub const VIGIL_NID_MAX: usize = 49;
/// Entries of `vigil_order.addrs`.
pub const VIGIL_ADDRS_MAX: usize = 2;

const _: () = assert!(VIGIL_NAME_MAX == NAME_LEN + 1 && VIGIL_NID_MAX == NID_LEN + 1);
const _: () = assert!(VIGIL_ADDRS_MAX == MAX_TARGET_ADDRS);
// "<holder, 8 hex>:<u32>/<u64>" and its NUL.
const _: () = assert!(VIGIL_ORDER_ID_MAX > 8 + 1 + 10 + 1 + 20);

/// One order for the host program.
#[repr(C)]
pub struct VigilOrder {
    /// Names the order in `vigil_agent_report`.
    pub handle: u64,
    /// `VIGIL_ORDER_BEGIN_RECOVERY` or `VIGIL_ORDER_CLOSE_WINDOW`.
    pub kind: c_int,
    /// The target instance (its boot generation) that restarted; 0 for a manual order.
    pub target_generation: u32,
    /// How many of `addrs` are set.
    pub addr_count: u32,
    /// The order id, `<holder>:<mgs_generation>/<seq>`, NUL-terminated (for logs).
    pub id: [c_char; VIGIL_ORDER_ID_MAX],
    /// The target, e.g. `testfs-OST0001`, NUL-terminated.
    pub target: [c_char; VIGIL_NAME_MAX],
    /// Where the target serves now (Lustre NIDs), NUL-terminated, first `addr_count` only.
    pub addrs: [[c_char; VIGIL_NID_MAX]; VIGIL_ADDRS_MAX],
}

/// Orders delivered by the machine and not yet reported, and the descriptor that says so.
struct Mailbox {
    state: Mutex<MailboxState>,
    /// Written (one byte) when an order arrives.
    signal: UnixStream,
    /// The host polls it; drained when the queue empties.
    wake: UnixStream,
}

#[derive(Default)]
struct MailboxState {
    /// Delivered, not yet taken by the host.
    queue: VecDeque<(u64, OrderEnv)>,
    /// Taken or not, awaiting the host's report.
    waiting: HashMap<u64, oneshot::Sender<bool>>,
    next: u64,
}

impl Mailbox {
    fn new() -> std::io::Result<Mailbox> {
        let (signal, wake) = UnixStream::pair()?;
        signal.set_nonblocking(true)?;
        wake.set_nonblocking(true)?;
        Ok(Mailbox { state: Mutex::default(), signal, wake })
    }

    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an order for the host; the receiver gets its report.
    fn deliver(&self, env: OrderEnv) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let mut state = self.lock();
        state.next += 1;
        let handle = state.next;
        state.waiting.insert(handle, tx);
        state.queue.push_back((handle, env));
        // A full socket buffer is already readable: nothing is lost by not writing more.
        let _ = (&self.signal).write(&[1]);
        tracing::debug!(handle, "order queued for the host program");
        rx
    }

    /// The next order for the host. The queue and the descriptor change under one lock, so the
    /// descriptor is readable exactly while the queue holds something.
    fn take(&self) -> Option<(u64, OrderEnv)> {
        let mut state = self.lock();
        let next = state.queue.pop_front();
        if state.queue.is_empty() {
            let mut buf = [0u8; 64];
            while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
        }
        next
    }

    /// Passes the host's report on; false for an unknown (or already reported) handle.
    fn report(&self, handle: u64, ok: bool) -> bool {
        match self.lock().waiting.remove(&handle) {
            // The loop may be gone (stopping): the report has nowhere to go, which is fine.
            Some(tx) => {
                let _ = tx.send(ok);
                true
            }
            None => false,
        }
    }
}

/// A running agent.
struct Agent {
    runtime: tokio::runtime::Runtime,
    stop: oneshot::Sender<()>,
    loop_done: tokio::task::JoinHandle<()>,
    mailbox: Arc<Mailbox>,
}

/// An agent as C holds it: a handle (`vigil_agent *`), never read as memory. No two agents get
/// the same handle, so a stopped agent's handle never names an agent started since.
pub struct VigilAgent {
    _opaque: [u8; 0],
}

/// The agents started and not yet stopped, by number: the address of their [`VigilAgent`]
/// handle. Numbers count up from 1 and are never given twice, so a stopped agent's handle (a
/// second `vigil_agent_stop` is a common cleanup-path slip in C) never names an agent started
/// since.
struct Agents {
    running: BTreeMap<usize, Agent>,
    last: usize,
}

impl Agents {
    /// Takes `agent` in under a new number; its handle for C.
    fn add(&mut self, agent: Agent) -> anyhow::Result<*mut VigilAgent> {
        let number = self.last.checked_add(1).context("every agent handle was given out")?;
        self.last = number;
        self.running.insert(number, agent);
        Ok(std::ptr::without_provenance_mut(number))
    }

    /// The mailbox of the agent `handle` names; none for NULL or a stopped agent.
    fn mailbox(&self, handle: *const VigilAgent) -> Option<Arc<Mailbox>> {
        self.running.get(&handle.addr()).map(|agent| agent.mailbox.clone())
    }

    /// Takes out the agent `handle` names, to stop it; none for NULL or a stopped agent.
    fn remove(&mut self, handle: *const VigilAgent) -> Option<Agent> {
        self.running.remove(&handle.addr())
    }
}

fn agents() -> MutexGuard<'static, Agents> {
    static AGENTS: Mutex<Agents> = Mutex::new(Agents { running: BTreeMap::new(), last: 0 });
    AGENTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long `vigil_agent_stop` waits for the loop to finish.
const STOP_WAIT: Duration = Duration::from_secs(5);

fn start(role: c_int, config: PathBuf) -> anyhow::Result<Agent> {
    if let Ok(filter) = std::env::var("VIGIL_LOG") {
        let filter = tracing_subscriber::EnvFilter::new(filter);
        // The host program may have a subscriber of its own: then that one stays.
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("vigil-agent")
        .enable_all()
        .build()?;
    let mailbox = Arc::new(Mailbox::new()?);
    let to_host = mailbox.clone();
    let hook = Hook::InProcess(Arc::new(move |env| {
        let report = to_host.deliver(env);
        // No report because the agent stops: the order was not carried out.
        Box::pin(async move { report.await.unwrap_or(false) })
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let loop_done = runtime.block_on(async move {
        let config = Some(config);
        let task = match role {
            VIGIL_ROLE_CLIENT => {
                let opts = ClientOpts { config, ..ClientOpts::default() }.load()?;
                let task = start_client(&opts, hook, stopped).await?.task;
                tokio::spawn(async move { drop(task.await) })
            }
            VIGIL_ROLE_SERVER => {
                let opts = ServerOpts { config, ..ServerOpts::default() }.load()?;
                let task = start_server(&opts, hook, stopped).await?.task;
                tokio::spawn(async move { drop(task.await) })
            }
            other => anyhow::bail!("unknown role {other} (VIGIL_ROLE_CLIENT or VIGIL_ROLE_SERVER)"),
        };
        anyhow::Ok(task)
    })?;
    Ok(Agent { runtime, stop, loop_done, mailbox })
}

/// Copies `text` into a C buffer of `len` bytes, truncated and NUL-terminated.
///
/// # Safety
/// `buf` is null or points to `len` writable bytes.
unsafe fn copy_out(text: &str, buf: *mut c_char, len: usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    let n = text.len().min(len - 1);
    // SAFETY: n + 1 <= len bytes of buf are writable (the caller's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), buf, n);
        *buf.add(n) = 0;
    }
}

/// `text` into a fixed C string field, truncated and NUL-terminated.
fn fill<const N: usize>(field: &mut [c_char; N], text: &str) {
    let n = text.len().min(N - 1);
    for (dst, &src) in field.iter_mut().zip(&text.as_bytes()[..n]) {
        *dst = src as c_char;
    }
    field[n] = 0;
}

/// Starts an agent of `role` (`VIGIL_ROLE_CLIENT` or `VIGIL_ROLE_SERVER`) from the TOML config
/// file at `config_path` (the format of `vigil client --config` / `vigil server --config`).
/// Returns once its socket is bound and its loop runs, or NULL with the reason in `err` (up to
/// `err_len` bytes, NUL-terminated; `err` may be NULL).
///
/// # Safety
/// `config_path` is a NUL-terminated string; `err` is NULL or points to `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn vigil_agent_start(
    role: c_int,
    config_path: *const c_char,
    err: *mut c_char,
    err_len: usize,
) -> *mut VigilAgent {
    let result = if config_path.is_null() {
        Err(anyhow::anyhow!("config_path is NULL"))
    } else {
        // SAFETY: a NUL-terminated string (the caller's contract).
        let path = unsafe { CStr::from_ptr(config_path) };
        match path.to_str() {
            Ok(path) => start(role, PathBuf::from(path)).and_then(|agent| agents().add(agent)),
            Err(_) => Err(anyhow::anyhow!("config_path is not UTF-8")),
        }
    };
    match result {
        Ok(handle) => handle,
        Err(e) => {
            // SAFETY: the caller's contract on err.
            unsafe { copy_out(&format!("{e:#}"), err, err_len) };
            std::ptr::null_mut()
        }
    }
}

/// A file descriptor that is readable while orders wait for `vigil_agent_next_order` (for
/// `poll`, `select` or `epoll`; do not read or close it). -1 if `agent` is NULL or stopped.
#[no_mangle]
pub extern "C" fn vigil_agent_fd(agent: *const VigilAgent) -> c_int {
    agents().mailbox(agent).map_or(-1, |mailbox| mailbox.wake.as_raw_fd())
}

/// Takes the next order into `*order`: 1 if there was one, 0 if none waits, -1 if an argument
/// is NULL or `agent` stopped. Never blocks.
///
/// # Safety
/// `order` is NULL or points to a writable `vigil_order`.
#[no_mangle]
pub unsafe extern "C" fn vigil_agent_next_order(agent: *const VigilAgent, order: *mut VigilOrder) -> c_int {
    // SAFETY: the caller's contract.
    let (Some(mailbox), Some(order)) = (agents().mailbox(agent), unsafe { order.as_mut() }) else {
        return -1;
    };
    let Some((handle, env)) = mailbox.take() else { return 0 };
    write_order(order, handle, &env);
    1
}

/// An order as the host program sees it.
fn write_order(order: &mut VigilOrder, handle: u64, env: &OrderEnv) {
    order.handle = handle;
    order.kind = if env.kind == OrderKind::CloseWindow {
        VIGIL_ORDER_CLOSE_WINDOW
    } else {
        VIGIL_ORDER_BEGIN_RECOVERY
    };
    order.target_generation = env.target_generation;
    fill(&mut order.id, &env.id);
    fill(&mut order.target, &env.target);
    let addrs = env.target_addrs.iter().take(VIGIL_ADDRS_MAX);
    order.addr_count = addrs.len() as u32;
    for (field, addr) in order.addrs.iter_mut().zip(addrs) {
        fill(field, addr);
    }
    for field in &mut order.addrs[order.addr_count as usize..] {
        fill(field, "");
    }
}

/// Reports how the order `handle` went: `VIGIL_OUTCOME_DONE` or `VIGIL_OUTCOME_FAILED`. 0 on
/// success; -1 if `agent` is NULL or stopped, the outcome unknown, or the handle unknown or
/// already reported.
#[no_mangle]
pub extern "C" fn vigil_agent_report(agent: *const VigilAgent, handle: u64, outcome: c_int) -> c_int {
    let Some(mailbox) = agents().mailbox(agent) else { return -1 };
    let ok = match outcome {
        VIGIL_OUTCOME_DONE => true,
        VIGIL_OUTCOME_FAILED => false,
        _ => return -1,
    };
    if mailbox.report(handle, ok) {
        0
    } else {
        -1
    }
}

/// Stops the agent (its loop ends, orders not reported count as failed) and frees it. NULL, and
/// an agent stopped already, are ignored, whatever agents were started since. Waits at most 5 s.
#[no_mangle]
pub extern "C" fn vigil_agent_stop(agent: *mut VigilAgent) {
    let Some(Agent { runtime, stop, loop_done, mailbox }) = agents().remove(agent) else { return };
    let _ = stop.send(());
    let _ = runtime.block_on(async { tokio::time::timeout(STOP_WAIT, loop_done).await });
    runtime.shutdown_timeout(STOP_WAIT);
    drop(mailbox);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory `tag` holding a cluster key and the config of client `c1` (its state
    /// there too, its parent unreachable); the config's path.
    fn client_config(tag: &str) -> (PathBuf, std::ffi::CString) {
        let dir = std::env::temp_dir().join(format!("vigil-capi-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        crate::key::generate(&dir.join("cluster.key"), 1, true).unwrap();
        let config = dir.join("client.toml");
        let text = format!(
            "name = \"c1\"\nparents = [\"127.0.0.1:9\"]\nkey_file = \"{0}/cluster.key\"\nstate_dir = \"{0}\"\n",
            dir.display()
        );
        std::fs::write(&config, text).unwrap();
        let path = std::ffi::CString::new(config.to_str().unwrap()).unwrap();
        (dir, path)
    }

    /// Starts a client agent from the config at `path`.
    fn client_agent(path: &CStr) -> *mut VigilAgent {
        let mut err = [0 as c_char; 256];
        // SAFETY: a NUL-terminated path and an error buffer of the length given.
        let agent =
            unsafe { vigil_agent_start(VIGIL_ROLE_CLIENT, path.as_ptr(), err.as_mut_ptr(), err.len()) };
        assert!(!agent.is_null(), "{:?}", text(&err));
        agent
    }

    fn is_live(agent: *mut VigilAgent) -> bool {
        agents().mailbox(agent).is_some()
    }

    #[test]
    fn stopping_an_agent_twice_is_a_no_op() {
        let (dir, path) = client_config("stop");
        let agent = client_agent(&path);
        vigil_agent_stop(agent);
        vigil_agent_stop(agent);
        vigil_agent_stop(std::ptr::null_mut());
        assert!(!is_live(agent));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stopped_agents_handle_names_no_agent_started_since() {
        let (dir, path) = client_config("restop");
        let first = client_agent(&path);
        vigil_agent_stop(first);
        let second = client_agent(&path);
        vigil_agent_stop(first);
        assert!(is_live(second), "the first agent's handle stopped the second");
        assert_ne!(first, second, "a handle is never given twice");
        // SAFETY: all-zero is a valid VigilOrder (integers and char arrays).
        let mut order: VigilOrder = unsafe { std::mem::zeroed() };
        assert_eq!(vigil_agent_fd(first), -1);
        // SAFETY: a writable order.
        assert_eq!(unsafe { vigil_agent_next_order(first, &mut order) }, -1);
        assert_eq!(vigil_agent_report(first, 1, VIGIL_OUTCOME_DONE), -1);
        assert!(vigil_agent_fd(second) >= 0);
        // SAFETY: a writable order.
        assert_eq!(unsafe { vigil_agent_next_order(second, &mut order) }, 0, "no order waits");
        vigil_agent_stop(second);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn env(id: &str, addrs: &[&str]) -> OrderEnv {
        OrderEnv {
            id: id.into(),
            kind: OrderKind::BeginRecovery,
            target: "testfs-OST0001".into(),
            target_generation: 9,
            target_addrs: addrs.iter().map(|&a| a.to_owned()).collect(),
            dead: Vec::new(),
            dead_mounts: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Whether the host's descriptor is readable (the byte read is put back).
    fn readable(mailbox: &Mailbox) -> bool {
        let mut byte = [0u8; 1];
        match (&mailbox.wake).read(&mut byte) {
            Ok(1) => {
                (&mailbox.signal).write_all(&byte).unwrap();
                true
            }
            _ => false,
        }
    }

    fn text(field: &[c_char]) -> String {
        let bytes: Vec<u8> = field.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_descriptor_is_readable_exactly_while_orders_wait() {
        let mailbox = Mailbox::new().unwrap();
        assert!(!readable(&mailbox));
        let first = mailbox.deliver(env("1.1", &["a@tcp"]));
        let second = mailbox.deliver(env("1.2", &[]));
        assert!(readable(&mailbox));
        assert_eq!(mailbox.take().unwrap().0, 1);
        assert!(readable(&mailbox), "one more waits");
        assert_eq!(mailbox.take().unwrap().0, 2);
        assert!(!readable(&mailbox));
        assert!(mailbox.take().is_none());
        assert!(mailbox.report(1, true));
        assert!(!mailbox.report(1, false), "reported twice");
        assert!(!mailbox.report(7, true), "unknown");
        assert_eq!(first.blocking_recv(), Ok(true));
        drop(mailbox);
        assert!(second.blocking_recv().is_err(), "never reported: the hook counts it failed");
    }

    #[test]
    fn orders_fill_the_c_struct_truncated_and_terminated() {
        // SAFETY: all-zero is a valid VigilOrder (integers and char arrays).
        let mut order: VigilOrder = unsafe { std::mem::zeroed() };
        write_order(&mut order, 5, &env("5f0e2c1a:3/17", &["10.0.0.7@o2ib", "10.0.1.7@o2ib"]));
        assert_eq!((order.handle, order.kind, order.target_generation), (5, VIGIL_ORDER_BEGIN_RECOVERY, 9));
        assert_eq!((text(&order.id), text(&order.target)), ("5f0e2c1a:3/17".into(), "testfs-OST0001".into()));
        assert_eq!(order.addr_count, 2);
        assert_eq!(text(&order.addrs[1]), "10.0.1.7@o2ib");
        let mut close = env("5f0e2c1a:3/18", &[]);
        close.kind = OrderKind::CloseWindow;
        write_order(&mut order, 6, &close);
        assert_eq!(
            (order.kind, order.addr_count, text(&order.addrs[0])),
            (VIGIL_ORDER_CLOSE_WINDOW, 0, "".into())
        );
        let mut field = [1 as c_char; 4];
        fill(&mut field, "abcdef");
        assert_eq!(text(&field), "abc");
        let mut err = [1 as c_char; 8];
        // SAFETY: 8 writable bytes.
        unsafe { copy_out("a long error message", err.as_mut_ptr(), err.len()) };
        assert_eq!(text(&err), "a long ");
    }

    #[test]
    fn a_value_out_of_its_bounds_is_refused_naming_the_key_its_line_and_the_range() {
        let dir = std::env::temp_dir().join(format!("vigil-capi-bounds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("client.toml");
        let file = "name = \"c1\"\nparents = [\"127.0.0.1:9\"]\n[timing]\nping_interval_ms = 1\n";
        std::fs::write(&config, file).unwrap();
        let path = std::ffi::CString::new(config.to_str().unwrap()).unwrap();
        let mut err = [0 as c_char; 512];
        // SAFETY: a NUL-terminated path and an error buffer of the length given.
        let agent =
            unsafe { vigil_agent_start(VIGIL_ROLE_CLIENT, path.as_ptr(), err.as_mut_ptr(), err.len()) };
        assert!(agent.is_null(), "a 1 ms ping interval started an agent");
        let why = text(&err);
        assert!(why.contains("line 4: ping_interval_ms = 1 is out of range: allowed 50 to 600000"), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_arguments_are_refused_not_crashed() {
        let mut err = [0 as c_char; 128];
        // SAFETY: NULL and valid pointers only.
        unsafe {
            assert!(
                vigil_agent_start(VIGIL_ROLE_CLIENT, std::ptr::null(), err.as_mut_ptr(), err.len()).is_null()
            );
            assert_eq!(text(&err), "config_path is NULL");
            let missing = c"/nonexistent/vigil.toml";
            assert!(
                vigil_agent_start(VIGIL_ROLE_CLIENT, missing.as_ptr(), err.as_mut_ptr(), err.len()).is_null()
            );
            assert!(text(&err).contains("/nonexistent/vigil.toml"), "{}", text(&err));
            assert!(vigil_agent_start(7, missing.as_ptr(), std::ptr::null_mut(), 0).is_null());
            assert_eq!(vigil_agent_fd(std::ptr::null()), -1);
            assert_eq!(vigil_agent_next_order(std::ptr::null(), std::ptr::null_mut()), -1);
            assert_eq!(vigil_agent_report(std::ptr::null(), 1, VIGIL_OUTCOME_DONE), -1);
            vigil_agent_stop(std::ptr::null_mut());
        }
    }
}
