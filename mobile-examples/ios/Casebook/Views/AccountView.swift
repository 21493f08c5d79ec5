import SwiftUI
import UIKit
import CasebookFFI

/// Sign this phone in to the family's relay (create an account; the token goes to the Keychain), or sign
/// out. Everything works without it; the relay only carries edits between phones.
struct AccountView: View {
    @ObservedObject var session: CasebookSession
    @State private var url = "https://"
    @State private var name = ""
    @State private var message: String?

    var body: some View {
        Form {
            if let failure = session.syncFailure { Text(failure).foregroundStyle(.red) }
            Text(session.sync != nil ? "Signed in to \(session.relayUrl ?? "")" : "Not signed in: cases stay on this phone.")
            TextField("Relay address", text: $url).textInputAutocapitalization(.never).keyboardType(.URL)
            TextField("Your name (shown to your family)", text: $name)
            Button("Create account and sign in") {
                let (u, n) = (url.trimmingCharacters(in: .whitespaces), name.trimmingCharacters(in: .whitespaces))
                // Not tied to this view: signing in goes on if the user leaves the screen.
                Task {
                    do {
                        let creds = try await session.signUp(relayUrl: u, displayName: n)
                        CredentialStore.save(url: u, creds)
                        message = "Signed in."
                    } catch {
                        message = errorMessage(error)
                    }
                }
            }
            Button("Sign out", role: .destructive) {
                CredentialStore.clear()
                Task { await session.stopSync() }
            }
            if let message { Text(message) }
        }
        .navigationTitle("Relay")
        .onAppear { url = session.relayUrl ?? url }
    }
}
