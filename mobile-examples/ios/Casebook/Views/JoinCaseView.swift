import SwiftUI
import CasebookFFI

/// Join the case a family member shared, with the invite code they sent.
struct JoinCaseView: View {
    @ObservedObject var session: CasebookSession
    @StateObject private var model: JoinCaseModel
    @State private var code = ""
    @State private var name = ""
    @State private var relationship = ""

    init(session: CasebookSession) {
        self.session = session
        _model = StateObject(wrappedValue: JoinCaseModel(session: session))
    }

    var body: some View {
        Form {
            if session.sync == nil { Text("First sign in to your family's relay (Relay, on the first screen).") }
            TextField("Invite code", text: $code)
            TextField("Your name", text: $name)
            TextField("You are their… (son, sister…)", text: $relationship)
            Button("Join") {
                Task { await model.join(code: code, name: name, relationship: relationship.isEmpty ? nil : relationship) }
            }
            .disabled(model.state == .joining || code.isEmpty || name.isEmpty)
            switch model.state {
            case .joining: Text("Downloading the case…")
            case .failed(let message): Text(message).foregroundStyle(.red)
            case .joined(let caseId):
                NavigationLink("Open the case") { CaseOverviewView(session: session, caseId: caseId) }
            case .idle: EmptyView()
            }
        }
        .navigationTitle("Join a case")
    }
}
