//! The operator commands that talk to running MGSes over HTTP: `vigil status`, `vigil recover`
//! and `vigil close`. Each takes every status holder (`--mgs A,B`): status merges their views
//! ([`crate::holders`]), and an order goes to each of them, so that no holder keeps a recovery
//! the others ended or misses one they began.

use std::fmt::Write;
use std::path::Path;

use anyhow::{bail, Context};
use hyper::Method;

use crate::api_token;
use crate::daemon::mgs::{CloseRequest, RecoverReply, RecoverRequest};
use crate::holders::{self, HolderView, Holders};
use crate::http::request;
use crate::status::{LustreInfo, Status, TargetInfo};

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

/// Asks every holder at once; each answer (or failure) in the order given.
async fn ask_all(
    mgs: &[String],
    method: Method,
    path: &str,
    body: Option<String>,
    token: Option<String>,
) -> Vec<anyhow::Result<String>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (k, base) in mgs.iter().enumerate() {
        let (method, url, body, token) = (method.clone(), url(base, path), body.clone(), token.clone());
        tasks.spawn(async move { (k, call(method, &url, body, token).await) });
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
    let answers = ask_all(mgs, Method::GET, "/api/v1/status", None, token).await;
    let views = mgs
        .iter()
        .zip(answers)
        .map(|(base, answer)| {
            let parsed = answer.and_then(|body| {
                serde_json::from_str::<Status>(&body).context("a status this CLI cannot read")
            });
            match parsed {
                Ok(status) => HolderView { mgs: base.clone(), status: Some(status), error: None },
                Err(e) => HolderView { mgs: base.clone(), status: None, error: Some(format!("{e:#}")) },
            }
        })
        .collect();
    let holders = Holders::compare(views);
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

/// Sends one order request to every holder and prints each one's answer; fails, naming them,
/// if any holder did not take it.
async fn order_all(
    mgs: &[String],
    token: Option<String>,
    path: &str,
    request: String,
    what: &str,
) -> anyhow::Result<()> {
    let answers = ask_all(mgs, Method::POST, path, Some(request), token).await;
    let mut failed = Vec::new();
    for (base, answer) in mgs.iter().zip(answers) {
        let reply = answer.and_then(|body| {
            serde_json::from_str::<RecoverReply>(&body).context("unexpected answer from the MGS")
        });
        match reply {
            Ok(reply) => println!("{base}: order {} issued: {what}", reply.order_id),
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

/// `vigil recover`: asks every holder to order every live client to reconnect to `target`, all
/// naming one target instance, so clients act once whichever holder's order reaches them first.
///
/// Without `--instance` the order names instance 0, "unknown": a client acts on every such
/// order, and the Lustre hook then reconnects without checking the import's instance. With
/// several holders that would run every client's hook once per holder, so the instance must be
/// named (the target's Lustre instance, `lctl get_param obdfilter.<target>.instance`, or any
/// new number for a target without one).
pub async fn recover(
    mgs: &[String],
    token_file: &Path,
    target: String,
    addrs: Vec<String>,
    instance: Option<u32>,
) -> anyhow::Result<()> {
    let instance = match instance {
        Some(instance) => instance,
        None if mgs.len() == 1 => 0,
        None => bail!(
            "{} status holders: name the target instance with --instance N (the target's Lustre \
             instance, or any new number), so that every holder's order is one recovery to clients",
            mgs.len()
        ),
    };
    let token = token(token_file, true)?;
    let request = serde_json::to_string(&RecoverRequest { target: target.clone(), addrs, instance })?;
    let what = format!("every live client reconnects to {target} (instance {instance})");
    let sent = order_all(mgs, token, "/api/v1/recover", request, &what).await;
    if sent.is_err() {
        println!(
            "send it again to the holders that missed it with `--instance {instance}`: clients act once"
        );
    }
    println!("follow it with `vigil status --mgs {}`", mgs.join(","));
    sent
}

/// `vigil close`: asks every holder to close `target`'s recovery window now.
pub async fn close(mgs: &[String], token_file: &Path, target: String) -> anyhow::Result<()> {
    let token = token(token_file, true)?;
    let request = serde_json::to_string(&CloseRequest { target: target.clone() })?;
    let what = format!("{target}'s recovery window closes now");
    let sent = order_all(mgs, token, "/api/v1/close", request, &what).await;
    println!(
        "clients that have not reconnected are evicted; follow it with `vigil status --mgs {}`",
        mgs.join(",")
    );
    sent
}

fn eta(ms: Option<u64>) -> String {
    match ms {
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
        None => "-".to_owned(),
    }
}

/// ` (waiting for r1, r2)` while a window waits for child routers' subtrees.
fn waiting(routers: &[String]) -> String {
    if routers.is_empty() {
        String::new()
    } else {
        format!(" (waiting for {})", routers.join(", "))
    }
}

fn recovery_line(t: &TargetInfo) -> String {
    let Some(r) = &t.recovery else { return "-".to_owned() };
    let pct = if r.live == 0 { 100 } else { u64::from(r.reconnected) * 100 / u64::from(r.live) };
    format!(
        "order {}{}: {}/{} reconnected ({pct}%), {} applied, {} failed, window {}{}, eta {}, {:.1} s",
        r.order_id,
        if r.manual { " (manual)" } else { "" },
        r.reconnected,
        r.live,
        r.applied,
        r.failed,
        if r.closed_by_admin { "closed by admin" } else { &r.window },
        waiting(&r.waiting_for),
        eta(r.eta_ms),
        r.elapsed_ms as f64 / 1000.0,
    )
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
        "MGS {} generation {}, up {:.0} s, {} nodes",
        status.mgs.name,
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

    #[test]
    fn the_table_shows_counts_troubles_and_progress() {
        let node = |name: &str, state: &str| NodeInfo {
            name: name.into(),
            role: "client".into(),
            state: state.into(),
            generation: 1,
            parents: vec!["r1".into()],
            last_heard_ms: 4200,
        };
        let status = Status {
            mgs: MgsInfo { name: "mgs".into(), generation: 2, uptime_ms: 60_000, counters: Vec::new() },
            nodes: vec![node("c1", "alive"), node("c2", "dead")],
            routers: Vec::new(),
            targets: vec![TargetInfo {
                name: "fs-OST0001".into(),
                state: "recovering".into(),
                generation: 3,
                server: Some("s1".into()),
                addrs: Vec::new(),
                recovery: Some(RecoveryInfo {
                    order_id: "2.1".into(),
                    target_generation: 3,
                    manual: false,
                    live: 4,
                    applied: 4,
                    reconnected: 2,
                    failed: 0,
                    window: "open".into(),
                    closed_by_admin: false,
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
        assert!(text.contains("2/4 reconnected (50%)") && text.contains("eta 1.5 s"), "{text}");
        assert!(text.contains("window open (waiting for r2, r3)"), "{text}");
    }
}
