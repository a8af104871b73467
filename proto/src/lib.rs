#![doc = include_str!("../README.md")]
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod counters;
pub mod event;
mod handed;
pub mod ids;
mod link;
mod machine;
mod member;
pub mod mgs;
mod parent;
pub mod router;
pub mod server;
pub mod table;
pub mod time;
mod timers;
pub mod timing;
mod uplink;
pub mod wire;

pub use client::{Client, ClientConfig};
pub use counters::Counters;
pub use event::Event;
pub use ids::{name, nid, Generation, Name, Nid, NodeId, OrderId};
pub use machine::Machine;
pub use member::{MemberConfig, MAX_PARENTS};
pub use mgs::{
    Closed, Mgs, MgsConfig, NodeView, Recovery, MAX_EXPECTED_ROUTERS, MAX_MANUAL_ORDERING, MAX_ORDERING,
    MAX_TARGETS,
};
pub use parent::{ChildRouter, MAX_HELD};
pub use router::{Router, RouterConfig, MAX_UPSTREAMS};
pub use server::{Server, ServerConfig};
pub use time::Instant;
pub use timing::Timing;
pub use wire::{Endpoint, Key, Keyring};
