//! A tiny HTTP/1.1 client over `std::net::TcpStream`: one request per connection
//! (`Connection: close`), bounded by a time-out, chunked bodies decoded. Enough for the MGS's
//! status API, `/metrics` and `POST /api/v1/recover`, with no dependency.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Default time-out of one request (connect, write, read each).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// One response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub code: u16,
    /// The body, decoded from chunks if need be.
    pub body: String,
}

/// Sends one request and reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
    timeout: Duration,
) -> io::Result<Response> {
    request_with(addr, method, path, &[], json, timeout)
}

/// Sends one request with `headers` added (e.g. `("Authorization", "Bearer ...")`).
pub fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&str>,
    timeout: Duration,
) -> io::Result<Response> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    exchange(stream, &compose(addr, method, path, headers, json), timeout)
}

/// The bytes of one request: `Host` and `Connection: close`, `headers`, and a JSON body.
pub fn compose(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&str>,
) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = json {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(json.unwrap_or(""));
    req
}

/// Sends `request` (whole, as [`compose`] makes it or by hand) over `stream` (already connected,
/// e.g. from inside a namespace) and reads the whole response.
pub fn exchange(mut stream: TcpStream, request: &str, timeout: Duration) -> io::Result<Response> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&String::from_utf8_lossy(&raw))
}

/// Parses a whole HTTP/1.1 response.
pub fn parse(raw: &str) -> io::Result<Response> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{what} in {raw:?}"));
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| bad("no end of header"))?;
    let code =
        head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| bad("no status code"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body).ok_or_else(|| bad("bad chunked body"))? } else { body.to_owned() };
    Ok(Response { code, body })
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// `GET path`, requiring 200; the body.
pub fn get_ok(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<String> {
    let response = request(addr, "GET", path, None, timeout)?;
    if response.code != 200 {
        return Err(io::Error::other(format!("GET {path}: {} {}", response.code, response.body)));
    }
    Ok(response.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies() {
        let plain = parse("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!(plain, Response { code: 200, body: "{}".into() });
        let chunked = parse(
            "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked, Response { code: 404, body: "abcde".into() });
        assert!(parse("HTTP/1.1 200 OK\r\n").is_err());
    }
}
