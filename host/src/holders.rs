//! Several status holders (`vigil mgs` instances every top router lists as parents) seen as one
//! cluster: which holder answered, one merged view, and where the holders' views disagree.
//!
//! Each holder builds its view from the same router updates, so on a healthy cluster they agree;
//! a disagreement is worth an operator's eye: a holder cut off from a router (it shows that
//! subtree unreachable), a holder that restarted and is still rebuilding, a window one holder
//! closed while another still waits. `vigil status --mgs A,B` and the web view both read this.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::Method;
use serde::{Deserialize, Serialize};

use crate::http::request;
use crate::status::Status;

/// One holder's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HolderView {
    /// The holder's HTTP API, as asked.
    pub mgs: String,
    /// Its status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Why it did not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One thing the holders see differently: what, and each answering holder's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disagreement {
    /// `node <name>`, `target <name>` or `recovery <target>`.
    pub what: String,
    /// `(holder name, its value)` for every holder that answered.
    pub seen: Vec<(String, String)>,
}

/// Every holder's answer and where the answers disagree (the JSON of `vigil status --json` with
/// several holders).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Holders {
    /// In the order asked.
    pub holders: Vec<HolderView>,
    /// Empty when the answering holders agree.
    pub disagreements: Vec<Disagreement>,
}

impl Holders {
    /// The answers, compared.
    pub fn compare(holders: Vec<HolderView>) -> Holders {
        let answered: Vec<&Status> = holders.iter().filter_map(|h| h.status.as_ref()).collect();
        let disagreements = disagreements(&answered);
        Holders { holders, disagreements }
    }

    /// The view to show: the first answering holder's, with nodes, routers and targets only
    /// others know added (so a holder cut off from a subtree does not hide it), each named with
    /// the holder it came from.
    pub fn merged(&self) -> Option<Merged> {
        let mut answered = self.holders.iter().filter_map(|h| h.status.as_ref());
        let first = answered.next()?;
        let mut view = first.clone();
        let base = view.mgs.name.clone();
        let mut only_at = BTreeMap::new();
        // The names already in `view`, where each of the others' is looked up: a cluster's tens
        // of thousands of nodes are merged at every refresh of a web view with peers.
        let mut nodes: HashSet<&str> = first.nodes.iter().map(|n| n.name.as_str()).collect();
        let mut routers: HashSet<&str> = first.routers.iter().map(|r| r.name.as_str()).collect();
        let mut targets: HashSet<&str> = first.targets.iter().map(|t| t.name.as_str()).collect();
        for other in answered {
            let holder = &other.mgs.name;
            for n in &other.nodes {
                if nodes.insert(&n.name) {
                    only_at.insert(format!("node {}", n.name), holder.clone());
                    view.nodes.push(n.clone());
                }
            }
            for r in &other.routers {
                if routers.insert(&r.name) {
                    only_at.insert(format!("router {}", r.name), holder.clone());
                    view.routers.push(r.clone());
                }
            }
            for t in &other.targets {
                if targets.insert(&t.name) {
                    only_at.insert(format!("target {}", t.name), holder.clone());
                    view.targets.push(t.clone());
                }
            }
        }
        Some(Merged { base, only_at, view })
    }

    /// What the web view reads: each holder in brief, the merged view, the disagreements.
    pub fn cluster(&self) -> Cluster {
        let holders = self.holders.iter().map(Brief::of).collect();
        Cluster { holders, disagreements: self.disagreements.clone(), merged: self.merged() }
    }
}

/// The view of several holders as one: whose it is, and what came from the others.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Merged {
    /// The holder whose view it is (the first that answered), by name: every figure comes from
    /// it unless `only_at` names another.
    pub base: String,
    /// `node <name>`, `router <name>` or `target <name>` the base holder does not know → the
    /// holder it came from.
    pub only_at: BTreeMap<String, String>,
    /// The merged status.
    pub view: Status,
}

