import Foundation
import CasebookFFI

/// Blocking Casebook calls that may touch the network (sync, invites, joining) run on this queue.
let casebookIO = DispatchQueue(label: "org.casebook.io")

/// The app's one connection to Casebook: the `Store`, one open `Case` per case id (shared by every screen,
/// so that all of them see the same edits) and, once signed in, the `SyncClient`. The same design as the
/// Android example's `CasebookSession`.
///
/// It turns the core's events into "case X changed": local writes are already in the shared `Case`;
/// relay changes are merged with `syncCase` first; an imported file reopens the case.
final class CasebookSession: ObservableObject, @unchecked Sendable {
    let store: Store
    private var open: [String: Case] = [:]
    private let lock = NSLock()
    private(set) var sync: SyncClient?
    private(set) var relayUrl: String?

    /// Bumped (on the main queue) whenever a case changed: views reload what they show of it.
    @Published private(set) var revision: [String: Int] = [:]
    /// Sync status per case id.
    @Published private(set) var syncStatus: [String: CaseSyncStatus] = [:]
    /// Set when the relay refused this device for good: ask the user to sign in again.
    @Published private(set) var syncFailure: String?

    init(store: Store) {
        self.store = store
        _ = store.addObserver(observer: CaseForwarder(session: self))
    }

    /// The open case with this id (opened on first use, then shared).
    func openCase(_ id: String) throws -> Case {
        lock.lock(); defer { lock.unlock() }
        if let c = open[id] { return c }
        let c = try store.openCase(caseId: id)
        open[id] = c
        return c
    }

    /// Make a case created or joined elsewhere the shared one for its id (if one is open, keep that).
    func adopt(_ c: Case) -> Case {
        lock.lock(); defer { lock.unlock() }
        if let existing = open[c.id()] { return existing }
        open[c.id()] = c
        return c
    }

    func me(_ caseId: String) -> String? { (try? store.me(caseId: caseId)) ?? nil }

    /// Save a case and, when signed in, hand its edits to the relay (offline: they go out later).
    func saveAndSync(_ c: Case) throws {
        _ = try c.save()
        if let sync {
            try sync.syncCase(case: c)
            let status = try sync.status(caseId: c.id())
            DispatchQueue.main.async { self.syncStatus[c.id()] = status }
        }
    }

    /// Save (and sync) every open case: when the app goes to the background.
    func saveOpenCases() {
        lock.lock(); let cases = Array(open.values); lock.unlock()
        for c in cases { try? saveAndSync(c) }
    }

    /// Create an account on the relay and start syncing; returns the credentials to keep in the Keychain.
    func signUp(relayUrl: String, displayName: String) throws -> DeviceCredentials {
        let credentials = try Relay(url: relayUrl).createAccount(displayName: displayName, deviceName: nil)
        try signIn(relayUrl: relayUrl, credentials: credentials)
        return credentials
    }

    /// Start syncing with credentials kept from an earlier `signUp`.
    func signIn(relayUrl: String, credentials: DeviceCredentials) throws {
        stopSync()
        let client = try SyncClient.start(store: store, relayUrl: relayUrl, credentials: credentials)
        _ = client.addObserver(observer: SyncForwarder(session: self))
        sync = client
        self.relayUrl = relayUrl
        DispatchQueue.main.async { self.syncFailure = nil }
    }

    func stopSync() {
        try? sync?.stop()
        sync = nil
    }

    fileprivate func changed(_ caseId: String, _ origin: ChangeOrigin) {
        switch origin {
        case .local:
            break
        case .relay:
            // Other devices' changes reached the store: merge them into the open case.
            lock.lock(); let c = open[caseId]; lock.unlock()
            if let c, let sync { try? sync.syncCase(case: c) }
        case .`import`:
            // An exchange file was imported: the open case must be read again.
            lock.lock(); let c = open.removeValue(forKey: caseId); lock.unlock()
            _ = try? c?.save()
        }
        DispatchQueue.main.async { self.revision[caseId, default: 0] += 1 }
    }

    fileprivate func statusChanged(_ caseId: String, _ status: CaseSyncStatus) {
        DispatchQueue.main.async { self.syncStatus[caseId] = status }
    }

    fileprivate func failed(_ error: CasebookError) {
        DispatchQueue.main.async { self.syncFailure = error.userMessage }
    }
}

private final class CaseForwarder: CaseObserver, @unchecked Sendable {
    weak var session: CasebookSession?
    init(session: CasebookSession) { self.session = session }
    func onCaseChanged(caseId: String, origin: ChangeOrigin) { session?.changed(caseId, origin) }
}

private final class SyncForwarder: SyncObserver, @unchecked Sendable {
    weak var session: CasebookSession?
    init(session: CasebookSession) { self.session = session }
    func onSyncStatusChanged(caseId: String, status: CaseSyncStatus) { session?.statusChanged(caseId, status) }
    func onSyncFailed(error: CasebookError) { session?.failed(error) }
}

extension CasebookError {
    /// What a screen shows.
    var userMessage: String {
        switch self {
        case .Unauthorized: return "This phone is signed out of the relay: sign in again."
        case .InvalidInput(let reason): return reason
        case .NotFound: return "Not found (it may have been removed by someone else)."
        case .Network: return "No connection: your notes are safe on this phone."
        case .Forbidden: return "Your role in this case does not allow this."
        case .RateLimited: return "Too many attempts: wait a minute and try again."
        default: return String(describing: self)
        }
    }
}

/// The message of any error thrown by Casebook.
func errorMessage(_ error: Error) -> String {
    (error as? CasebookError)?.userMessage ?? error.localizedDescription
}

extension Optional where Wrapped == CaseSyncStatus {
    /// What the appointment screen says about sync.
    var label: String {
        guard let s = self else { return "Not synced: saved on this phone" }
        switch s.state {
        case .offline: return s.savedToRelay ? "Offline: everything was sent" : "Offline: saved on this phone, will sync later"
        case .connecting: return "Connecting…"
        case .syncing: return "Syncing…"
        case .upToDate: return "Up to date"
        }
    }
}
