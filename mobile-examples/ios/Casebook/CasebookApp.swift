import SwiftUI
import CasebookFFI

/// Opens the store once (in Application Support, excluded from backups: a case is health data) and signs
/// in to the relay when the Keychain has credentials.
@main
struct CasebookApp: App {
    @StateObject private var session: CasebookSession
    @Environment(\.scenePhase) private var phase

    init() {
        var dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("casebook", isDirectory: true)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try? dir.setResourceValues(values)
        // A store that cannot open is a fatal condition for this example; a real app shows a recovery screen.
        let store = try! Store.open(path: dir.path)
        let session = CasebookSession(store: store)
        if let saved = CredentialStore.load() {
            casebookIO.async { try? session.signIn(relayUrl: saved.url, credentials: saved.credentials) }
        }
        _session = StateObject(wrappedValue: session)
    }

    var body: some Scene {
        WindowGroup {
            NavigationStack {
                CasesView(session: session)
            }
        }
        .onChange(of: phase) { newPhase in
            // Going to the background: make every edit durable and hand it to the relay.
            if newPhase == .background {
                let session = self.session
                casebookIO.async { session.saveOpenCases() }
            }
        }
    }
}