/// One holder's answer in brief.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Brief {
    /// The holder's HTTP API, as asked.
    pub mgs: String,
    /// Its name, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its node id in hex (its order ids' prefix), when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its generation, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    /// How long it has been up, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_ms: Option<u64>,
    /// How many nodes it knows, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<usize>,
    /// Why it did not answer, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Brief {
    fn of(h: &HolderView) -> Brief {
        let s = h.status.as_ref();
        Brief {
            mgs: h.mgs.clone(),
            name: s.map(|s| s.mgs.name.clone()),
            id: s.map(|s| s.mgs.id.clone()),
            generation: s.map(|s| s.mgs.generation),
            uptime_ms: s.map(|s| s.mgs.uptime_ms),
            nodes: s.map(|s| s.nodes.len()),
            error: match s {
                Some(_) => None,
                None => Some(h.error.clone().unwrap_or_else(|| "unknown error".to_owned())),
            },
        }
    }
}

/// `GET /api/v1/holders`: the cluster as the holders a holder knows see it (that holder first).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cluster {
    /// Every holder asked, this one first.
    pub holders: Vec<Brief>,
    /// Empty when the answering holders agree.
    pub disagreements: Vec<Disagreement>,
    /// The merged view; none if no holder answered.
    pub merged: Option<Merged>,
}

/// `path` on the MGS at `base`: a URL, or `host:port` alone (then plain HTTP).
pub fn url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.contains("://") {
        format!("{base}{path}")
    } else {
        format!("http://{base}{path}")
    }
}

