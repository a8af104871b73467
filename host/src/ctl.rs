//! The operator commands that talk to running MGSes over HTTP: `vigil status`, `vigil recover`
//! and `vigil close`. Each takes every status holder (`--mgs A,B`): status merges their views
//! ([`crate::holders`]), and an order goes to each of them, so that no holder keeps a recovery
//! the others ended or misses one they began.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::Method;

use crate::admin_api::{unknown_target_hint, CloseReply, CloseRequest, RecoverReply, RecoverRequest};
use crate::api_token;
use crate::holders::{self, Holders};
use vigil_proto::wire::Role;

use crate::status::{NodeInfo, RecoveryInfo, Status, TargetInfo, Window};
use crate::status_text;

/// The MGS API unless told otherwise.
pub const DEFAULT_MGS_URL: &str = "http://127.0.0.1:7471";

/// The token the CLI sends: required for orders, sent with reads when the file can be read (an
/// MGS with `api_token_reads` wants it there too).
fn token(file: &Path, required: bool) -> anyhow::Result<Option<String>> {
    match api_token::load(file) {
        Ok(tokens) => Ok(Some(tokens.current().to_owned())),
        Err(e) if required => Err(e.context(
            "the MGS takes orders only with its API token: pass --token-file (or VIGIL_API_TOKEN_FILE) \
             naming a copy of the MGS's token file",
        )),
        Err(_) => Ok(None),
    }
}

/// How long the CLI waits for each holder.
const CLI_LIMIT: Duration = Duration::from_secs(10);

/// `vigil status`: the table, or the raw JSON. With several holders: who answered, the merged
/// view and where the holders disagree; it fails only when none answered.
pub async fn status(mgs: &[String], token_file: &Path, json: bool) -> anyhow::Result<()> {
    let token = token(token_file, false)?;
    if let [one] = mgs {
        let body = holders::call(Method::GET, &holders::url(one, "/api/v1/status"), None, token).await?;
        if json {
            println!("{body}");
            return Ok(());
        }
        let status: Status =
            serde_json::from_str(&body).context("the MGS sent a status this CLI cannot read")?;
        print!("{}", status_text::render(&status));
        return Ok(());
    }
    let holders = Holders::compare(holders::ask(mgs, token, CLI_LIMIT).await);
    if json {
        println!("{}", serde_json::to_string_pretty(&holders)?);
    } else {
        print!("{}", holders::render(&holders));
    }
    if holders.holders.iter().all(|h| h.status.is_none()) {
        bail!("no status holder answered");
    }
    Ok(())
}

/// What the holders that answered say of a target, and every target any of them knows.
struct Known {
    /// `(holder, its view of the target)` for each holder that answered and knows it.
    views: Vec<(String, TargetInfo)>,
    /// Every target name any holder knows, sorted.
    names: Vec<String>,
    /// Live clients, as the first holder that answered counts them.
    live_clients: Option<usize>,
}

/// Asks every holder for its status, to tell what an order would do before sending it; fails
/// when none answered.
async fn look_up(mgs: &[String], token: Option<String>, target: &str) -> anyhow::Result<Known> {
    let answers = holders::ask_all(mgs, Method::GET, "/api/v1/status", None, token, CLI_LIMIT).await;
    let mut known = Known { views: Vec::new(), names: Vec::new(), live_clients: None };
    let mut errors = Vec::new();
    for (base, answer) in mgs.iter().zip(answers) {
        let status = answer.and_then(|body| {
            serde_json::from_str::<Status>(&body).context("the MGS sent a status this CLI cannot read")
        });
        match status {
            Ok(status) => {
                known.live_clients.get_or_insert_with(|| {
                    let live = |n: &&NodeInfo| n.role == Role::Client && n.state.is_live();
                    status.nodes.iter().filter(live).count()
                });
                known.names.extend(status.targets.iter().map(|t| t.name.clone()));
                if let Some(t) = status.targets.into_iter().find(|t| t.name == target) {
                    known.views.push((base.clone(), t));
                }
            }
            Err(e) => errors.push(format!("{base} ({e:#})")),
        }
    }
    if errors.len() == mgs.len() {
        bail!("no status holder answered: {}", errors.join(", "));
    }
    for e in errors {
        println!("did not answer what it knows (the order goes to it anyway): {e}");
    }
    known.names.sort_unstable();
    known.names.dedup();
    Ok(known)
}

/// The error for a target no holder knows, naming what they know.
fn unknown(target: &str, known: &[String], force_hint: &str) -> anyhow::Error {
    let hint = unknown_target_hint(target, known);
    anyhow::anyhow!("no status holder knows target {target} (no server reports it, no recovery of it): nothing sent; {hint} {force_hint}")
}

