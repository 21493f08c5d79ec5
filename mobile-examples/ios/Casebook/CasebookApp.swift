import SwiftUI
import CasebookFFI

/// Opens the store once (in Application Support, excluded from backups: a case is health data), signs in
/// to the relay when the Keychain has credentials, and tells the session when the app goes to the
/// background (save every edit now, close the connection) and comes back (reconnect).
@main
@MainActor
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
            Task { try? await session.signIn(relayUrl: saved.url, credentials: saved.credentials) }
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
            switch newPhase {
            case .background: session.pause()
            case .active: session.resume()
            default: break
            }
        }
    }
}
