//! The operator commands that talk to running MGSes over HTTP: `vigil status`, `vigil recover`
//! and `vigil close`. Each takes every status holder (`--mgs A,B`): status merges their views
//! ([`crate::holders`]), and an order goes to each of them, so that no holder keeps a recovery
//! the others ended or misses one they began.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::Method;

use crate::api_token;
use crate::daemon::mgs::{CloseReply, CloseRequest, RecoverReply, RecoverRequest};
use crate::holders::{self, Holders};
use crate::http::request;
use crate::status::{LustreInfo, NodeInfo, RecoveryInfo, Status, TargetInfo};

/// The MGS API unless told otherwise.
pub const DEFAULT_MGS_URL: &str = "http://127.0.0.1:7471";

/// `path` on the MGS at `base`: a URL, or `host:port` alone (then plain HTTP).
fn url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.contains("://") {
        format!("{base}{path}")
    } else {
        format!("http://{base}{path}")
    }
}

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

async fn call(
    method: Method,
    url: &str,
    body: Option<String>,
    token: Option<String>,
) -> anyhow::Result<String> {
    let (status, body) = request(method, url, body, token.as_deref()).await?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or(body);
        bail!("the MGS answered {status}: {message}");
    }
    Ok(body)
}

/// How long the CLI waits for each holder.
const CLI_LIMIT: Duration = Duration::from_secs(10);

/// Asks every holder at once, each within `limit`; each answer (or failure) in the order given.
pub(crate) async fn ask_all(
    mgs: &[String],
    method: Method,
    path: &str,
    body: Option<String>,
    token: Option<String>,
    limit: Duration,
) -> Vec<anyhow::Result<String>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (k, base) in mgs.iter().enumerate() {
        let (method, url, body, token) = (method.clone(), url(base, path), body.clone(), token.clone());
        tasks.spawn(async move {
            let answer = tokio::time::timeout(limit, call(method, &url, body, token)).await;
            (k, answer.unwrap_or_else(|_| Err(anyhow::anyhow!("no answer from {url} within {limit:?}"))))
        });
    }
    let mut answers: Vec<Option<anyhow::Result<String>>> = mgs.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((k, answer)) = joined {
            answers[k] = Some(answer);
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(anyhow::anyhow!("the request task failed"))))
        .collect()
}

