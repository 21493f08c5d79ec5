import SwiftUI
import CasebookFFI

/// Every case on this phone; create one, join one with an invite code, sign in to a relay.
struct CasesView: View {
    @ObservedObject var session: CasebookSession
    @StateObject private var model: CasesListModel
    @State private var creating = false
    @State private var patient = ""
    @State private var me = ""
    @State private var relationship = ""
    @State private var opened: String?

    init(session: CasebookSession) {
        self.session = session
        _model = StateObject(wrappedValue: CasesListModel(session: session))
    }

    var body: some View {
        List {
            if model.cases.isEmpty {
                Text("No case yet. Start one for your loved one, or join the one a family member shared.")
            }
            ForEach(model.cases, id: \.id) { row in
                NavigationLink(value: row.id) {
                    VStack(alignment: .leading) {
                        Text(row.displayName ?? "(unnamed)")
                        if let e = row.error { Text("Cannot open: \(e)").font(.caption).foregroundStyle(.red) }
                    }
                }
                .disabled(row.error != nil)
            }
            if let e = model.error { Text(e).foregroundStyle(.red) }
        }
        .navigationTitle("Casebook")
        .navigationDestination(for: String.self) { id in CaseOverviewView(session: session, caseId: id) }
        .toolbar {
            ToolbarItem(placement: .primaryAction) { Button("New case") { creating = true } }
            ToolbarItem(placement: .secondaryAction) { NavigationLink("Join with a code") { JoinCaseView(session: session) } }
            ToolbarItem(placement: .secondaryAction) { NavigationLink("Relay") { AccountView(session: session) } }
        }
        .task { await model.observe() }
        .sheet(isPresented: $creating) {
            NavigationStack {
                Form {
                    TextField("Patient (how the family calls them)", text: $patient)
                    TextField("Your name", text: $me)
                    TextField("You are their… (daughter, son…)", text: $relationship)
                }
                .navigationTitle("New case")
                .toolbar {
                    ToolbarItem(placement: .cancellationAction) { Button("Cancel") { creating = false } }
                    ToolbarItem(placement: .confirmationAction) {
                        Button("Create") {
                            if model.create(patient: patient, me: me, relationship: relationship.isEmpty ? nil : relationship) != nil {
                                creating = false
                            }
                        }
                    }
                }
            }
        }
    }
}
