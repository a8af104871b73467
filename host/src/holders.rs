//! Several status holders (`vigil mgs` instances every top router lists as parents) seen as one
//! cluster: which holder answered, one merged view, and where the holders' views disagree.
//!
//! Each holder builds its view from the same router updates, so on a healthy cluster they agree;
//! a disagreement is worth an operator's eye: a holder cut off from a router (it shows that
//! subtree unreachable), a holder that restarted and is still rebuilding, a window one holder
//! closed while another still waits. `vigil status --mgs A,B` and the web view both read this.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

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

    /// The view to show: the first answering holder's, with nodes and targets only others know
    /// added (so a holder cut off from a subtree does not hide it).
    pub fn merged(&self) -> Option<Status> {
        let mut answered = self.holders.iter().filter_map(|h| h.status.as_ref());
        let mut view = answered.next()?.clone();
        for other in answered {
            for n in &other.nodes {
                if !view.nodes.iter().any(|m| m.name == n.name) {
                    view.nodes.push(n.clone());
                }
            }
            for r in &other.routers {
                if !view.routers.iter().any(|m| m.name == r.name) {
                    view.routers.push(r.clone());
                }
            }
            for t in &other.targets {
                if !view.targets.iter().any(|m| m.name == t.name) {
                    view.targets.push(t.clone());
                }
            }
        }
        Some(view)
    }
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
            table.entry(format!("node {}", n.name)).or_default().insert(k, n.state.clone());
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
    for h in &holders.holders {
        match (&h.status, &h.error) {
            (Some(s), _) => {
                let _ = writeln!(
                    out,
                    "  {:<24} {} generation {}, up {:.0} s, {} nodes",
                    h.mgs,
                    s.mgs.name,
                    s.mgs.generation,
                    s.mgs.uptime_ms as f64 / 1000.0,
                    s.nodes.len()
                );
            }
            (None, e) => {
                let _ =
                    writeln!(out, "  {:<24} no answer: {}", h.mgs, e.as_deref().unwrap_or("unknown error"));
            }
        }
    }
    if let Some(view) = holders.merged() {
        let _ = writeln!(out, "\nThe view of {} (nodes only others know added):", view.mgs.name);
        out.push_str(&crate::ctl::render(&view));
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
    use crate::status::{MgsInfo, NodeInfo};

    fn status(mgs: &str, nodes: &[(&str, &str)]) -> Status {
        Status {
            mgs: MgsInfo { name: mgs.into(), generation: 1, uptime_ms: 1000, counters: Vec::new() },
            nodes: nodes
                .iter()
                .map(|(name, state)| NodeInfo {
                    mounts: 0,
                    name: (*name).into(),
                    role: "client".into(),
                    state: (*state).into(),
                    generation: 1,
                    parents: vec!["r1".into()],
                    last_heard_ms: 0,
                })
                .collect(),
            routers: Vec::new(),
            targets: Vec::new(),
        }
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
        assert_eq!(merged.nodes.len(), 3, "c3, known to mgs-b only, is shown");
        let text = render(&h);
        assert!(text.contains("THE HOLDERS DISAGREE ON"), "{text}");
        assert!(text.contains("node c2") && text.contains("unreachable at mgs-a; alive at mgs-b"), "{text}");
    }
}
