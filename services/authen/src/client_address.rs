//! Which client a login comes from, for the failed-login budgets.
//!
//! It is the TCP peer, unless the peer is a proxy named in `TRUSTED_PROXIES`: then it is the
//! address that proxy (or a trusted proxy before it) put in `X-Forwarded-For`. The header is read
//! from the right, where each proxy appends the peer it saw, and the first address that is not a
//! trusted proxy is the client. Whatever a client writes into the header itself lies to the left
//! of that address, so it can neither pick its own budget nor spend somebody else's.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header::HeaderName};
use ipnet::IpNet;
use platform::{SettingsError, settings::Variable, settings::var};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies whose `X-Forwarded-For` is believed. Empty by default: the header is ignored.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub const VARIABLES: &[Variable] = &[Variable {
        name: "TRUSTED_PROXIES",
        default: None,
        help: "comma-separated addresses or ranges (10.0.0.0/8) of proxies whose \
               X-Forwarded-For names the client; unset: none",
    }];

    pub fn from_env() -> Result<Self, SettingsError> {
        var("TRUSTED_PROXIES")
            .map_or(Ok(Self::default()), |list| Self::parse(&list))
            .map_err(|reason| SettingsError::new("TRUSTED_PROXIES", reason))
    }

    fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is neither an address nor a range"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The client's address: the peer's, or the nearest one a chain of trusted proxies forwarded.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        // Later header lines were added later, so the whole list reads right to left.
        let forwarded = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .rev()
            .flat_map(|line| line.to_str().unwrap_or_default().rsplit(','));
        for entry in forwarded {
            if !self.trusts(client) {
                break;
            }
            // Nothing left of a malformed entry can be believed; the last good address stands.
            let Some(address) = parse_forwarded(entry.trim()) else {
                break;
            };
            client = address;
        }
        client
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|proxy| proxy.contains(&address))
    }
}

/// An entry of `X-Forwarded-For`: an address, or one with a port as some proxies write it.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const PROXY: &str = "10.0.0.5";
    const CLIENT: &str = "203.0.113.7";

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn by_default_the_header_is_ignored() {
        let headers = forwarded(&[CLIENT]);
        let client = TrustedProxies::default().client_address(address(PROXY), &headers);
        assert_eq!(client, address(PROXY));
    }

    #[test]
    fn a_trusted_proxy_names_its_client() {
        let headers = forwarded(&[CLIENT]);
        let client = trusted(PROXY).client_address(address(PROXY), &headers);
        assert_eq!(client, address(CLIENT));
    }

    #[test]
    fn a_peer_that_is_not_trusted_cannot_name_another_client() {
        let headers = forwarded(&["198.51.100.1"]);
        let client = trusted(PROXY).client_address(address(CLIENT), &headers);
        assert_eq!(client, address(CLIENT));
    }

    #[test]
    fn what_a_client_writes_itself_is_left_of_its_own_address_and_ignored() {
        let headers = forwarded(&["198.51.100.1, 127.0.0.1", CLIENT]);
        let client = trusted(PROXY).client_address(address(PROXY), &headers);
        assert_eq!(client, address(CLIENT));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_followed_to_the_client() {
        let headers = forwarded(&[&format!("198.51.100.1, {CLIENT}, 10.1.2.3")]);
        let client = trusted("10.0.0.0/8").client_address(address(PROXY), &headers);
        assert_eq!(client, address(CLIENT));
    }

    #[test]
    fn a_malformed_entry_stops_the_walk_at_the_last_good_address() {
        let headers = forwarded(&[&format!("{CLIENT}, not-an-address")]);
        let client = trusted(PROXY).client_address(address(PROXY), &headers);
        assert_eq!(client, address(PROXY));
        let headers = forwarded(&["[2001:db8::1]:4711", "10.0.0.9:80"]);
        let client = trusted("10.0.0.0/8").client_address(address(PROXY), &headers);
        assert_eq!(client, address("2001:db8::1"));
    }

    #[test]
    fn ipv4_peers_on_an_ipv6_socket_match_ipv4_ranges() {
        let headers = forwarded(&[CLIENT]);
        let client = trusted(PROXY).client_address(address("::ffff:10.0.0.5"), &headers);
        assert_eq!(client, address(CLIENT));
    }

    #[test]
    fn settings_name_the_entry_they_refuse() {
        assert_eq!(trusted(" 10.0.0.1 , fd00::/8,").0.len(), 2);
        let refused = TrustedProxies::parse("10.0.0.1, 10.0.0.0/33").unwrap_err();
        assert!(refused.contains("\"10.0.0.0/33\""), "{refused}");
    }
}
