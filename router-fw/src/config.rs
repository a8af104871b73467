//! The router's configuration and its text form.
//!
//! This module owns what a board must tell the firmware: the router's name, its address, the
//! UDP port it listens on, its parents and the cluster key. Boards get the text from wherever is
//! simple for them (compiled-in defaults, the build-time variable `VIGIL_ROUTER_CONFIG` as
//! [`BUILD_LAYER`], QEMU's semihosting command line, later a flash page) and hand it over as *layers*: each layer overrides the keys
//! it names, so a test can change one router's name without restating the rest.
//!
//! # Text form
//! Whitespace-separated `key=value` tokens; tokens without `=` (such as the program name at the
//! head of a command line) are skipped.
//!
//! | key       | value                          | example                        |
//! |-----------|--------------------------------|--------------------------------|
//! | `name`    | up to 32 bytes                 | `name=rack07-r1`               |
//! | `ip`      | IPv4 address and prefix length | `ip=10.0.2.15/24`              |
//! | `gateway` | IPv4 address, or `none`        | `gateway=10.0.2.2`             |
//! | `port`    | UDP port to listen on, not 0   | `port=7000`                    |
//! | `parent`  | IPv4 `address:port`; repeat for multipath or for each status holder (at most [`MAX_UPSTREAMS`]), primary first; a layer that names any parent replaces the whole list | `parent=10.0.2.2:7001` |
//! | `key`     | key id, `:`, 32 bytes in hex   | `key=1:00112233…`              |
//! | `ping_interval_ms`   | ms; children's ping interval (the router tells its children) | `ping_interval_ms=2000` |
//! | `update_interval_ms` | ms; the router's updates to its parents | `update_interval_ms=1000` |
//! | `suspect_after`      | silent intervals before a child is suspect | `suspect_after=3` |
//! | `dead_after`         | silent intervals before a child is dead | `dead_after=6` |
//!
//! The four timing keys are optional and default to `vigil_proto::Timing::default()`; they match
//! the `vigil` daemons' flags of the same names, and must agree with the MGS's timing. The
//! combined timing is checked (`Timing::validate`): each value against the limits every Vigil
//! node uses (`vigil_proto::timing::PING_INTERVAL_MS` and its neighbours: intervals 50 ms to
//! 10 min, `suspect_after` 1 to 100, `dead_after` 2 to 1000), an error naming the key and its
//! range; a bad combination is an error naming no token.
//!
//! Unknown keys are errors, not warnings: a misspelt `parent` must not leave a router silently
//! talking to its old parent.

use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

use embassy_net::{Ipv4Cidr, StaticConfigV4};
use vigil_proto::timing::TimingError;
use vigil_proto::wire::KEY_LEN;
use vigil_proto::{Endpoint, Name, Timing, MAX_UPSTREAMS};

/// The build-time layer: the text of `VIGIL_ROUTER_CONFIG` in the environment of the build that
/// compiled the firmware, or nothing.
pub const BUILD_LAYER: &str = match option_env!("VIGIL_ROUTER_CONFIG") {
    Some(text) => text,
    None => "",
};

/// Everything a router needs to know about itself.
#[derive(Clone)]
pub struct Config {
    /// The name the MGS shows; the node id is derived from it.
    pub name: Name,
    /// Static IPv4 address and prefix.
    pub address: Ipv4Cidr,
    /// Default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// UDP port the router listens on, for its children and its parents' replies.
    pub port: u16,
    /// Next hops toward the MGS, primary first.
    pub parents: heapless::Vec<Endpoint, MAX_UPSTREAMS>,
    /// Id of the cluster key (for rotation).
    pub key_id: u8,
    /// The cluster key itself.
    pub key: [u8; KEY_LEN],
    /// Intervals and thresholds: the timing keys over `Timing::default()`.
    pub timing: Timing,
}

/// Which setting a [`ConfigError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Field {
    /// `name`
    Name,
    /// `ip`
    Address,
    /// `gateway`
    Gateway,
    /// `port`
    Port,
    /// `parent`
    Parents,
    /// `key`
    Key,
}

impl Field {
    /// The key that sets this field in the text form.
    pub fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Address => "ip",
            Field::Gateway => "gateway",
            Field::Port => "port",
            Field::Parents => "parent",
            Field::Key => "key",
        }
    }
}

