//! `GET /api/v1/events` of a real MGS: the status at once as a server-sent event, another when a
//! client joins, and the end of the stream when the MGS shuts down.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// An open `GET /api/v1/events`, read chunk by chunk (HTTP/1.1 chunked encoding).
struct Events {
    reader: BufReader<TcpStream>,
    pending: String,
}

impl Events {
    fn open(http: &str) -> Events {
        let mut stream = TcpStream::connect(http).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(stream, "GET /api/v1/events HTTP/1.1\r\nHost: {http}\r\nAccept: text/event-stream\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "the head ended early: {head}");
            if line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream\r\n"), "{head}");
        assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
        Events { reader, pending: String::new() }
    }

    /// The next chunk of the body; `None` at its end.
    fn chunk(&mut self) -> Option<String> {
        let mut size = String::new();
        if self.reader.read_line(&mut size).unwrap() == 0 {
            return None; // closed without the last chunk: also an end
        }
        let size = usize::from_str_radix(size.trim_end(), 16).unwrap_or_else(|_| panic!("{size:?}"));
        let mut data = vec![0; size + 2];
        self.reader.read_exact(&mut data).unwrap();
        assert!(data.ends_with(b"\r\n"));
        data.truncate(size);
        (size > 0).then(|| String::from_utf8(data).unwrap())
    }

    /// The next `event: status` message's data as JSON, skipping comments; panics past `by`.
    fn status(&mut self, by: Instant) -> serde_json::Value {
        loop {
            if let Some((message, rest)) = self.pending.split_once("\n\n") {
                let message = message.to_owned();
                self.pending = rest.to_owned();
                if message.starts_with(':') {
                    continue;
                }
                let data =
                    message.strip_prefix("event: status\ndata: ").unwrap_or_else(|| panic!("{message}"));
                return serde_json::from_str(data).unwrap();
            }
            assert!(Instant::now() < by, "no status event in time");
            let chunk = self.chunk().expect("the stream ended early");
            self.pending.push_str(&chunk);
        }
    }
}

#[test]
fn the_status_streams_and_follows_changes() {
    let scratch = Scratch::new("events");
    let (mgs, udp, http) = start_mgs(&scratch);
    let mut events = Events::open(&http);

    // The first status comes within the feed's first tick (0.5 s); the bound is the 5 s the
    // read may take, not a guess of how soon a loaded machine gets there: the status changes
    // every tick (its uptime), so no bound short of the 15 s keepalive tells "at once" apart.
    let first = events.status(Instant::now() + Duration::from_secs(5));
    assert_eq!(first["mgs"]["name"], "mgs");
    assert_eq!(first["nodes"].as_array().map(Vec::len), Some(0), "{first}");

    let _client = Daemon(
        vigil()
            .args(["client", "--name", "c1", "--parent", &udp, "--on-order", "true"])
            .args(TIMING)
            .args(scratch.node_args("c1"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let by = Instant::now() + Duration::from_secs(20);
    loop {
        let status = events.status(by);
        let c1 =
            status["nodes"].as_array().unwrap().iter().any(|n| n["name"] == "c1" && n["state"] == "alive");
        if c1 {
            break;
        }
    }

    // SIGTERM: the MGS shuts down and the stream ends.
    // SAFETY: kill(2) on the pid of our own child, which is not reaped until `mgs` drops.
    assert_eq!(unsafe { libc::kill(mgs.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let by = Instant::now() + Duration::from_secs(10);
    while events.chunk().is_some() {
        assert!(Instant::now() < by, "the stream outlived the MGS");
    }
}
