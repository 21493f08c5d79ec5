//! The weak-network scenario: two sibling devices (Ana and Ben) synced through a real relay, with a
//! [`Proxy`] between the devices and the relay (WebSocket and HTTP API alike), and the figures of one run.
//!
//! [`typing_under`]: while Ana's sync thread keeps pushing and waiting, her "UI thread" types into her
//! notes (one keystroke every [`Scenario::typing_pace`], a push every [`Scenario::push_every`]) under one
//! proxy [`Mode`], and times each keystroke (lock + append), the part of it spent waiting for the case's
//! lock, and each push. Then the network heals and the time until Ben's open case, which nobody touches,
//! shows Ana's text is measured. [`notification_latency`]: the time from Ana's edit and push to Ben's
//! [`SyncEvent::CaseChanged`] for it, through the relay on loopback.
//!
//! Used by the `weak_network` test suite (which asserts on the [`Figures`]) and the `sync_latency`
//! benchmark (which prints them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebook_core::Store;
use casebook_core::ids::CaseId;
use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::model::text::TextField;
use casebook_core::relay_api::{DeviceCredentials, Role};
use casebook_core::sync::{RelayClient, SharedCase, SyncClient, SyncEvent, SyncOptions, SyncState};

use crate::InProcessRelay;
use crate::proxy::{Mode, Proxy};

/// Setup steps (accounts, share, join) while the network is good.
const WAIT: Duration = Duration::from_secs(30);

/// One scenario run at a time in this process (the machine may have 2 cores: one run's CPU load must not
/// show up in another's timings).
static SERIAL: Mutex<()> = Mutex::new(());

/// The parameters of [`typing_under`]. The default is the test suite's.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Characters typed under the condition.
    pub keystrokes: usize,
    /// Pause between keystrokes.
    pub typing_pace: Duration,
    /// A push ("sync now") from the UI thread every this many keystrokes.
    pub push_every: usize,
    /// Time the condition has been in force before typing starts (so that a cut every 2 s falls
    /// mid-typing).
    pub pre_roll: Duration,
    /// Timeout of the sync thread's waits.
    pub sync_wait: Duration,
    /// How long to wait for the siblings to converge after the network heals.
    pub converge_within: Duration,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            keystrokes: 300,
            typing_pace: Duration::from_millis(5),
            push_every: 10,
            pre_roll: Duration::from_secs(1),
            sync_wait: Duration::from_millis(100),
            converge_within: Duration::from_secs(3),
        }
    }
}

/// The figures of one [`typing_under`] run. Durations are sorted (ascending).
#[derive(Debug, Clone)]
pub struct Figures {
    /// Each keystroke: lock the case + append one character.
    pub keystrokes: Vec<Duration>,
    /// The part of each keystroke spent waiting for the case's lock (held by the sync thread's pushes and
    /// the client's merges): tells local contention from the append itself.
    pub lock_waits: Vec<Duration>,
    /// Each keystroke less the time its thread spent runnable but waiting for a CPU (the scheduler's run
    /// delay, Linux `/proc/thread-self/schedstat`; on 2 cores the sync engines, the relay and the proxy
    /// compete with the UI thread): what the keystroke cost on a CPU plus any time it was blocked. Equal
    /// to [`Figures::keystrokes`] where the counters are not available.
    pub keystrokes_off_run_queue: Vec<Duration>,
    /// Each push (`sync_case`) from the UI thread.
    pub pushes: Vec<Duration>,
    /// Rounds (push + wait) of the sync thread while typing.
    pub sync_rounds: usize,
    /// Ana's sync state of the case just before the network healed.
    pub state_before_healing: SyncState,
    /// Time from healing until both siblings hold the same state, Ana's text included (`None`: not within
    /// [`Scenario::converge_within`]).
    pub converged: Option<Duration>,
}

impl Figures {
    /// Keystroke p50, p99 and max.
    pub fn keystroke(&self) -> (Duration, Duration, Duration) {
        spread(&self.keystrokes)
    }