/// What is wrong with a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError<'a> {
    /// A token names no known key.
    UnknownKey(&'a str),
    /// A token's value does not parse, or is out of range.
    BadValue(&'a str),
    /// More than [`MAX_UPSTREAMS`] parents in one layer.
    TooManyParents,
    /// No layer set this field, and it has no default.
    Missing(Field),
    /// The timing keys, together, make a timing that cannot work.
    Timing(TimingError),
}

impl fmt::Display for ConfigError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey(token) => write!(f, "`{token}`: unknown key"),
            ConfigError::BadValue(token) => write!(f, "`{token}`: bad value"),
            ConfigError::TooManyParents => write!(f, "more than {MAX_UPSTREAMS} parents"),
            ConfigError::Missing(field) => write!(f, "`{}` is not set", field.key()),
            ConfigError::Timing(e) => write!(f, "timing: {e}"),
        }
    }
}

impl fmt::Debug for Config {
    // By hand, so that the key never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name.as_str())
            .field("address", &self.address)
            .field("gateway", &self.gateway)
            .field("port", &self.port)
            .field("parents", &self.parents.as_slice())
            .field("key_id", &self.key_id)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// Settings collected from the layers so far; `None` is "not said yet".
#[derive(Default)]
struct Partial {
    // `timing` starts at `Timing::default()`: its keys are the only optional ones.
    name: Option<Name>,
    address: Option<Ipv4Cidr>,
    gateway: Option<Option<Ipv4Addr>>,
    port: Option<u16>,
    parents: Option<heapless::Vec<Endpoint, MAX_UPSTREAMS>>,
    key: Option<(u8, [u8; KEY_LEN])>,
    timing: Timing,
}

impl Config {
    /// Builds a configuration from text layers, later layers overriding earlier ones.
    ///
    /// Every field must be set by some layer; there are no hidden defaults, so a board's
    /// defaults are visible in the board's source.
    pub fn from_layers<'a>(layers: &[&'a str]) -> Result<Config, ConfigError<'a>> {
        let mut partial = Partial::default();
        for layer in layers {
            partial.apply(layer)?;
        }
        let parents = partial.parents.unwrap_or_default();
        if parents.is_empty() {
            return Err(ConfigError::Missing(Field::Parents));
        }
        let (key_id, key) = partial.key.ok_or(ConfigError::Missing(Field::Key))?;
        partial.timing.validate().map_err(ConfigError::Timing)?;
        Ok(Config {
            name: partial.name.ok_or(ConfigError::Missing(Field::Name))?,
            address: partial.address.ok_or(ConfigError::Missing(Field::Address))?,
            gateway: partial.gateway.ok_or(ConfigError::Missing(Field::Gateway))?,
            port: partial.port.ok_or(ConfigError::Missing(Field::Port))?,
            parents,
            key_id,
            key,
            timing: partial.timing,
        })
    }

    /// The static IPv4 setup for embassy-net.
    pub fn net_config(&self) -> embassy_net::Config {
        embassy_net::Config::ipv4_static(StaticConfigV4 {
            address: self.address,
            gateway: self.gateway,
            dns_servers: Default::default(),
        })
    }
}

impl Partial {
    fn apply<'a>(&mut self, layer: &'a str) -> Result<(), ConfigError<'a>> {
        // A layer that names parents replaces the list; its first `parent=` starts it afresh.
        let mut parents: Option<heapless::Vec<Endpoint, MAX_UPSTREAMS>> = None;
        for token in layer.split_whitespace() {
            let Some((key, value)) = token.split_once('=') else {
                continue;
            };
            let bad = ConfigError::BadValue(token);
            match key {
                "name" => self.name = Some(vigil_proto::ids::name(value).ok_or(bad)?),
                "ip" => self.address = Some(parse_cidr(value).ok_or(bad)?),
                "gateway" => {
                    self.gateway = Some(match value {
                        "none" => None,
                        _ => Some(value.parse().map_err(|_| bad)?),
                    })
                }
                // Port 0 would let the stack pick one, and no child could find the router.
                "port" => self.port = Some(value.parse().ok().filter(|&p| p != 0).ok_or(bad)?),
                "parent" => {
                    let addr: SocketAddrV4 = value.parse().map_err(|_| bad)?;
                    let endpoint = Endpoint::V4 { ip: addr.ip().octets(), port: addr.port() };
                    parents
                        .get_or_insert_with(heapless::Vec::new)
                        .push(endpoint)
                        .map_err(|_| ConfigError::TooManyParents)?;
                }
                "key" => self.key = Some(parse_key(value).ok_or(bad)?),
                "ping_interval_ms" => self.timing.ping_interval_ms = value.parse().map_err(|_| bad)?,
                "update_interval_ms" => self.timing.update_interval_ms = value.parse().map_err(|_| bad)?,
                "suspect_after" => self.timing.suspect_after = value.parse().map_err(|_| bad)?,
                "dead_after" => self.timing.dead_after = value.parse().map_err(|_| bad)?,
                _ => return Err(ConfigError::UnknownKey(token)),
            }
        }
        if parents.is_some() {
            self.parents = parents;
        }
        Ok(())
    }
}

