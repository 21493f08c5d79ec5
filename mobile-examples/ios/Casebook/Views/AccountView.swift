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
    /// Shown once, right after sign-up or recovery; never saved (the Keychain keeps the token only).
    @State private var recoveryCode: String?
    @State private var typedRecoveryCode = ""

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
                        recoveryCode = creds.recoveryCode
                        message = "Signed in."
                    } catch {
                        message = errorMessage(error)
                    }
                }
            }
            if let code = recoveryCode {
                Section("Recovery code") {
                    Text("Write this down and keep it somewhere safe. If this phone is lost, it gets your account and every case back on a new phone. It is shown only now.")
                    Text(code).font(.title3.monospaced()).textSelection(.enabled)
                    Button("I have written it down") { recoveryCode = nil }
                }
            }
            Section("Lost phone") {
                TextField("Recovery code", text: $typedRecoveryCode).textInputAutocapitalization(.characters)
                Button("Recover my account") {
                    let u = url.trimmingCharacters(in: .whitespaces)
                    Task {
                        do {
                            let (creds, cases) = try await session.recover(relayUrl: u, recoveryCode: typedRecoveryCode)
                            CredentialStore.save(url: u, creds)
                            typedRecoveryCode = ""
                            recoveryCode = creds.recoveryCode
                            message = "Account recovered: \(cases.count) case(s) restored; the other devices are signed out."
                        } catch {
                            message = errorMessage(error)
                        }
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
