//! `vigil mgs`: the MGS machine in its UDP loop, its persisted state, and its HTTP API.
//!
//! The machine lives in the loop task only; the HTTP side asks it for snapshots and manual orders
//! through the loop's command queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde::Serialize;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tracing::{debug, error, info, warn};
use vigil_proto::mgs::{CloseError, RecoverError};
use vigil_proto::wire::{Action, MAX_TARGET_ADDRS};
use vigil_proto::{Closed, Event, Generation, Instant, MgsConfig, Name, MAX_EXPECTED_ROUTERS};

use super::{ready, Shutdown};
use crate::admin_api::{unknown_target_hint, CloseReply, CloseRequest, RecoverReply, RecoverRequest};
use crate::api_guard::{Access, Guard};
use crate::config::{
    required, table_slots, wire_name, wire_nids, Layered, MgsOpts, DEFAULT_HTTP, DEFAULT_MGS_SLOTS,
};
use crate::driver::{self, slots, Clock, Commands, Handler, MgsMachine};
use crate::event_log::{log_event, node_name};
use crate::holders::{self, HolderView, Holders};
use crate::http::{self, Asked, Refusals, Reply};
use crate::key;
use crate::metrics::{self, SharedRecoveryMetrics};
use crate::order_key;
use crate::state::StateFile;
use crate::status::{render_metrics, snapshot, CounterInfo};
use crate::udp::UdpWatch;
use crate::web;

/// Events the MGS hands out to an observer in the same process (the demo).
pub type Tap = mpsc::UnboundedSender<(Instant, Event)>;

/// The MGS's event handler: logs, persists the order sequence, feeds an optional tap.
pub struct MgsHandler {
    /// The MGS's name, for logs.
    pub name: String,
    /// Where the order sequence is persisted (none in the demo).
    pub state: Option<StateFile>,
    /// An in-process observer.
    pub tap: Option<Tap>,
}

impl Handler<MgsMachine> for MgsHandler {
    fn on_event(&mut self, mgs: &mut MgsMachine, now: Instant, event: Event) {
        log_event(&self.name, &event, |id| node_name(id, mgs.node(id, now).map(|n| n.name.as_str())));
        if let Some(state) = self.state.as_mut() {
            // A child that heard a newer instance of this MGS raised its generation.
            state.note(&self.name, &event);
        }
        if let (Event::OrderIssued(order), Some(state)) = (&event, self.state.as_mut()) {
            if let Err(e) = state.set_order_seq(order.id.seq) {
                // Order ids stay unique through the generation; losing the sequence only loses
                // its continuity across restarts, which is not worth stopping the MGS for.
                error!(order = %order.id, "cannot persist the order sequence: {e:#}");
            }
        }
        let direct_clients = match event {
            Event::DirectClientsExpected => Some(true),
            Event::DirectClientsRetired => Some(false),
            _ => None,
        };
        if let (Some(has), Some(state)) = (direct_clients, self.state.as_mut()) {
            if let Err(e) = state.set_direct_clients(has) {
                // Only a restart loses by it: that MGS could close a window before a direct
                // client whose first pings were lost was heard again, or hold for none.
                error!("cannot persist whether this MGS has direct clients: {e:#}");
            }
        }
        if let (Event::RouterExpected { .. } | Event::RouterRetired { .. }, Some(state)) =
            (&event, self.state.as_mut())
        {
            let names = mgs.expected_routers().map(|(_, n)| n.as_str().to_owned()).collect();
            if let Err(e) = state.set_expected_routers(names) {
                // Only a restart loses by it: that MGS could close a window before this router
                // reported again.
                error!("cannot persist the expected routers: {e:#}");
            }
        }
        if let Some(tap) = &self.tap {
            if tap.send((now, event)).is_err() {
                self.tap = None;
            }
        }
    }
}

const SHUTTING_DOWN: &str = "the MGS is shutting down";

/// A request's JSON body and its target's name, or the 400 that says what is wrong.
fn target_request<T: serde::de::DeserializeOwned>(
    body: &[u8],
    target: fn(&T) -> &str,
) -> Result<(T, Name), Reply> {
    let request: T = serde_json::from_slice(body)
        .map_err(|e| Reply::error(StatusCode::BAD_REQUEST, format!("bad request: {e}")))?;
    let name = wire_name(target(&request), "target").map_err(|e| Reply::error(StatusCode::BAD_REQUEST, e))?;
    Ok((request, name))
}