/// `a.b.c.d/len`
fn parse_cidr(text: &str) -> Option<Ipv4Cidr> {
    let (addr, len) = text.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then(|| Ipv4Cidr::new(addr, len))
}

/// `id:hex`, exactly `2 * KEY_LEN` hex digits.
fn parse_key(text: &str) -> Option<(u8, [u8; KEY_LEN])> {
    let (id, hex) = text.split_once(':')?;
    let id: u8 = id.parse().ok()?;
    let hex = hex.as_bytes();
    if hex.len() != 2 * KEY_LEN {
        return None;
    }
    let mut key = [0u8; KEY_LEN];
    for (byte, pair) in key.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some((id, key))
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "key=7:000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    const BASE: &str = "name=r0 ip=10.0.2.15/24 gateway=10.0.2.2 port=7000 parent=10.0.2.2:7001";

    #[test]
    fn layers_override_and_parents_replace() {
        let config = Config::from_layers(&[
            BASE,
            KEY,
            "/path/to/firmware.elf name=r9 parent=10.0.0.1:1 parent=10.0.0.2:2 gateway=none",
        ])
        .expect("valid");
        assert_eq!(config.name.as_str(), "r9");
        assert_eq!(config.port, 7000);
        assert_eq!(config.gateway, None);
        assert_eq!(config.address.prefix_len(), 24);
        assert_eq!(
            config.parents.as_slice(),
            &[Endpoint::V4 { ip: [10, 0, 0, 1], port: 1 }, Endpoint::V4 { ip: [10, 0, 0, 2], port: 2 }]
        );
        assert_eq!(config.key_id, 7);
        assert_eq!(config.key[10], 10);
        assert_eq!(config.key[31], 31);
    }

    #[test]
    fn errors_name_the_token() {
        assert_eq!(
            Config::from_layers(&[BASE, KEY, "prot=7001"]).err(),
            Some(ConfigError::UnknownKey("prot=7001"))
        );
        assert_eq!(
            Config::from_layers(&[BASE, KEY, "port=70000"]).err(),
            Some(ConfigError::BadValue("port=70000"))
        );
        assert_eq!(
            Config::from_layers(&[BASE, KEY, "ip=10.0.0.1/33"]).err(),
            Some(ConfigError::BadValue("ip=10.0.0.1/33"))
        );
        assert_eq!(Config::from_layers(&[BASE, "key=1:00"]).err(), Some(ConfigError::BadValue("key=1:00")));
        assert_eq!(Config::from_layers(&[BASE]).err(), Some(ConfigError::Missing(Field::Key)));
        assert_eq!(std::format!("{}", ConfigError::Missing(Field::Address)), "`ip` is not set");
        let four = "parent=1.1.1.1:1 parent=1.1.1.1:2 parent=1.1.1.1:3 parent=1.1.1.1:4";
        assert_eq!(MAX_UPSTREAMS, 3, "update this test");
        assert_eq!(Config::from_layers(&[BASE, KEY, four]).err(), Some(ConfigError::TooManyParents));
    }

    #[test]
    fn timing_defaults_overrides_and_validation() {
        assert_eq!(Config::from_layers(&[BASE, KEY]).expect("valid").timing, Timing::default());
        let fast = "ping_interval_ms=200 update_interval_ms=100 suspect_after=2 dead_after=4";
        let config = Config::from_layers(&[BASE, KEY, fast]).expect("valid");
        let want = Timing {
            ping_interval_ms: 200,
            update_interval_ms: 100,
            suspect_after: 2,
            dead_after: 4,
            ..Timing::default()
        };
        assert_eq!(config.timing, want);
        assert_eq!(
            Config::from_layers(&[BASE, KEY, "dead_after=x"]).err(),
            Some(ConfigError::BadValue("dead_after=x"))
        );
        assert_eq!(
            Config::from_layers(&[BASE, KEY, "suspect_after=8"]).err(),
            Some(ConfigError::Timing(TimingError::Thresholds))
        );
        // The limits the daemons check, by key and range.
        let Some(ConfigError::Timing(TimingError::OutOfRange(e))) =
            Config::from_layers(&[BASE, KEY, "ping_interval_ms=1"]).err()
        else {
            panic!("a 1 ms ping interval accepted")
        };
        assert_eq!((e.limit, e.value), (vigil_proto::timing::PING_INTERVAL_MS, 1));
    }

    #[test]
    fn debug_hides_the_key() {
        let config = Config::from_layers(&[BASE, KEY]).expect("valid");
        let text = std::format!("{config:?}");
        assert!(text.contains("key_id: 7"));
        assert!(!text.contains("key:"));
    }
}
