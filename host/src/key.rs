//! The cluster key file: its text format, parsing with clear errors, and `vigil keygen`.
//!
//! A key file holds one or two lines of the form
//!
//! ```text
//! vigil-key v1 id=<0..=255> <64 hex digits>
//! ```
//!
//! The first key line is the key this node signs with; an optional second line is a previous key
//! still accepted during a rotation. Blank lines and lines starting with `#` are ignored. The file
//! must not be readable by group or others (mode 0600): a readable key lets anyone forge orders.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context};
use vigil_proto::wire::KEY_LEN;
use vigil_proto::{Key, Keyring};

/// First word of every key line.
const MAGIC: &str = "vigil-key";
/// The only format version so far.
const FORMAT: &str = "v1";

/// One parsed key line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLine {
    /// The key id carried in every datagram header.
    pub id: u8,
    /// The secret.
    pub secret: [u8; KEY_LEN],
}

impl KeyLine {
    /// The line as written to a key file (without newline).
    pub fn render(&self) -> String {
        let hex: String = self.secret.iter().map(|b| format!("{b:02x}")).collect();
        format!("{MAGIC} {FORMAT} id={} {hex}", self.id)
    }
}

/// Parses the text of a key file into its current key and an optional previous one.
pub fn parse(text: &str) -> anyhow::Result<(KeyLine, Option<KeyLine>)> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(parse_line(line).with_context(|| format!("line {}", n + 1))?);
    }
    let mut keys = keys.into_iter();
    let Some(current) = keys.next() else {
        bail!("no key line (expected `{MAGIC} {FORMAT} id=N <{} hex digits>`)", 2 * KEY_LEN);
    };
    let previous = keys.next();
    if keys.next().is_some() {
        bail!("more than two key lines (a current key and at most one previous key)");
    }
    if previous.as_ref().is_some_and(|p| p.id == current.id) {
        bail!("the previous key has the same id as the current key ({})", current.id);
    }
    Ok((current, previous))
}

fn parse_line(line: &str) -> anyhow::Result<KeyLine> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [magic, format, id, hex] = words[..] else {
        bail!("expected 4 words `{MAGIC} {FORMAT} id=N <hex>`, found {}", words.len());
    };
    if magic != MAGIC {
        bail!("not a Vigil key (starts with {magic:?}, expected {MAGIC:?})");
    }
    if format != FORMAT {
        bail!("unsupported key format {format:?} (this build reads {FORMAT:?})");
    }
    let id = id
        .strip_prefix("id=")
        .and_then(|v| v.parse::<u8>().ok())
        .with_context(|| format!("bad key id {id:?} (expected id=0..255)"))?;
    if hex.len() != 2 * KEY_LEN {
        bail!("the secret has {} hex digits, expected {}", hex.len(), 2 * KEY_LEN);
    }
    let mut secret = [0u8; KEY_LEN];
    for (i, byte) in secret.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).context("the secret is not ASCII hex")?;
        *byte = u8::from_str_radix(pair, 16).with_context(|| format!("bad hex digits {pair:?}"))?;
    }
    Ok(KeyLine { id, secret })
}

/// Reads a key file into the keyring the machines use; warns when others may read it.
pub fn load(path: &Path) -> anyhow::Result<Keyring> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    let (current, previous) = parse(&text).with_context(|| format!("bad key file {}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "key file is readable by group or others; use mode 0600");
        }
    }
    Ok(Keyring {
        current: Key::new(current.id, &current.secret),
        previous: previous.map(|p| Key::new(p.id, &p.secret)),
    })
}

/// Why a new key file could not be created, with the hint that fits: `--force` for a file that
/// exists, `mkdir -p` for a missing directory.
pub(crate) fn cannot_create(path: &Path, e: &std::io::Error) -> anyhow::Error {
    let hint = match e.kind() {
        std::io::ErrorKind::AlreadyExists => "it exists: --force replaces it".to_owned(),
        std::io::ErrorKind::NotFound => match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) => format!("no directory {}: create it first (mkdir -p {0})", dir.display()),
            None => e.to_string(),
        },
        _ => e.to_string(),
    };
    anyhow::anyhow!("cannot create {}: {hint}", path.display())
}