/// Sends one order request to every holder and prints what each did (`done` reads its
/// answer); fails, naming them, if any holder did not take it.
async fn order_all<R: serde::de::DeserializeOwned>(
    mgs: &[String],
    token: Option<String>,
    path: &str,
    request: String,
    done: impl Fn(&R) -> String,
) -> anyhow::Result<()> {
    let answers = holders::ask_all(mgs, Method::POST, path, Some(request), token, CLI_LIMIT).await;
    let mut failed = Vec::new();
    for (base, answer) in mgs.iter().zip(answers) {
        let reply = answer
            .and_then(|body| serde_json::from_str::<R>(&body).context("unexpected answer from the MGS"));
        match reply {
            Ok(reply) => println!("{base}: {}", done(&reply)),
            Err(e) => {
                println!("{base}: not issued: {e:#}");
                failed.push(format!("{base} ({e:#})"));
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} status holders did not take the order: {}",
            failed.len(),
            mgs.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// ` at A, B`, or what clients do without an address.
fn at(addrs: &[String]) -> String {
    if addrs.is_empty() {
        " (no address: each client reconnects to the target's address it knows)".to_owned()
    } else {
        format!(" at {}", addrs.join(", "))
    }
}

/// `instance N`, or `an unknown instance` for 0.
fn instance_text(instance: u32) -> String {
    match instance {
        0 => "whatever instance it runs (instance unknown)".to_owned(),
        n => format!("instance {n}"),
    }
}

/// What `vigil recover` orders: the target instance and addresses.
#[derive(Debug, PartialEq, Eq)]
struct RecoverPlan {
    instance: u32,
    addrs: Vec<String>,
    /// Whether a holder knows the target.
    known: bool,
}

/// Decides what a recover order names, from what the holders know of the target: the instance
/// given, else the one its server reports (if the holders agree on it), else 0 ("unknown",
/// with one holder only); the addresses given, else the ones its server reports. A target no
/// holder knows needs `force`.
fn plan_recover(
    target: &str,
    holders: usize,
    known: &Known,
    addrs: Vec<String>,
    instance: Option<u32>,
    force: bool,
) -> anyhow::Result<RecoverPlan> {
    if known.views.is_empty() && !force {
        return Err(unknown(
            target,
            &known.names,
            "`--force` orders every live client to reconnect to it anyway (a target without a Vigil agent)",
        ));
    }
    let serving: Vec<&(String, TargetInfo)> = known
        .views
        .iter()
        .filter(|(_, t)| matches!(t.state.as_str(), "up" | "recovering") && t.server.is_some())
        .collect();
    let instance = match instance {
        Some(instance) => instance,
        None => match serving.first() {
            Some((_, first)) => {
                if let Some((other, t)) = serving.iter().find(|(_, t)| t.generation != first.generation) {
                    bail!(
                        "the status holders disagree on {target}'s instance ({} at {}, {} at {other}): name it with --instance N",
                        first.generation, serving[0].0, t.generation
                    );
                }
                first.generation
            }
            None if holders == 1 => 0,
            None => bail!(
                "{holders} status holders and no instance of {target} is known: name the target instance with \
                 --instance N (the target's Lustre instance, or any new number), so that every holder's order \
                 is one recovery to clients"
            ),
        },
    };
    let addrs = match (addrs.is_empty(), known.views.first()) {
        (true, Some((_, t))) => t.addrs.clone(),
        _ => addrs,
    };
    Ok(RecoverPlan { instance, addrs, known: !known.views.is_empty() })
}

/// `vigil recover`: asks every holder to order every live client to reconnect to `target`, all
/// naming one target instance, so clients act once whichever holder's order reaches them first.
/// It first asks the holders what they know of the target: one none knows is refused unless
/// `force` (a typo would order every client and leave a recovery of a target that does not
/// exist); for a known one the order names the instance and addresses its server reports.
///
/// Instance 0 is "unknown": a client acts on every such order, and the Lustre hook then
/// reconnects without checking the import's instance. With several holders that would run every
/// client's hook once per holder, so an unknown target's instance must be named (the target's
/// Lustre instance, `lctl get_param obdfilter.<target>.instance`, or any new number).
pub async fn recover(
    mgs: &[String],
    token_file: &Path,
    target: String,
    addrs: Vec<String>,
    instance: Option<u32>,
    force: bool,
) -> anyhow::Result<()> {
    let token = token(token_file, true)?;
    let known = look_up(mgs, token.clone(), &target).await?;
    let plan = plan_recover(&target, mgs.len(), &known, addrs, instance, force)?;
    let whom = match known.live_clients {
        Some(n) => format!("every live client ({n} now)"),
        None => "every live client".to_owned(),
    };
    println!(
        "ordering {whom} to reconnect to {}{} {}{}",
        if plan.known { "" } else { "the unknown target " },
        target,
        instance_text(plan.instance),
        at(&plan.addrs)
    );
    let request =
        RecoverRequest { target: target.clone(), addrs: plan.addrs, instance: plan.instance, force };
    let sent =
        order_all(mgs, token, "/api/v1/recover", serde_json::to_string(&request)?, |r: &RecoverReply| {
            let addrs = r.addrs.as_deref().map(at).unwrap_or_default();
            let instance = r.target_generation.map(instance_text).unwrap_or_else(|| "?".to_owned());
            format!("order {} issued: every live client reconnects to {target} {instance}{addrs}", r.order_id)
        })
        .await;
    if sent.is_err() {
        println!(
            "send it again to the holders that missed it with `--instance {}`: clients act once",
            plan.instance
        );
    }
    println!("follow it with `vigil status --mgs {}`", mgs.join(","));
    sent
}

/// `vigil close`: asks every holder to close `target`'s recovery window now. It first asks the
/// holders what they know: a target none knows, or whose window every holder shows closed, is
/// not sent (nothing would be done); otherwise it says what is still missing before closing.
pub async fn close(mgs: &[String], token_file: &Path, target: String) -> anyhow::Result<()> {
    let token = token(token_file, true)?;
    let known = look_up(mgs, token.clone(), &target).await?;
    if known.views.is_empty() {
        return Err(unknown(&target, &known.names, "there is no window to close"));
    }
    let open: Vec<&RecoveryInfo> = (known.views.iter())
        .filter_map(|(_, t)| t.recovery.as_ref())
        .filter(|r| r.window != Window::Closed)
        .collect();
    let Some(r) = open.first() else {
        for (base, t) in &known.views {
            match &t.recovery {
                Some(r) => println!(
                    "{base}: {target}'s window is closed already (recovery order {}, closed {}): nothing to do",
                    r.order_id,
                    if r.closed_by_admin { "by an admin" } else { "with every live client back, or by the target" },
                ),
                None => println!("{base}: {target} has no recovery: nothing to do"),
            }
        }
        return Ok(());
    };
    println!(
        "closing {target}'s window now (order {}: {} of {} live clients reconnected{}): its server is told \
         to end recovery; the clients the MGS holds dead may be evicted by its hook, the others are left \
         to the target's own window",
        r.order_id,
        r.reconnected,
        r.live,
        status_text::waiting(&r.waiting_for)
    );
    let request = serde_json::to_string(&CloseRequest { target: target.clone() })?;
    let sent = order_all(mgs, token, "/api/v1/close", request, |r: &CloseReply| {
        if r.already_closed {
            format!("the window was closed already (order {}): nothing done", r.order_id)
        } else if r.dead.is_empty() {
            format!("order {} issued: {target}'s window closes; no client is held dead", r.order_id)
        } else {
            format!(
                "order {} issued: {target}'s window closes; held dead (its hook may evict them): {}",
                r.order_id,
                r.dead.join(", ")
            )
        }
    })
    .await;
    println!("follow it with `vigil status --mgs {}`", mgs.join(","));
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::wire::TargetState;

    fn target(name: &str, state: TargetState, generation: u32) -> TargetInfo {
        TargetInfo {
            name: name.into(),
            state,
            generation,
            server: Some("oss1".into()),
            addrs: vec!["10.1.0.7@o2ib".into()],
            recovery: None,
            lustre: None,
        }
    }

    #[test]
    fn a_recover_order_names_the_known_instance_and_refuses_an_unknown_target() {
        let names = vec!["testfs-OST0001".to_owned(), "testfs-OST0002".to_owned()];
        let none = Known { views: Vec::new(), names: names.clone(), live_clients: Some(3) };
        let err = plan_recover("testfs-OST9999", 1, &none, Vec::new(), None, false).unwrap_err().to_string();
        assert!(err.contains("no status holder knows target testfs-OST9999"), "{err}");
        assert!(
            err.contains("known targets: testfs-OST0001, testfs-OST0002") && err.contains("--force"),
            "{err}"
        );
        let err = plan_recover("testfs-OST0010", 1, &none, Vec::new(), None, false).unwrap_err().to_string();
        assert!(err.contains("did you mean testfs-OST0001?"), "{err}");
        // Forced: instance unknown (0) with one holder; several must name one.
        let forced = plan_recover("testfs-OST9999", 1, &none, Vec::new(), None, true).unwrap();
        assert_eq!(forced, RecoverPlan { instance: 0, addrs: Vec::new(), known: false });
        assert!(plan_recover("testfs-OST9999", 2, &none, Vec::new(), None, true).is_err());
        // Known and up: its instance and addresses, with one holder or several.
        let up = |g| ("http://mgs1".to_owned(), target("testfs-OST0001", TargetState::Up, g));
        let known = Known { views: vec![up(12), up(12)], names: names.clone(), live_clients: Some(3) };
        let plan = plan_recover("testfs-OST0001", 2, &known, Vec::new(), None, false).unwrap();
        assert_eq!(plan, RecoverPlan { instance: 12, addrs: vec!["10.1.0.7@o2ib".into()], known: true });
        let given = plan_recover("testfs-OST0001", 2, &known, vec!["x@tcp".into()], Some(13), false).unwrap();
        assert_eq!((given.instance, given.addrs), (13, vec!["x@tcp".to_owned()]));
        let split = Known { views: vec![up(12), up(13)], names, live_clients: None };
        let err = plan_recover("testfs-OST0001", 2, &split, Vec::new(), None, false).unwrap_err().to_string();
        assert!(err.contains("disagree"), "{err}");
    }
}
