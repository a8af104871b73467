//! Order-signing keys: the MGS's secret key file, the public key files every other node verifies
//! orders with, and `vigil keygen --order` / `vigil keygen --public-of`.
//!
//! The cluster key ([`crate::key`]) authenticates every hop, so any node that holds it could
//! inject an order. Orders are therefore also signed (ed25519) by the MGS alone; routers, clients
//! and servers given one or two public keys (`--order-pub`) drop every order whose signature does
//! not verify, and count it (`forged`). Formats, one line each, `#` comments allowed:
//!
//! ```text
//! vigil-order-key v1 id=<0..=255> <64 hex digits: the ed25519 secret>    (MGS only, mode 0600)
//! vigil-order-pub v1 id=<0..=255> <64 hex digits: the ed25519 public key> (every other node)
//! ```
//!
//! Orders name their key by id, so a rotation gives every node the new public key beside the old
//! one (two `--order-pub`), then moves the MGS to the new secret, then drops the old public key.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context};
use vigil_proto::wire::{OrderKeys, OrderSigner, MAX_ORDER_KEYS};

/// First word of a secret (signing) key line.
const SECRET_MAGIC: &str = "vigil-order-key";
/// First word of a public (verifying) key line.
const PUBLIC_MAGIC: &str = "vigil-order-pub";
/// The only format version so far.
const FORMAT: &str = "v1";
/// Bytes of an ed25519 secret or public key.
const LEN: usize = 32;

/// Which of the two kinds of line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The MGS's secret.
    Secret,
    /// A public key.
    Public,
}

impl Kind {
    fn magic(self) -> &'static str {
        match self {
            Kind::Secret => SECRET_MAGIC,
            Kind::Public => PUBLIC_MAGIC,
        }
    }
}

/// One parsed order key line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderKeyLine {
    /// Secret or public.
    pub kind: Kind,
    /// The key id orders carry.
    pub id: u8,
    /// The 32 key bytes.
    pub bytes: [u8; LEN],
}

impl OrderKeyLine {
    /// The line as written to a file (without newline).
    pub fn render(&self) -> String {
        let hex: String = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("{} {FORMAT} id={} {hex}", self.kind.magic(), self.id)
    }

    /// The public line of a secret line (a public line is its own).
    pub fn public(&self) -> OrderKeyLine {
        let bytes = match self.kind {
            Kind::Secret => OrderSigner::new(self.id, &self.bytes).public_key(),
            Kind::Public => self.bytes,
        };
        OrderKeyLine { kind: Kind::Public, id: self.id, bytes }
    }
}

/// Parses the text of an order key file: exactly one key line of the `expected` kind.
pub fn parse(text: &str, expected: Kind) -> anyhow::Result<OrderKeyLine> {
    let mut found = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = parse_line(line, expected).with_context(|| format!("line {}", n + 1))?;
        if found.is_some() {
            bail!("line {}: more than one key line (one key per file; repeat --order-pub for two)", n + 1);
        }
        found = Some(key);
    }
    found.with_context(|| {
        format!("no key line (expected `{} {FORMAT} id=N <{} hex digits>`)", expected.magic(), 2 * LEN)
    })
}

fn parse_line(line: &str, expected: Kind) -> anyhow::Result<OrderKeyLine> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [magic, format, id, hex] = words[..] else {
        bail!("expected 4 words `{} {FORMAT} id=N <hex>`, found {}", expected.magic(), words.len());
    };
    let kind = match magic {
        SECRET_MAGIC => Kind::Secret,
        PUBLIC_MAGIC => Kind::Public,
        "vigil-key" => bail!("this is the cluster key, not an order key (see `vigil keygen --order`)"),
        _ => bail!("not a Vigil order key (starts with {magic:?}, expected {:?})", expected.magic()),
    };
    match (expected, kind) {
        (Kind::Public, Kind::Secret) => bail!(
            "this is the MGS's secret order key: give nodes its public key \
             (`vigil keygen --public-of FILE`), and keep the secret on the MGS"
        ),
        (Kind::Secret, Kind::Public) => {
            bail!("this is a public order key: the MGS signs with the secret one (`vigil keygen --order`)")
        }
        _ => {}
    }
    if format != FORMAT {
        bail!("unsupported order key format {format:?} (this build reads {FORMAT:?})");
    }
    let id = id
        .strip_prefix("id=")
        .and_then(|v| v.parse::<u8>().ok())
        .with_context(|| format!("bad key id {id:?} (expected id=0..255)"))?;
    if hex.len() != 2 * LEN {
        bail!("the key has {} hex digits, expected {}", hex.len(), 2 * LEN);
    }
    let mut bytes = [0u8; LEN];
    for (i, byte) in bytes.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).context("the key is not ASCII hex")?;
        *byte = u8::from_str_radix(pair, 16).with_context(|| format!("bad hex digits {pair:?}"))?;
    }
    Ok(OrderKeyLine { kind, id, bytes })
}

