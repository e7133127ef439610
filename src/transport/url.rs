//! Broker addresses: `mqtt://host:port` and `mqtts://host:port`, and lists
//! of them (`mqtt://a:1883,mqtt://b:1883`) for brokers with several nodes.

use std::fmt;
use std::str::FromStr;

/// Where the broker is: `mqtt://host:port` or `mqtts://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to use TLS (`mqtts://`).
    pub tls: bool,
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Why a broker URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a broker address; use mqtt://HOST:PORT or mqtts://HOST:PORT")]
pub struct BadBrokerUrl(pub String);

impl FromStr for BrokerUrl {
    type Err = BadBrokerUrl;

    fn from_str(text: &str) -> Result<Self, BadBrokerUrl> {
        let bad = || BadBrokerUrl(text.to_owned());
        let (tls, rest) = if let Some(rest) = text.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(bad());
        };
        let rest = rest.trim_end_matches('/');
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match rest.rsplit_once(':') {
            // A bracketed IPv6 literal without a port has a ':' inside.
            Some((host, port)) if !port.contains(']') => {
                (host, port.parse::<u16>().map_err(|_| bad())?)
            }
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') || port == 0 {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

/// One or more brokers, tried in order: the nodes of one cluster (which
/// hold the session together) or brokers bridged to each other. Never
/// empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerList(Vec<BrokerUrl>);

impl BrokerList {
    /// The first broker: the one tried first.
    pub fn first(&self) -> &BrokerUrl {
        // Never empty: every constructor puts at least one in.
        &self.0[0]
    }

    /// The broker at `index`, wrapping around the end of the list.
    pub fn get(&self, index: usize) -> &BrokerUrl {
        &self.0[index % self.0.len()]
    }

    /// How many brokers there are (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false; here because `len` is.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The brokers, in order.
    pub fn iter(&self) -> impl Iterator<Item = &BrokerUrl> {
        self.0.iter()
    }

    /// Whether any of them is reached over TLS.
    pub fn any_tls(&self) -> bool {
        self.0.iter().any(|url| url.tls)
    }
}

impl From<BrokerUrl> for BrokerList {
    fn from(url: BrokerUrl) -> Self {
        Self(vec![url])
    }
}

impl fmt::Display for BrokerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, url) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{url}")?;
        }
        Ok(())
    }
}

impl FromStr for BrokerList {
    type Err = BadBrokerUrl;

    /// Comma-separated addresses; spaces around them are ignored, empty
    /// entries are not (a stray comma is more likely a typo than a wish).
    fn from_str(text: &str) -> Result<Self, BadBrokerUrl> {
        let urls = text
            .split(',')
            .map(|entry| entry.trim().parse())
            .collect::<Result<Vec<BrokerUrl>, _>>()?;
        if urls.is_empty() {
            return Err(BadBrokerUrl(text.to_owned()));
        }
        Ok(Self(urls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_with_default_ports() {
        let url: BrokerUrl = "mqtt://127.0.0.1:1884".parse().unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.tls),
            ("127.0.0.1", 1884, false)
        );
        let url: BrokerUrl = "mqtts://broker.example".parse().unwrap();
        assert_eq!((url.port, url.tls), (8883, true));
        let url: BrokerUrl = "mqtt://[::1]:1999".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 1999));
        assert_eq!(url.to_string(), "mqtt://::1:1999");
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://host:notaport",
            "mqtt://host:0",
            "host:1883",
        ] {
            assert!(bad.parse::<BrokerUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn broker_lists_parse_in_order_and_print_back() {
        let list: BrokerList = "mqtt://127.0.0.1:1884, mqtts://b.example,mqtt://[::1]:7"
            .parse()
            .unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list.first().port, 1884);
        assert_eq!(list.get(1).host, "b.example");
        assert_eq!(list.get(4), list.get(1), "get wraps around");
        assert!(list.any_tls());
        let one: BrokerList = "mqtt://a:1".parse().unwrap();
        assert_eq!(one.to_string(), "mqtt://a:1");
        assert!(!one.any_tls());
        let two: BrokerList = "mqtt://a:1,mqtt://b:2".parse().unwrap();
        assert_eq!(two.to_string(), "mqtt://a:1,mqtt://b:2");
        assert_eq!(two.to_string().parse::<BrokerList>().unwrap(), two);
    }

    #[test]
    fn a_broker_list_with_a_bad_or_empty_entry_is_refused_naming_it() {
        for (bad, named) in [
            ("", ""),
            ("mqtt://a:1,", ""),
            ("mqtt://a:1,,mqtt://b:2", ""),
            ("mqtt://a:1,b:2", "b:2"),
        ] {
            let err = bad.parse::<BrokerList>().unwrap_err();
            assert_eq!(err, BadBrokerUrl(named.to_owned()), "{bad}");
        }
    }
}