    /// p50, p99 and max of the keystrokes less their wait for a CPU
    /// ([`Figures::keystrokes_off_run_queue`]).
    pub fn keystroke_off_run_queue(&self) -> (Duration, Duration, Duration) {
        spread(&self.keystrokes_off_run_queue)
    }

    /// Lock wait p50, p99 and max.
    pub fn lock_wait(&self) -> (Duration, Duration, Duration) {
        spread(&self.lock_waits)
    }

    /// Push p50, p99 and max.
    pub fn push(&self) -> (Duration, Duration, Duration) {
        spread(&self.pushes)
    }

    /// One line: every figure, for the condition `name`.
    pub fn summary(&self, name: &str) -> String {
        let (p50, p99, max) = self.keystroke();
        let (_, lock_p99, lock_max) = self.lock_wait();
        let (_, own_p99, own_max) = self.keystroke_off_run_queue();
        let (push_p50, _, push_max) = self.push();
        format!(
            "[{name}] keystrokes ({}): p50 {} p99 {} max {} (lock wait p99 {} max {}; less waits for a CPU: \
             p99 {} max {}) | pushes ({}): p50 {} max {} | sync thread rounds {}, state before healing {:?} | \
             converged after healing: {}",
            self.keystrokes.len(),
            ms(p50),
            ms(p99),
            ms(max),
            ms(lock_p99),
            ms(lock_max),
            ms(own_p99),
            ms(own_max),
            self.pushes.len(),
            ms(push_p50),
            ms(push_max),
            self.sync_rounds,
            self.state_before_healing,
            self.converged.map(ms).unwrap_or_else(|| "NOT within the limit".into()),
        )
    }
}

/// p50, p99 and max of sorted durations (zeros if empty).
fn spread(sorted: &[Duration]) -> (Duration, Duration, Duration) {
    if sorted.is_empty() {
        return Default::default();
    }
    (percentile(sorted, 50), percentile(sorted, 99), *sorted.last().expect("not empty"))
}

/// p-th percentile (0..=100) of sorted durations (nearest rank). Panics if `sorted` is empty.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// A duration in milliseconds, 3 decimals: `1.234 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The scheduler's run delay of the calling thread (Linux `/proc/thread-self/schedstat`, second field:
/// nanoseconds spent runnable but waiting for a CPU; current whenever the thread itself reads it, since it
/// is updated each time the thread gets a CPU). Opened by the thread that reads it.
struct RunDelay(Option<std::fs::File>);

impl RunDelay {
    fn open() -> Self {
        Self(std::fs::File::open("/proc/thread-self/schedstat").ok())
    }

    /// The run delay so far (`None`: not available on this system).
    fn read(&self) -> Option<Duration> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 128];
        let n = self.0.as_ref()?.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let nanos: u64 = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
        Some(Duration::from_nanos(nanos))
    }
}

/// A device: its store and its sync client.
struct Device {
    store: Store,
    creds: DeviceCredentials,
    client: Option<SyncClient>,
    _dir: tempfile::TempDir,
}

impl Device {
    fn new(url: &str, name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let creds = RelayClient::new(url).unwrap().create_account(name, None).unwrap();
        Self { store, creds, client: None, _dir: dir }
    }
    fn online(&mut self, url: &str) -> &SyncClient {
        let options = SyncOptions {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            ..Default::default()
        };
        self.client = Some(SyncClient::start_with(&self.store, url, self.creds.clone(), options).unwrap());
        self.client()
    }
    fn client(&self) -> &SyncClient {
        self.client.as_ref().unwrap()
    }
}

/// Ana and Ben, each with a sled store in a temp dir, synced through an in-process relay: Ana created a case
/// with one appointment and shared it, Ben joined it; both have it open (attached) and in sync. Panics if
/// the setup fails.
pub struct Siblings {
    relay: InProcessRelay,
    proxy: Option<Proxy>,
    ana: Device,
    ben: Device,
    /// Ana's open case.
    pub ana_case: SharedCase,
    /// Ben's open case (the same case).
    pub ben_case: SharedCase,
    /// The case.
    pub case_id: CaseId,
    /// The case's appointment.
    pub appointment: String,
    /// Ana's caregiver id in the case.
    pub ana_author: String,
}

