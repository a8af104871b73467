//! One node's story through a seed, for triage (`vigil-sim swarm --seeds N --trace NODE`).
//!
//! A violation's report tells what went wrong and the faults around it; why is usually in one
//! node's dealings: the verdicts its parents gave it, where a client with two parents counted,
//! and what each status holder summed meanwhile. The tracer keeps, in time order, every event
//! that names the node (at whichever node told it), the node's own events, a two-parent client's
//! home as it changes, and each holder's progress of every recovery as it changes, beside the
//! number of clients the holder's view shows live (what the close checks the sums against).

use std::collections::HashMap;

use vigil_proto::wire::Role;
use vigil_proto::{Event, Instant, NodeId};

use crate::{Machine, Net};

/// The lines of one node's story, and what was last told of each thing that changes.
pub struct Tracer {
    node: usize,
    id: String,
    last: HashMap<(usize, String), String>,
    lines: Vec<String>,
}

impl Tracer {
    /// A tracer of the node named `name`, if the seed drew one.
    pub fn new(net: &Net, name: &str) -> Option<Tracer> {
        let node = net.nodes().iter().position(|n| n.name == name)?;
        let id = format!("{:?}", NodeId::from_name(&net.node(node).name));
        Some(Tracer { node, id, last: HashMap::new(), lines: Vec::new() })
    }

    /// Node `i` was handed something and told `events`.
    pub fn drained(&mut self, net: &Net, i: usize, events: &[(u64, Event)]) {
        let at = net.node(i);
        for (t, event) in events {
            let told = format!("{event:?}");
            if i == self.node || told.contains(&self.id) {
                self.lines.push(format!("{t:>8} ms {}: {told}", at.name));
            }
        }
        match &at.machine {
            Machine::Client(c) if i == self.node => {
                let home = format!("home {:?}", c.home_parent().filter(|_| at.up));
                self.changed(net, i, "home", home);
            }
            Machine::Mgs(m) => {
                let now = Instant(net.now());
                let live = m.nodes(now).filter(|n| n.role == Role::Client && n.state.is_live()).count();
                for r in m.recoveries() {
                    let p = &r.progress;
                    let what = format!(
                        "{} instance {}: live {}, applied {}, reconnected {}, failed {}, uncounted {}, \
                         view live {live}, phase {:?}",
                        r.target,
                        r.target_generation.0,
                        p.live,
                        p.applied,
                        p.reconnected,
                        p.failed,
                        r.uncounted,
                        r.phase
                    );
                    self.changed(net, i, &format!("{:?}", r.order()), what);
                }
            }
            _ => {}
        }
    }

    /// Notes `what` of `key` at node `i` if it is not what was last noted.
    fn changed(&mut self, net: &Net, i: usize, key: &str, what: String) {
        let key = (i, key.to_owned());
        if self.last.get(&key) != Some(&what) {
            self.lines.push(format!("{:>8} ms {}: {what}", net.now(), net.node(i).name));
            self.last.insert(key, what);
        }
    }

    /// The story, in time order.
    pub fn lines(self) -> Vec<String> {
        self.lines
    }
}
