import Foundation
import CasebookFFI

/// The app's one connection to Casebook: the `Store`, one open `Case` per case id (shared by every screen,
/// so that all of them see the same edits) and, once signed in, the `SyncClient`. The same design as the
/// Android example's `CasebookSession`.
///
/// Nothing here moves changes by hand: every case opened from the store is kept in sync by the client
/// (other devices' changes are merged into the open `Case` as they arrive), and the store saves an edited
/// case about a second after the last write and hands it to the client. The session only reopens a case
/// after an imported file (`.import`), and tells each screen when a change from elsewhere concerns what it
/// shows (`reloads`). Everything here runs on the main actor; Casebook's events arrive through the
/// AsyncStreams of `CasebookStreams.swift`.
@MainActor
final class CasebookSession: ObservableObject {
    let store: Store
    private var open: [String: Case] = [:]
    private var screens: [UUID: Screen] = [:]
    private var syncEvents: Task<Void, Never>?

    @Published private(set) var sync: SyncClient?
    @Published private(set) var relayUrl: String?
    /// Sync status per case id.
    @Published private(set) var syncStatus: [String: CaseSyncStatus] = [:]
    /// Set when the relay refused this device for good: ask the user to sign in again.
    @Published private(set) var syncFailure: String?
    /// Cases the relay says this account is no longer a member of (removed by the owner): not synced.
    @Published private(set) var notMember: Set<String> = []

    init(store: Store) {
        self.store = store
        // Created here, so that its observer is in place before the first change; read in order.
        let changes = store.caseChanges()
        Task { [weak self] in
            for await event in changes {
                guard let self else { return }
                self.handle(event)
            }
        }
    }

    /// The open case with this id (opened on first use, then shared). Reads and writes of a `Case` are
    /// quick and never wait on the network: screens call them directly, even for each keystroke.
    func openCase(_ id: String) throws -> Case {
        if let c = open[id] { return c }
        let c = try store.openCase(caseId: id)
        open[id] = c
        return c
    }

    /// Make a case created or joined elsewhere the shared one for its id (if one is open, keep that).
    func adopt(_ c: Case) -> Case {
        if let existing = open[c.id()] { return existing }
        open[c.id()] = c
        return c
    }

    func me(_ caseId: String) -> String? { (try? store.me(caseId: caseId)) ?? nil }