impl Siblings {
    /// Set up the siblings. `proxied`: every connection to the relay goes through a [`Proxy`] (in
    /// [`Mode::Pass`]); otherwise the devices connect to the relay directly.
    pub fn start(proxied: bool) -> Siblings {
        let relay = InProcessRelay::start();
        let proxy = proxied.then(|| Proxy::start(relay.addr()).unwrap());
        let url = proxy.as_ref().map(Proxy::url).unwrap_or_else(|| format!("http://{}", relay.addr()));

        let mut ana = Device::new(&url, "Ana");
        let mut ben = Device::new(&url, "Ben");
        let (mut case, ana_author) = ana.store.create_case("Mum", "Ana", None).unwrap();
        let appointment = case
            .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
            .unwrap();
        case.save().unwrap();
        let case_id = case.id().clone();
        let ana_case: SharedCase = Arc::new(Mutex::new(case));
        let client_a = ana.online(&url);
        client_a.block_on(client_a.share_case(&ana_case)).unwrap();
        client_a.block_on(client_a.sync_and_wait(&ana_case, WAIT)).unwrap();
        let code = client_a.relay().create_invite(&case_id, Role::Editor, None).unwrap().code;
        RelayClient::with_token(&url, &ben.creds.token).unwrap().redeem_invite(&code).unwrap();
        let client_b = ben.online(&url);
        let ben_case = client_b.block_on(client_b.join_case(&case_id, WAIT)).unwrap();
        client_b.block_on(client_b.sync_and_wait(&ben_case, WAIT)).unwrap();
        let client_a = ana.client();
        client_a.block_on(client_a.sync_and_wait(&ana_case, WAIT)).unwrap();
        Siblings { relay, proxy, ana, ben, ana_case, ben_case, case_id, appointment, ana_author }
    }

    /// The proxy between the devices and the relay, if [`Siblings::start`] was asked for one.
    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// Ana's sync client.
    pub fn ana(&self) -> &SyncClient {
        self.ana.client()
    }

    /// Ben's sync client.
    pub fn ben(&self) -> &SyncClient {
        self.ben.client()
    }

    /// Ana's notes of the appointment (the field she types into).
    pub fn ana_notes(&self) -> TextField {
        TextField::AppointmentNotes { appointment: self.appointment.clone(), author: self.ana_author.clone() }
    }

    /// Stop the clients (heal the network first), then the proxy and the relay.
    pub fn stop(mut self) {
        drop(self.ana.client.take());
        drop(self.ben.client.take());
        drop(self.proxy.take());
        self.relay.stop();
    }
}

