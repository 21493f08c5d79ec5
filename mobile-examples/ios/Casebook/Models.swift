import Combine
import Foundation
import CasebookFFI

/// Today as `YYYY-MM-DD` in the phone's time zone (days left and overdue badges depend on it).
func localToday() -> String {
    let f = DateFormatter()
    f.calendar = Calendar(identifier: .iso8601)
    f.dateFormat = "yyyy-MM-dd"
    return f.string(from: Date())
}

/// Base of the screen models of one case. A view runs `.task { await model.observe() }`: the model reads
/// the case at once, then again only when a change from another phone or an imported file concerns what
/// it shows (`sections`); the task, and the observation, end when the view goes away. The model's own
/// writes update it at once; the store saves them about a second later and the sync client sends them.
@MainActor
class CaseModel: ObservableObject {
    let session: CasebookSession
    let caseId: String
    @Published var error: String?
    /// The case's sync status, as the session hears it.
    @Published private(set) var sync: CaseSyncStatus?

    init(session: CasebookSession, caseId: String) {
        self.session = session
        self.caseId = caseId
        session.$syncStatus.map { $0[caseId] }.removeDuplicates().assign(to: &$sync)
    }

    /// The sections of the case the screen shows.
    var sections: Set<CaseSection> { [] }
    /// The appointment the screen shows, if it shows one.
    var appointment: String? { nil }

    /// Read what the screen shows from the shared case (override).
    func reload() {}

    /// Keep the screen up to date while it is on screen (see the class comment).
    func observe() async {
        let (sections, appointment) = (self.sections, self.appointment)
        for await _ in session.reloads(caseId: caseId, concerns: { $0.concerns(sections, appointment: appointment) }) {
            reload()
        }
    }

    /// A write of this screen to the shared case; then the screen reads its state again.
    @discardableResult
    func edit<T>(_ body: (Case) throws -> T) -> T? {
        do {
            let out = try body(try session.openCase(caseId))
            reload()
            return out
        } catch {
            self.error = errorMessage(error)
            return nil
        }
    }
}

/// The cases list.
@MainActor
final class CasesListModel: ObservableObject {
    let session: CasebookSession
    @Published var cases: [CaseListing] = []
    @Published var error: String?

    init(session: CasebookSession) { self.session = session }

    /// Read the list at once, then after any change from elsewhere (imports, joined cases, renames).
    func observe() async {
        for await _ in session.reloads(caseId: nil, concerns: { $0.origin != .local }) { reload() }
    }

    func reload() {
        do { cases = try session.store.listCases().sorted { ($0.displayName ?? "") < ($1.displayName ?? "") } } catch { self.error = errorMessage(error) }
    }

    func create(patient: String, me: String, relationship: String?) -> String? {
        do {
            let created = try session.store.createCase(patientDisplayName: patient, caregiverName: me, relationship: relationship)
            let id = session.adopt(created.case).id()
            reload()
            return id
        } catch {
            self.error = errorMessage(error)
            return nil
        }
    }
}

/// The case overview: the agenda first, then the seven steps and what is next, decision window, verdict,
/// appointments.
@MainActor
final class CaseOverviewModel: CaseModel {
    @Published var patientName = ""
    /// What comes next, in time order (appointments with their place's zone, the decision date — default or
    /// agreed —, records due, slides to return, tasks); done things left out, late ones flagged.
    @Published var agenda: [AgendaEntry] = []
    @Published var decision: DecisionWindow?
    @Published var verdict: Verdict?
    @Published var steps: [Step] = []
    @Published var appointments: [Appointment] = []
    @Published var overdue = 0
    @Published var conflicts = 0
    @Published var inviteCode: String?
    @Published var inviting = false

    /// The relay says this account was removed from the case: it stays here but is no longer synced.
    @Published private(set) var removedFromRelay = false

    var next: Step? { steps.first { !$0.done } }
    /// How many agenda entries are late (records: overdue).
    var late: Int { agenda.filter { $0.late }.count }

    override init(session: CasebookSession, caseId: String) {
        super.init(session: session, caseId: caseId)
        session.$notMember.map { $0.contains(caseId) }.removeDuplicates().assign(to: &$removedFromRelay)
    }

    /// The steps, the verdict and the conflicts read almost every section: only notes alone leave it as is.
    override var sections: Set<CaseSection> {
        [.patient, .decision, .critical, .specialists, .recordRequests, .documents, .medications, .familyHistory,
         .questions, .appointments, .opinions, .careTeam, .tasks, .costs, .symptoms, .preferences]
    }

