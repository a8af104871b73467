//! Minimal HTTP/1.1 on hyper: a server for the MGS API and router metrics, and the client the CLI
//! uses. Just enough for a handful of JSON and text endpoints and one event stream, so no web
//! framework.
//!
//! The server is bounded, so idle or slow clients cannot take the API down: at most
//! [`MAX_CONNECTIONS`] connections (far below any descriptor limit the units set); a new one over
//! the cap closes the oldest connection with no request under way (one still sending its request
//! counts as having none), or is itself closed if every connection is busy; a connection that
//! does not send a whole request header within [`HEADER_TIMEOUT`] (also between the requests of a
//! keep-alive connection) is closed; a request whose body does not arrive whole within
//! `body_timeout` ([`BODY_TIMEOUT`] in the daemons) gets 408 and its connection is closed. Each
//! refusal is counted in [`Refusals`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{bail, Context};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a connection may take to send a request header, and stay idle between requests.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request may take to send its body, once its header is in (the daemons' setting of
/// [`serve`]'s `body_timeout`).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests refused, by reason (all HTTP refusals of a daemon, exported in `/metrics`).
#[derive(Debug, Default)]
pub struct Refusals {
    /// `Host` not an address, `localhost` or a configured name.
    pub host: AtomicU64,
    /// A foreign `Origin` or a cross-site fetch.
    pub origin: AtomicU64,
    /// No token, a wrong one, or no token file on the MGS.
    pub token: AtomicU64,
    /// A POST body that is not JSON.
    pub content_type: AtomicU64,
    /// An admin order over the rate limit.
    pub rate: AtomicU64,
    /// A connection closed or refused over the connection cap (the oldest idle one goes first).
    pub connections: AtomicU64,
    /// An event stream over the stream cap.
    pub streams: AtomicU64,
    /// A connection that sent no complete request header in time.
    pub header_timeout: AtomicU64,
    /// A request whose body did not arrive whole in time (408, and its connection closed).
    pub body_timeout: AtomicU64,
}

impl Refusals {
    /// Appends `vigil_http_refused_total{reason=...}` in Prometheus text.
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP vigil_http_refused_total HTTP requests and connections refused, by reason.\n");
        out.push_str("# TYPE vigil_http_refused_total counter\n");
        let rows = [
            ("host", &self.host),
            ("origin", &self.origin),
            ("token", &self.token),
            ("content_type", &self.content_type),
            ("rate", &self.rate),
            ("connections", &self.connections),
            ("streams", &self.streams),
            ("header_timeout", &self.header_timeout),
            ("body_timeout", &self.body_timeout),
        ];
        for (reason, counter) in rows {
            let n = counter.load(Ordering::Relaxed);
            out.push_str(&format!("vigil_http_refused_total{{reason=\"{reason}\"}} {n}\n"));
        }
    }
}

/// Largest request body taken (a recover request is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;
/// How long the CLI waits for the MGS.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer: status, content type and body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// If set, the body is streamed from here instead of `body`, one chunk per message, until
    /// the sender is dropped; the receiver is dropped when the client goes away.
    pub stream: Option<mpsc::Receiver<Bytes>>,
    /// More response headers (e.g. `WWW-Authenticate` on a 401).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// One request as the app sees it: the body is read whole (at most [`MAX_BODY`]).
#[derive(Debug)]
pub struct Asked {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(content_type: &'static str, body: String) -> Reply {
        Reply { status: StatusCode::OK, content_type, body, stream: None, headers: Vec::new() }
    }

    /// 200 with `text/event-stream` whose chunks come from `events`.
    pub fn events(events: mpsc::Receiver<Bytes>) -> Reply {
        Reply { stream: Some(events), ..Reply::ok("text/event-stream", String::new()) }
    }

    /// 200 with a JSON body.
    pub fn json(body: String) -> Reply {
        Reply::ok("application/json", body)
    }

    /// 200 with Prometheus text.
    pub fn metrics(body: String) -> Reply {
        Reply::ok("text/plain; version=0.0.4", body)
    }

    /// An error as `{"error": "..."}`.
    pub fn error(status: StatusCode, message: impl std::fmt::Display) -> Reply {
        let body = serde_json::json!({ "error": message.to_string() }).to_string();
        Reply { status, ..Reply::ok("application/json", body) }
    }

