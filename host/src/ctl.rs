//! The operator commands that talk to a running MGS over HTTP: `vigil status`, `vigil recover`
//! and `vigil close`.

use std::fmt::Write;
use std::path::Path;

use anyhow::{bail, Context};
use hyper::Method;

use crate::api_token;
use crate::daemon::mgs::{CloseRequest, RecoverReply, RecoverRequest};
use crate::http::request;
use crate::status::{Status, TargetInfo};

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

/// `vigil status`: the table, or the raw JSON.
pub async fn status(mgs: &str, token_file: &Path, json: bool) -> anyhow::Result<()> {
    let body = call(Method::GET, &url(mgs, "/api/v1/status"), None, token(token_file, false)?).await?;
    if json {
        println!("{body}");
        return Ok(());
    }
    let status: Status = serde_json::from_str(&body).context("the MGS sent a status this CLI cannot read")?;
    print!("{}", render(&status));
    Ok(())
}

/// `vigil recover`: asks the MGS to order every live client to reconnect to `target`.
pub async fn recover(mgs: &str, token_file: &Path, target: String, addrs: Vec<String>) -> anyhow::Result<()> {
    let token = token(token_file, true)?;
    let request = serde_json::to_string(&RecoverRequest { target: target.clone(), addrs })?;
    let body = call(Method::POST, &url(mgs, "/api/v1/recover"), Some(request), token).await?;
    let reply: RecoverReply = serde_json::from_str(&body).context("unexpected answer from the MGS")?;
    println!("order {} issued: every live client reconnects to {target}", reply.order_id);
    println!("follow it with `vigil status --mgs {mgs}`");
    Ok(())
}

/// `vigil close`: asks the MGS to close `target`'s recovery window now.
pub async fn close(mgs: &str, token_file: &Path, target: String) -> anyhow::Result<()> {
    let token = token(token_file, true)?;
    let request = serde_json::to_string(&CloseRequest { target: target.clone() })?;
    let body = call(Method::POST, &url(mgs, "/api/v1/close"), Some(request), token).await?;
    let reply: RecoverReply = serde_json::from_str(&body).context("unexpected answer from the MGS")?;
    println!("order {} issued: {target}'s recovery window closes now", reply.order_id);
    println!("clients that have not reconnected are evicted; follow it with `vigil status --mgs {mgs}`");
    Ok(())
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
            }],
        };
        let text = render(&status);
        assert!(text.contains("alive 1, suspect 0, dead 1, unreachable 0"), "{text}");
        assert!(text.contains("c2") && !text.contains("c1 "), "{text}");
        assert!(text.contains("2/4 reconnected (50%)") && text.contains("eta 1.5 s"), "{text}");
        assert!(text.contains("window open (waiting for r2, r3)"), "{text}");
    }
}
