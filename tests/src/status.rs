//! The MGS status JSON (`GET /api/v1/status`) as tests read it.
//!
//! The fields issue 3 names are a contract, so they are required here: a status missing one
//! fails to parse, and every test that reads status fails loudly. Fields the contract does not
//! name are optional, and unknown fields are ignored (fields are only ever added).

use serde::Deserialize;

/// The whole document, with its raw text for failure messages.
#[derive(Clone, Debug, Deserialize)]
pub struct Status {
    /// The MGS itself.
    pub mgs: Mgs,
    /// Every node the MGS knows.
    pub nodes: Vec<Node>,
    /// Targets with their current or last recovery.
    pub targets: Vec<Target>,
    /// The JSON as served.
    #[serde(skip)]
    pub raw: String,
}

/// The MGS.
#[derive(Clone, Debug, Deserialize)]
pub struct Mgs {
    /// Its boot generation.
    pub generation: u32,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its machine's counters: datagrams received and sent, and those dropped by reason.
    #[serde(default)]
    pub counters: Vec<Counter>,
}

/// One counter of the MGS machine.
#[derive(Clone, Debug, Deserialize)]
pub struct Counter {
    /// The counter, e.g. `unauthenticated`.
    pub name: String,
    /// Its value.
    pub value: u64,
}

impl Mgs {
    /// The value of counter `name`, if the status lists it.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters.iter().find(|c| c.name == name).map(|c| c.value)
    }
}

/// A node.
#[derive(Clone, Debug, Deserialize)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// `client`, `server` or `router`.
    pub role: String,
    /// `alive`, `suspect`, `dead` or `unreachable`.
    pub state: String,
    /// Its boot generation.
    pub generation: u32,
    /// Its parents' names.
    pub parents: Vec<String>,
    /// Milliseconds since last heard.
    pub last_heard_ms: u64,
    /// How many filesystem mounts the client reported.
    #[serde(default)]
    pub mounts: u32,
}

/// A target.
#[derive(Clone, Debug, Deserialize)]
pub struct Target {
    /// Its name.
    pub name: String,
    /// `up`, `recovering` or `down`.
    pub state: String,
    /// Its instance.
    pub generation: u32,
    /// Its current or last recovery.
    pub recovery: Option<Recovery>,
    /// Lustre's own view of its recovery (servers that follow Lustre).
    #[serde(default)]
    pub lustre: Option<Lustre>,
}

/// A target's recovery as Lustre reports it.
#[derive(Clone, Debug, Deserialize)]
pub struct Lustre {
    /// `INACTIVE`, `WAITING`, `RECOVERING` or `COMPLETE`.
    pub status: String,
    /// Clients to recover.
    pub recoverable: u32,
    /// Of them, connected again (once complete: recovered).
    pub connected: u32,
    /// Evicted during the recovery.
    pub evicted: u32,
    /// Still awaited.
    pub stale: u32,
    /// Vigil's window closed while Lustre still waits for clients Vigil does not know.
    pub partial: bool,
    /// Seconds the recovery took, once complete.
    pub duration_s: u32,
}

/// A recovery's progress.
#[derive(Clone, Debug, Deserialize)]
pub struct Recovery {
    /// `<holder>:<mgs_generation>/<seq>`.
    pub order_id: String,
    /// Live clients counted.
    pub live: u32,
    /// Of them, those that reported the order.
    pub applied: u32,
    /// Of them, those that reconnected.
    pub reconnected: u32,
    /// Of them, those whose reconnection failed.
    pub failed: u32,
    /// Those clients by name (as far as the MGS names them).
    #[serde(default)]
    pub failed_clients: Vec<String>,
    /// Failed clients not named (past the bound).
    #[serde(default)]
    pub failed_unnamed: u32,
    /// `open` or `closed`.
    pub window: String,
    /// Estimated ms until done (none before a rate is known).
    pub eta_ms: Option<u64>,
    /// The target instance recovering (0 for a manual order).
    #[serde(default)]
    pub target_generation: Option<u32>,
    /// Issued by an admin.
    #[serde(default)]
    pub manual: Option<bool>,
    /// Closed by an admin (`vigil close`).
    #[serde(default)]
    pub closed_by_admin: Option<bool>,
    /// Once closed: `order`, `admin` or `target` (what ended it at this MGS).
    #[serde(default)]
    pub ended_by: Option<String>,
    /// While open: the MGS's child routers the window waits for.
    #[serde(default)]
    pub waiting_for: Vec<String>,
    /// From the order to the close (or now).
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
}

