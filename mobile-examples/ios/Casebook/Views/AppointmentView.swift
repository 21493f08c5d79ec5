import SwiftUI
import CasebookFFI


/// Notes during the consultation. Works offline: every keystroke goes into the shared case at once; the
/// store saves it about a second after the last keystroke (and at once when the app goes to the
/// background) and the sync client sends it when there is a network. Other caregivers' notes appear as
/// they arrive. The sync status is always on screen.
struct AppointmentView: View {
    @StateObject private var model: AppointmentNotesModel
    let session: CasebookSession
    @State private var mine = ""
    @State private var summary = ""
    @State private var loaded = false
    @State private var typedAt: Date?

    init(session: CasebookSession, caseId: String, appointmentId: String) {
        self.session = session
        _model = StateObject(wrappedValue: AppointmentNotesModel(session: session, caseId: caseId, appointmentId: appointmentId))
    }

    var body: some View {
        Form {
            Section {
                Text((model.unsaved ? "Saving… · " : "Saved on this phone · ") + model.syncLabel).font(.caption)
                if let e = model.error { Text(e).foregroundStyle(.red) }
            }
            Section("My notes") {
                TextEditor(text: $mine)
                    .frame(minHeight: 200)
                    .onChange(of: mine) { text in
                        guard text != model.myNotes else { return } // set from the model, not typed
                        model.editMyNotes(text)
                    }
            }
            Section("Shared summary (everyone edits it)") {
                TextEditor(text: $summary)
                    .frame(minHeight: 120)
                    .onChange(of: summary) { text in
                        guard text != model.summary else { return } // set from the model, not typed
                        typedAt = Date()
                        model.editSummary(text)
                    }
            }
            Section {
                NavigationLink("Questions and answers for this appointment") {
                    QuestionsView(session: session, caseId: model.caseId, appointmentId: model.appointmentId)
                }
            }
            ForEach(Array(model.others.enumerated()), id: \.offset) { _, other in
                Section("\(other.name)'s notes") { Text(other.text) }
            }
        }
        .navigationTitle(model.appointment.map { String(describing: $0.kind) } ?? "Appointment")
        .toolbar { Button("Done") { model.saveNow() } }
        .task { await model.observe() }
        // The first read fills the fields.
        .onChange(of: model.appointment) { _ in
            if !loaded {
                mine = model.myNotes
                summary = model.summary
                loaded = true
            }
        }
        // Someone else's edit merged into the summary shows, unless this phone's user is typing in it.
        .onChange(of: model.summary) { merged in
            if loaded, typedAt.map({ Date().timeIntervalSince($0) > 1 }) ?? true { summary = merged }
        }
    }
}
