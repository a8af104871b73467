//! What every machine does at its edge: authenticate and decode what arrives, stamp and tag what
//! leaves. One place, so every role counts bad input the same way.

use crate::counters::Counters;
use crate::ids::{Generation, NodeId};
use crate::wire::{self, Header, Keyring, Message};

/// A machine's identity on the wire and its sequence counter.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub(crate) id: NodeId,
    pub(crate) generation: Generation,
    pub(crate) keys: Keyring,
    sequence: u32,
}

impl Link {
    pub(crate) fn new(id: NodeId, generation: Generation, keys: Keyring) -> Self {
        Link { id, generation, keys, sequence: 0 }
    }

    /// Decodes a datagram, counting what is dropped and why. What comes out is addressed to this
    /// node, or is a first contact (an unaddressed `Ping` or `Update`), which the caller only
    /// answers with [`ReplyStatus::Unaddressed`]; a datagram meant for another node is counted
    /// as misdirected.
    ///
    /// The message is decoded into `message`, which the caller owns: a ~6 KB update page is
    /// then never built on the stack and moved out through every frame on the way.
    ///
    /// [`ReplyStatus::Unaddressed`]: crate::wire::ReplyStatus::Unaddressed
    pub(crate) fn receive(
        &self,
        bytes: &[u8],
        message: &mut Message,
        counters: &mut Counters,
    ) -> Option<Header> {
        counters.received += 1;
        let header = match wire::decode_into(bytes, &self.keys, message) {
            Ok(header) => header,
            Err(e) => {
                counters.count_decode_error(e);
                return None;
            }
        };
        if !header.generation.is_valid() {
            counters.malformed += 1;
            return None;
        }
        let first_contact = header.unaddressed() && matches!(message, Message::Ping(_) | Message::Update(_));
        if header.receiver != self.id && !first_contact {
            counters.misdirected += 1;
            return None;
        }
        Some(header)
    }

    /// Takes a generation above `newest` if this one is older (a parent holds a newer instance
    /// of this node: see [`ReplyStatus::Stale`]). The new generation, or `None` if this one
    /// is not older (a reply to a delayed datagram of an earlier instance) or the one above is
    /// past [`Generation::HIGHEST_RAISE`] (no node boots that high: a forged hint).
    ///
    /// [`ReplyStatus::Stale`]: crate::wire::ReplyStatus::Stale
    pub(crate) fn raise_above(&mut self, newest: Generation) -> Option<Generation> {
        let next = Generation(newest.0.checked_add(1)?);
        if newest <= self.generation || next > Generation::HIGHEST_RAISE {
            return None;
        }
        self.generation = next;
        Some(next)
    }

    /// Sets the sequence number of the last datagram sent: tests and the simulator's swarm
    /// start counters near their wrap.
    #[cfg(any(test, feature = "counter-start"))]
    pub(crate) fn wind(&mut self, sequence: u32) {
        self.sequence = sequence;
    }

    /// The sequence number of the last datagram sent.
    pub(crate) fn last_sequence(&self) -> u32 {
        self.sequence
    }

    /// Encodes a message to `receiver` with the next sequence number; `None` if it does not fit
    /// `buf` (a bug in a page builder, never input-dependent: every builder keeps its messages
    /// in bounds).
    pub(crate) fn send(
        &mut self,
        receiver: NodeId,
        message: &Message,
        buf: &mut [u8],
        counters: &mut Counters,
    ) -> Option<usize> {
        self.sequence = self.sequence.wrapping_add(1);
        let (id, generation, sequence, key) = (self.id, self.generation, self.sequence, &self.keys.current);
        let len = wire::encode(id, receiver, generation, sequence, message, key, buf).ok()?;
        counters.sent += 1;
        Some(len)
    }
}