    override func reload() {
        do {
            let c = try session.openCase(caseId)
            let today = localToday()
            patientName = try c.patient().displayName ?? "(unnamed)"
            agenda = try c.agenda(today: today)
            decision = try c.decisionWindow(today: today)
            verdict = try c.verdict()
            steps = try c.progress(today: today).steps
            appointments = try c.appointments()
            overdue = try c.overdueRequests(today: today).count
            conflicts = try c.conflicts().count
        } catch {
            self.error = errorMessage(error)
        }
    }

    func agreeToSecondOpinion() { edit { try $0.setAgreedToSecondOpinion(agreed: true) } }

    func addAppointment(start: String?, place: String?) {
        edit { try $0.addAppointment(appointment: NewAppointment(kind: .secondOpinion, specialist: nil, start: start, place: place)) }
    }

    /// Share the case on the relay (if not yet) and create an invite code.
    func invite() async {
        guard let sync = session.sync else {
            error = "Sign in to a relay to invite family members."
            return
        }
        inviting = true
        defer { inviting = false }
        do {
            _ = try await sync.shareCase(case: try session.openCase(caseId))
            inviteCode = try await sync.relay().createInvite(caseId: caseId, role: .editor, expiresInSecs: nil).code
        } catch {
            self.error = errorMessage(error)
        }
    }
}

extension AgendaEntry {
    /// "2026-12-07 09:30 (America/New_York)": the place's zone only when it is not the phone's.
    var when: String {
        let zone = tz.flatMap { $0 == TimeZone.current.identifier ? nil : " (\($0))" } ?? ""
        return [date, time].compactMap { $0 }.joined(separator: " ") + zone
    }

    /// OVERDUE (records past their legal due date), LATE, or the days left; the default decision date says so.
    var badge: String {
        let status: String
        if late {
            status = kind == .recordsDue ? "OVERDUE" : "LATE"
        } else {
            switch daysLeft {
            case 0: status = "today"
            case 1: status = "tomorrow"
            default: status = "in \(daysLeft) days"
            }
        }
        return kind == .decisionDate && isDefault ? status + " · default date" : status
    }
}

/// The appointment screen: notes typed offline or not, as UTF-16 splices (Swift's `String.utf16`), each
/// applied to the shared case at once; others' notes appear as they arrive.
@MainActor
final class AppointmentNotesModel: CaseModel {
    let appointmentId: String
    let me: String
    @Published var appointment: Appointment?
    @Published var myNotes = ""
    @Published var summary = ""
    @Published var others: [(name: String, text: String)] = []
    @Published var unsaved = false
    private var savedCheck: Task<Void, Never>?

    init(session: CasebookSession, caseId: String, appointmentId: String) {
        self.appointmentId = appointmentId
        self.me = session.me(caseId) ?? ""
        super.init(session: session, caseId: caseId)
    }

    /// This appointment's notes and details, and the care team (the names on the others' notes).
    override var sections: Set<CaseSection> { [.notes, .appointments, .careTeam] }
    override var appointment: String? { appointmentId }

    var syncLabel: String { sync.label }

    override func reload() {
        do {
            let c = try session.openCase(caseId)
            appointment = try c.appointments().first { $0.id == appointmentId }
            let notes = try c.notes(appointment: appointmentId)
            let names = Dictionary(uniqueKeysWithValues: try c.careTeam().map { ($0.id, $0.name) })
            myNotes = notes.byAuthor.first { $0.author == me }?.text ?? ""
            summary = notes.summary
            others = notes.byAuthor.filter { $0.author != me }.map { (names[$0.author] ?? "Someone", $0.text) }
            unsaved = try c.hasUnsavedChanges()
        } catch {
            self.error = errorMessage(error)
        }
    }

    func editMyNotes(_ text: String) {
        if apply(.appointmentNotes(appointment: appointmentId, author: me), text) { myNotes = text }
    }

    func editSummary(_ text: String) {
        if apply(.appointmentSummary(appointment: appointmentId), text) { summary = text }
    }

    /// "Done": save now and send (never needed for safety: the store saves a second after typing stops).
    func saveNow() {
        do {
            try session.saveNow(caseId)
            unsaved = false
        } catch {
            self.error = errorMessage(error)
        }
    }

