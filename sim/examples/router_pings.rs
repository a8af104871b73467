//! Pings through the router machine, for an instruction count per ping (the figure that tells
//! what a Cortex-M router can sustain):
//!
//! ```text
//! cargo build -p vigil-sim --release --example router_pings
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out --toggle-collect='*measured*' \
//!     target/release/examples/router_pings 1000 10
//! callgrind_annotate /tmp/cg.out | head     # instructions / (children × rounds) = per ping
//! ```
//!
//! Only `measured` is counted: a router with `children` admitted clients (argument 1, default
//! 1,000) handles `rounds` (argument 2, default 10) steady-state pings from each, replying to
//! every one. Building the router and encoding the pings are not counted.

use vigil_proto::wire::MAX_DATAGRAM;
use vigil_proto::{Instant, Router};
use vigil_sim::fixture::{self, Datagram};
use vigil_sim::Slots;

#[inline(never)]
fn measured(router: &mut Router<Slots>, rounds: &[(Instant, Vec<Datagram>)]) -> usize {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut replies = 0;
    for (now, pings) in rounds {
        for (from, bytes) in pings {
            router.handle(*now, *from, bytes);
            while router.poll_transmit(*now, &mut buf).is_some() {
                replies += 1;
            }
            while router.poll_event().is_some() {}
        }
    }
    replies
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let children = args.next().unwrap_or(1_000);
    let rounds = args.next().unwrap_or(10);
    let mut router = fixture::router_with_children(children, Instant(0));
    let pings: Vec<(Instant, Vec<Datagram>)> = (0..rounds)
        .map(|r| (Instant(2_000 * (r as u64 + 1)), fixture::ping_round(children, r as u32)))
        .collect();
    let replies = measured(&mut router, &pings);
    println!("{} pings, {replies} replies", children * rounds);
}
