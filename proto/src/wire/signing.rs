//! Signed orders: the MGS signs every order (ed25519) so that no router or client holding the
//! cluster key can forge one; routers relay orders unchanged and every node verifies them.
//!
//! The signature covers a domain tag, the order id and the action. The order names the signing
//! key by id, so a cluster rotates the MGS key by giving every node the new public key beside
//! the old one, then switching the MGS to the new secret, then dropping the old public key.
//! A node given no public keys accepts every order that passed the cluster-key MAC (migration).

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Action, Order, MAX_DATAGRAM};
use crate::ids::OrderId;

/// Bytes of an order signature.
pub const SIGNATURE_LEN: usize = 64;
/// Most order-signing public keys a node accepts at once (the current one and, during a
/// rotation, the next).
pub const MAX_ORDER_KEYS: usize = 2;
const DOMAIN: &[u8] = b"vigil-order-v1";

/// An ed25519 signature over an order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl Default for Signature {
    fn default() -> Self {
        Signature([0; SIGNATURE_LEN])
    }
}

impl core::fmt::Debug for Signature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Signature({:02x}{:02x}{:02x}{:02x}..)", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Signature {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "Signature({=[u8]:02x}..)", &self.0[..4])
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut t = serializer.serialize_tuple(SIGNATURE_LEN)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Signature;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Signature, A::Error> {
                let mut sig = [0u8; SIGNATURE_LEN];
                for (i, b) in sig.iter_mut().enumerate() {
                    *b = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(Signature(sig))
            }
        }
        deserializer.deserialize_tuple(SIGNATURE_LEN, Bytes)
    }
}

/// Room for what a signature covers: the id and action of any order that fits a datagram (the
/// datagram's header, tag and the order's signature leave more than the domain tag needs).
const SIGNED_MAX: usize = MAX_DATAGRAM;

/// What the signature covers: a domain tag, the id and the action.
fn signed_bytes<'a>(id: OrderId, action: &Action, buf: &'a mut [u8; SIGNED_MAX]) -> Option<&'a [u8]> {
    let tag_len = DOMAIN.len();
    buf[..tag_len].copy_from_slice(DOMAIN);
    let body = postcard::to_slice(&(id, action), &mut buf[tag_len..]).ok()?.len();
    Some(&buf[..tag_len + body])
}

/// The MGS's order-signing key.
#[derive(Clone)]
pub struct OrderSigner {
    id: u8,
    key: SigningKey,
}

impl core::fmt::Debug for OrderSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OrderSigner").field("id", &self.id).finish_non_exhaustive()
    }
}

impl OrderSigner {
    /// A signer from its key id and 32-byte ed25519 secret.
    pub fn new(id: u8, secret: &[u8; 32]) -> OrderSigner {
        OrderSigner { id, key: SigningKey::from_bytes(secret) }
    }

    /// The public key nodes verify with.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The key id orders name.
    pub fn id(&self) -> u8 {
        self.id
    }

    /// Signs an order in place.
    pub fn sign(&self, order: &mut Order) {
        let mut buf = [0u8; SIGNED_MAX];
        order.signer = self.id;
        order.signature = match signed_bytes(order.id, &order.action, &mut buf) {
            Some(bytes) => Signature(self.key.sign(bytes).to_bytes()),
            None => Signature::default(),
        };
    }
}

/// The public keys a node verifies orders with.
// Kept compressed (32 bytes, not the 192 of a `VerifyingKey`'s decompressed point): every node
// holds them, a simulated million too, while a node verifies each order only once, so the
// decompression then costs little.
#[derive(Clone, Debug, Default)]
pub struct OrderKeys {
    keys: heapless::Vec<(u8, [u8; 32]), MAX_ORDER_KEYS>,
}

/// A public key that is not a valid ed25519 point, or one too many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadOrderKey;

impl OrderKeys {
    /// Accepts orders signed with this key id and public key.
    pub fn add(&mut self, id: u8, public: &[u8; 32]) -> Result<(), BadOrderKey> {
        VerifyingKey::from_bytes(public).map_err(|_| BadOrderKey)?;
        self.keys.push((id, *public)).map_err(|_| BadOrderKey)
    }

    /// Whether no key is configured (then every order is accepted).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether the order carries a valid signature by one of the keys (or no key is set).
    pub fn verify(&self, order: &Order) -> bool {
        if self.keys.is_empty() {
            return true;
        }
        let Some((_, public)) = self.keys.iter().find(|(id, _)| *id == order.signer) else { return false };
        // Checked a valid point when added.
        let Ok(key) = VerifyingKey::from_bytes(public) else { return false };
        let mut buf = [0u8; SIGNED_MAX];
        let Some(bytes) = signed_bytes(order.id, &order.action, &mut buf) else { return false };
        let signature = ed25519_dalek::Signature::from_bytes(&order.signature.0);
        key.verify_strict(bytes, &signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{name, Generation, NodeId};
    use crate::wire::MAX_DEAD;

    fn order() -> Order {
        Order {
            id: OrderId { mgs: NodeId(1), mgs_generation: Generation(3), seq: 9 },
            action: Action::CloseWindow {
                target: name("t").unwrap_or_default(),
                target_generation: Generation(2),
                dead: Default::default(),
                dead_mounts: Default::default(),
            },
            signer: 0,
            signature: Signature::default(),
            age_ms: 0,
        }
    }

    #[test]
    fn signed_orders_verify_and_tampered_or_foreign_ones_do_not() {
        let signer = OrderSigner::new(1, &[5; 32]);
        let mut keys = OrderKeys::default();
        assert!(keys.verify(&order()), "no keys: accept (migration)");
        keys.add(1, &signer.public_key()).expect("a valid key");
        let mut o = order();
        assert!(!keys.verify(&o), "unsigned");
        signer.sign(&mut o);
        assert!(keys.verify(&o));
        let mut tampered = o.clone();
        tampered.id.seq += 1;
        assert!(!keys.verify(&tampered), "another id");
        let mut forged = order();
        OrderSigner::new(1, &[6; 32]).sign(&mut forged);
        assert!(!keys.verify(&forged), "another key under the same id");
        keys.add(2, &OrderSigner::new(2, &[6; 32]).public_key()).expect("a valid key");
        assert_eq!(keys.add(3, &signer.public_key()), Err(BadOrderKey), "one key too many");
    }

    /// The largest order: a `CloseWindow` naming as many dead clients and mounts as it holds,
    /// every id and mount tag at its longest varint, and the longest target name.
    #[test]
    fn the_largest_order_is_signed_and_verifies() {
        let signer = OrderSigner::new(1, &[5; 32]);
        let mut keys = OrderKeys::default();
        keys.add(1, &signer.public_key()).expect("a valid key");
        let mut o = Order {
            id: OrderId { mgs: NodeId(u32::MAX), mgs_generation: Generation(u32::MAX), seq: u64::MAX },
            action: Action::CloseWindow {
                target: name(&"t".repeat(crate::ids::NAME_LEN)).unwrap_or_default(),
                target_generation: Generation(u32::MAX),
                dead: (0..MAX_DEAD as u32).map(|k| NodeId(u32::MAX - k)).collect(),
                dead_mounts: (0..MAX_DEAD as u64).map(|k| u64::MAX - k).collect(),
            },
            signer: 0,
            signature: Signature::default(),
            age_ms: 0,
        };
        signer.sign(&mut o);
        assert_ne!(o.signature, Signature::default(), "signed, not left blank");
        assert!(keys.verify(&o), "a server with the MGS's public key takes the largest close");
    }
}
