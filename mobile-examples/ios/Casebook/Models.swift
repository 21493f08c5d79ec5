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

/// Base of the screen models: reloads when the session says the case changed.
class CaseModel: ObservableObject {
    let session: CasebookSession
    let caseId: String
    @Published var error: String?
    private var watch: AnyCancellable?

    init(session: CasebookSession, caseId: String) {
        self.session = session
        self.caseId = caseId
        watch = session.$revision.combineLatest(session.$syncStatus)
            .map { rev, status in (rev[caseId] ?? 0, status[caseId]) }
            .removeDuplicates { $0.0 == $1.0 && $0.1 == $1.1 }
            .receive(on: DispatchQueue.main)
            .sink { [weak self] _ in self?.reload() }
    }

    func reload() {}

    /// Run a write on the shared case, then save and sync.
    func edit<T>(_ body: (Case) throws -> T) -> T? {
        do {
            let c = try session.openCase(caseId)
            let out = try body(c)
            try session.saveAndSync(c)
            return out
        } catch {
            self.error = errorMessage(error)
            return nil
        }
    }
}

/// The cases list.
final class CasesListModel: ObservableObject {
    let session: CasebookSession
    @Published var cases: [CaseListing] = []
    @Published var error: String?
    private var watch: AnyCancellable?

    init(session: CasebookSession) {
        self.session = session
        watch = session.$revision.receive(on: DispatchQueue.main).sink { [weak self] _ in self?.reload() }
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

/// The case overview: the seven steps and what is next, decision window, verdict, appointments.
final class CaseOverviewModel: CaseModel {
    @Published var patientName = ""
    @Published var decision: DecisionWindow?
    @Published var verdict: Verdict?
    @Published var steps: [Step] = []
    @Published var appointments: [Appointment] = []
    @Published var overdue = 0
    @Published var conflicts = 0
    @Published var inviteCode: String?

    var next: Step? { steps.first { !$0.done } }
    var sync: CaseSyncStatus? { session.syncStatus[caseId] }

    override func reload() {
        do {
            let c = try session.openCase(caseId)
            let today = localToday()
            patientName = try c.patient().displayName ?? "(unnamed)"
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

    func agreeToSecondOpinion() { _ = edit { try $0.setAgreedToSecondOpinion(agreed: true) } }

    func addAppointment(start: String?, place: String?) {
        _ = edit { try $0.addAppointment(appointment: NewAppointment(kind: .secondOpinion, specialist: nil, start: start, place: place)) }
    }

    /// Share the case on the relay (if not yet) and create an invite code. Call off the main queue.
    func invite() {
        guard let sync = session.sync else {
            DispatchQueue.main.async { self.error = "Sign in to a relay to invite family members." }
            return
        }
        do {
            _ = try sync.shareCase(case: try session.openCase(caseId))
            let code = try sync.relay().createInvite(caseId: caseId, role: .editor, expiresInSecs: nil).code
            DispatchQueue.main.async { self.inviteCode = code }
        } catch {
            DispatchQueue.main.async { self.error = errorMessage(error) }
        }
    }
}

/// The appointment screen: notes typed offline or not, as UTF-16 splices (Swift's `String.utf16`).
final class AppointmentNotesModel: CaseModel {
    let appointmentId: String
    let me: String
    @Published var appointment: Appointment?
    @Published var myNotes = ""
    @Published var summary = ""
    @Published var others: [(name: String, text: String)] = []
    @Published var unsaved = false

    init(session: CasebookSession, caseId: String, appointmentId: String) {
        self.appointmentId = appointmentId
        self.me = session.me(caseId) ?? ""
        super.init(session: session, caseId: caseId)
    }

    var syncLabel: String { session.syncStatus[caseId].label }

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

    func editMyNotes(_ text: String) { apply(.appointmentNotes(appointment: appointmentId, author: me), text) }
    func editSummary(_ text: String) { apply(.appointmentSummary(appointment: appointmentId), text) }

    /// Save and hand the notes to the relay (offline they wait on the phone). Call off the main queue.
    func save() {
        do {
            try session.saveAndSync(try session.openCase(caseId))
        } catch {
            DispatchQueue.main.async { self.error = errorMessage(error) }
        }
        DispatchQueue.main.async { self.reload() }
    }

    private func apply(_ field: SharedText, _ new: String) {
        do {
            let c = try session.openCase(caseId)
            if let e = TextDiff.between(try c.text(field: field), new) {
                try c.spliceText(field: field, index: UInt32(e.index), delete: UInt32(e.delete), insert: e.insert)
            }
            unsaved = true
        } catch {
            self.error = errorMessage(error)
        }
    }
}

/// The record-request tracker.
final class RecordRequestsModel: CaseModel {
    @Published var rows: [RequestProgress] = []
    var overdueCount: Int { rows.filter(\.overdue).count }

    override func reload() {
        do {
            rows = try session.openCase(caseId).requestProgress(today: localToday())
                .sorted { ($0.overdue ? 0 : 1, $0.request.custodian) < ($1.overdue ? 0 : 1, $1.request.custodian) }
        } catch {
            self.error = errorMessage(error)
        }
    }

    func add(custodian: String, items: [RecordItem]) {
        _ = edit { try $0.addRecordRequest(custodian: custodian, items: items, channel: .patientRequest) }
    }

    func log(_ requestId: String, _ kind: EventKind) {
        let me = session.me(caseId)
        _ = edit {
            try $0.logRequestEvent(id: requestId, event: NewRequestEvent(kind: kind, date: localToday(), note: nil, feeCents: nil, by: me))
        }
    }
}

/// Questions with the answers heard at one appointment (nil: before any appointment).
final class QuestionsModel: CaseModel {
    let appointmentId: String?
    @Published var questions: [Question] = []
    private var names: [String: String] = [:]
    let guide = guideAuthorId()

    init(session: CasebookSession, caseId: String, appointmentId: String?) {
        self.appointmentId = appointmentId
        super.init(session: session, caseId: caseId)
    }

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
        _ = edit { try $0.addQuestion(text: text, category: .other, priority: .normal, by: me) }
    }

    func answer(_ questionId: String, _ text: String) {
        guard let me = session.me(caseId), let appointmentId else { return }
        _ = edit { try $0.addAnswer(question: questionId, appointment: appointmentId, author: me, text: text) }
    }
}

/// Join a family member's case with an invite code.
final class JoinCaseModel: ObservableObject {
    enum State: Equatable { case idle, joining, joined(String), failed(String) }
    let session: CasebookSession
    @Published var state: State = .idle

    init(session: CasebookSession) { self.session = session }

    /// Redeem the code, download the case, add me to the care team. Call off the main queue.
    func join(code: String, name: String, relationship: String?) {
        guard let sync = session.sync else {
            DispatchQueue.main.async { self.state = .failed("Sign in to a relay first.") }
            return
        }
        DispatchQueue.main.async { self.state = .joining }
        do {
            let membership = try sync.relay().redeemInvite(code: code.trimmingCharacters(in: .whitespaces))
            let c = session.adopt(try sync.joinCase(caseId: membership.caseId, timeoutMs: 30_000))
            if session.me(c.id()) == nil {
                let me = try c.addCaregiver(name: name, relationship: relationship)
                try session.store.setMe(caseId: c.id(), caregiverId: me)
            }
            try session.saveAndSync(c)
            DispatchQueue.main.async { self.state = .joined(c.id()) }
        } catch {
            DispatchQueue.main.async { self.state = .failed(errorMessage(error)) }
        }
    }
}