/// One request to one holder: its body, or the error it answered.
pub async fn call(
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

/// Asks every holder at once, each within `limit`; each answer (or failure) in the order given.
pub async fn ask_all(
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

/// Asks the holders at `bases` for their status at once, each within `limit`.
pub async fn ask(bases: &[String], token: Option<String>, limit: Duration) -> Vec<HolderView> {
    let answers = ask_all(bases, Method::GET, "/api/v1/status", None, token, limit).await;
    bases
        .iter()
        .zip(answers)
        .map(|(base, answer)| {
            let parsed = answer.and_then(|body| {
                serde_json::from_str::<Status>(&body).context("a status this Vigil cannot read")
            });
            match parsed {
                Ok(status) => HolderView { mgs: base.clone(), status: Some(status), error: None },
                Err(e) => HolderView { mgs: base.clone(), status: None, error: Some(format!("{e:#}")) },
            }
        })
        .collect()
}

/// What a recovery looks like to compare: its instance and window (order ids differ between
/// holders by design: each issues its own order for the same restart).
fn recovery_summary(t: &crate::status::TargetInfo) -> String {
    match &t.recovery {
        None => "none".to_owned(),
        Some(r) => {
            let window = if r.closed_by_admin { "closed by admin" } else { r.window.as_str() };
            format!("instance {} window {window}", r.target_generation)
        }
    }
}

fn disagreements(answered: &[&Status]) -> Vec<Disagreement> {
    // what → holder → value; a thing one holder does not know is `unknown` there.
    let mut table: BTreeMap<String, BTreeMap<usize, String>> = BTreeMap::new();
    for (k, s) in answered.iter().enumerate() {
        for n in &s.nodes {
            table.entry(format!("node {}", n.name)).or_default().insert(k, n.state.to_string());
        }
        for t in &s.targets {
            let state = format!("{} instance {}", t.state, t.generation);
            table.entry(format!("target {}", t.name)).or_default().insert(k, state);
            table.entry(format!("recovery {}", t.name)).or_default().insert(k, recovery_summary(t));
        }
    }
    let mut out = Vec::new();
    for (what, values) in table {
        let seen: Vec<(String, String)> = (0..answered.len())
            .map(|k| {
                (answered[k].mgs.name.clone(), values.get(&k).cloned().unwrap_or_else(|| "unknown".into()))
            })
            .collect();
        if seen.iter().any(|(_, v)| *v != seen[0].1) {
            out.push(Disagreement { what, seen });
        }
    }
    out
}

/// The readable form: who answered, the merged view, the disagreements.
pub fn render(holders: &Holders) -> String {
    let mut out = String::new();
    let answered = holders.holders.iter().filter(|h| h.status.is_some()).count();
    let _ = writeln!(out, "{answered} of {} status holders answered:", holders.holders.len());
    for b in holders.holders.iter().map(Brief::of) {
        match (&b.name, b.generation, b.uptime_ms, b.nodes) {
            (Some(name), Some(generation), Some(uptime_ms), Some(nodes)) => {
                let up = uptime_ms as f64 / 1000.0;
                let _ = writeln!(
                    out,
                    "  {:<24} {name} (id {}) generation {generation}, up {up:.0} s, {nodes} nodes",
                    b.mgs,
                    b.id.as_deref().unwrap_or("?")
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  {:<24} no answer: {}",
                    b.mgs,
                    b.error.as_deref().unwrap_or("unknown error")
                );
            }
        }
    }
    if let Some(merged) = holders.merged() {
        let _ = writeln!(out, "\nThe view of {} (nodes only others know added):", merged.base);
        out.push_str(&crate::status_text::render(&merged.view));
        for (what, holder) in &merged.only_at {
            let _ = writeln!(out, "  {what}: known to {holder} only");
        }
    }
    if holders.disagreements.is_empty() {
        if answered > 1 {
            let _ = writeln!(out, "\nThe holders agree.");
        }
    } else {
        let _ = writeln!(out, "\nTHE HOLDERS DISAGREE ON");
        for d in &holders.disagreements {
            let seen: Vec<String> = d.seen.iter().map(|(h, v)| format!("{v} at {h}")).collect();
            let _ = writeln!(out, "  {:<40} {}", d.what, seen.join("; "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::wire::Role;

    #[test]
    fn the_mgs_is_a_url_or_host_and_port() {
        assert_eq!(url("127.0.0.1:7471", "/api/v1/status"), "http://127.0.0.1:7471/api/v1/status");
        assert_eq!(url("http://mgs01:7471/", "/metrics"), "http://mgs01:7471/metrics");
        assert_eq!(url("[::1]:7471", "/x"), "http://[::1]:7471/x");
    }
    use crate::status::{MgsInfo, NodeInfo};

    fn status(mgs: &str, nodes: &[(&str, &str)]) -> Status {
        Status {
            mgs: MgsInfo {
                name: mgs.into(),
                id: String::new(),
                generation: 1,
                uptime_ms: 1000,
                counters: Vec::new(),
                udp: Vec::new(),
            },
            nodes: nodes
                .iter()
                .map(|(name, state)| NodeInfo {
                    mounts: 0,
                    name: (*name).into(),
                    role: Role::Client,
                    state: serde_json::from_value(serde_json::json!(state)).expect("a name the status uses"),
                    generation: 1,
                    parents: vec!["r1".into()],
                    last_heard_ms: 0,
                })
                .collect(),
            routers: Vec::new(),
            targets: Vec::new(),
        }
    }

    fn routers(names: &[&str]) -> Vec<crate::status::RouterInfo> {
        let router = |name: &&str| crate::status::RouterInfo {
            name: (*name).into(),
            state: vigil_proto::wire::NodeState::Alive,
            children: Default::default(),
            subtree: None,
        };
        names.iter().map(router).collect()
    }

    fn view(url: &str, s: Option<Status>) -> HolderView {
        let error = s.is_none().then(|| "connection refused".to_owned());
        HolderView { mgs: url.into(), status: s, error }
    }

    #[test]
    fn agreeing_holders_merge_silently_and_a_silent_one_is_named() {
        let a = status("mgs-a", &[("c1", "alive"), ("c2", "dead")]);
        let b = status("mgs-b", &[("c1", "alive"), ("c2", "dead")]);
        let h = Holders::compare(vec![
            view("http://a", Some(a)),
            view("http://b", Some(b)),
            view("http://c", None),
        ]);
        assert!(h.disagreements.is_empty(), "{:?}", h.disagreements);
        let text = render(&h);
        assert!(text.contains("2 of 3 status holders answered"), "{text}");
        assert!(text.contains("http://c") && text.contains("no answer: connection refused"), "{text}");
        assert!(text.contains("The view of mgs-a") && text.contains("The holders agree."), "{text}");
        let brief = h.cluster().holders;
        assert_eq!((brief[1].name.as_deref(), brief[1].nodes), (Some("mgs-b"), Some(2)));
        assert_eq!((brief[2].name.as_deref(), brief[2].error.as_deref()), (None, Some("connection refused")));
    }

    #[test]
    fn disagreements_name_each_holders_value_and_the_merge_keeps_every_node() {
        let a = status("mgs-a", &[("c1", "alive"), ("c2", "unreachable")]);
        let b = status("mgs-b", &[("c1", "alive"), ("c2", "alive"), ("c3", "alive")]);
        let h = Holders::compare(vec![view("http://a", Some(a)), view("http://b", Some(b))]);
        let what: Vec<&str> = h.disagreements.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(what, ["node c2", "node c3"]);
        assert_eq!(
            h.disagreements[0].seen,
            [("mgs-a".into(), "unreachable".into()), ("mgs-b".into(), "alive".into())]
        );
        assert_eq!(h.disagreements[1].seen[0].1, "unknown");
        let merged = h.merged().expect("one answered");
        assert_eq!(merged.base, "mgs-a");
        assert_eq!(merged.view.nodes.len(), 3, "c3, known to mgs-b only, is shown");
        assert_eq!(merged.only_at, BTreeMap::from([("node c3".to_owned(), "mgs-b".to_owned())]));
        let text = render(&h);
        assert!(text.contains("THE HOLDERS DISAGREE ON"), "{text}");
        assert!(text.contains("node c2") && text.contains("unreachable at mgs-a; alive at mgs-b"), "{text}");
    }

    #[test]
    fn views_of_a_full_mgs_table_merge_in_linear_time_base_first_then_each_newcomer_in_order() {
        // The MGS's default table size; a web view with peers asks for this merge every second.
        const NODES: usize = 57_344;
        // The one bound on time in these tests: a merge that scanned the merged list for each
        // node takes over a minute here (debug), a linear one a few hundred milliseconds, so
        // the bound holds on a loaded machine and still catches the quadratic form.
        const LIMIT: std::time::Duration = std::time::Duration::from_secs(5);
        let names = |from: usize| (from..from + NODES).map(|i| format!("c{i:06}")).collect::<Vec<_>>();
        let holder = |mgs: &str, names: &[String], known_routers: &[&str]| {
            let nodes: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "alive")).collect();
            let mut s = status(mgs, &nodes);
            s.routers = routers(known_routers);
            s
        };
        // mgs-b knows the second half of mgs-a's nodes and as many more.
        let a = holder("mgs-a", &names(0), &["r1", "r2"]);
        let b = holder("mgs-b", &names(NODES / 2), &["r2", "r3"]);
        let h = Holders {
            holders: vec![view("http://a", Some(a)), view("http://b", Some(b))],
            disagreements: vec![],
        };
        let started = std::time::Instant::now();
        let merged = h.merged().expect("both answered");
        let took = started.elapsed();
        let all: Vec<String> = (0..NODES + NODES / 2).map(|i| format!("c{i:06}")).collect();
        let shown: Vec<&str> = merged.view.nodes.iter().map(|n| n.name.as_str()).collect();
        assert!(shown == all, "mgs-a's nodes in its order, then those only mgs-b knows in mgs-b's");
        let shown: Vec<&str> = merged.view.routers.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(shown, ["r1", "r2", "r3"]);
        let mut only_b: BTreeMap<String, String> =
            all[NODES..].iter().map(|n| (format!("node {n}"), "mgs-b".to_owned())).collect();
        only_b.insert("router r3".into(), "mgs-b".into());
        assert!(merged.only_at == only_b, "every node and router only mgs-b knows, and no other");
        assert!(took < LIMIT, "two views of {NODES} nodes merged in {took:?}");
    }
}
