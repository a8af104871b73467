//! `vigil router`: the router machine in its UDP loop, and optionally its counters over HTTP.

use std::sync::Arc;

use hyper::{Method, StatusCode};
use tracing::info;
use vigil_proto::{Event, Instant, RouterConfig};

use super::{parents, ready, Shutdown};
use crate::config::{required, table_slots, wire_name, Layered, RouterOpts, DEFAULT_ROUTER_SLOTS};
use crate::driver::{self, slots, Clock, Commands, Handler, RouterMachine};
use crate::event_log::{log_event, node_name};
use crate::http::{self, Refusals, Reply};
use crate::key;
use crate::state::StateFile;
use crate::status::render_counters;
use crate::udp::UdpWatch;

/// A router's event handler: the log is all.
pub struct RouterHandler {
    /// The router's name, for logs.
    pub name: String,
    /// Where a generation raised at run time is persisted (none in the demo).
    pub state: Option<StateFile>,
}

impl Handler<RouterMachine> for RouterHandler {
    fn on_event(&mut self, router: &mut RouterMachine, _now: Instant, event: Event) {
        log_event(&self.name, &event, |id| node_name(id, router.table().get(id).map(|e| e.name.as_str())));
        if let Some(state) = &mut self.state {
            state.note(&self.name, &event);
        }
    }
}

async fn metrics(
    commands: Commands<RouterMachine>,
    udp: UdpWatch,
    refusals: Arc<Refusals>,
    method: Method,
    path: String,
) -> Reply {
    if (method, path.as_str()) != (Method::GET, "/metrics") {
        return Reply::error(StatusCode::NOT_FOUND, "only GET /metrics here");
    }
    match commands.ask(|r, _| (*r.counters(), r.totals(), r.parents_up())).await {
        Some((counters, totals, parents_up)) => {
            let mut out = String::from("# HELP vigil_subtree_nodes Nodes below this router, by state.\n");
            out.push_str("# TYPE vigil_subtree_nodes gauge\n");
            let states = [
                ("alive", totals.alive),
                ("suspect", totals.suspect),
                ("dead", totals.dead),
                ("unreachable", totals.unreachable),
            ];
            for (state, n) in states {
                out.push_str(&format!("vigil_subtree_nodes{{state=\"{state}\"}} {n}\n"));
            }
            out.push_str("# HELP vigil_parents_up Parents that answer.\n# TYPE vigil_parents_up gauge\n");
            out.push_str(&format!("vigil_parents_up {parents_up}\n"));
            render_counters(&mut out, &counters);
            udp.render(&mut out);
            refusals.render(&mut out);
            Reply::metrics(out)
        }
        None => Reply::error(StatusCode::SERVICE_UNAVAILABLE, "the router is shutting down"),
    }
}

/// `vigil router`: runs until SIGTERM or SIGINT.
pub async fn run(opts: RouterOpts) -> anyhow::Result<()> {
    let opts = opts.load()?;
    let name = required(opts.name.clone(), "name")?;
    let timing = opts.node.timing.resolve()?;
    let table_slots = table_slots(opts.table_slots, DEFAULT_ROUTER_SLOTS)?;
    let keys = key::load(&opts.node.key_file())?;
    let listen = required(opts.listen, "listen")?;
    let (_, upstream) = parents(&opts.upstream.parents).await?;
    let mut state = StateFile::boot(&opts.node.state_dir(), &name)?;
    let generation = state.generation();
    let mut config =
        RouterConfig::new(wire_name(&name, "router")?, generation, upstream, keys).with_timing(timing);
    config.order_keys = super::order_keys(&opts.upstream.order_pubs)?;

    let shutdown = Shutdown::on_signals()?;
    let socket = driver::bind(listen, opts.node.udp_recv_buffer).await?;
    let metrics_listener = match opts.metrics {
        Some(addr) => Some(http::bind(addr).await?),
        None => None,
    };
    state.commit()?;
    let clock = Clock::start();
    let machine = RouterMachine::new(config, slots(table_slots), clock.now());
    let handler = RouterHandler { name: name.clone(), state: Some(state) };
    let spawned = driver::spawn(socket, machine, |_| handler, clock, shutdown.wait())?;
    let mut addrs = vec![("udp", spawned.addr)];
    if let Some(listener) = metrics_listener {
        addrs.push(("metrics", listener.local_addr()?));
        let (commands, udp) = (spawned.commands.clone(), spawned.udp.clone());
        let refusals = Arc::new(Refusals::default());
        let counted = refusals.clone();
        let app = move |asked: http::Asked| {
            metrics(commands.clone(), udp.clone(), counted.clone(), asked.method, asked.path)
        };
        tokio::spawn(http::serve(listener, app, shutdown.wait(), refusals, http::BODY_TIMEOUT));
    }
    ready(opts.node.ready_file.as_deref(), &addrs)?;
    info!(name, generation = generation.0, udp = %spawned.addr, "router started");
    let router = spawned.task.await?;
    info!(counters = ?router.counters(), "router stopped");
    Ok(())
}
