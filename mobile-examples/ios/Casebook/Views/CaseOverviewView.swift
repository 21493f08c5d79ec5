import SwiftUI
import CasebookFFI


/// The case at a glance: the agenda first, then what is next, decision window, verdict, the seven steps,
/// appointments.
struct CaseOverviewView: View {
    @StateObject private var model: CaseOverviewModel
    let session: CasebookSession
    @State private var adding = false
    @State private var start = ""
    @State private var place = ""

    init(session: CasebookSession, caseId: String) {
        self.session = session
        _model = StateObject(wrappedValue: CaseOverviewModel(session: session, caseId: caseId))
    }

    var body: some View {
        List {
            Section(model.late > 0 ? "Coming up (\(model.late) late)" : "Coming up") {
                if model.agenda.isEmpty {
                    Text("Nothing on the agenda: no upcoming appointment, due date or open task.")
                }
                ForEach(Array(model.agenda.enumerated()), id: \.offset) { _, e in
                    VStack(alignment: .leading, spacing: 2) {
                        Text(e.title)
                        Text("\(e.when) · \(e.badge)").font(.caption).foregroundStyle(e.late ? Color.red : Color.secondary)
                    }
                }
            }
            Section {
                if let step = model.next {
                    VStack(alignment: .leading, spacing: 4) {
                        Text("Next — step \(step.number): \(step.title)").font(.headline)
                        if let next = step.next { Text(next) }
                    }
                } else {
                    Text("All seven steps are done.").font(.headline)
                }
                if let d = model.decision {
                    Text(decisionText(d))
                }
                if model.verdict?.stronglyAdvised == true {
                    Text("A critical situation applies: the guide suggests a second opinion.").foregroundStyle(.red)
                }
                if model.conflicts > 0 {
                    Text("\(model.conflicts) field(s) were set differently by two people: pick one.")
                }
                if model.removedFromRelay {
                    Text("You were removed from this case on the relay: it stays on this phone but no longer syncs.")
                        .foregroundStyle(.red)
                }
                Text(model.sync.label).font(.caption)
                if let e = model.error { Text(e).foregroundStyle(.red) }
            }
            Section {
                NavigationLink(model.overdue > 0 ? "Medical records (\(model.overdue) overdue)" : "Medical records") {
                    RecordRequestsView(session: session, caseId: model.caseId)
                }
                NavigationLink("Questions to ask") { QuestionsView(session: session, caseId: model.caseId, appointmentId: nil) }
                Button("Invite a family member") { Task { await model.invite() } }
                    .disabled(model.inviting)
            }
            Section("The seven steps") {
                ForEach(model.steps, id: \.number) { step in
                    VStack(alignment: .leading, spacing: 2) {
                        Text("\(step.done ? "✓" : "○") \(step.number). \(step.title)")
                        ForEach(step.achieved, id: \.self) { Text($0).font(.caption) }
                        if let next = step.next { Text("Next: \(next)").font(.caption).foregroundStyle(.secondary) }
                        if step.number == 1 && !step.done {
                            Button("We agreed together to seek a second opinion") { model.agreeToSecondOpinion() }
                        }
                    }
                }
            }
            Section("Appointments") {
                ForEach(model.appointments, id: \.id) { a in
                    NavigationLink {
                        AppointmentView(session: session, caseId: model.caseId, appointmentId: a.id)
                    } label: {
                        VStack(alignment: .leading) {
                            Text(String(describing: a.kind))
                            Text([a.start?.replacingOccurrences(of: "T", with: " "), a.place].compactMap { $0 }.joined(separator: " · "))
                                .font(.caption)
                        }
                    }
                }
                Button("Add a consultation") { adding = true }
            }
        }
        .navigationTitle(model.patientName)
        // Reads at once and whenever another phone changes what it shows; shown again after another
        // screen wrote to the case, it reads again.
        .task { await model.observe() }
        .alert("Invite code", isPresented: Binding(get: { model.inviteCode != nil }, set: { if !$0 { model.inviteCode = nil } })) {
            Button("Done") { model.inviteCode = nil }
        } message: {
            Text("Send this code to a family member. It works once, for 7 days:\n\n\(model.inviteCode ?? "")")
        }
        .sheet(isPresented: $adding) {
            NavigationStack {
                Form {
                    TextField("When (YYYY-MM-DD HH:MM)", text: $start)
                    TextField("Where", text: $place)
                }
                .navigationTitle("Second-opinion consultation")
                .toolbar {
                    ToolbarItem(placement: .cancellationAction) { Button("Cancel") { adding = false } }
                    ToolbarItem(placement: .confirmationAction) {
                        Button("Add") {
                            model.addAppointment(start: start.isEmpty ? nil : start, place: place.isEmpty ? nil : place)
                            adding = false
                        }
                    }
                }
            }
        }
    }

    private func decisionText(_ d: DecisionWindow) -> String {
        guard let date = d.date, let left = d.daysLeft else { return "Set the diagnosis date to see the decision window" }
        if left < 0 { return "The decision date \(date) has passed" }
        return "\(left) days left to decide (\(date)\(d.isDefault ? ", default: diagnosis + 28 days" : ""))"
    }
}