fn read(path: &Path, kind: Kind) -> anyhow::Result<OrderKeyLine> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read order key file {}", path.display()))?;
    parse(&text, kind).with_context(|| format!("bad order key file {}", path.display()))
}

/// Reads the MGS's signing key; warns when others may read it.
pub fn load_signer(path: &Path) -> anyhow::Result<OrderSigner> {
    let line = read(path, Kind::Secret)?;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "order key file is readable by group or others; use mode 0600");
        }
    }
    Ok(OrderSigner::new(line.id, &line.bytes))
}

/// Reads the public keys a node verifies orders with: at most two files, distinct key ids.
pub fn load_public(paths: &[impl AsRef<Path>]) -> anyhow::Result<OrderKeys> {
    if paths.len() > MAX_ORDER_KEYS {
        bail!("at most {MAX_ORDER_KEYS} --order-pub (the current key and the next), got {}", paths.len());
    }
    let mut keys = OrderKeys::default();
    let mut ids = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let line = read(path, Kind::Public)?;
        if ids.contains(&line.id) {
            bail!("two order public keys with id {} (a rotation needs a new id)", line.id);
        }
        ids.push(line.id);
        keys.add(line.id, &line.bytes).map_err(|_| {
            anyhow::anyhow!("bad order key file {}: not a valid ed25519 public key", path.display())
        })?;
    }
    Ok(keys)
}

fn create(path: &Path, mode: u32, force: bool) -> anyhow::Result<std::fs::File> {
    let mut options = OpenOptions::new();
    options.write(true).mode(mode);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let file = options.open(path).map_err(|e| crate::key::cannot_create(path, &e))?;
    // An existing file keeps its old mode on truncation: set it.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(file)
}

/// Writes a public key file (mode 0644: it is no secret).
pub fn write_public(path: &Path, public: &OrderKeyLine, force: bool) -> anyhow::Result<()> {
    let mut file = create(path, 0o644, force)?;
    writeln!(
        file,
        "# Vigil order-signing public key: give it to every router, client and server (--order-pub)"
    )?;
    writeln!(file, "{}", public.render())?;
    file.sync_all()?;
    Ok(())
}

/// Writes a new random signing key to `secret_path` (mode 0600) and its public key to
/// `public_path`, refusing to overwrite unless `force`; returns the public line.
pub fn generate(secret_path: &Path, public_path: &Path, id: u8, force: bool) -> anyhow::Result<OrderKeyLine> {
    if secret_path == public_path {
        bail!("the secret and the public key need two files");
    }
    let mut bytes = [0u8; LEN];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let secret = OrderKeyLine { kind: Kind::Secret, id, bytes };
    let public = secret.public();
    // Refuse before writing anything when either file is in the way.
    for path in [secret_path, public_path] {
        if !force && path.exists() {
            bail!("{} exists (use --force to replace it)", path.display());
        }
    }
    let mut file = create(secret_path, 0o600, force)?;
    writeln!(file, "# Vigil order-signing secret key: the MGS only (--order-key), keep it mode 0600")?;
    writeln!(file, "{}", secret.render())?;
    file.sync_all()?;
    write_public(public_path, &public, force)?;
    Ok(public)
}

