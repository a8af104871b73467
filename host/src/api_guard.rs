//! The door of the MGS's HTTP API: which requests get past it, and why the others do not.
//!
//! The API listens on loopback by default, and loopback is reachable from every web page open in
//! a browser on the MGS host (and through the SSH tunnels operators use). Four checks, in this
//! order, keep a page from driving it:
//!
//! 1. **`Host`** must be an IP address, `localhost`, or a name listed in `api_hosts`: a page that
//!    makes its own domain resolve to 127.0.0.1 (DNS rebinding) sends its own name. 403.
//! 2. **`Origin`**, when a browser sends one, must be this API's own (`http://<Host>`), and
//!    `Sec-Fetch-Site` must not say `cross-site`: the web view at `/` is the only page that may
//!    call it. 403.
//! 3. **A token** (`Authorization: Bearer`, see [`crate::api_token`]) on every request that
//!    changes something, and on reads too with `api_token_reads`. 401 when missing or wrong; 403
//!    when the MGS has no token file, so the changing endpoints are off.
//! 4. **`Content-Type: application/json`** on POST: a browser sends a cross-site form or
//!    `text/plain` body without asking first, but never JSON. 415.
//!
//! Past the door, orders an admin asks for are rate-limited ([`ADMIN_BURST`] at once, one more
//! per [`ADMIN_REFILL`]): 429. The MGS machine also keeps admin recoveries from taking more than
//! half of the places of recoveries ordered at once, so they cannot starve automatic ones.
//!
//! Every refusal is counted by reason in [`Refusals`] (exported in `/metrics`) and logged as a
//! warning at most once per [`REFUSALS_WARNED_EVERY`], with the count since the last one, so
//! requests anyone can send cannot flood the journal.

use std::net::IpAddr;
use std::path::PathBuf;
#[cfg(test)]
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use hyper::header::{self, HeaderMap};
use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::api_token::{TokenFile, DEFAULT_TOKEN_FILE};
use crate::http::{Asked, Refusals, Reply};
use crate::throttle::Throttle;

/// Admin orders (recover, close) taken at once.
pub const ADMIN_BURST: u32 = 8;
/// One more admin order is taken per this.
pub const ADMIN_REFILL: Duration = Duration::from_secs(1);
/// Refused requests are warned of at most once per this.
pub const REFUSALS_WARNED_EVERY: Duration = Duration::from_secs(10);

/// The MGS's API options (flags and config keys).
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiOpts {
    /// The admin API token file (`vigil keygen --api-token`); without it `recover` and `close`
    /// are refused [default: /etc/vigil/api.token].
    #[arg(long, value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Require the token for reads too (status, events, metrics); the web view then cannot read.
    #[arg(long)]
    #[serde(default)]
    pub api_token_reads: bool,
    /// A host name the API may be reached by besides IP addresses and `localhost` (checked
    /// against `Host`, against DNS rebinding); repeatable.
    #[arg(long = "api-host", value_name = "NAME")]
    #[serde(default)]
    pub api_hosts: Vec<String>,
}

impl ApiOpts {
    /// The token file.
    pub fn token_file(&self) -> PathBuf {
        self.api_token_file.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_TOKEN_FILE))
    }
}

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads (GET).
    Read,
    /// Changes what the MGS does (an order).
    Change,
}

/// The door: the options, the token file, the admin order bucket, and the refusal counters.
#[derive(Debug)]
pub struct Guard {
    opts: ApiOpts,
    token_file: TokenFile,
    bucket: Mutex<Bucket>,
    /// What was refused.
    pub refusals: std::sync::Arc<Refusals>,
    refusals_warning: Mutex<Throttle>,
}

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    refilled: Instant,
}

impl Guard {
    /// A door with these options; `refusals` is shared with the HTTP server's own counts.
    pub fn new(opts: ApiOpts, refusals: std::sync::Arc<Refusals>) -> Guard {
        let bucket = Bucket { tokens: ADMIN_BURST, refilled: Instant::now() };
        Guard {
            token_file: TokenFile::new(opts.token_file()),
            opts,
            bucket: Mutex::new(bucket),
            refusals,
            refusals_warning: Mutex::new(Throttle::new(REFUSALS_WARNED_EVERY)),
        }
    }

