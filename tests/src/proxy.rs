//! [`Proxy`]: a TCP proxy on 127.0.0.1 whose behaviour ([`Mode`]) can be switched at runtime, to put a
//! weak network between a client and the relay. Plain std threads: one accept loop, one supervisor (cuts
//! connections when due), two pumps per connection (one per direction).
//!
//! Socket errors never panic: they end the connection they happened on.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long a pump waits for data before it looks at the mode again.
const POLL: Duration = Duration::from_millis(10);

/// What the proxy does with the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Accept connections, read and discard everything, never forward, never answer; existing connections
    /// go silent too. A connection that lost bytes this way can never carry its protocol again: it is
    /// closed when the mode changes (the way a healed network leaves such a connection dead).
    Blackhole,
    /// In each direction of each connection, forward the first `after` bytes that arrive from now on (cut
    /// in the middle of a message), then hold the rest and stop reading (the sender's buffers fill up).
    /// Connections stay open; what was held is forwarded when the mode changes.
    Stall {
        /// Bytes forwarded per direction before the stall.
        after: usize,
    },
    /// Forward, but close every connection once it has been open for `every` (counted from the switch to
    /// this mode for connections opened before).
    Cut {
        /// Longest life of a connection.
        every: Duration,
    },
    /// Forward with this delay added to every chunk, in each direction.
    Latency(Duration),
}

/// The current mode, numbered so that pumps notice each switch.
struct ModeState {
    mode: Mode,
    generation: u64,
    since: Instant,
}

/// One proxied connection.
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    opened: Instant,
    closed: AtomicBool,
    /// Bytes were discarded (blackhole): the connection is closed when the mode changes.
    lost_bytes: AtomicBool,
}

impl Conn {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// What the proxy's threads share.
struct Shared {
    target: SocketAddr,
    mode: Mutex<ModeState>,
    conns: Mutex<Vec<Arc<Conn>>>,
    stopped: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn mode(&self) -> (Mode, u64, Instant) {
        let s = lock(&self.mode);
        (s.mode, s.generation, s.since)
    }
}

/// A TCP proxy from `127.0.0.1:<port>` to a target address. Stops (closing every connection) when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listen on 127.0.0.1 (a free port) and forward to `target`, in [`Mode::Pass`].
    pub fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            mode: Mutex::new(ModeState { mode: Mode::Pass, generation: 0, since: Instant::now() }),
            conns: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
        });
        let s = shared.clone();
        thread::Builder::new().name("proxy-accept".into()).spawn(move || accept_loop(listener, s))?;
        let s = shared.clone();
        thread::Builder::new().name("proxy-supervisor".into()).spawn(move || supervise(s))?;
        Ok(Proxy { addr, shared })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switch the behaviour; applies to existing connections too.
    pub fn set_mode(&self, mode: Mode) {
        let mut s = lock(&self.shared.mode);
        s.mode = mode;
        s.generation += 1;
        s.since = Instant::now();
    }

    /// The current behaviour.
    pub fn mode(&self) -> Mode {
        self.shared.mode().0
    }

    /// Close every current connection (both ends see the connection end).
    pub fn cut_all(&self) {
        for c in lock(&self.shared.conns).drain(..) {
            c.close();
        }
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        lock(&self.shared.conns).iter().filter(|c| !c.is_closed()).count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.cut_all();
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = client else { continue };
        // The upstream side is loopback: connecting is immediate. If the target is down, so is the proxy.
        let Ok(upstream) = TcpStream::connect(shared.target) else { continue };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let pair = (client.try_clone(), upstream.try_clone(), client.try_clone(), upstream.try_clone());
        let (Ok(c_read), Ok(u_write), Ok(c_write), Ok(u_read)) = pair else { continue };
        let conn = Arc::new(Conn {
            client,
            upstream,
            opened: Instant::now(),
            closed: AtomicBool::new(false),
            lost_bytes: AtomicBool::new(false),
        });
        lock(&shared.conns).push(conn.clone());
        for (from, to, name) in [(c_read, u_write, "proxy-up"), (u_read, c_write, "proxy-down")] {
            let (s, c) = (shared.clone(), conn.clone());
            if thread::Builder::new().name(name.into()).spawn(move || pump(&s, &c, from, to)).is_err() {
                conn.close();
            }
        }
    }
}

/// Cuts connections when due: every `every` in [`Mode::Cut`], and those that lost bytes once the
/// blackhole is over. Forgets closed ones.
fn supervise(shared: Arc<Shared>) {
    while !shared.stopped.load(Ordering::SeqCst) {
        let (mode, _, since) = shared.mode();
        let now = Instant::now();
        let mut conns = lock(&shared.conns);
        for c in conns.iter() {
            let due = match mode {
                Mode::Cut { every } => now.duration_since(c.opened.max(since)) >= every,
                Mode::Blackhole => false,
                _ => c.lost_bytes.load(Ordering::SeqCst),
            };
            if due {
                c.close();
            }
        }
        conns.retain(|c| !c.is_closed());
        drop(conns);
        thread::sleep(Duration::from_millis(5));
    }
}

/// Carry one direction of a connection according to the mode, until either side closes.
fn pump(shared: &Shared, conn: &Conn, mut from: TcpStream, mut to: TcpStream) {
    if from.set_read_timeout(Some(POLL)).is_err() {
        conn.close();
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut held: Vec<u8> = Vec::new();
    let mut generation = None;
    let mut budget = 0;
    while !conn.is_closed() && !shared.stopped.load(Ordering::SeqCst) {
        let (mode, g, _) = shared.mode();
        if generation != Some(g) {
            generation = Some(g);
            budget = if let Mode::Stall { after } = mode { after } else { 0 };
        }
        if mode != Mode::Blackhole && conn.lost_bytes.load(Ordering::SeqCst) {
            break;
        }
        if let Mode::Stall { .. } = mode
            && (budget == 0 || !held.is_empty())
        {
            // Bytes held from an earlier stall go first, within this stall's budget.
            let k = budget.min(held.len());
            if k > 0 && to.write_all(&held[..k]).is_err() {
                break;
            }
            held.drain(..k);
            budget -= k;
            if budget == 0 {
                // Hold: stop reading, so the sender's buffers fill up.
                thread::sleep(POLL);
            }
            continue;
        }
        if mode == Mode::Blackhole && !held.is_empty() {
            held.clear();
            conn.lost_bytes.store(true, Ordering::SeqCst);
        }
        if mode != Mode::Blackhole && !matches!(mode, Mode::Stall { .. }) && !held.is_empty() {
            if to.write_all(&held).is_err() {
                break;
            }
            held.clear();
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                continue;
            }
            Err(_) => break,
        };
        let chunk = &buf[..n];
        let sent = match mode {
            Mode::Blackhole => {
                conn.lost_bytes.store(true, Ordering::SeqCst);
                Ok(())
            }
            Mode::Stall { .. } => {
                let k = budget.min(n);
                budget -= k;
                held.extend_from_slice(&chunk[k..]);
                to.write_all(&chunk[..k])
            }
            Mode::Latency(d) => {
                thread::sleep(d);
                to.write_all(chunk)
            }
            Mode::Pass | Mode::Cut { .. } => to.write_all(chunk),
        };
        if sent.is_err() {
            break;
        }
    }
    conn.close();
}
