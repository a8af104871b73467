//! A client and a server (one parent each), fed a sequence of datagrams, clock steps and hook
//! outcomes.
//!
//! The input is split into chunks, each a little-endian `u16` length then that many bytes. The
//! first byte of a chunk picks the step (modulo 5):
//!
//! - `0` / `1`: the rest, raw / re-tagged with the valid tag, to the client (first byte even) or
//!   the server, from the parent's address (second byte even) or a stranger's;
//! - `2`: a structured message ([`Step`], built with `arbitrary`) encoded with the cluster key;
//! - `3`: the clock advances by the next two bytes in ms, and every deadline that passed fires;
//! - `4`: the driver reports the oldest order it was handed done (next byte even: it worked).
//!
//! Checked throughout: no panic; every datagram a member sends fits [`MAX_DATAGRAM`], decodes
//! with the cluster key and goes to its parent; deadlines settle. (Exactly-once hand-over of
//! orders holds only within the members' bounded memory of recent orders, which arbitrary input
//! can flood; it is asserted in `proto/tests/machines.rs` and the simulator's scenarios.)

#![no_main]

use std::collections::VecDeque;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use vigil_proto::wire::{self, Endpoint, MAX_DATAGRAM};
use vigil_proto::{
    Client, ClientConfig, Event, Generation, Instant, Machine, MemberConfig, Name, Nid, OrderId, Server,
    ServerConfig, Timing,
};
use vigil_proto_fuzz::{chunks, encode, keys, millis, retag, AMessage, ANode, AReceiver, Sequences};

const PARENT_AT: Endpoint = Endpoint::V4 { ip: [10, 0, 0, 1], port: 7000 };
const STRANGER_AT: Endpoint = Endpoint::V4 { ip: [10, 0, 9, 9], port: 7000 };
/// Rounds of due deadlines at one instant before the harness calls it a livelock.
const MAX_ROUNDS: usize = 64;

/// One structured datagram.
#[derive(Arbitrary, Debug)]
struct Step {
    to_server: bool,
    from_parent: bool,
    sender: ANode,
    receiver: AReceiver,
    generation: u8,
    /// A sequence number; `None` takes the next one for this sender.
    sequence: Option<u32>,
    message: AMessage,
}

struct Members {
    now: Instant,
    client: Client,
    server: Server,
    sequences: Sequences,
    pending: VecDeque<(bool, OrderId)>,
}

fn member(name: &str) -> MemberConfig {
    MemberConfig {
        name: Name::try_from(name).unwrap_or_default(),
        generation: Generation(1),
        parents: [PARENT_AT].into_iter().collect(),
        keys: keys(),
        timing: Timing::default(),
    }
}

impl Members {
    fn new() -> Members {
        let now = Instant(1_000);
        let server = ServerConfig {
            member: member("oss0"),
            target: Name::try_from("testfs-OST0000").unwrap_or_default(),
            addrs: [Nid::try_from("10.0.0.7@tcp").unwrap_or_default()].into_iter().collect(),
            window_ms: 300_000,
        };
        Members {
            now,
            client: Client::new(member("c0") as ClientConfig, now),
            server: Server::new(server, now),
            sequences: Sequences::default(),
            pending: VecDeque::new(),
        }
    }

    fn machine(&mut self, server: bool) -> &mut dyn Machine {
        if server {
            &mut self.server
        } else {
            &mut self.client
        }
    }

    /// Drains both members' outputs, checking what they send and what they hand the driver.
    fn drain(&mut self) {
        let mut buf = [0u8; MAX_DATAGRAM];
        let now = self.now;
        for server in [false, true] {
            while let Some((to, len)) = self.machine(server).poll_transmit(now, &mut buf) {
                assert!(len <= MAX_DATAGRAM, "sent {len} bytes");
                assert_eq!(to, PARENT_AT, "a member only ever sends to its parent");
                if let Err(e) = wire::decode(&buf[..len], &keys()) {
                    panic!("a member sent a datagram that does not decode: {e:?}");
                }
            }
            while let Some(event) = self.machine(server).poll_event() {
                if let Event::Order(order) = event {
                    self.pending.push_back((server, order.id));
                }
            }
        }
    }

    fn deliver(&mut self, server: bool, from: Endpoint, bytes: &[u8]) {
        let now = self.now;
        self.machine(server).handle(now, from, bytes);
        self.drain();
    }

    fn advance(&mut self, ms: u16) {
        self.now = self.now.after(u64::from(ms));
        let now = self.now;
        for _ in 0..MAX_ROUNDS {
            let mut fired = false;
            for server in [false, true] {
                if self.machine(server).poll_timeout().is_some_and(|t| t <= now) {
                    self.machine(server).handle_timeout(now);
                    fired = true;
                }
            }
            self.drain();
            if !fired {
                return;
            }
        }
        panic!("deadlines still due after {MAX_ROUNDS} rounds at one instant");
    }

    fn step(&mut self, chunk: &[u8]) {
        let Some((&op, rest)) = chunk.split_first() else { return };
        match op % 5 {
            0 | 1 => {
                let [to, from, datagram @ ..] = rest else { return };
                let mut datagram = datagram.to_vec();
                if op % 5 == 1 {
                    retag(&mut datagram);
                }
                let from = if from % 2 == 0 { PARENT_AT } else { STRANGER_AT };
                self.deliver(to % 2 == 1, from, &datagram);
            }
            2 => {
                let Ok(step) = Step::arbitrary_take_rest(Unstructured::new(rest)) else { return };
                let sequence = self.sequences.next(step.sender, step.sequence);
                let generation = Generation(u32::from(step.generation % 4));
                let from = if step.from_parent { PARENT_AT } else { STRANGER_AT };
                let machine = if step.to_server { self.server.id() } else { self.client.id() };
                let receiver = step.receiver.id(machine);
                let message = step.message.into();
                if let Some(bytes) = encode(step.sender.id(), receiver, generation, sequence, &message) {
                    self.deliver(step.to_server, from, &bytes);
                }
            }
            3 => {
                self.advance(millis(rest));
            }
            _ => {
                let Some((server, order)) = self.pending.pop_front() else { return };
                let ok = rest.first().is_none_or(|b| b % 2 == 0);
                let now = self.now;
                self.machine(server).order_done(now, order, ok);
                self.drain();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut members = Members::new();
    members.drain();
    for chunk in chunks(data) {
        members.step(chunk);
    }
    for _ in 0..8 {
        members.advance(1_000);
    }
});