    /// When a screen must read: once at once, then after each change from elsewhere that `concerns` it
    /// (`caseId` nil: any case). Keeps only the newest: a burst of changes during a read gives one more
    /// read. Iterate it in the screen's `.task`; it ends with the task.
    func reloads(caseId: String?, concerns: @escaping (CaseChange) -> Bool) -> AsyncStream<Void> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let id = UUID()
            screens[id] = Screen(caseId: caseId, concerns: concerns, continuation: continuation)
            continuation.onTermination = { [weak self] _ in
                Task { @MainActor in self?.screens[id] = nil }
            }
            continuation.yield()
        }
    }

    /// "Save now": save the case and, when signed in, hand its edits to the relay at once. Never needed for
    /// correctness (the store's autosave does it about a second after the last write).
    func saveNow(_ caseId: String) throws {
        let c = try openCase(caseId)
        if let sync { try sync.syncCase(case: c) } else { _ = try c.save() }
    }

    /// Create an account on the relay and start syncing; returns the credentials to keep in the Keychain.
    /// Their `recoveryCode` is for the user's eyes only: show it once ("write this down"); the Keychain
    /// entry keeps the token, never the code.
    func signUp(relayUrl: String, displayName: String) async throws -> DeviceCredentials {
        let credentials = try await Relay(url: relayUrl).createAccount(displayName: displayName, deviceName: nil)
        try await signIn(relayUrl: relayUrl, credentials: credentials)
        return credentials
    }

    /// Every device was lost: get the account back with its recovery code (the lost phones are signed
    /// out), start syncing and bring every case back, writing as the caregiver bound to the account.
    /// Returns the credentials (show their new `recoveryCode` once) and the cases restored.
    func recover(relayUrl: String, recoveryCode: String) async throws -> (DeviceCredentials, [String]) {
        let credentials = try await Relay(url: relayUrl).recoverAccount(
            recoveryCode: recoveryCode, deviceName: nil, revokeOtherDevices: true)
        try await signIn(relayUrl: relayUrl, credentials: credentials)
        guard let sync else { return (credentials, []) }
        var restored: [String] = []
        for membership in try await sync.relay().listCases() {
            let c = try await sync.joinCase(caseId: membership.caseId, timeoutMs: 30_000)
            if try store.me(caseId: c.id()) == nil, let me = try c.caregiverOfAccount(accountId: credentials.accountId) {
                try store.setMe(caseId: c.id(), caregiverId: me)
            }
            restored.append(c.id())
        }
        return (credentials, restored)
    }

    /// Start syncing with credentials kept from an earlier `signUp`.
    func signIn(relayUrl: String, credentials: DeviceCredentials) async throws {
        await stopSync()
        let client = try SyncClient.start(store: store, relayUrl: relayUrl, credentials: credentials)
        // Created right after start: a refused token or a lost membership is known within milliseconds.
        let events = client.events()
        syncFailure = nil
        sync = client
        self.relayUrl = relayUrl
        syncEvents = Task { [weak self] in
            for await event in events {
                guard let self else { return }
                self.handle(event)
            }
        }
    }

    /// Stop syncing (the cases stay on the device, edits are saved).
    func stopSync() async {
        guard let client = sync else { return }
        sync = nil
        syncEvents?.cancel()
        syncEvents = nil
        syncStatus = [:]
        try? await client.stop()
    }

    /// The app goes to the background: save every edited case now and close the relay connection. Quick
    /// (a local flush), and done before the app is suspended.
    func pause() {
        if let sync { try? sync.pause() } else { store.flushPendingSaves() }
    }

    /// The app is in the foreground again: reconnect.
    func resume() {
        try? sync?.resume()
    }

    private func handle(_ event: CaseEvent) {
        if event.change.origin == .`import` {
            // An exchange file was imported into the store: the open case must be read again.
            if let old = open.removeValue(forKey: event.caseId) { _ = try? old.save() }
        }
        for screen in screens.values where screen.caseId == nil || screen.caseId == event.caseId {
            if screen.concerns(event.change) { screen.continuation.yield() }
        }
    }

    private func handle(_ event: SyncEvent) {
        switch event {
        case let .statusChanged(caseId, status): syncStatus[caseId] = status
        case let .failed(error): syncFailure = error.userMessage
        case let .notMember(caseId): notMember.insert(caseId)
        }
    }

    private struct Screen {
        let caseId: String?
        let concerns: (CaseChange) -> Bool
        let continuation: AsyncStream<Void>.Continuation
    }
}

extension CaseChange {
    /// Whether this change concerns a screen that shows `sections` of a case (and, for a screen of one
    /// appointment, `appointment`: a change of notes or appointments concerns it only if it names it).
    /// `.local`: never (this app's own write, already in the shared `Case`; the screen that made it updates
    /// itself, the others read it when shown again). `.import`, and a `.remote` change that names nothing
    /// (merged into a case that was not open): always.
    func concerns(_ sections: Set<CaseSection>, appointment: String? = nil) -> Bool {
        switch origin {
        case .local: return false
        case .`import`: return true
        case .remote:
            if self.sections.isEmpty && appointments.isEmpty { return true }
            return self.sections.contains { s in
                guard sections.contains(s) else { return false }
                guard let appointment, s == .notes || s == .appointments else { return true }
                return appointments.contains(appointment)
            }
        }
    }
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
        case .Timeout: return "The relay is slow to answer: try again in a moment."
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