/// Writes a new random key to `path` (mode 0600), refusing to overwrite unless `force`.
pub fn generate(path: &Path, id: u8, force: bool) -> anyhow::Result<()> {
    let mut secret = [0u8; KEY_LEN];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let line = KeyLine { id, secret }.render();
    write_secret(path, force, "# Vigil cluster key: copy to every node, keep it mode 0600", &line)
}

/// Writes a secret file: a comment line, then `line`, mode 0600, synced; refuses to overwrite
/// unless `force` (and then tightens an existing file's mode, which truncation keeps).
pub(crate) fn write_secret(path: &Path, force: bool, comment: &str, line: &str) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| cannot_create(path, &e))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(file, "{comment}")?;
    writeln!(file, "{line}")?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn parses_a_key_and_an_optional_previous_key() {
        let (current, previous) = parse(&format!("# comment\n\nvigil-key v1 id=7 {HEX}\n")).unwrap();
        assert_eq!(current.id, 7);
        assert_eq!(current.secret[31], 0x1f);
        assert!(previous.is_none());
        let two = format!("vigil-key v1 id=2 {HEX}\nvigil-key v1 id=1 {}\n", "ff".repeat(32));
        let (current, previous) = parse(&two).unwrap();
        assert_eq!((current.id, previous.map(|p| p.secret[0])), (2, Some(0xff)));
    }

    #[test]
    fn render_and_parse_round_trip() {
        let key = KeyLine { id: 200, secret: [0xab; KEY_LEN] };
        assert_eq!(parse(&key.render()).unwrap().0, key);
    }

    fn error_of(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn bad_input_gives_a_clear_error() {
        assert!(error_of("").contains("no key line"));
        assert!(error_of("ssh-rsa AAAA x y").contains("not a Vigil key"));
        assert!(error_of(&format!("vigil-key v2 id=1 {HEX}")).contains("unsupported key format"));
        assert!(error_of(&format!("vigil-key v1 id=256 {HEX}")).contains("bad key id"));
        assert!(error_of(&format!("vigil-key v1 1 {HEX}")).contains("bad key id"));
        assert!(error_of("vigil-key v1 id=1 abcd").contains("expected 64"));
        assert!(error_of(&format!("vigil-key v1 id=1 {}", "zz".repeat(32))).contains("bad hex"));
        assert!(error_of(&format!("vigil-key v1 id=1 {}a", "€".repeat(21))).contains("not ASCII hex"));
        assert!(error_of("vigil-key v1 id=1").contains("expected 4 words"));
        assert!(error_of(&format!("vigil-key v1 id=1 {HEX}\nvigil-key v1 id=1 {HEX}")).contains("same id"));
        let three = format!("vigil-key v1 id=1 {HEX}\n").repeat(3);
        assert!(error_of(&three).contains("more than two"));
        assert!(error_of(&format!("x\nvigil-key v1 id=1 {HEX}")).contains("line 1"));
    }

    #[test]
    fn generate_writes_a_private_loadable_file_and_refuses_to_overwrite() {
        let dir = std::env::temp_dir().join(format!("vigil-key-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cluster.key");
        let _ = std::fs::remove_file(&path);
        generate(&path, 3, false).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load(&path).unwrap().current.id(), 3);
        let exists = format!("{:#}", generate(&path, 3, false).unwrap_err());
        assert!(exists.contains("it exists: --force replaces it"), "{exists}");
        let nowhere = format!("{:#}", generate(&dir.join("no/such/dir/cluster.key"), 3, false).unwrap_err());
        assert!(nowhere.contains("create it first (mkdir -p") && !nowhere.contains("--force"), "{nowhere}");
        generate(&path, 4, true).unwrap();
        assert_eq!(load(&path).unwrap().current.id(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
