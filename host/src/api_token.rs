//! The admin API token: who may change what the MGS does over HTTP (`vigil recover`, `vigil
//! close`), and, if asked, who may read its status.
//!
//! A token file holds one or two lines of the form
//!
//! ```text
//! vigil-api-token v1 <64 hex digits>
//! ```
//!
//! The CLI sends the first line's token as `Authorization: Bearer <hex>`; the MGS accepts either
//! line, so a rotation is: put a new token first with `vigil keygen --api-token --out FILE
//! --force`, or keep the old one as a second line while the CLI's copies are replaced, then drop
//! it. The MGS reads the file on every request that needs it ([`TokenFile`]), so a rotation takes
//! effect without a restart. Blank lines and `#` comments are ignored; the file must be mode 0600
//! (a token readable by others lets them close recovery windows): the MGS warns when it is not,
//! once per change of the file's mode or modification time.
//!
//! A bearer token rather than requests signed with the order key: the order key is the MGS's
//! alone, while operators run the CLI from their own accounts and need a credential they can be
//! handed and have taken back without re-keying every node.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{bail, Context};

/// Where the MGS and the CLI read the token unless told otherwise.
pub const DEFAULT_TOKEN_FILE: &str = "/etc/vigil/api.token";
/// First word of every token line.
const MAGIC: &str = "vigil-api-token";
/// The only format version so far.
const FORMAT: &str = "v1";
/// Bytes of randomness in a token.
const TOKEN_LEN: usize = 32;

/// The tokens of a token file: the first is the one the CLI sends; the MGS accepts any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens(Vec<String>);

impl Tokens {
    /// The token the CLI sends.
    pub fn current(&self) -> &str {
        &self.0[0]
    }

    /// Whether `offered` is one of the tokens, compared in constant time so that the time of a
    /// refusal does not tell how much of a guess was right.
    pub fn accepts(&self, offered: &str) -> bool {
        self.0.iter().fold(false, |ok, token| ok | constant_time_eq(token.as_bytes(), offered.as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Parses the text of a token file.
pub fn parse(text: &str) -> anyhow::Result<Tokens> {
    let mut tokens = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        tokens.push(parse_line(line).with_context(|| format!("line {}", n + 1))?);
    }
    match tokens.len() {
        0 => bail!("no token line (expected `{MAGIC} {FORMAT} <{} hex digits>`)", 2 * TOKEN_LEN),
        1 | 2 => Ok(Tokens(tokens)),
        _ => bail!("more than two token lines (a current token and at most one previous token)"),
    }
}

fn parse_line(line: &str) -> anyhow::Result<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [magic, format, hex] = words[..] else {
        bail!("expected 3 words `{MAGIC} {FORMAT} <hex>`, found {}", words.len());
    };
    if magic != MAGIC {
        bail!("not a Vigil API token (starts with {magic:?}, expected {MAGIC:?})");
    }
    if format != FORMAT {
        bail!("unsupported token format {format:?} (this build reads {FORMAT:?})");
    }
    if hex.len() != 2 * TOKEN_LEN || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("the token must be {} hex digits", 2 * TOKEN_LEN);
    }
    Ok(hex.to_ascii_lowercase())
}

/// Reads a token file; warns when others may read it.
pub fn load(path: &Path) -> anyhow::Result<Tokens> {
    let (tokens, exposed) = read(path)?;
    if exposed.is_some() {
        warn_exposed(path);
    }
    Ok(tokens)
}

/// The mode and modification time of a token file that others may read.
type Exposed = (u32, Option<SystemTime>);

/// A token file read again on every request that needs it (the MGS's): that others may read it
/// is warned of once per change of its mode or modification time, not on every read.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    /// The file as last warned of, while others may still read it.
    warned: Mutex<Option<Exposed>>,
}

impl TokenFile {
    /// The token file at `path`.
    pub fn new(path: PathBuf) -> TokenFile {
        TokenFile { path, warned: Mutex::new(None) }
    }

    /// Reads the tokens; warns when others may read the file and it changed since the last warning.
    pub fn load(&self) -> anyhow::Result<Tokens> {
        let (tokens, exposed) = read(&self.path)?;
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if exposed.is_some() && *warned != exposed {
            warn_exposed(&self.path);
        }
        *warned = exposed;
        Ok(tokens)
    }
}

/// Reads a token file, with its mode and modification time if others may read it.
fn read(path: &Path) -> anyhow::Result<(Tokens, Option<Exposed>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read API token file {}", path.display()))?;
    let tokens = parse(&text).with_context(|| format!("bad API token file {}", path.display()))?;
    let exposed = std::fs::metadata(path)
        .ok()
        .map(|meta| (meta.permissions().mode(), meta.modified().ok()))
        .filter(|(mode, _)| mode & 0o077 != 0);
    Ok((tokens, exposed))
}

fn warn_exposed(path: &Path) {
    tracing::warn!(path = %path.display(), "API token file is readable by group or others; use mode 0600");
}

/// Writes a new random token to `path` (mode 0600), refusing to overwrite unless `force`.
pub fn generate(path: &Path, force: bool) -> anyhow::Result<()> {
    let mut secret = [0u8; TOKEN_LEN];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    crate::key::write_secret(
        path,
        force,
        "# Vigil admin API token: the MGS and operators' CLI, mode 0600",
        &format!("{MAGIC} {FORMAT} {hex}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn parses_one_or_two_tokens_and_accepts_either() {
        let tokens = parse(&format!("# c\n\nvigil-api-token v1 {A}\n")).unwrap();
        assert_eq!(tokens.current(), A);
        let b = "ff".repeat(32);
        let two = parse(&format!("vigil-api-token v1 {}\nvigil-api-token v1 {A}", b.to_uppercase())).unwrap();
        assert_eq!(two.current(), b);
        assert!(two.accepts(A) && two.accepts(&b));
        assert!(!two.accepts(&A[..63]) && !two.accepts("") && !tokens.accepts(&b));
    }

    #[test]
    fn bad_input_gives_a_clear_error() {
        let error_of = |text: &str| format!("{:#}", parse(text).unwrap_err());
        assert!(error_of("").contains("no token line"));
        assert!(error_of(&format!("vigil-key v1 {A}")).contains("not a Vigil API token"));
        assert!(error_of(&format!("vigil-api-token v2 {A}")).contains("unsupported token format"));
        assert!(error_of("vigil-api-token v1 abcd").contains("64 hex digits"));
        assert!(error_of(&format!("x\nvigil-api-token v1 {A}")).contains("line 1"));
        assert!(error_of(&format!("vigil-api-token v1 {A}\n").repeat(3)).contains("more than two"));
    }

    #[test]
    fn generate_writes_a_private_loadable_file_and_refuses_to_overwrite() {
        let dir = std::env::temp_dir().join(format!("vigil-token-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("api.token");
        let _ = std::fs::remove_file(&path);
        generate(&path, false).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let first = load(&path).unwrap();
        assert!(generate(&path, false).is_err());
        generate(&path, true).unwrap();
        assert_ne!(load(&path).unwrap(), first, "a new token");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
