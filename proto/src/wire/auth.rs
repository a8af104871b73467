//! Hop authentication: a keyed MAC over header and body with the cluster key.
//!
//! HMAC-SHA256 truncated to [`TAG_LEN`] bytes. The key id in the header selects the key, so a
//! cluster rotates keys by adding the new key to every keyring as `previous`-accepting `current`,
//! then dropping the old one. The keyed state is computed once per key, not per datagram.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the authentication tag at the end of every datagram.
pub const TAG_LEN: usize = 16;
/// Bytes of a cluster key.
pub const KEY_LEN: usize = 32;

/// A cluster key: its id (carried in every header) and its secret.
#[derive(Clone)]
pub struct Key {
    id: u8,
    mac: Hmac<Sha256>,
}

impl Key {
    /// A key from its id and 32 secret bytes.
    pub fn new(id: u8, secret: &[u8; KEY_LEN]) -> Key {
        // HMAC takes keys of any length, so this cannot fail; keep the error path panic-free.
        let mac = match Hmac::<Sha256>::new_from_slice(secret) {
            Ok(mac) => mac,
            Err(_) => unreachable_key(),
        };
        Key { id, mac }
    }

    /// The key id.
    pub fn id(&self) -> u8 {
        self.id
    }

    pub(crate) fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    pub(crate) fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.verify_truncated_left(tag).is_ok()
    }
}

#[cold]
fn unreachable_key() -> ! {
    // `Hmac::new_from_slice` only fails for fixed-size-key MACs, which HMAC is not.
    unreachable!("HMAC accepts keys of every length")
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Key").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The keys a node sends with (`current`) and accepts (`current` and `previous`).
#[derive(Clone, Debug)]
pub struct Keyring {
    /// Signs everything sent; accepted.
    pub current: Key,
    /// Accepted during a rotation.
    pub previous: Option<Key>,
}

impl Keyring {
    /// A keyring with one key.
    pub fn new(current: Key) -> Keyring {
        Keyring { current, previous: None }
    }

    /// The accepted key with this id.
    pub fn find(&self, id: u8) -> Option<&Key> {
        if self.current.id == id {
            Some(&self.current)
        } else {
            self.previous.as_ref().filter(|k| k.id == id)
        }
    }
}