/// The scenario under one proxy condition (see the [module documentation](self)); one run at a time per
/// process. Panics if the setup fails or a keystroke's append fails.
pub fn typing_under(condition: Mode, scenario: &Scenario) -> Figures {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let siblings = Siblings::start(true);
    let proxy = siblings.proxy().expect("proxied");
    let (a, b) = (&siblings.ana_case, &siblings.ben_case);
    let client_a = siblings.ana();
    let field = siblings.ana_notes();

    // The network goes bad; Ana's sync thread keeps pushing and waiting; the UI thread types.
    let mut keystrokes = Vec::with_capacity(scenario.keystrokes);
    let mut lock_waits = Vec::with_capacity(scenario.keystrokes);
    let mut keystrokes_off_run_queue = Vec::with_capacity(scenario.keystrokes);
    let run_delay = RunDelay::open();
    let mut pushes = Vec::with_capacity(scenario.keystrokes / scenario.push_every.max(1) + 1);
    let mut typed = String::new();
    let stop = AtomicBool::new(false);
    let mut sync_rounds = 0;
    std::thread::scope(|s| {
        let sync_thread = s.spawn(|| {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) {
                // Errors (Timeout above all) are what a weak network produces: ignored, as an app would.
                let _ = client_a.sync_case(a);
                let _ = client_a.block_on(client_a.sync_and_wait(a, scenario.sync_wait));
                rounds += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            rounds
        });
        proxy.set_mode(condition);
        std::thread::sleep(scenario.pre_roll);
        for i in 0..scenario.keystrokes {
            let ch = char::from(b'a' + (i % 26) as u8).to_string();
            let delay_before = run_delay.read();
            let started = Instant::now();
            let mut case = a.lock().unwrap();
            lock_waits.push(started.elapsed());
            case.append_text(&field, &ch).unwrap();
            drop(case);
            let keystroke = started.elapsed();
            keystrokes.push(keystroke);
            // Read just outside the timed window.
            let waited_for_cpu = match (delay_before, run_delay.read()) {
                (Some(before), Some(after)) => after.saturating_sub(before),
                _ => Duration::ZERO,
            };
            keystrokes_off_run_queue.push(keystroke.saturating_sub(waited_for_cpu));
            typed.push_str(&ch);
            if scenario.push_every > 0 && (i + 1) % scenario.push_every == 0 {
                let started = Instant::now();
                client_a.sync_case(a).unwrap();
                pushes.push(started.elapsed());
            }
            std::thread::sleep(scenario.typing_pace);
        }
        stop.store(true, Ordering::SeqCst);
        sync_rounds = sync_thread.join().unwrap();
    });
    let state_before_healing = client_a.status(&siblings.case_id).state;

    // The network heals. Neither app does anything more: the engines alone must bring Ana's text to Ben.
    proxy.set_mode(Mode::Pass);
    let healed = Instant::now();
    let (appt, ana_id) = (&siblings.appointment, &siblings.ana_author);
    let converged = loop {
        let ben_has_it =
            b.lock().unwrap().notes(appt).unwrap().by_author.iter().any(|n| n.author == *ana_id && n.text == typed);
        if ben_has_it && a.lock().unwrap().state().unwrap() == b.lock().unwrap().state().unwrap() {
            break Some(healed.elapsed());
        }
        if healed.elapsed() > scenario.converge_within {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };

    // Stop the clients while the network is good, then the relay.
    siblings.stop();

    keystrokes.sort();
    lock_waits.sort();
    keystrokes_off_run_queue.sort();
    pushes.sort();
    Figures { keystrokes, lock_waits, keystrokes_off_run_queue, pushes, sync_rounds, state_before_healing, converged }
}

/// Time from Ana's edit to Ben's notification, `samples` times, `spacing` apart: at t0 Ana appends a
/// character to her notes and pushes (`sync_case`); Ben's observer records when the
/// [`SyncEvent::CaseChanged`] naming the appointment arrives (the change merged live into his open case).
/// The siblings connect to the relay directly (loopback, no proxy). Returns the latencies, sorted; a sample
/// whose notification did not come within `timeout` counts as `timeout`. One run at a time per process.
pub fn notification_latency(samples: usize, spacing: Duration, timeout: Duration) -> Vec<Duration> {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let siblings = Siblings::start(false);
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let (case_id, appt) = (siblings.case_id.clone(), siblings.appointment.clone());
    siblings.ben().add_observer(Arc::new(move |event: SyncEvent| {
        if let SyncEvent::CaseChanged { case_id: id, change } = event
            && id == case_id
            && change.appointments.contains(&appt)
        {
            let _ = tx.send(Instant::now());
        }
    }));
    let field = siblings.ana_notes();
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        std::thread::sleep(spacing);
        // Late notifications of an earlier sample are not this one's.
        while rx.try_recv().is_ok() {}
        let ch = char::from(b'a' + (i % 26) as u8).to_string();
        let t0 = Instant::now();
        siblings.ana_case.lock().unwrap().append_text(&field, &ch).unwrap();
        siblings.ana().sync_case(&siblings.ana_case).unwrap();
        let latency = match rx.recv_timeout(timeout) {
            Ok(at) => at.duration_since(t0),
            Err(_) => timeout,
        };
        latencies.push(latency);
    }
    siblings.stop();
    latencies.sort();
    latencies
}
