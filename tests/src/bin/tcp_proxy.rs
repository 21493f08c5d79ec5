//! The weak-network [`Proxy`] as a process, for tests outside Rust (the Kotlin weak-network suite of
//! bindings/tests): a TCP proxy on 127.0.0.1 in front of a relay, switched between network conditions by
//! commands on stdin.
//!
//! Usage: `tcp_proxy TARGET_ADDR` (e.g. `tcp_proxy 127.0.0.1:4000`). Listens on a free port of
//! 127.0.0.1, prints `listening http://127.0.0.1:PORT` on stdout, then reads one command per line on
//! stdin and answers each with one line, `ok` or `error: <why>`:
//!
//! | command          | condition ([`Mode`])                                                          |
//! |------------------|-------------------------------------------------------------------------------|
//! | `pass`           | forward both ways ([`Mode::Pass`], the start)                                 |
//! | `blackhole`      | accept, never answer ([`Mode::Blackhole`])                                    |
//! | `stall BYTES`    | forward BYTES per direction, then hold the rest ([`Mode::Stall`])             |
//! | `cut MILLIS`     | close every connection once open for MILLIS ([`Mode::Cut`])                   |
//! | `latency MILLIS` | delay every chunk by MILLIS, each direction ([`Mode::Latency`])               |
//! | `cut-all`        | close every current connection now (the mode stays)                           |
//!
//! Blank lines are ignored. Exits (closing every connection) when stdin closes.

use std::io::{BufRead, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, bail};
use casebook_tests::proxy::{Mode, Proxy};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, target] = args.as_slice() else { bail!("usage: tcp_proxy TARGET_ADDR (host:port)") };
    let target: SocketAddr = target
        .to_socket_addrs()
        .with_context(|| format!("bad target address {target:?}"))?
        .next()
        .with_context(|| format!("{target:?} resolves to no address"))?;
    let proxy = Proxy::start(target).context("cannot start the proxy")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening {}", proxy.url())?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match command(&proxy, line) {
            Ok(()) => writeln!(out, "ok")?,
            Err(e) => writeln!(out, "error: {e:#}")?,
        }
        out.flush()?;
    }
    Ok(())
}

/// Run one command line.
fn command(proxy: &Proxy, line: &str) -> anyhow::Result<()> {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or_default();
    let mut number = |what: &str| -> anyhow::Result<u64> {
        let word = words.next().with_context(|| format!("`{name}` needs {what}"))?;
        word.parse().with_context(|| format!("`{name}`: {word:?} is not a number of {what}"))
    };
    let mode = match name {
        "pass" => Some(Mode::Pass),
        "blackhole" => Some(Mode::Blackhole),
        "stall" => Some(Mode::Stall { after: usize::try_from(number("bytes")?)? }),
        "cut" => Some(Mode::Cut { every: Duration::from_millis(number("milliseconds")?) }),
        "latency" => Some(Mode::Latency(Duration::from_millis(number("milliseconds")?))),
        "cut-all" => None,
        _ => bail!("unknown command {name:?} (pass, blackhole, stall BYTES, cut MILLIS, latency MILLIS, cut-all)"),
    };
    if let Some(extra) = words.next() {
        bail!("`{name}`: unexpected {extra:?}");
    }
    match mode {
        Some(mode) => proxy.set_mode(mode),
        None => proxy.cut_all(),
    }
    Ok(())
}
