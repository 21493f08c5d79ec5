import SwiftUI
import CasebookFFI

/// Notes during the consultation. Works offline: every keystroke goes into the shared case at once, is
/// saved one second after the last keystroke (and when the app goes to the background), and is synced
/// when there is a network. The sync status is always on screen.
struct AppointmentView: View {
    @StateObject private var model: AppointmentNotesModel
    let session: CasebookSession
    @State private var mine = ""
    @State private var summary = ""
    @State private var loaded = false
    @State private var pendingSave: DispatchWorkItem?

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
                        model.editMyNotes(text)
                        scheduleSave()
                    }
            }
            Section("Shared summary (everyone edits it)") {
                TextEditor(text: $summary)
                    .frame(minHeight: 120)
                    .onChange(of: summary) { text in
                        model.editSummary(text)
                        scheduleSave()
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
        .onAppear {
            model.reload()
            if !loaded {
                mine = model.myNotes
                summary = model.summary
                loaded = true
            }
        }
        // Someone else's edit merged into the summary while we were not typing: show it.
        .onChange(of: model.summary) { merged in if pendingSave == nil { summary = merged } }
    }

    /// Save one second after the last keystroke (the core coalesces keystrokes into one change).
    private func scheduleSave() {
        pendingSave?.cancel()
        let work = DispatchWorkItem { [model] in
            casebookIO.async { model.save() }
        }
        pendingSave = work
        DispatchQueue.main.asyncAfter(deadline: .now() + 1, execute: work)
        DispatchQueue.main.asyncAfter(deadline: .now() + 1.1) { if pendingSave === work { pendingSave = nil } }
    }
}