/// The public line of a secret (or public) order key file.
pub fn public_of(path: &Path) -> anyhow::Result<OrderKeyLine> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read order key file {}", path.display()))?;
    let line = parse(&text, Kind::Secret)
        .or_else(|e| parse(&text, Kind::Public).map_err(|_| e))
        .with_context(|| format!("bad order key file {}", path.display()))?;
    Ok(line.public())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn error_of(text: &str, kind: Kind) -> String {
        format!("{:#}", parse(text, kind).unwrap_err())
    }

    #[test]
    fn parses_and_round_trips() {
        let line = parse(&format!("# c\n\nvigil-order-key v1 id=7 {HEX}\n"), Kind::Secret).unwrap();
        assert_eq!((line.kind, line.id, line.bytes[31]), (Kind::Secret, 7, 0x1f));
        assert_eq!(parse(&line.render(), Kind::Secret).unwrap(), line);
        let public = line.public();
        assert_eq!(public.bytes, OrderSigner::new(7, &line.bytes).public_key());
        assert_eq!(parse(&public.render(), Kind::Public).unwrap(), public);
        assert_eq!(public.public(), public);
    }

    #[test]
    fn bad_input_gives_a_clear_error() {
        let s = Kind::Secret;
        let p = Kind::Public;
        assert!(error_of("", p).contains("no key line"));
        assert!(error_of("# only\n", s).contains("vigil-order-key v1 id=N"));
        assert!(error_of(&format!("vigil-key v1 id=1 {HEX}"), p).contains("cluster key, not an order key"));
        assert!(error_of(&format!("ssh-ed25519 v1 id=1 {HEX}"), p).contains("not a Vigil order key"));
        assert!(error_of(&format!("vigil-order-key v1 id=1 {HEX}"), p).contains("secret order key"));
        assert!(error_of(&format!("vigil-order-pub v1 id=1 {HEX}"), s).contains("public order key"));
        assert!(
            error_of(&format!("vigil-order-pub v2 id=1 {HEX}"), p).contains("unsupported order key format")
        );
        assert!(error_of(&format!("vigil-order-pub v1 id=300 {HEX}"), p).contains("bad key id"));
        assert!(error_of(&format!("vigil-order-pub v1 7 {HEX}"), p).contains("bad key id"));
        assert!(error_of("vigil-order-pub v1 id=1 abcd", p).contains("expected 64"));
        assert!(error_of(&format!("vigil-order-pub v1 id=1 {}", "zz".repeat(32)), p).contains("bad hex"));
        assert!(error_of(&format!("vigil-order-pub v1 id=1 {}a", "€".repeat(21)), p).contains("not ASCII"));
        assert!(error_of("vigil-order-pub v1 id=1", p).contains("expected 4 words"));
        let two = format!("vigil-order-pub v1 id=1 {HEX}\nvigil-order-pub v1 id=2 {HEX}\n");
        assert!(error_of(&two, p).contains("line 2: more than one key line"));
        assert!(error_of(&format!("x\nvigil-order-pub v1 id=1 {HEX}"), p).contains("line 1"));
    }

    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("vigil-order-key-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn generate_writes_a_private_secret_and_its_public_key() {
        let dir = TempDir::new("gen");
        let (secret, public) = (dir.0.join("order.key"), dir.0.join("order.pub"));
        let line = generate(&secret, &public, 4, false).unwrap();
        assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
        let signer = load_signer(&secret).unwrap();
        assert_eq!((signer.id(), signer.public_key()), (4, line.bytes));
        assert_eq!(public_of(&secret).unwrap(), line);
        assert_eq!(public_of(&public).unwrap(), line);
        let keys = load_public(&[&public]).unwrap();
        assert!(!keys.is_empty());
        assert!(generate(&secret, &public, 4, false).is_err(), "no overwrite without --force");
        assert!(generate(&dir.0.join("other.key"), &public, 4, false).is_err(), "public in the way");
        assert!(!dir.0.join("other.key").exists(), "nothing written when refusing");
        generate(&secret, &public, 5, true).unwrap();
        assert_eq!(load_signer(&secret).unwrap().id(), 5);
        assert!(generate(&secret, &secret, 5, true).is_err());
    }

    #[test]
    fn public_keys_are_bounded_and_distinct() {
        let dir = TempDir::new("pub");
        let paths: Vec<_> = (1..=3).map(|i| dir.0.join(format!("{i}.pub"))).collect();
        for (i, path) in paths.iter().enumerate() {
            generate(&dir.0.join(format!("{i}.key")), path, i as u8 + 1, false).unwrap();
        }
        assert!(load_public(&paths[..2]).is_ok());
        let err = format!("{:#}", load_public(&paths).unwrap_err());
        assert!(err.contains("at most 2 --order-pub"), "{err}");
        let err = format!("{:#}", load_public(&[&paths[0], &paths[0]]).unwrap_err());
        assert!(err.contains("two order public keys with id 1"), "{err}");
        let secret = dir.0.join("0.key");
        let err = format!("{:#}", load_public(&[&secret]).unwrap_err());
        assert!(err.contains("secret order key") && err.contains("0.key"), "{err}");
        let err = format!("{:#}", load_public(&[dir.0.join("missing.pub")]).unwrap_err());
        assert!(err.contains("cannot read order key file"), "{err}");
        // 32 bytes that are not a curve point.
        let byte = (0..=u8::MAX).find(|b| OrderKeys::default().add(9, &[*b; LEN]).is_err()).unwrap();
        let bad = dir.0.join("bad.pub");
        write_public(&bad, &OrderKeyLine { kind: Kind::Public, id: 9, bytes: [byte; LEN] }, false).unwrap();
        let err = format!("{:#}", load_public(&[&bad]).unwrap_err());
        assert!(err.contains("not a valid ed25519 public key"), "{err}");
    }
}
