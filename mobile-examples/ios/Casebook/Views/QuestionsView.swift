import SwiftUI
import CasebookFFI


/// The questions to ask (the guide's six and the family's own), with the answers heard at an appointment.
struct QuestionsView: View {
    @StateObject private var model: QuestionsModel
    @State private var newQuestion = ""
    @State private var drafts: [String: String] = [:]

    init(session: CasebookSession, caseId: String, appointmentId: String?) {
        _model = StateObject(wrappedValue: QuestionsModel(session: session, caseId: caseId, appointmentId: appointmentId))
    }

    var body: some View {
        List {
            Section {
                HStack {
                    TextField("Your question", text: $newQuestion)
                    Button("Add") {
                        model.add(newQuestion)
                        newQuestion = ""
                    }
                    .disabled(newQuestion.trimmingCharacters(in: .whitespaces).isEmpty)
                }
                if let e = model.error { Text(e).foregroundStyle(.red) }
            }
            ForEach(model.questions, id: \.id) { q in
                VStack(alignment: .leading, spacing: 4) {
                    Text(q.text).font(.headline)
                    if q.addedBy == model.guide { Text("from the guide").font(.caption).foregroundStyle(.secondary) }
                    ForEach(Array(model.answersHere(q).enumerated()), id: \.offset) { _, a in
                        Text("\(a.author): \(a.text)")
                    }
                    if model.appointmentId != nil {
                        TextField("What the doctor said", text: Binding(get: { drafts[q.id] ?? "" }, set: { drafts[q.id] = $0 }))
                        Button("Save answer") {
                            model.answer(q.id, drafts[q.id] ?? "")
                            drafts[q.id] = nil
                        }
                        .disabled((drafts[q.id] ?? "").isEmpty)
                    }
                }
            }
        }
        .navigationTitle(model.appointmentId == nil ? "Questions to ask" : "Questions and answers")
        .task { await model.observe() }
    }
}