    private func apply(_ field: SharedText, _ new: String) -> Bool {
        do {
            let c = try session.openCase(caseId)
            guard let e = TextDiff.between(try c.text(field: field), new) else { return true }
            try c.spliceText(field: field, index: UInt32(e.index), delete: UInt32(e.delete), insert: e.insert)
        } catch {
            self.error = errorMessage(error)
            return false
        }
        // Saving… until the store's autosave (about a second after the last keystroke) has run.
        unsaved = true
        savedCheck?.cancel()
        savedCheck = Task { [weak self] in
            try? await Task.sleep(nanoseconds: 1_500_000_000)
            guard let self, !Task.isCancelled else { return }
            self.unsaved = (try? self.session.openCase(self.caseId).hasUnsavedChanges()) ?? self.unsaved
        }
        return true
    }
}

/// The record-request tracker.
@MainActor
final class RecordRequestsModel: CaseModel {
    @Published var rows: [RequestProgress] = []
    var overdueCount: Int { rows.filter(\.overdue).count }

    override var sections: Set<CaseSection> { [.recordRequests] }

    override func reload() {
        do {
            rows = try session.openCase(caseId).requestProgress(today: localToday())
                .sorted { ($0.overdue ? 0 : 1, $0.request.custodian) < ($1.overdue ? 0 : 1, $1.request.custodian) }
        } catch {
            self.error = errorMessage(error)
        }
    }

    func add(custodian: String, items: [RecordItem]) {
        edit { try $0.addRecordRequest(custodian: custodian, items: items, channel: .patientRequest) }
    }

    func log(_ requestId: String, _ kind: EventKind) {
        let me = session.me(caseId)
        edit {
            try $0.logRequestEvent(id: requestId, event: NewRequestEvent(kind: kind, date: localToday(), note: nil, feeCents: nil, by: me))
        }
    }
}

/// Questions with the answers heard at one appointment (nil: before any appointment).
@MainActor
final class QuestionsModel: CaseModel {
    let appointmentId: String?
    @Published var questions: [Question] = []
    private var names: [String: String] = [:]
    let guide = guideAuthorId()

    init(session: CasebookSession, caseId: String, appointmentId: String?) {
        self.appointmentId = appointmentId
        super.init(session: session, caseId: caseId)
    }

    override var sections: Set<CaseSection> { [.questions, .careTeam] }

    override func reload() {
        do {
            let c = try session.openCase(caseId)
            names = Dictionary(uniqueKeysWithValues: try c.careTeam().map { ($0.id, $0.name) })
            questions = try c.questions()
        } catch {
            self.error = errorMessage(error)
        }
    }

    func answersHere(_ q: Question) -> [(author: String, text: String)] {
        q.answers.filter { $0.appointment == appointmentId }.map { (names[$0.author] ?? "Someone", $0.text) }
    }

    func add(_ text: String) {
        guard let me = session.me(caseId) else { return }
        edit { try $0.addQuestion(text: text, category: .other, priority: .normal, by: me) }
    }

    func answer(_ questionId: String, _ text: String) {
        guard let me = session.me(caseId), let appointmentId else { return }
        edit { try $0.addAnswer(question: questionId, appointment: appointmentId, author: me, text: text) }
    }
}

/// Join a family member's case with an invite code.
@MainActor
final class JoinCaseModel: ObservableObject {
    enum State: Equatable { case idle, joining, joined(String), failed(String) }
    let session: CasebookSession
    @Published var state: State = .idle

    init(session: CasebookSession) { self.session = session }

    /// Redeem the code, download the case, add me to the care team.
    func join(code: String, name: String, relationship: String?) async {
        guard let sync = session.sync else {
            state = .failed("Sign in to a relay first.")
            return
        }
        state = .joining
        do {
            let membership = try await sync.relay().redeemInvite(code: code.trimmingCharacters(in: .whitespaces))
            let c = session.adopt(try await sync.joinCase(caseId: membership.caseId, timeoutMs: 30_000))
            if session.me(c.id()) == nil {
                let me = try c.addCaregiver(name: name, relationship: relationship)
                try session.store.setMe(caseId: c.id(), caregiverId: me)
            }
            // Push now rather than in a second: the family sees the new member at once.
            try sync.syncCase(case: c)
            state = .joined(c.id())
        } catch {
            state = .failed(errorMessage(error))
        }
    }
}