    /// Whether the token file can be read now (for a warning at start).
    pub fn token_problem(&self) -> Option<String> {
        self.token_file.load().err().map(|e| format!("{e:#}"))
    }

    /// Lets `asked` in for `access`, or says why not (a refusal counted, and warned of at most
    /// once per [`REFUSALS_WARNED_EVERY`]).
    pub fn check(&self, asked: &Asked, access: Access) -> Result<(), Reply> {
        self.admit(asked, access).inspect_err(|refused| self.warn_refused(asked, refused))
    }

    /// Warns of `refused`, and of the refusals since the last warning, if one is due.
    fn warn_refused(&self, asked: &Asked, refused: &Reply) {
        let due = self.refusals_warning.lock().unwrap_or_else(|e| e.into_inner()).note(1, Instant::now());
        if let Some(refusals) = due {
            tracing::warn!(
                method = %asked.method,
                path = asked.path,
                status = %refused.status,
                refusals,
                "HTTP request refused (refusals: this one and those since the last such warning; \
                 by reason in vigil_http_refused_total)"
            );
        }
    }

    fn admit(&self, asked: &Asked, access: Access) -> Result<(), Reply> {
        let r = &self.refusals;
        self.check_host(&asked.headers).inspect_err(|_| count(&r.host))?;
        check_origin(&asked.headers).inspect_err(|_| count(&r.origin))?;
        if access == Access::Change || self.opts.api_token_reads {
            self.check_token(&asked.headers).inspect_err(|_| count(&r.token))?;
        }
        if asked.method == Method::POST {
            check_json(&asked.headers).inspect_err(|_| count(&r.content_type))?;
        }
        if access == Access::Change {
            self.take_order_token(Instant::now()).inspect_err(|_| count(&r.rate))?;
        }
        Ok(())
    }

    fn check_host(&self, headers: &HeaderMap) -> Result<(), Reply> {
        let forbidden = |m: String| Err(Reply::error(StatusCode::FORBIDDEN, m));
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return forbidden("no Host header".into());
        };
        let name = host_name(host);
        let known = name.parse::<IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || self.opts.api_hosts.iter().any(|h| h.eq_ignore_ascii_case(name));
        if known {
            Ok(())
        } else {
            forbidden(format!(
                "Host {host:?} is not a name of this MGS: use its IP address, localhost, or a name \
                 given with --api-host (a page reaching this API through its own domain name is \
                 a DNS rebinding attack)"
            ))
        }
    }

    fn check_token(&self, headers: &HeaderMap) -> Result<(), Reply> {
        let tokens = self.token_file.load().map_err(|e| {
            Reply::error(
                StatusCode::FORBIDDEN,
                format!("the admin API is off: the MGS has no usable API token ({e:#}); see `vigil keygen --api-token`"),
            )
        })?;
        let unauthorized = |m: &str| {
            Reply::error(StatusCode::UNAUTHORIZED, m).with_header(header::WWW_AUTHENTICATE, "Bearer")
        };
        let offered = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(offered) = offered else {
            return Err(unauthorized(
                "missing API token: send `Authorization: Bearer <token>` (the vigil CLI reads it from \
                 --token-file, /etc/vigil/api.token by default)",
            ));
        };
        match offered.strip_prefix("Bearer ") {
            Some(token) if tokens.accepts(token.trim()) => Ok(()),
            _ => Err(unauthorized("wrong API token")),
        }
    }

    fn take_order_token(&self, now: Instant) -> Result<(), Reply> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let earned = now.saturating_duration_since(bucket.refilled).as_millis() / ADMIN_REFILL.as_millis();
        if earned > 0 {
            bucket.tokens = (u128::from(bucket.tokens) + earned).min(u128::from(ADMIN_BURST)) as u32;
            bucket.refilled = now;
        }
        if bucket.tokens == 0 {
            return Err(Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many admin orders: {ADMIN_BURST} at once, then one per {} s",
                    ADMIN_REFILL.as_secs()
                ),
            )
            .with_header(header::RETRY_AFTER, "1"));
        }
        bucket.tokens -= 1;
        Ok(())
    }
}

