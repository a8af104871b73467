//! A router under an MGS, fed a sequence of datagrams and clock steps.
//!
//! The input is split into chunks, each a little-endian `u16` length then that many bytes. The
//! first byte of a chunk picks the step (modulo 7):
//!
//! - `0` / `1`: the rest, from the child address its first byte names, to the router / the MGS;
//! - `2` / `3`: the same with the last 16 bytes replaced by the valid tag, so that mutations of a
//!   valid datagram stay authentic and reach the role logic;
//! - `4`: a structured message ([`Step`], built with `arbitrary`) encoded with the machines' key;
//! - `5`: the clock advances by the next two bytes in ms, and every deadline that passed fires;
//! - `6`: an operator asks the MGS for a recovery, or (next byte odd) to close a target's window.
//!
//! The router's datagrams to its parent go to the MGS and the MGS's to the router, so updates,
//! replies and orders flow between them. Checked throughout: no panic, every datagram either
//! machine sends fits [`MAX_DATAGRAM`] and decodes with the cluster key, and the exchange between
//! the two machines settles (no endless ping-pong at one instant).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use vigil_proto::table::{empty_slots, Slot};
use vigil_proto::wire::{self, Endpoint, MAX_DATAGRAM};
use vigil_proto::{Generation, Instant, Mgs, MgsConfig, Name, Router, RouterConfig};
use vigil_proto_fuzz::{
    chunks, encode, keys, millis, retag, AMessage, AName, ANid, ANode, AReceiver, Sequences,
};

const MGS_AT: Endpoint = Endpoint::V4 { ip: [10, 0, 0, 1], port: 7000 };
const ROUTER_AT: Endpoint = Endpoint::V4 { ip: [10, 0, 0, 2], port: 7000 };
/// Exchanges between the two machines at one instant before the harness calls it a livelock.
const MAX_ROUNDS: usize = 64;

/// One structured datagram.
#[derive(Arbitrary, Debug)]
struct Step {
    to_mgs: bool,
    /// The sender's address: a child at `10.0.1.<from>`, or one of the two machines.
    from: u8,
    sender: ANode,
    receiver: AReceiver,
    generation: u8,
    /// A sequence number; `None` takes the next one for this sender.
    sequence: Option<u32>,
    message: AMessage,
}

struct Net {
    now: Instant,
    router: Router<[Slot; 16], 4, 4>,
    mgs: Mgs<[Slot; 16], 4, 4>,
    sequences: Sequences,
}

fn name(s: &str) -> Name {
    Name::try_from(s).unwrap_or_default()
}

fn child(from: u8) -> Endpoint {
    match from {
        254 => MGS_AT,
        255 => ROUTER_AT,
        _ => Endpoint::V4 { ip: [10, 0, 1, from], port: 7000 },
    }
}

impl Net {
    fn new() -> Net {
        let now = Instant(1_000);
        let router_config =
            RouterConfig::new(name("router"), Generation(1), [MGS_AT].into_iter().collect(), keys());
        let mgs_config = MgsConfig::new(name("mgs"), Generation(1), keys());
        Net {
            now,
            router: Router::new(router_config, empty_slots(), now),
            mgs: Mgs::new(mgs_config, empty_slots(), now),
            sequences: Sequences::default(),
        }
    }

    /// Delivers and drains until neither machine has anything to send to the other.
    fn settle(&mut self) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for _ in 0..MAX_ROUNDS {
            let mut quiet = true;
            while let Some((to, len)) = self.router.poll_transmit(self.now, &mut buf) {
                check_sent(&buf, len);
                if to == MGS_AT {
                    quiet = false;
                    self.mgs.handle(self.now, ROUTER_AT, &buf[..len]);
                }
            }
            while let Some((to, len)) = self.mgs.poll_transmit(self.now, &mut buf) {
                check_sent(&buf, len);
                if to == ROUTER_AT {
                    quiet = false;
                    self.router.handle(self.now, MGS_AT, &buf[..len]);
                }
            }
            while self.router.poll_event().is_some() {}
            while self.mgs.poll_event().is_some() {}
            if quiet {
                return;
            }
        }
        panic!("router and MGS still exchanging datagrams after {MAX_ROUNDS} rounds at one instant");
    }

    fn deliver(&mut self, to_mgs: bool, from: Endpoint, bytes: &[u8]) {
        if to_mgs {
            self.mgs.handle(self.now, from, bytes);
        } else {
            self.router.handle(self.now, from, bytes);
        }
        self.settle();
    }

    fn advance(&mut self, ms: u16) {
        self.now = self.now.after(u64::from(ms));
        for _ in 0..MAX_ROUNDS {
            let mut fired = false;
            if self.router.poll_timeout().is_some_and(|t| t <= self.now) {
                self.router.handle_timeout(self.now);
                fired = true;
            }
            if self.mgs.poll_timeout().is_some_and(|t| t <= self.now) {
                self.mgs.handle_timeout(self.now);
                fired = true;
            }
            self.settle();
            if !fired {
                return;
            }
        }
        panic!("deadlines still due after {MAX_ROUNDS} rounds at one instant");
    }

    fn step(&mut self, chunk: &[u8]) {
        let Some((&op, rest)) = chunk.split_first() else { return };
        match op % 7 {
            0..=3 => {
                let Some((&from, datagram)) = rest.split_first() else { return };
                let mut datagram = datagram.to_vec();
                if op % 7 >= 2 {
                    retag(&mut datagram);
                }
                self.deliver(op % 2 == 1, child(from), &datagram);
            }
            4 => {
                let Ok(step) = Step::arbitrary_take_rest(Unstructured::new(rest)) else { return };
                let sequence = self.sequences.next(step.sender, step.sequence);
                let generation = Generation(u32::from(step.generation % 4));
                let message = step.message.into();
                let machine = if step.to_mgs { self.mgs.id() } else { self.router.id() };
                let receiver = step.receiver.id(machine);
                if let Some(bytes) = encode(step.sender.id(), receiver, generation, sequence, &message) {
                    self.deliver(step.to_mgs, child(step.from), &bytes);
                }
            }
            5 => {
                self.advance(millis(rest));
            }
            _ => {
                let Some((&which, rest)) = rest.split_first() else { return };
                let mut u = Unstructured::new(rest);
                let (Ok(target), Ok(addrs)) = (AName::arbitrary(&mut u), Vec::<ANid>::arbitrary(&mut u))
                else {
                    return;
                };
                let target: Name = target.into();
                if which % 2 == 1 {
                    let _ = self.mgs.close(self.now, &target);
                } else {
                    let addrs = addrs.into_iter().take(2).map(Into::into).collect();
                    let _ = self.mgs.recover(self.now, target, addrs);
                }
                self.settle();
            }
        }
    }
}

fn check_sent(buf: &[u8], len: usize) {
    assert!(len <= MAX_DATAGRAM, "sent {len} bytes");
    if let Err(e) = wire::decode(&buf[..len], &keys()) {
        panic!("a machine sent a datagram that does not decode: {e:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut net = Net::new();
    for chunk in chunks(data) {
        net.step(chunk);
    }
    // Let the exchange run a while after the last input: timers and retransmissions.
    for _ in 0..8 {
        net.advance(1_000);
    }
});