/// `vigil status`: the table, or the raw JSON. With several holders: who answered, the merged
/// view and where the holders disagree; it fails only when none answered.
pub async fn status(mgs: &[String], token_file: &Path, json: bool) -> anyhow::Result<()> {
    let token = token(token_file, false)?;
    if let [one] = mgs {
        let body = call(Method::GET, &url(one, "/api/v1/status"), None, token).await?;
        if json {
            println!("{body}");
            return Ok(());
        }
        let status: Status =
            serde_json::from_str(&body).context("the MGS sent a status this CLI cannot read")?;
        print!("{}", render(&status));
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
    let answers = ask_all(mgs, Method::GET, "/api/v1/status", None, token, CLI_LIMIT).await;
    let mut known = Known { views: Vec::new(), names: Vec::new(), live_clients: None };
    let mut errors = Vec::new();
    for (base, answer) in mgs.iter().zip(answers) {
        let status = answer.and_then(|body| {
            serde_json::from_str::<Status>(&body).context("the MGS sent a status this CLI cannot read")
        });
        match status {
            Ok(status) => {
                known.live_clients.get_or_insert_with(|| {
                    let live =
                        |n: &&NodeInfo| n.role == "client" && matches!(n.state.as_str(), "alive" | "suspect");
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
    let hint = match crate::config::did_you_mean(target, known.iter().map(String::as_str)) {
        Some(k) => format!("did you mean {k}? "),
        None if known.is_empty() => "no target is known. ".to_owned(),
        None if known.len() <= 8 => format!("known targets: {}. ", known.join(", ")),
        None => format!("{} targets are known (`vigil status` lists them). ", known.len()),
    };
    anyhow::anyhow!("no status holder knows target {target} (no server reports it, no recovery of it): nothing sent; {hint}{force_hint}")
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
    let answers = ask_all(mgs, Method::POST, path, Some(request), token, CLI_LIMIT).await;
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
        .filter(|r| r.window != "closed")
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
        waiting(&r.waiting_for)
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

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// ` (waiting for r1, r2)` while a window waits for child routers' subtrees.
fn waiting(routers: &[String]) -> String {
    if routers.is_empty() {
        String::new()
    } else {
        format!(" (waiting for {})", routers.join(", "))
    }
}

/// One recovery, every figure named: `order 7/3: 2 of 4 reconnected (50%), 4 applied, 0 failed,
/// window open for 1.5 s, eta 1.5 s`; failed clients by name: `1 failed (c07)`.
fn recovery_line(t: &TargetInfo) -> String {
    let Some(r) = &t.recovery else { return "-".to_owned() };
    let pct = if r.live == 0 { 100 } else { u64::from(r.reconnected) * 100 / u64::from(r.live) };
    let window = match r.window.as_str() {
        "closed" if r.closed_by_admin => format!("window closed by admin after {}", secs(r.elapsed_ms)),
        "closed" => format!("window closed after {}", secs(r.elapsed_ms)),
        "queued" => format!("queued for {}", secs(r.elapsed_ms)),
        other => format!(
            "window {other}{} for {}, eta {}",
            waiting(&r.waiting_for),
            secs(r.elapsed_ms),
            r.eta_ms.map_or_else(|| "unknown".to_owned(), secs)
        ),
    };
    format!(
        "order {}{}: {} of {} reconnected ({pct}%), {} applied, {} failed{}, {window}",
        r.order_id,
        if r.manual { " (manual)" } else { "" },
        r.reconnected,
        r.live,
        r.applied,
        r.failed,
        failed_names(r),
    )
}

/// ` (c07, c12 and 3 more)`: the failed clients the MGS names, and how many it does not.
fn failed_names(r: &RecoveryInfo) -> String {
    match (r.failed_clients.as_slice(), r.failed_unnamed) {
        ([], _) => String::new(),
        (names, 0) => format!(" ({})", names.join(", ")),
        (names, more) => format!(" ({} and {more} more)", names.join(", ")),
    }
}

/// Lustre's view of a target's recovery, as a line under the target's row.
fn lustre_line(l: &LustreInfo) -> String {
    let mut line = match l.status.as_str() {
        "INACTIVE" => "Lustre: no recovery (no client to recover)".to_owned(),
        "COMPLETE" => format!(
            "Lustre: COMPLETE in {} s, {}/{} recovered, {} evicted",
            l.duration_s, l.connected, l.recoverable, l.evicted
        ),
        status => format!(
            "Lustre: {status}, {}/{} connected, {} evicted, {} stale",
            l.connected, l.recoverable, l.evicted, l.stale
        ),
    };
    if l.partial {
        let _ = write!(
            line,
            "; partial: waits for {} client(s) Vigil does not know, left to Lustre's timer",
            l.stale
        );
    }
    line
}

/// The readable status: counts per state, routers and their subtrees, nodes not alive, targets.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let counts = status.node_counts();
    let _ = writeln!(
        out,
        "MGS {} (id {}) generation {}, up {:.0} s, {} nodes",
        status.mgs.name,
        status.mgs.id,
        status.mgs.generation,
        status.mgs.uptime_ms as f64 / 1000.0,
        status.nodes.len()
    );
    let per_state: Vec<String> = counts.pairs().iter().map(|(s, n)| format!("{s} {n}")).collect();
    let _ = writeln!(out, "  {}", per_state.join(", "));
    if !status.routers.is_empty() {
        let _ = writeln!(
            out,
            "\nROUTER                           STATE        CHILDREN (alive/suspect/dead/unreachable)"
        );
        for r in &status.routers {
            let c = &r.children;
            let mut line = format!(
                "{:<32} {:<12} {}/{}/{}/{}",
                r.name, r.state, c.alive, c.suspect, c.dead, c.unreachable
            );
            if let Some(s) = &r.subtree {
                let _ = write!(line, "   subtree {}/{}/{}/{}", s.alive, s.suspect, s.dead, s.unreachable);
            }
            let _ = writeln!(out, "{line}");
        }
    }
    let troubled: Vec<_> = status.nodes.iter().filter(|n| n.state != "alive").collect();
    if !troubled.is_empty() {
        let _ = writeln!(out, "\nNOT ALIVE                        ROLE     STATE        LAST HEARD   VIA");
        for n in troubled {
            let _ = writeln!(
                out,
                "{:<32} {:<8} {:<12} {:>8.1} s   {}",
                n.name,
                n.role,
                n.state,
                n.last_heard_ms as f64 / 1000.0,
                n.parents.join(",")
            );
        }
    }
    if !status.targets.is_empty() {
        let _ = writeln!(out, "\nTARGET                           STATE        GEN   RECOVERY");
        for t in &status.targets {
            let _ = writeln!(out, "{:<32} {:<12} {:<5} {}", t.name, t.state, t.generation, recovery_line(t));
            if let Some(l) = &t.lustre {
                let _ = writeln!(out, "{:<51} {}", "", lustre_line(l));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{MgsInfo, NodeInfo, RecoveryInfo};

    #[test]
    fn the_mgs_is_a_url_or_host_and_port() {
        assert_eq!(url("127.0.0.1:7471", "/api/v1/status"), "http://127.0.0.1:7471/api/v1/status");
        assert_eq!(url("http://mgs01:7471/", "/metrics"), "http://mgs01:7471/metrics");
        assert_eq!(url("[::1]:7471", "/x"), "http://[::1]:7471/x");
    }

    fn target(name: &str, state: &str, generation: u32) -> TargetInfo {
        TargetInfo {
            name: name.into(),
            state: state.into(),
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
        let up = |g| ("http://mgs1".to_owned(), target("testfs-OST0001", "up", g));
        let known = Known { views: vec![up(12), up(12)], names: names.clone(), live_clients: Some(3) };
        let plan = plan_recover("testfs-OST0001", 2, &known, Vec::new(), None, false).unwrap();
        assert_eq!(plan, RecoverPlan { instance: 12, addrs: vec!["10.1.0.7@o2ib".into()], known: true });
        let given = plan_recover("testfs-OST0001", 2, &known, vec!["x@tcp".into()], Some(13), false).unwrap();
        assert_eq!((given.instance, given.addrs), (13, vec!["x@tcp".to_owned()]));
        let split = Known { views: vec![up(12), up(13)], names, live_clients: None };
        let err = plan_recover("testfs-OST0001", 2, &split, Vec::new(), None, false).unwrap_err().to_string();
        assert!(err.contains("disagree"), "{err}");
    }

    #[test]
    fn the_table_shows_counts_troubles_and_progress() {
        let node = |name: &str, state: &str| NodeInfo {
            mounts: 0,
            name: name.into(),
            role: "client".into(),
            state: state.into(),
            generation: 1,
            parents: vec!["r1".into()],
            last_heard_ms: 4200,
        };
        let status = Status {
            mgs: MgsInfo {
                name: "mgs".into(),
                id: "5f0e2c1a".into(),
                generation: 2,
                uptime_ms: 60_000,
                counters: Vec::new(),
                udp: Vec::new(),
            },
            nodes: vec![node("c1", "alive"), node("c2", "dead")],
            routers: Vec::new(),
            targets: vec![TargetInfo {
                name: "fs-OST0001".into(),
                state: "recovering".into(),
                generation: 3,
                server: Some("s1".into()),
                addrs: Vec::new(),
                recovery: Some(RecoveryInfo {
                    order_id: "2/1".into(),
                    target_generation: 3,
                    manual: false,
                    live: 4,
                    applied: 4,
                    reconnected: 2,
                    failed: 0,
                    failed_clients: Vec::new(),
                    failed_unnamed: 0,
                    window: "open".into(),
                    closed_by_admin: false,
                    ended_by: None,
                    waiting_for: vec!["r2".into(), "r3".into()],
                    eta_ms: Some(1500),
                    elapsed_ms: 1500,
                }),
                lustre: Some(LustreInfo {
                    status: "RECOVERING".into(),
                    recoverable: 6,
                    connected: 4,
                    evicted: 1,
                    stale: 1,
                    partial: true,
                    duration_s: 0,
                }),
            }],
        };
        let text = render(&status);
        assert!(text.contains("Lustre: RECOVERING, 4/6 connected, 1 evicted, 1 stale"), "{text}");
        assert!(text.contains("partial: waits for 1 client(s) Vigil does not know"), "{text}");
        assert!(text.contains("alive 1, suspect 0, dead 1, unreachable 0"), "{text}");
        assert!(text.contains("c2") && !text.contains("c1 "), "{text}");
        assert!(
            text.contains("order 2/1: 2 of 4 reconnected (50%), 4 applied, 0 failed, window open (waiting for r2, r3) for 1.5 s, eta 1.5 s"),
            "{text}"
        );
        // Closed, or with no rate to go by: no figure without its name, no estimate made up.
        let mut closed = status.clone();
        let r = closed.targets[0].recovery.as_mut().unwrap();
        (r.window, r.closed_by_admin, r.elapsed_ms) = ("closed".into(), true, 7_100);
        let text = render(&closed);
        assert!(text.contains("0 failed, window closed by admin after 7.1 s\n"), "{text}");
        // Failed clients by name, and how many went unnamed.
        let mut failed = status.clone();
        let r = failed.targets[0].recovery.as_mut().unwrap();
        (r.failed, r.failed_clients, r.failed_unnamed) = (11, vec!["c07".into(), "c12".into()], 9);
        assert!(
            render(&failed).contains("4 applied, 11 failed (c07, c12 and 9 more), window open"),
            "{}",
            render(&failed)
        );
        let mut stuck = status.clone();
        stuck.targets[0].recovery.as_mut().unwrap().eta_ms = None;
        assert!(render(&stuck).contains("for 1.5 s, eta unknown\n"), "{}", render(&stuck));
    }
}