/// A JSON answer.
fn json_reply<T: Serialize>(value: &T) -> Reply {
    match serde_json::to_string(value) {
        Ok(json) => Reply::json(json),
        Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// The 404 for a target the MGS does not know: what it knows instead, and how to go on.
fn unknown_target(target: &str, known: &[String], what: &str) -> Reply {
    let hint = unknown_target_hint(target, known);
    Reply::error(StatusCode::NOT_FOUND, format!("unknown target {target}: {what}; {hint}"))
}

/// Every target the MGS knows, by name, sorted.
fn known_targets(m: &MgsMachine) -> Vec<String> {
    let reported = m.targets().map(|t| t.status.target.as_str().to_owned());
    let recovered = m.recoveries().iter().map(|r| r.target.as_str().to_owned());
    let mut known: Vec<String> = reported.chain(recovered).collect();
    known.sort_unstable();
    known.dedup();
    known
}

/// Why the MGS loop did not issue an admin's recovery order.
enum NotOrdered {
    Unknown(Vec<String>),
    Refused(RecoverError),
}

/// `POST /api/v1/recover`: an admin's recovery order. A target the MGS does not know is refused
/// unless forced (most likely a typo, which would order every client and leave a recovery of
/// a target that does not exist); for a known one the order names the instance and addresses
/// its server reports, and the answer says which.
async fn recover(commands: Commands<MgsMachine>, body: &[u8]) -> Result<Reply, Reply> {
    let (request, target) = target_request(body, |r: &RecoverRequest| &r.target)?;
    let addrs = wire_nids::<MAX_TARGET_ADDRS>(&request.addrs)
        .map_err(|e| Reply::error(StatusCode::BAD_REQUEST, e))?;
    let (instance, force) = (Generation(request.instance), request.force);
    let asked = commands.ask(move |m, now| {
        if !force && !m.knows_target(&target) {
            return Err(NotOrdered::Unknown(known_targets(m)));
        }
        let id = m.recover_instance(now, target, instance, addrs).map_err(NotOrdered::Refused)?;
        let ordered = m.held_orders().find(|o| o.id == id).map(|o| o.action.clone());
        Ok((id, ordered))
    });
    match asked.await {
        Some(Ok((id, action))) => {
            let (target_generation, addrs) = match action {
                Some(Action::BeginRecovery { target_generation, addrs, .. }) => {
                    (target_generation.0, addrs.iter().map(|a| a.as_str().to_owned()).collect())
                }
                _ => (request.instance, request.addrs.clone()),
            };
            info!(target = %request.target, order = %id, instance = target_generation, addrs = ?addrs, "manual recovery ordered");
            let reply = RecoverReply {
                order_id: id.to_string(),
                target_generation: Some(target_generation),
                addrs: Some(addrs),
            };
            Ok(json_reply(&reply))
        }
        Some(Err(NotOrdered::Unknown(known))) => Err(unknown_target(
            &request.target,
            &known,
            "no server reports it and no recovery of it is known (force the order for a target without a Vigil agent)",
        )),
        Some(Err(NotOrdered::Refused(e @ RecoverError::AdminLimit))) => {
            Err(Reply::error(StatusCode::TOO_MANY_REQUESTS, e))
        }
        Some(Err(NotOrdered::Refused(e))) => Err(Reply::error(StatusCode::SERVICE_UNAVAILABLE, e)),
        None => Err(Reply::error(StatusCode::SERVICE_UNAVAILABLE, SHUTTING_DOWN)),
    }
}

/// `POST /api/v1/close`: an admin closes a recovery window. The answer says whether it closed
/// now or was closed already, and which clients the order names dead (the ones the target's
/// agent may evict).
async fn close(commands: Commands<MgsMachine>, body: &[u8]) -> Result<Reply, Reply> {
    let (request, target) = target_request(body, |r: &CloseRequest| &r.target)?;
    let asked = commands.ask(move |m, now| {
        let closed = m.close(now, &target).map_err(|e| (e, known_targets(m)))?;
        let dead = match m.held_orders().find(|o| o.id == closed.order()).map(|o| &o.action) {
            Some(Action::CloseWindow { dead, .. }) => {
                dead.iter().map(|&id| node_name(id, m.node(id, now).map(|n| n.name.as_str()))).collect()
            }
            _ => Vec::new(),
        };
        Ok::<_, (CloseError, Vec<String>)>((closed, dead))
    });
    match asked.await {
        Some(Ok((closed, dead))) => {
            let already = matches!(closed, Closed::Already(_));
            if already {
                info!(target = %request.target, order = %closed.order(), "close asked of a window closed already: nothing done");
            }
            let reply = CloseReply { order_id: closed.order().to_string(), already_closed: already, dead };
            Ok(json_reply(&reply))
        }
        Some(Err((CloseError::NoRecovery, known))) if !known.contains(&request.target) => Err(
            unknown_target(&request.target, &known, "no server reports it and no recovery of it is known"),
        ),
        Some(Err((e @ CloseError::NoRecovery, _))) => Err(Reply::error(StatusCode::NOT_FOUND, e)),
        Some(Err((e, _))) => Err(Reply::error(StatusCode::CONFLICT, e)),
        None => Err(Reply::error(StatusCode::SERVICE_UNAVAILABLE, SHUTTING_DOWN)),
    }
}

/// How often the status feed looks at the status: at most one event per this.
const EVENT_INTERVAL: Duration = Duration::from_millis(500);
/// How long `GET /api/v1/events` stays silent before a keepalive comment.
const EVENT_KEEPALIVE: Duration = Duration::from_secs(15);
/// Event streams open at once; more are refused (503) and counted.
pub const MAX_EVENT_STREAMS: usize = 32;

/// What the status feed holds: the status JSON, shared by every event stream.
#[derive(Clone, Debug, PartialEq)]
enum Feed {
    /// No stream listens, so nothing is computed.
    Idle,
    /// The latest status.
    Status(Arc<str>),
    /// The MGS loop ended (shutdown): streams end.
    Ended,
}

/// The one task that computes the status for every event stream, every [`EVENT_INTERVAL`] while
/// at least one listens, and publishes it only when it changed: a stream costs a comparison, not
/// a snapshot of the whole cluster.
async fn status_feed(commands: Commands<MgsMachine>, name: Arc<str>, feed: Arc<watch::Sender<Feed>>) {
    let mut tick = tokio::time::interval(EVENT_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if feed.receiver_count() == 0 {
            feed.send_replace(Feed::Idle);
            continue;
        }
        let name = name.clone();
        let Some(status) = commands.ask(move |m, now| snapshot(m, &name, now)).await else {
            feed.send_replace(Feed::Ended);
            return; // the MGS is shutting down
        };
        match serde_json::to_string(&status) {
            Ok(json) => {
                feed.send_if_modified(|f| match f {
                    Feed::Status(old) if **old == *json => false,
                    _ => {
                        *f = Feed::Status(json.into());
                        true
                    }
                });
            }
            Err(e) => error!("cannot encode the status for the event streams: {e}"),
        }
    }
}

/// `GET /api/v1/events`: server-sent events, the status (as `GET /api/v1/status` has it) as an
/// `event: status` message within [`EVENT_INTERVAL`] and then whenever it changes, and a
/// `: keepalive` comment after [`EVENT_KEEPALIVE`] of silence. Ends when the MGS loop does
/// (shutdown) or the client goes away. At most [`MAX_EVENT_STREAMS`] at once.
fn events(feed: &watch::Sender<Feed>, refusals: &Refusals) -> Reply {
    if feed.receiver_count() >= MAX_EVENT_STREAMS {
        refusals.streams.fetch_add(1, Ordering::Relaxed);
        return Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_EVENT_STREAMS} event streams are open already; poll /api/v1/status instead"),
        );
    }
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(stream_status(feed.subscribe(), tx));
    Reply::events(rx)
}

