//! Decoding an update page into a message the caller owns, list element by list element.
//!
//! Derived deserialization builds a page's lists (up to 48 node deltas, ~6 KB) as values and
//! moves them outward through every layer of serde and postcard, and a message returned by
//! value is copied again by every frame it passes: a router receiving one page used ~53 KB of
//! stack in an optimised x86-64 build (its `handle`, the link's `receive` and `decode` each held
//! a copy). Here each element goes straight into the caller's [`Update`], so the stack holds
//! one element at a time, and the receiving machine holds the one message (~20 KB in all). The bytes read are the same as the
//! derived code's (postcard encodes a struct as its fields in order, a list as its length and
//! then its elements), and so are the values: the golden vectors and the round-trip tests pin
//! both.

use core::fmt;

use heapless::Vec;
use serde::de::{DeserializeSeed, Deserializer, Error as _, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Error, Message, Update};

/// Decodes an [`Update`] body into `update`; the whole body must be one update. Never inlined,
/// for the reason [`super::decode_into`]'s other kinds are not.
#[inline(never)]
pub(super) fn update_into(body: &[u8], update: &mut Update) -> Result<(), Error> {
    let mut de = postcard::Deserializer::from_bytes(body);
    InPlace(update).deserialize(&mut de).map_err(|_| Error::Malformed)?;
    match de.finalize() {
        Ok([]) => Ok(()),
        _ => Err(Error::Malformed),
    }
}

/// The update `message` holds, after making it an empty one if it held another kind. Never
/// inlined: making one builds a whole update, which the caller's frame should not reserve.
#[inline(never)]
pub(super) fn as_update(message: &mut Message) -> &mut Update {
    match message {
        Message::Update(update) => update,
        other => {
            // First decoded into, or last holding another kind: the call above then returns.
            *other = Message::Update(Update::default());
            as_update(other)
        }
    }
}

/// The update decoded into.
struct InPlace<'a>(&'a mut Update);

/// The field names (postcard only counts them).
const FIELDS: [&str; 10] =
    ["interval_ms", "name", "base", "upto", "more", "deltas", "targets", "totals", "progress", "failed"];

impl<'de> DeserializeSeed<'de> for InPlace<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_struct("Update", &FIELDS, self)
    }
}

impl<'de> Visitor<'de> for InPlace<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an update")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Every field by name, without `..`: a field added to `Update` does not compile here
        // until it is decoded here too.
        let Update { interval_ms, name, base, upto, more, deltas, targets, totals, progress, failed } =
            self.0;
        *interval_ms = field(&mut seq)?;
        *name = field(&mut seq)?;
        *base = field(&mut seq)?;
        *upto = field(&mut seq)?;
        *more = field(&mut seq)?;
        list(&mut seq, deltas)?;
        list(&mut seq, targets)?;
        *totals = field(&mut seq)?;
        list(&mut seq, progress)?;
        list(&mut seq, failed)
    }
}

/// The next field, by value (each is small).
fn field<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(seq: &mut A) -> Result<T, A::Error> {
    seq.next_element()?.ok_or_else(|| A::Error::custom("update too short"))
}

/// The next field, a list, decoded into `into` one element at a time.
fn list<'de, T: Deserialize<'de>, const N: usize, A: SeqAccess<'de>>(
    seq: &mut A,
    into: &mut Vec<T, N>,
) -> Result<(), A::Error> {
    seq.next_element_seed(Extend(into))?.ok_or_else(|| A::Error::custom("update too short"))
}

/// A list decoded into a bounded vector it replaces; more than `N` elements is an error.
struct Extend<'a, T, const N: usize>(&'a mut Vec<T, N>);

impl<'de, T: Deserialize<'de>, const N: usize> DeserializeSeed<'de> for Extend<'_, T, N> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for Extend<'_, T, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {N}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.clear();
        while let Some(item) = seq.next_element()? {
            self.0.push(item).map_err(|_| A::Error::custom("list too long"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{name, Generation, NodeId, OrderId};
    use crate::wire::{FailedClient, NodeDelta, NodeState, OrderProgress, PathReport, Role, Totals};

    /// A page with every list filled: as many deltas as fit a datagram, and progress.
    fn page() -> Update {
        let mut update = Update {
            interval_ms: 1_000,
            name: name("r7"),
            base: 41,
            upto: 42,
            more: true,
            ..Update::default()
        };
        for i in 0..12 {
            let mut paths = Vec::new();
            let _ = paths.push(PathReport { parent: NodeId(9), state: NodeState::Alive, silent_ms: i });
            let delta = NodeDelta {
                id: NodeId(i),
                generation: Generation(3),
                role: Role::Client,
                name: name("c0042"),
                paths,
                mounts: Vec::from_slice(&[7, 8]).unwrap_or_default(),
            };
            let _ = update.deltas.push(delta);
        }
        let order = OrderId { mgs: NodeId(1), mgs_generation: Generation(2), seq: 3 };
        let _ = update.progress.push(OrderProgress { order, live: 5, applied: 4, reconnected: 3, failed: 1 });
        let _ = update.failed.push(FailedClient { order, client: NodeId(4) });
        update.totals = Totals { alive: 12, suspect: 0, dead: 1, unreachable: 0 };
        update
    }

    /// What the derived deserializer makes of `body`.
    fn derived(body: &[u8]) -> Result<Update, Error> {
        match postcard::take_from_bytes::<Update>(body) {
            Ok((update, [])) => Ok(update),
            _ => Err(Error::Malformed),
        }
    }

    #[test]
    fn every_truncation_and_byte_change_decodes_as_the_derived_code_does() {
        let mut buf = [0u8; 2048];
        let body = postcard::to_slice(&page(), &mut buf).expect("fits").to_vec();
        let mut into = Update::default();
        assert_eq!(update_into(&body, &mut into), Ok(()));
        assert_eq!(into, page());
        let mut checked = 0;
        for len in 0..body.len() {
            assert_eq!(update_into(&body[..len], &mut into).err(), derived(&body[..len]).err());
            checked += 1;
        }
        for at in 0..body.len() {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff, body[at] ^ 0x10] {
                let mut changed = body.clone();
                changed[at] = value;
                let mut into = page();
                match (update_into(&changed, &mut into), derived(&changed)) {
                    (Ok(()), Ok(update)) => assert_eq!(into, update, "byte {at} = {value:#x}"),
                    (mine, theirs) => assert_eq!(mine.err(), theirs.err(), "byte {at} = {value:#x}"),
                }
                checked += 1;
            }
        }
        assert!(checked > 1_000, "{checked}");
        let mut long = body.clone();
        long.push(0);
        assert_eq!(update_into(&long, &mut into), Err(Error::Malformed), "trailing bytes");
    }
}
