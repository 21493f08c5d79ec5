//! `casebook-server probe --url http://127.0.0.1:3030/readyz`: a health check for containers and service
//! managers without curl in the image. Exits 0 when the relay answers 200 within the timeout, 1 otherwise.
//! Plain HTTP only: with TLS on the public address, probe the monitoring address (`--metrics-listen`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Error, Result};

/// The status code `url` (an `http://host:port/path` URL) answers with, within `timeout`.
pub fn probe(url: &str, timeout: Duration) -> Result<u16> {
    let bad = || Error::Config(format!("{url}: expected http://HOST:PORT/PATH"));
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || path.contains(['\r', '\n', ' ']) || authority.contains(['\r', '\n', ' ', '@']) {
        return Err(bad());
    }
    let addr = authority.to_socket_addrs().map_err(|_| bad())?.next().ok_or_else(bad)?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let r = s.read(&mut head[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    let line = std::str::from_utf8(&head[..n]).unwrap_or("");
    line.strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Error::Internal("the answer is not HTTP".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_of_a_local_server() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            // The request may come in several writes: read to its end.
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while !got.ends_with(b"\r\n\r\n") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended early: {:?}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            let got = String::from_utf8_lossy(&got).to_string();
            assert!(got.starts_with("GET /readyz HTTP/1.1\r\n"), "{got:?}");
            c.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").unwrap();
        });
        assert_eq!(probe(&format!("http://{addr}/readyz"), Duration::from_secs(5)).unwrap(), 503);
        t.join().unwrap();
        assert!(probe("https://127.0.0.1:1/readyz", Duration::from_secs(1)).is_err());
        assert!(probe("http://127.0.0.1:1/re adyz", Duration::from_secs(1)).is_err());
    }
}