fn count(counter: &std::sync::atomic::AtomicU64) {
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The name part of a `Host` value: no port, no IPv6 brackets.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

fn check_origin(headers: &HeaderMap) -> Result<(), Reply> {
    let forbidden = |m: String| Err(Reply::error(StatusCode::FORBIDDEN, m));
    let value = |name| headers.get(name).and_then(|v: &hyper::header::HeaderValue| v.to_str().ok());
    if value("sec-fetch-site") == Some("cross-site") {
        return forbidden("cross-site request refused (Sec-Fetch-Site: cross-site)".into());
    }
    let Some(origin) = value(header::ORIGIN.as_str()) else {
        return Ok(()); // not from a browser page, or a same-origin GET
    };
    let own = value(header::HOST.as_str()).map(|h| format!("http://{h}"));
    if own.is_some_and(|own| own.eq_ignore_ascii_case(origin)) {
        Ok(())
    } else {
        forbidden(format!(
            "cross-origin request from {origin:?} refused: only this API's own web view may call it"
        ))
    }
}

fn check_json(headers: &HeaderMap) -> Result<(), Reply> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(Reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("POST bodies must be Content-Type: application/json, got {content_type:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Bytes;

    const TOKEN: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn guard(tag: &str, reads: bool) -> (Guard, PathBuf) {
        let dir = std::env::temp_dir().join(format!("vigil-guard-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("api.token");
        std::fs::write(&file, format!("vigil-api-token v1 {TOKEN}\n")).unwrap();
        let opts = ApiOpts {
            api_token_file: Some(file),
            api_token_reads: reads,
            api_hosts: vec!["mgs01.example".into()],
        };
        (Guard::new(opts, Default::default()), dir)
    }

    fn asked(method: Method, headers: &[(&'static str, &str)]) -> Asked {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        Asked { method, path: "/api/v1/close".into(), headers: map, body: Bytes::new() }
    }

    fn status(r: Result<(), Reply>) -> u16 {
        r.map_or_else(|e| e.status.as_u16(), |()| 200)
    }

    const GOOD: [(&str, &str); 3] = [
        ("host", "127.0.0.1:7471"),
        ("content-type", "application/json; charset=utf-8"),
        ("authorization", "Bearer 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
    ];

    #[test]
    fn a_cli_request_passes_and_each_missing_piece_is_refused_with_its_code() {
        let (g, dir) = guard("codes", false);
        assert_eq!(status(g.check(&asked(Method::POST, &GOOD), Access::Change)), 200);
        let without = |skip: &str| -> Vec<(&'static str, &str)> {
            GOOD.iter().copied().filter(|(n, _)| *n != skip).collect()
        };
        assert_eq!(status(g.check(&asked(Method::POST, &without("host")), Access::Change)), 403);
        let no_token = g.check(&asked(Method::POST, &without("authorization")), Access::Change).unwrap_err();
        assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
        assert!(no_token.body.contains("missing API token"), "{}", no_token.body);
        assert!(no_token.headers.iter().any(|(n, _)| n == header::WWW_AUTHENTICATE));
        let mut wrong = without("authorization");
        wrong.push(("authorization", "Bearer 00"));
        assert_eq!(status(g.check(&asked(Method::POST, &wrong), Access::Change)), 401);
        assert_eq!(status(g.check(&asked(Method::POST, &without("content-type")), Access::Change)), 415);
        assert_eq!(g.refusals.token.load(Ordering::Relaxed), 2);
        assert_eq!(g.refusals.content_type.load(Ordering::Relaxed), 1);
        // Reads need neither token nor JSON unless asked to.
        assert_eq!(status(g.check(&asked(Method::GET, &[("host", "localhost:7471")]), Access::Read)), 200);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_cross_site_form_post_and_a_rebound_name_are_forbidden() {
        let (g, dir) = guard("xsite", false);
        let form =
            [("host", "127.0.0.1:7471"), ("origin", "http://evil.example"), ("content-type", "text/plain")];
        let reply = g.check(&asked(Method::POST, &form), Access::Change).unwrap_err();
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(reply.body.contains("cross-origin"), "{}", reply.body);
        let rebound = [("host", "evil.example:7471"), ("origin", "http://evil.example:7471")];
        let reply = g.check(&asked(Method::GET, &rebound), Access::Read).unwrap_err();
        assert!(reply.body.contains("DNS rebinding"), "{}", reply.body);
        let fetch = [("host", "127.0.0.1:7471"), ("sec-fetch-site", "cross-site")];
        assert_eq!(status(g.check(&asked(Method::GET, &fetch), Access::Read)), 403);
        // The web view itself, by a configured name or an IPv6 address.
        let own = [("host", "MGS01.example:7471"), ("origin", "http://mgs01.example:7471")];
        assert_eq!(status(g.check(&asked(Method::GET, &own), Access::Read)), 200);
        assert_eq!(status(g.check(&asked(Method::GET, &[("host", "[::1]:7471")]), Access::Read)), 200);
        assert_eq!(g.refusals.origin.load(Ordering::Relaxed), 2);
        assert_eq!(g.refusals.host.load(Ordering::Relaxed), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn without_a_token_file_changes_are_off_and_reads_can_be_protected() {
        let (g, dir) = guard("off", true);
        assert_eq!(status(g.check(&asked(Method::GET, &[("host", "127.0.0.1")]), Access::Read)), 401);
        assert_eq!(status(g.check(&asked(Method::GET, &GOOD), Access::Read)), 200);
        std::fs::remove_file(dir.join("api.token")).unwrap();
        let reply = g.check(&asked(Method::POST, &GOOD), Access::Change).unwrap_err();
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(reply.body.contains("admin API is off"), "{}", reply.body);
        assert!(g.token_problem().is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn admin_orders_are_rate_limited_and_the_bucket_refills() {
        let (g, dir) = guard("rate", false);
        let start = Instant::now();
        for _ in 0..ADMIN_BURST {
            assert!(g.take_order_token(start).is_ok());
        }
        let refused = g.take_order_token(start).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(g.take_order_token(start + ADMIN_REFILL).is_ok());
        assert!(g.take_order_token(start + ADMIN_REFILL).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_thousand_refused_requests_make_one_warning() {
        let (g, dir) = guard("flood", false);
        let rebound = asked(Method::GET, &[("host", "evil.example")]);
        let warnings = crate::throttle::warnings_of(|| {
            for _ in 0..1000 {
                assert_eq!(status(g.check(&rebound, Access::Read)), 403);
            }
        });
        assert_eq!(warnings, ["vigil_host::api_guard"]);
        assert_eq!(g.refusals.host.load(Ordering::Relaxed), 1000, "each one counted");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_token_file_others_may_read_is_warned_of_once_per_change() {
        use std::os::unix::fs::PermissionsExt;
        let (g, dir) = guard("mode", true);
        let file = dir.join("api.token");
        let set_mode = |mode| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let read_warnings = |n| {
            crate::throttle::warnings_of(|| {
                for _ in 0..n {
                    assert_eq!(status(g.check(&asked(Method::GET, &GOOD), Access::Read)), 200);
                }
            })
        };
        set_mode(0o640);
        assert_eq!(read_warnings(1000), ["vigil_host::api_token"], "once, not on every read");
        // Rewritten (a rotation), still readable by its group: said again, once.
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        let rotated = std::fs::File::options().write(true).open(&file).unwrap();
        rotated.set_modified(modified + std::time::Duration::from_secs(1)).unwrap();
        assert_eq!(read_warnings(10), ["vigil_host::api_token"], "the file changed");
        set_mode(0o600);
        assert!(read_warnings(10).is_empty(), "private now");
        set_mode(0o640);
        assert_eq!(read_warnings(10), ["vigil_host::api_token"], "readable again");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
