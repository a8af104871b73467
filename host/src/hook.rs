//! Order hooks: how a client reconnects and how a server closes its window, outside the loop.
//!
//! On an order event the driver spawns the hook as its own task and goes on; the outcome comes
//! back through the loop's command queue as `order_done`. A command hook runs through `sh -c`
//! with the order in its environment, and is killed when it overruns its time-out (a failure).
//! Without a hook, the order counts as carried out at once.

use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use vigil_proto::wire::{Action, Order};
use vigil_proto::{Event, Instant, NodeId};

use crate::driver::{Commands, Handler, Machine};
use crate::event_log::{log_event, node_name};
use crate::state::StateFile;

/// What an order tells a hook to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderKind {
    /// A client reconnects to the target now.
    BeginRecovery,
    /// Every live client reconnected: the target's server may close its window.
    CloseWindow,
}

impl OrderKind {
    /// Its name in `VIGIL_ORDER_KIND` and the logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderKind::BeginRecovery => "begin_recovery",
            OrderKind::CloseWindow => "close_window",
        }
    }
}

/// An order as a hook sees it (and as its environment carries it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEnv {
    /// `VIGIL_ORDER_ID`: `<holder>:<mgs_generation>/<seq>`.
    pub id: String,
    /// `VIGIL_ORDER_KIND`.
    pub kind: OrderKind,
    /// `VIGIL_TARGET`.
    pub target: String,
    /// `VIGIL_TARGET_GENERATION`.
    pub target_generation: u32,
    /// `VIGIL_TARGET_ADDRS`, comma-separated.
    pub target_addrs: Vec<String>,
    /// The clients a `CloseWindow` names dead.
    pub dead: Vec<NodeId>,
    /// Their filesystem mounts, as they reported them ([`vigil_proto::wire::mount_tag`]).
    pub dead_mounts: Vec<u64>,
    /// What a server's Lustre set-up adds (`VIGIL_DEAD_CLIENTS`, `VIGIL_DEAD_NIDS`, ...).
    pub extra: Vec<(&'static str, String)>,
}

impl OrderEnv {
    /// The hook's view of `order`.
    pub fn of(order: &Order) -> OrderEnv {
        let (kind, target_addrs, dead, dead_mounts) = match &order.action {
            Action::BeginRecovery { addrs, .. } => (
                OrderKind::BeginRecovery,
                addrs.iter().map(|a| a.as_str().to_owned()).collect(),
                Vec::new(),
                Vec::new(),
            ),
            Action::CloseWindow { dead, dead_mounts, .. } => {
                (OrderKind::CloseWindow, Vec::new(), dead.to_vec(), dead_mounts.to_vec())
            }
        };
        OrderEnv {
            id: order.id.to_string(),
            kind,
            target: order.action.target().as_str().to_owned(),
            target_generation: order.action.target_generation().0,
            target_addrs,
            dead,
            dead_mounts,
            extra: Vec::new(),
        }
    }

    /// The environment variables of a command hook.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("VIGIL_ORDER_ID", self.id.clone()),
            ("VIGIL_ORDER_KIND", self.kind.as_str().to_owned()),
            ("VIGIL_TARGET", self.target.clone()),
            ("VIGIL_TARGET_GENERATION", self.target_generation.to_string()),
            ("VIGIL_TARGET_ADDRS", self.target_addrs.join(",")),
        ];
        vars.extend(self.extra.iter().cloned());
        vars
    }
}

/// A hook run in this process (the demo's simulated reconnections).
pub type InProcess = Arc<dyn Fn(OrderEnv) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// How a node carries out the orders its machine hands it.
#[derive(Clone)]
pub enum Hook {
    /// Done at once, successfully.
    None,
    /// `sh -c CMD` with the order in the environment; exit 0 is success.
    Command {
        /// The shell command.
        command: String,
        /// Killed (and failed) after this long.
        timeout: Duration,
        /// A server following Lustre: how its hook learns the dead clients' Lustre identities.
        lustre: Option<Arc<crate::lustre::HookContext>>,
    },
    /// A function of this process.
    InProcess(InProcess),
}

impl Hook {
    /// A command hook, or none when `command` is unset.
    pub fn command(command: Option<String>, timeout_ms: u64) -> Hook {
        match command {
            Some(command) => {
                Hook::Command { command, timeout: Duration::from_millis(timeout_ms), lustre: None }
            }
            None => Hook::None,
        }
    }
}

/// Kills a hook's whole process group when dropped while armed: a hook that times out, or is
/// abandoned when the daemon stops, takes whatever it started (`lctl`, a `sleep`) with it rather
/// than leaving it to run on after its outcome was reported.
struct Group(Option<libc::pid_t>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(group) = self.0.take() {
            // SAFETY: killpg has no memory preconditions; the group is the hook's own (its leader
            // is our unreaped child, so the id cannot have been reused).
            unsafe { libc::killpg(group, libc::SIGKILL) };
        }
    }
}