async fn stream_status(mut feed: watch::Receiver<Feed>, tx: mpsc::Sender<Bytes>) {
    feed.mark_changed(); // the current status, if there is one, at once
    loop {
        let message = tokio::select! {
            changed = feed.changed() => {
                if changed.is_err() {
                    return;
                }
                match &*feed.borrow_and_update() {
                    Feed::Status(json) => format!("event: status\ndata: {json}\n\n"),
                    Feed::Idle => continue,
                    Feed::Ended => return,
                }
            }
            () = tokio::time::sleep(EVENT_KEEPALIVE) => ": keepalive\n\n".to_owned(),
            () = tx.closed() => return,
        };
        if tx.send(Bytes::from(message)).await.is_err() {
            return; // the client went away
        }
    }
}

/// How long `GET /api/v1/holders` waits for a peer holder's status.
const PEER_LIMIT: Duration = Duration::from_secs(2);
/// A merged view younger than this is served again rather than asked anew: web views poll it
/// every second, and each ask costs every peer holder a status of the whole cluster.
const CLUSTER_REUSE: Duration = Duration::from_millis(900);

/// The other status holders this one merges its view with.
struct Peers {
    /// This holder's own API, as the merged view names it.
    own: String,
    /// The peers' APIs (`--peer-api`).
    apis: Vec<String>,
    /// The last merged view (JSON) and when it was made; one request asks the peers at a time.
    last: tokio::sync::Mutex<Option<(std::time::Instant, String)>>,
}

