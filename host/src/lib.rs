#![doc = include_str!("../README.md")]

pub mod api_guard;
pub mod api_token;
pub mod capi;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod demo;
pub mod driver;
pub mod event_log;
pub mod holders;
pub mod hook;
pub mod http;
pub mod key;
pub mod lustre;
pub mod metrics;
pub mod order_key;
pub mod state;
pub mod status;
pub mod web;

/// Stack of each runtime thread. Decoding an update page builds its 48 node deltas on the stack,
/// which takes well over tokio's default 2 MiB in unoptimised builds; the memory is only reserved.
pub const WORKER_STACK: usize = 16 * 1024 * 1024;