/// Runs `sh -c command` with `env`; true on exit 0 within `timeout`.
pub async fn run_command(command: &str, env: &OrderEnv, timeout: Duration) -> bool {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command).envs(env.vars()).stdin(Stdio::null()).kill_on_drop(true);
    // Its own process group, so that a time-out kills the hook's children too.
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            warn!(order = %env.id, "cannot start hook: {e}");
            return false;
        }
    };
    let mut group = Group(child.id().and_then(|id| libc::pid_t::try_from(id).ok()));
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    if waited.is_ok() {
        // Finished: what it left running on purpose is its own business.
        group.0 = None;
    }
    match waited {
        Ok(Ok(status)) if status.success() => true,
        Ok(Ok(status)) => {
            warn!(order = %env.id, %status, "hook failed");
            false
        }
        Ok(Err(e)) => {
            warn!(order = %env.id, "cannot wait for hook: {e}");
            false
        }
        Err(_) => {
            warn!(order = %env.id, timeout_ms = timeout.as_millis(), "hook timed out; killing it and its children");
            drop(group);
            if let Err(e) = child.kill().await {
                warn!(order = %env.id, "cannot kill hook: {e}");
            }
            false
        }
    }
}

/// The event handler of clients and servers: orders go to the hook, the rest to the log.
pub struct MemberHandler<M> {
    /// The node's name, for logs.
    pub name: String,
    /// How orders are carried out.
    pub hook: Hook,
    /// The loop's own command queue, for hooks to report through.
    pub commands: Commands<M>,
    /// Where a generation raised at run time is persisted (none in the demo).
    pub state: Option<StateFile>,
}

impl<M: Machine> Handler<M> for MemberHandler<M> {
    fn on_event(&mut self, machine: &mut M, now: Instant, event: Event) {
        let Event::Order(order) = event else {
            // A client or server has no children: no names to look up.
            log_event(&self.name, &event, |id| node_name(id, None));
            if let Some(state) = &mut self.state {
                state.note(&self.name, &event);
            }
            return;
        };
        let mut env = OrderEnv::of(&order);
        if let Hook::Command { lustre: Some(lustre), .. } = &self.hook {
            env.extra = lustre.vars(&env.dead, &env.dead_mounts);
        }
        info!(node = %self.name, order = %env.id, kind = env.kind.as_str(), target = %env.target, "order");
        let id = order.id;
        let run: Pin<Box<dyn Future<Output = bool> + Send>> = match &self.hook {
            Hook::None => {
                machine.order_done(now, id, true);
                return;
            }
            Hook::Command { command, timeout, .. } => {
                let (command, timeout) = (command.clone(), *timeout);
                Box::pin(async move { run_command(&command, &env, timeout).await })
            }
            Hook::InProcess(f) => f(env),
        };
        let commands = self.commands.clone();
        let name = self.name.clone();
        tokio::spawn(async move {
            let ok = run.await;
            info!(node = %name, order = %id, ok, "order carried out");
            commands
                .send(move |m: &mut M, now| {
                    m.order_done(now, id, ok);
                })
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::ids::{name, nid};
    use vigil_proto::{Generation, OrderId};

    fn begin() -> Order {
        Order {
            id: OrderId { mgs: NodeId(1), mgs_generation: Generation(3), seq: 17 },
            action: Action::BeginRecovery {
                target: name("testfs-OST0001").unwrap(),
                target_generation: Generation(9),
                addrs: [nid("10.0.0.7@o2ib").unwrap(), nid("10.0.1.7@o2ib").unwrap()].into_iter().collect(),
                window_ms: 300_000,
            },
            signer: 0,
            signature: Default::default(),
            age_ms: 0,
        }
    }

    #[test]
    fn the_environment_names_the_order() {
        let env = OrderEnv::of(&begin());
        let vars = env.vars();
        assert_eq!(
            vars[0],
            ("VIGIL_ORDER_ID", "00000001:3/17".to_owned()),
            "the holder, 8 hex digits, first"
        );
        assert_eq!(vars[1], ("VIGIL_ORDER_KIND", "begin_recovery".to_owned()));
        assert_eq!(vars[2], ("VIGIL_TARGET", "testfs-OST0001".to_owned()));
        assert_eq!(vars[3], ("VIGIL_TARGET_GENERATION", "9".to_owned()));
        assert_eq!(vars[4], ("VIGIL_TARGET_ADDRS", "10.0.0.7@o2ib,10.0.1.7@o2ib".to_owned()));
        let close = Order {
            id: OrderId { mgs: NodeId(1), mgs_generation: Generation(3), seq: 18 },
            action: Action::CloseWindow {
                dead_mounts: Default::default(),
                target: name("t").unwrap(),
                target_generation: Generation(9),
                dead: Default::default(),
            },
            signer: 0,
            signature: Default::default(),
            age_ms: 0,
        };
        assert_eq!(OrderEnv::of(&close).kind, OrderKind::CloseWindow);
        assert_eq!(OrderEnv::of(&close).vars().len(), 5, "no Lustre context: the five variables alone");
    }

    #[tokio::test]
    async fn command_hooks_see_the_order_and_report_exit_status() {
        let env = OrderEnv::of(&begin());
        let long = Duration::from_secs(10);
        let check = r#"test "$VIGIL_ORDER_ID" = 00000001:3/17 && test "$VIGIL_TARGET_ADDRS" = 10.0.0.7@o2ib,10.0.1.7@o2ib"#;
        assert!(run_command(check, &env, long).await);
        assert!(!run_command("exit 3", &env, long).await);
        let started = std::time::Instant::now();
        assert!(!run_command("sleep 5", &env, Duration::from_millis(100)).await, "timed out = failed");
        assert!(started.elapsed() < Duration::from_secs(3), "killed, not waited for");
    }
}