/// `GET /api/v1/holders`: this holder's view and its peers' ([`crate::holders::Cluster`]):
/// each holder in brief, the merged view naming where each node came from, and where the
/// holders disagree. Only read-only status is asked of the peers, so a page served by one holder
/// shows the whole cluster without ever calling another origin.
async fn cluster(commands: Commands<MgsMachine>, name: Arc<str>, peers: &Peers) -> Reply {
    let mut last = peers.last.lock().await;
    if let Some((at, json)) = last.as_ref().filter(|(at, _)| at.elapsed() < CLUSTER_REUSE) {
        debug!(age_ms = at.elapsed().as_millis(), "merged view reused");
        return Reply::json(json.clone());
    }
    let Some(own) = commands.ask(move |m, now| snapshot(m, &name, now)).await else {
        return Reply::error(StatusCode::SERVICE_UNAVAILABLE, SHUTTING_DOWN);
    };
    let mut views = vec![HolderView { mgs: peers.own.clone(), status: Some(own), error: None }];
    views.extend(holders::ask(&peers.apis, None, PEER_LIMIT).await);
    match serde_json::to_string(&Holders::compare(views).cluster()) {
        Ok(json) => {
            *last = Some((std::time::Instant::now(), json.clone()));
            Reply::json(json)
        }
        Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// What the API handler shares across requests.
#[derive(Clone)]
struct Api {
    commands: Commands<MgsMachine>,
    name: Arc<str>,
    recovery_metrics: SharedRecoveryMetrics,
    guard: Arc<Guard>,
    feed: Arc<watch::Sender<Feed>>,
    peers: Arc<Peers>,
    udp: UdpWatch,
}

/// Answers one HTTP request by asking the MGS loop, once it is past the [`Guard`].
async fn api(api: Api, asked: Asked) -> Reply {
    let Api { commands, name, recovery_metrics, guard, feed, peers, udp } = api;
    let gone = || Reply::error(StatusCode::SERVICE_UNAVAILABLE, SHUTTING_DOWN);
    let access = match asked.path.as_str() {
        "/api/v1/recover" | "/api/v1/close" => Access::Change,
        _ => Access::Read,
    };
    if let Err(refused) = guard.check(&asked, access) {
        return refused;
    }
    match (asked.method, asked.path.as_str()) {
        (Method::GET, "/") => web::index(),
        (Method::GET, "/api/v1/status") => match commands.ask(move |m, now| snapshot(m, &name, now)).await {
            Some(mut status) => {
                status.mgs.udp = udp
                    .counts()
                    .into_iter()
                    .map(|(n, value)| CounterInfo { name: n.into(), value })
                    .collect();
                match serde_json::to_string_pretty(&status) {
                    Ok(json) => Reply::json(json),
                    Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e),
                }
            }
            None => gone(),
        },
        (Method::GET, "/api/v1/events") => events(&feed, &guard.refusals),
        (Method::GET, "/api/v1/holders") => cluster(commands, name, &peers).await,
        (Method::GET, "/metrics") => {
            match commands.ask(move |m, now| (snapshot(m, &name, now), *m.counters())).await {
                Some((status, counters)) => {
                    let mut text = render_metrics(&status, &counters);
                    metrics::render_tree(&status, &mut text);
                    recovery_metrics.lock().unwrap_or_else(|e| e.into_inner()).render(&mut text);
                    guard.refusals.render(&mut text);
                    udp.render(&mut text);
                    Reply::metrics(text)
                }
                None => gone(),
            }
        }
        (Method::POST, "/api/v1/recover") => recover(commands, &asked.body).await.unwrap_or_else(|e| e),
        (Method::POST, "/api/v1/close") => close(commands, &asked.body).await.unwrap_or_else(|e| e),
        (
            _,
            "/" | "/api/v1/status" | "/api/v1/events" | "/api/v1/holders" | "/metrics" | "/api/v1/recover"
            | "/api/v1/close",
        ) => Reply::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        _ => Reply::error(
            StatusCode::NOT_FOUND,
            "no such path (try /, /api/v1/status, /api/v1/events, /api/v1/holders or /metrics)",
        ),
    }
}

/// `vigil mgs`: runs until SIGTERM or SIGINT.
pub async fn run(opts: MgsOpts) -> anyhow::Result<()> {
    let opts = opts.load()?;
    let name = opts.name.clone().unwrap_or_else(|| "mgs".to_owned());
    let timing = opts.node.timing.resolve()?;
    let keys = key::load(&opts.node.key_file())?;
    let listen = required(opts.listen, "listen")?;
    let http_addr: SocketAddr = match opts.http {
        Some(a) => a,
        None => DEFAULT_HTTP.parse().context("bad built-in HTTP address")?,
    };
    let table_slots = table_slots(opts.table_slots, DEFAULT_MGS_SLOTS)?;
    let mut state = StateFile::boot(&opts.node.state_dir(), &name)?;
    let mut config = MgsConfig::new(wire_name(&name, "MGS")?, state.generation(), keys).with_timing(timing);
    config.last_order_seq = state.order_seq();
    match &opts.order_key {
        Some(path) => {
            let signer = order_key::load_signer(path)?;
            info!(key_id = signer.id(), "orders are signed");
            config.signer = Some(signer);
        }
        None => warn!("no --order-key: orders go unsigned, and nodes given --order-pub drop them"),
    }
    let generation = state.generation().0;

    let shutdown = Shutdown::on_signals()?;
    let socket = driver::bind(listen, opts.node.udp_recv_buffer).await?;
    let listener = http::bind(http_addr).await?;
    let http_addr = listener.local_addr()?;
    state.commit()?;
    let clock = Clock::start();
    let mut machine = MgsMachine::new(config, slots(table_slots), clock.now());
    for router in &opts.expect_routers {
        // Named by the operator: a bad name is a configuration error, not something to skip.
        let name = wire_name(router, "expected router")?;
        if !machine.expect_router(clock.now(), name) {
            bail!("--expect-router {router}: more than {MAX_EXPECTED_ROUTERS} routers expected");
        }
    }
    for router in state.expected_routers() {
        let expected = wire_name(router, "expected router").map(|n| machine.expect_router(clock.now(), n));
        if !matches!(expected, Ok(true)) {
            warn!(router, "cannot expect this router from the state file (bad name, or too many): skipped");
        }
    }
    let expected: Vec<&str> = machine.expected_routers().map(|(_, n)| n.as_str()).collect();
    if !expected.is_empty() {
        info!(
            routers = expected.join(","),
            "no window closes by order until each of these routers has reported"
        );
    }
    if state.direct_clients() {
        machine.expect_direct_clients(clock.now());
        info!("direct clients at the last run: no window closes by order for a dead threshold");
    }
    let handler = MgsHandler { name: name.clone(), state: Some(state), tap: None };
    let spawned = driver::spawn(socket, machine, |_| handler, clock, shutdown.wait())?;
    ready(opts.node.ready_file.as_deref(), &[("udp", spawned.addr), ("http", http_addr)])?;
    info!(name, generation, udp = %spawned.addr, http = %http_addr, "MGS started");

    let recovery_metrics = SharedRecoveryMetrics::default();
    tokio::spawn(metrics::sample(spawned.commands.clone(), recovery_metrics.clone()));
    let guard = Arc::new(Guard::new(opts.api.clone(), Arc::default()));
    match guard.token_problem() {
        None => {
            info!(token_file = %opts.api.token_file().display(), "the admin API takes orders with its token")
        }
        Some(problem) => {
            warn!("the admin API refuses orders (recover, close) until it has a token: {problem}")
        }
    }
    let name: Arc<str> = name.into();
    let feed = Arc::new(watch::channel(Feed::Idle).0);
    tokio::spawn(status_feed(spawned.commands.clone(), name.clone(), feed.clone()));
    let refusals = guard.refusals.clone();
    if !opts.peer_apis.is_empty() {
        info!(peers = opts.peer_apis.join(","), "the web view merges this holder's view with its peers'");
    }
    let peers =
        Peers { own: format!("http://{http_addr}"), apis: opts.peer_apis.clone(), last: Default::default() };
    let api_state = Api {
        commands: spawned.commands.clone(),
        name,
        recovery_metrics,
        guard,
        feed,
        peers: Arc::new(peers),
        udp: spawned.udp.clone(),
    };
    let app = move |asked| api(api_state.clone(), asked);
    http::serve(listener, app, shutdown.wait(), refusals, http::BODY_TIMEOUT).await;
    let mgs = spawned.task.await.context("the MGS loop failed")?;
    info!(counters = ?mgs.counters(), "MGS stopped");
    Ok(())
}
