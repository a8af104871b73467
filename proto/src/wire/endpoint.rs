//! Transport addresses as the machines see them: IPv4 or IPv6 plus a UDP port.
//!
//! Drivers convert their socket type (`std::net::SocketAddr`, smoltcp's `IpEndpoint`) to and from
//! [`Endpoint`]; the machines never depend on a network stack.

use serde::{Deserialize, Serialize};

/// A UDP endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Endpoint {
    /// IPv4 address and port.
    V4 {
        /// Address octets, most significant first.
        ip: [u8; 4],
        /// UDP port.
        port: u16,
    },
    /// IPv6 address and port.
    V6 {
        /// Address octets, most significant first.
        ip: [u8; 16],
        /// UDP port.
        port: u16,
    },
}

impl Endpoint {
    /// The UDP port.
    pub fn port(&self) -> u16 {
        match *self {
            Endpoint::V4 { port, .. } | Endpoint::V6 { port, .. } => port,
        }
    }
}

#[cfg(feature = "std")]
mod std_conv {
    use super::Endpoint;
    use std::net::{IpAddr, SocketAddr};

    impl From<SocketAddr> for Endpoint {
        fn from(addr: SocketAddr) -> Self {
            match addr.ip() {
                IpAddr::V4(ip) => Endpoint::V4 { ip: ip.octets(), port: addr.port() },
                IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                    // A dual-stack socket reports IPv4 peers as mapped addresses: one peer, one key.
                    Some(v4) => Endpoint::V4 { ip: v4.octets(), port: addr.port() },
                    None => Endpoint::V6 { ip: ip.octets(), port: addr.port() },
                },
            }
        }
    }

    impl From<Endpoint> for SocketAddr {
        fn from(ep: Endpoint) -> Self {
            match ep {
                Endpoint::V4 { ip, port } => SocketAddr::new(IpAddr::from(ip), port),
                Endpoint::V6 { ip, port } => SocketAddr::new(IpAddr::from(ip), port),
            }
        }
    }

    impl core::fmt::Display for Endpoint {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            SocketAddr::from(*self).fmt(f)
        }
    }
}