    /// The same reply with one more header.
    pub fn with_header(mut self, name: HeaderName, value: &'static str) -> Reply {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }
}

/// A body streamed from a channel, one frame per message; its connection is busy while it lasts.
struct Streamed {
    chunks: mpsc::Receiver<Bytes>,
    _busy: Busy,
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.chunks.poll_recv(cx).map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// Binds the HTTP listener.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot bind HTTP {addr}: {e}"))
}

/// Requests under way on one connection; dropped when a response (or its stream) is done.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(requests: &Arc<AtomicUsize>) -> Busy {
        requests.fetch_add(1, Ordering::Relaxed);
        Busy(requests.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An open connection: its requests under way, and how to close it.
struct Open {
    requests: Arc<AtomicUsize>,
    close: oneshot::Sender<()>,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    next: u64,
    open: BTreeMap<u64, Open>,
}

impl Connections {
    /// Makes room for one more connection: `false` if every one is busy.
    fn make_room(&mut self) -> bool {
        if self.open.len() < MAX_CONNECTIONS {
            return true;
        }
        let idle = self.open.iter().find(|(_, c)| c.requests.load(Ordering::Relaxed) == 0).map(|(&id, _)| id);
        match idle.and_then(|id| self.open.remove(&id)) {
            Some(oldest) => {
                let _ = oldest.close.send(());
                true
            }
            None => false,
        }
    }
}

/// Serves `app(request)` on `listener` until `shutdown` completes, within the limits of the
/// module docs (a request body given `body_timeout`), counting refusals in `refusals`.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    app: F,
    shutdown: impl Future<Output = ()>,
    refusals: Arc<Refusals>,
    body_timeout: Duration,
) where
    F: Fn(Asked) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    tokio::pin!(shutdown);
    let connections = Arc::new(Mutex::new(Connections::default()));
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: back off rather than spin.
                    debug!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let requests = Arc::new(AtomicUsize::new(0));
        let (close, closed) = oneshot::channel();
        let id = {
            let mut table = connections.lock().unwrap_or_else(|e| e.into_inner());
            let full = table.open.len() >= MAX_CONNECTIONS;
            let room = table.make_room();
            if full {
                refusals.connections.fetch_add(1, Ordering::Relaxed);
            }
            if !room {
                continue; // dropping the stream closes it
            }
            table.next += 1;
            let id = table.next;
            table.open.insert(id, Open { requests: requests.clone(), close });
            id
        };
        let (app, reading) = (app.clone(), Reading { body_timeout, refusals: refusals.clone() });
        let service = service_fn(move |req: Request<Incoming>| {
            let (app, reading, requests) = (app.clone(), reading.clone(), requests.clone());
            async move { Ok::<_, Infallible>(respond(req, app, reading, requests).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let (connections, refusals) = (connections.clone(), refusals.clone());
        tokio::spawn(async move {
            tokio::select! {
                served = connection => if let Err(e) = served {
                    if e.is_timeout() {
                        refusals.header_timeout.fetch_add(1, Ordering::Relaxed);
                    }
                    debug!("HTTP connection: {e}");
                },
                _ = closed => debug!("HTTP connection closed to make room for a newer one"),
            }
            connections.lock().unwrap_or_else(|e| e.into_inner()).open.remove(&id);
        });
    }
}

/// How a connection reads request bodies: the time a body may take, and where a late one is
/// counted.
#[derive(Clone)]
struct Reading {
    body_timeout: Duration,
    refusals: Arc<Refusals>,
}

/// Answers one request: reads its body (its connection is not busy until the body is in), then
/// asks `app`, the connection busy until the answer (or its stream) is done.
async fn respond<F, Fut>(
    req: Request<Incoming>,
    app: F,
    reading: Reading,
    requests: Arc<AtomicUsize>,
) -> Response<BoxBody<Bytes, Infallible>>
where
    F: Fn(Asked) -> Fut,
    Fut: Future<Output = Reply>,
{
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(reading.body_timeout, Limited::new(body, MAX_BODY).collect()).await;
    let busy = Busy::new(&requests);
    let reply = match read {
        Ok(Ok(body)) => {
            let path = parts.uri.path().to_owned();
            app(Asked { method: parts.method, path, headers: parts.headers, body: body.to_bytes() }).await
        }
        Ok(Err(e)) => Reply::error(StatusCode::PAYLOAD_TOO_LARGE, format!("bad request body: {e}")),
        Err(_) => {
            reading.refusals.body_timeout.fetch_add(1, Ordering::Relaxed);
            let waited = reading.body_timeout.as_millis();
            Reply::error(
                StatusCode::REQUEST_TIMEOUT,
                format!("the request body did not arrive within {waited} ms"),
            )
            .with_header(hyper::header::CONNECTION, "close")
        }
    };
    let streamed = reply.stream.is_some();
    let body = match reply.stream {
        None => Full::new(Bytes::from(reply.body)).boxed(),
        Some(chunks) => Streamed { chunks, _busy: busy }.boxed(),
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    if let Ok(value) = reply.content_type.parse() {
        headers.insert(hyper::header::CONTENT_TYPE, value);
    }
    if streamed {
        headers.insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    for (name, value) in reply.headers {
        headers.insert(name, value);
    }
    response
}

/// Sends one request to `url` (plain `http://host:port/path`) and returns status and body.
/// With `token`, as `Authorization: Bearer`.
pub async fn request(
    method: Method,
    url: &str,
    body: Option<String>,
    token: Option<&str>,
) -> anyhow::Result<(StatusCode, String)> {
    tokio::time::timeout(CLIENT_TIMEOUT, request_inner(method, url, body, token))
        .await
        .with_context(|| format!("no answer from {url} within {} s", CLIENT_TIMEOUT.as_secs()))?
}

async fn request_inner(
    method: Method,
    url: &str,
    body: Option<String>,
    token: Option<&str>,
) -> anyhow::Result<(StatusCode, String)> {
    let uri: Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
    if uri.scheme_str() != Some("http") {
        bail!("only http:// URLs are supported, got {url:?}");
    }
    let host = uri.host().with_context(|| format!("no host in {url:?}"))?;
    let port = uri.port_u16().unwrap_or(80);
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_else(|| host.to_owned());
    // `Uri::host` keeps the brackets of an IPv6 literal; the socket wants them off.
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((connect_host, port))
        .await
        .with_context(|| format!("cannot connect to {authority} (is the MGS running?)"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            debug!("HTTP client connection: {e}");
        }
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut builder = Request::builder().method(method).uri(path).header(hyper::header::HOST, authority);
    if body.is_some() {
        builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    if let Some(token) = token {
        builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let req = builder.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let response = sender.send_request(req).await?;
    let status = response.status();
    let bytes = Limited::new(response.into_body(), 64 * 1024 * 1024)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the answer: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_and_fetches_over_loopback() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = |asked: Asked| async move {
            match (asked.method, asked.path.as_str()) {
                (Method::GET, "/hello") => Reply::json("{\"hi\":1}".into()),
                (Method::POST, "/echo") => {
                    let auth = asked.headers.get(hyper::header::AUTHORIZATION).map(|v| v.as_bytes().to_vec());
                    Reply::json(format!("{} {:?}", String::from_utf8_lossy(&asked.body), auth))
                }
                _ => Reply::error(StatusCode::NOT_FOUND, "no such path"),
            }
        };
        let stop_on = async {
            let _ = stopped.await;
        };
        let server = tokio::spawn(serve(listener, app, stop_on, Default::default(), BODY_TIMEOUT));
        let (status, body) = request(Method::GET, &format!("http://{addr}/hello"), None, None).await.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "{\"hi\":1}"));
        let echo = format!("http://{addr}/echo");
        let (_, body) = request(Method::POST, &echo, Some("x".into()), Some("t0k")).await.unwrap();
        assert_eq!(body, "x Some([66, 101, 97, 114, 101, 114, 32, 116, 48, 107])");
        let (status, _) = request(Method::GET, &format!("http://{addr}/nope"), None, None).await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(request(Method::GET, "https://x/", None, None).await.is_err());
        stop.send(()).unwrap();
        server.await.unwrap();
    }

    /// Serves an app answering `{"hi":1}` to every request on loopback, bodies given
    /// `body_timeout`, until the test ends.
    async fn hello_server(body_timeout: Duration) -> (SocketAddr, Arc<Refusals>) {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let refusals = Arc::new(Refusals::default());
        let app = |_: Asked| async { Reply::json("{\"hi\":1}".into()) };
        tokio::spawn(serve(listener, app, std::future::pending(), refusals.clone(), body_timeout));
        (addr, refusals)
    }

    /// The head of a POST announcing a 10-byte body.
    const STALLED_HEAD: &str = "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n";

    #[tokio::test]
    async fn a_request_whose_body_does_not_come_gets_408_and_its_connection_closes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (addr, refusals) = hello_server(Duration::from_millis(200)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(format!("{STALLED_HEAD}\r\n").as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut answer))
            .await
            .expect("an answer and a close within 3 s")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
        assert_eq!(refusals.body_timeout.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn connections_stalled_in_their_body_make_room_for_a_new_one() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Bodies time out long after the test's bounds: only eviction can make room.
        let (addr, refusals) = hello_server(Duration::from_secs(600)).await;
        let mut stalled = Vec::with_capacity(MAX_CONNECTIONS);
        for i in 0..MAX_CONNECTIONS {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            // The server asks for the body once it waits for it: that is `100 Continue`.
            stream.write_all(format!("{STALLED_HEAD}Expect: 100-continue\r\n\r\n").as_bytes()).await.unwrap();
            let mut head = [0u8; 25];
            tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head))
                .await
                .unwrap_or_else(|_| panic!("connection {i}: no 100 Continue within 5 s"))
                .unwrap();
            assert_eq!(&head, b"HTTP/1.1 100 Continue\r\n\r\n", "connection {i}");
            stalled.push(stream);
        }
        let hello = format!("http://{addr}/hello");
        let answer = tokio::time::timeout(Duration::from_secs(5), request(Method::GET, &hello, None, None))
            .await
            .expect("an answer within 5 s");
        assert_eq!(answer.unwrap().0, StatusCode::OK);
        assert_eq!(refusals.connections.load(Ordering::Relaxed), 1, "one stalled connection closed");
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stalled[0].read_to_end(&mut rest))
            .await
            .expect("the oldest stalled connection closed within 5 s")
            .unwrap();
    }
}