impl Recovery {
    /// Whether the window is closed.
    pub fn closed(&self) -> bool {
        self.window == "closed"
    }
}

impl Status {
    /// Parses a status document; the error quotes the JSON and says what broke the contract.
    pub fn parse(text: &str) -> Result<Status, String> {
        let mut status: Status = serde_json::from_str(text)
            .map_err(|e| format!("the status JSON breaks the contract: {e}\n{text}"))?;
        status.raw = text.to_owned();
        Ok(status)
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The state of node `name` (`None` if the MGS does not know it).
    pub fn state(&self, name: &str) -> Option<&str> {
        self.node(name).map(|n| n.state.as_str())
    }

    /// Whether every node in `names` is in `state`.
    pub fn all_in(&self, names: &[String], state: &str) -> bool {
        names.iter().all(|n| self.state(n) == Some(state))
    }

    /// The target named `name`.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The recovery of target `name`, if any.
    pub fn recovery(&self, name: &str) -> Option<&Recovery> {
        self.target(name).and_then(|t| t.recovery.as_ref())
    }

    /// How many nodes of `role` are in `state`.
    pub fn count(&self, role: &str, state: &str) -> usize {
        self.nodes.iter().filter(|n| n.role == role && n.state == state).count()
    }

    /// `name=state` for every node, sorted: a compact line for assertion messages.
    pub fn summary(&self) -> String {
        let mut states: Vec<String> = self.nodes.iter().map(|n| format!("{}={}", n.name, n.state)).collect();
        states.sort();
        states.join(" ")
    }

    /// What a failed wait shows instead of the whole document: the MGS's generation, every
    /// node's state ([`Status::summary`]) and each target's state and recovery figures, a few
    /// lines in all.
    pub fn brief(&self) -> String {
        let mut out = format!("mgs generation {}\nnodes: {}", self.mgs.generation, self.summary());
        for t in &self.targets {
            out.push_str(&format!("\ntarget {} {} instance {}", t.name, t.state, t.generation));
            if let Some(r) = &t.recovery {
                out.push_str(&format!(
                    ": order {} window {}, live {} applied {} reconnected {} failed {}",
                    r.order_id, r.window, r.live, r.applied, r.reconnected, r.failed
                ));
                if !r.waiting_for.is_empty() {
                    out.push_str(&format!(", waiting for {}", r.waiting_for.join(" ")));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_fields_are_required() {
        let ok = r#"{"mgs":{"generation":3,"extra":1},"nodes":[{"name":"c1","role":"client","state":"alive",
            "generation":1,"parents":["r1"],"last_heard_ms":5}],"routers":[],"targets":[{"name":"T",
            "state":"recovering","generation":2,"recovery":{"order_id":"3/1","live":1,"applied":1,
            "reconnected":0,"failed":0,"window":"open","eta_ms":null}}]}"#;
        let s = Status::parse(ok).unwrap();
        assert_eq!(s.state("c1"), Some("alive"));
        assert_eq!(s.recovery("T").map(|r| r.closed()), Some(false));
        assert_eq!(s.count("client", "alive"), 1);
        let missing = ok.replace(r#""last_heard_ms":5"#, r#""heard":5"#);
        assert!(Status::parse(&missing).unwrap_err().contains("last_heard_ms"));
    }
}
