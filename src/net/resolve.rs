//! Host name resolution for `host:port` strings, IPv4 and IPv6.

use crate::config::AddressFamily;
use crate::error::{local, Error, Result};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Resolves `host:port` strings and keeps each answer for `broker.address.ttl`. Lookups
/// (`getaddrinfo`, which blocks) run on the thread that asks: a caller opening a
/// connection, never an I/O thread.
pub struct Resolver {
    ttl: Duration,
    family: AddressFamily,
    cache: Mutex<HashMap<String, (Vec<SocketAddr>, Instant)>>,
    lookups: AtomicU64,
}

impl Resolver {
    pub fn new(ttl: Duration, family: AddressFamily) -> Resolver {
        Resolver {
            ttl,
            family,
            cache: Mutex::new(HashMap::new()),
            lookups: AtomicU64::new(0),
        }
    }

    /// Every address of `hostport` (all are tried in turn: `client.dns.lookup=use_all_dns_ips`).
    pub fn resolve(&self, hostport: &str) -> Result<Vec<SocketAddr>> {
        if let Some((addrs, at)) = self.cache.lock().get(hostport) {
            if at.elapsed() < self.ttl {
                return Ok(addrs.clone());
            }
        }
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let addrs = resolve(hostport, self.family)?;
        if !self.ttl.is_zero() {
            self.cache
                .lock()
                .insert(hostport.to_owned(), (addrs.clone(), Instant::now()));
        }
        Ok(addrs)
    }

    /// Name lookups made (answers from the cache not counted).
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }
}

/// Splits `host:port` (IPv6 as `[::1]:9092`) and resolves it to socket addresses.
pub fn resolve(hostport: &str, family: AddressFamily) -> Result<Vec<SocketAddr>> {
    let (host, port) = split_host_port(hostport)?;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::new(
                local::RESOLVE,
                format!("failed to resolve '{hostport}': {e}"),
            )
        })?
        .filter(|a| match family {
            AddressFamily::Any => true,
            AddressFamily::V4 => a.is_ipv4(),
            AddressFamily::V6 => a.is_ipv6(),
        })
        .collect();
    if addrs.is_empty() {
        return Err(Error::new(
            local::RESOLVE,
            format!("'{hostport}' resolved to no usable address"),
        ));
    }
    Ok(addrs)
}

/// Splits `host:port` (IPv6 as `[::1]:9092`, an optional `PLAINTEXT://` prefix).
pub fn split_host_port(s: &str) -> Result<(&str, u16)> {
    let bad = || Error::invalid_arg(format!("invalid broker address '{s}': expected host:port"));
    let s = s.trim();
    let s = ["PLAINTEXT://", "SSL://"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
        .unwrap_or(s);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (h, p)
    } else {
        s.rsplit_once(':').ok_or_else(bad)?
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = port.parse::<u16>().map_err(|_| bad())?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_for_the_ttl() {
        let r = Resolver::new(Duration::from_secs(60), AddressFamily::Any);
        let a = r.resolve("localhost:9092").unwrap();
        assert_eq!(r.resolve("localhost:9092").unwrap(), a);
        assert_eq!(r.lookups(), 1);
        r.resolve("127.0.0.1:9093").unwrap();
        assert_eq!(r.lookups(), 2);
        let r = Resolver::new(Duration::ZERO, AddressFamily::Any);
        r.resolve("localhost:9092").unwrap();
        r.resolve("localhost:9092").unwrap();
        assert_eq!(r.lookups(), 2, "ttl 0: every use looks the name up");
    }

    #[test]
    fn parses_and_resolves() {
        assert_eq!(
            split_host_port("127.0.0.1:9092").unwrap(),
            ("127.0.0.1", 9092)
        );
        assert_eq!(split_host_port("[::1]:9093").unwrap(), ("::1", 9093));
        assert_eq!(split_host_port("PLAINTEXT://h:1").unwrap(), ("h", 1));
        for bad in ["nohost", ":9092", "h:", "h:99999", "[::1:9"] {
            let e = split_host_port(bad).unwrap_err();
            assert_eq!(e.code, local::INVALID_ARG, "{bad}");
            assert!(e.message.contains(bad), "{}", e.message);
        }
        let v4 = resolve("localhost:1", AddressFamily::V4).unwrap();
        assert!(v4.iter().all(|a| a.is_ipv4()));
        let e = resolve("name.invalid:1", AddressFamily::Any).unwrap_err();
        assert_eq!(e.code, local::RESOLVE);
    }
}
