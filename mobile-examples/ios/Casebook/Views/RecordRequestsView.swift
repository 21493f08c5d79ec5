import SwiftUI
import CasebookFFI

/// The record-request tracker: status from the event log, legal due dates, overdue badges.
struct RecordRequestsView: View {
    @StateObject private var model: RecordRequestsModel
    @State private var adding = false
    @State private var custodian = ""
    @State private var items: Set<String> = []

    private static let allItems: [(String, RecordItem)] = [
        ("Pathology slides", .pathologySlides), ("Tissue blocks", .tissueBlocks), ("Pathology report", .pathologyReport),
        ("Imaging disc", .imagingDisc), ("Imaging report", .imagingReport), ("Lab reports", .labReports),
        ("Operative report", .operativeReport), ("Treatment history", .treatmentHistory), ("Other", .other),
    ]
    private static let events: [(String, EventKind)] = [
        ("Requested in writing", .requestedInWriting), ("Acknowledged", .acknowledged), ("Extension", .extension),
        ("Fee asked", .fee), ("Partially received", .partiallyReceived), ("Received", .received),
        ("Denied", .denied), ("Followed up", .followedUp), ("Returned", .returned),
    ]

    init(session: CasebookSession, caseId: String) {
        _model = StateObject(wrappedValue: RecordRequestsModel(session: session, caseId: caseId))
    }

    var body: some View {
        List {
            if let e = model.error { Text(e).foregroundStyle(.red) }
            ForEach(model.rows, id: \.request.id) { row in
                VStack(alignment: .leading, spacing: 4) {
                    HStack {
                        Text(row.request.custodian).font(.headline)
                        if row.overdue {
                            Text("OVERDUE").font(.caption.bold()).padding(4).background(.red).foregroundStyle(.white).clipShape(Capsule())
                        }
                        if row.materialOut { Text("slides out").font(.caption).padding(4).background(.orange.opacity(0.3)).clipShape(Capsule()) }
                    }
                    Text(row.request.items.map { String(describing: $0) }.joined(separator: ", ")).font(.caption)
                    Text([String(describing: row.request.status), row.request.due.map { "due \($0)" }, row.daysWaiting.map { "waiting \($0) days" }]
                        .compactMap { $0 }.joined(separator: " · ")).font(.caption)
                    Menu("Log what happened today") {
                        ForEach(Self.events, id: \.0) { label, kind in
                            Button(label) { model.log(row.request.id, kind) }
                        }
                    }
                }
            }
        }
        .navigationTitle(model.overdueCount > 0 ? "Records (\(model.overdueCount) overdue)" : "Records")
        .toolbar { Button("Request records") { adding = true } }
        .task { await model.observe() }
        .sheet(isPresented: $adding) {
            NavigationStack {
                Form {
                    TextField("Hospital or lab holding them", text: $custodian)
                    ForEach(Self.allItems, id: \.0) { label, _ in
                        Toggle(label, isOn: Binding(get: { items.contains(label) }, set: { if $0 { items.insert(label) } else { items.remove(label) } }))
                    }
                }
                .navigationTitle("Request records")
                .toolbar {
                    ToolbarItem(placement: .cancellationAction) { Button("Cancel") { adding = false } }
                    ToolbarItem(placement: .confirmationAction) {
                        Button("Add") {
                            model.add(custodian: custodian, items: Self.allItems.filter { items.contains($0.0) }.map(\.1))
                            adding = false
                        }
                    }
                }
            }
        }
    }
}
