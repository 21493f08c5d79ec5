package org.casebook.viewmodel

import org.casebook.ffi.Appointment
import org.casebook.ffi.AppointmentKind
import org.casebook.ffi.CaseSyncStatus
import org.casebook.ffi.DecisionWindow
import org.casebook.ffi.NewAppointment
import org.casebook.ffi.Role
import org.casebook.ffi.Step
import org.casebook.ffi.Verdict

/** What the case overview shows. */
data class Overview(
    val caseId: String,
    val patientName: String,
    val decision: DecisionWindow,
    val verdict: Verdict,
    /** The guide's seven steps, each done or with what is next. */
    val steps: List<Step>,
    val stepsDone: Int,
    /** The first step not done: "what is next" at the top of the screen. */
    val next: Step?,
    val appointments: List<Appointment>,
    val overdueRequests: Int,
    val conflicts: Int,
    val sync: CaseSyncStatus?,
)

/**
 * The case overview: the seven steps and what is next, the decision window, the verdict, appointments.
 * [today] gives the phone's local date as `YYYY-MM-DD` (days left and overdue badges depend on it).
 */
class CaseOverviewViewModel(
    private val session: CasebookSession,
    val caseId: String,
    private val today: () -> String,
) : AutoCloseable {
    val overview = Observable<Overview?>(null)
    val error = Observable<UiError?>(null)
    private val unsubscribe = session.onCaseChanged { id, _ -> if (id == caseId) refresh() }
    private val unsubscribeSync = session.syncStatus.subscribe { if (overview.value != null) refresh() }

    init {
        refresh()
    }

    fun refresh() {
        attempt {
            val case = session.case(caseId)
            val day = today()
            val progress = case.progress(day)
            Overview(
                caseId = caseId,
                patientName = case.patient().displayName ?: "(unnamed)",
                decision = case.decisionWindow(day),
                verdict = case.verdict(),
                steps = progress.steps,
                stepsDone = progress.done.toInt(),
                next = progress.steps.firstOrNull { !it.done },
                appointments = case.appointments(),
                overdueRequests = case.overdueRequests(day).size,
                conflicts = case.conflicts().size,
                sync = session.syncStatus.value[caseId],
            )
        }.onSuccess { overview.set(it) }.onFailure { error.set((it as? UiException)?.error) }
    }

    /** Record that the patient agreed to seek a second opinion (step 1). */
    fun agreeToSecondOpinion() = edit { it.setAgreedToSecondOpinion(true) }

    /** Add an appointment; `start` as `YYYY-MM-DDTHH:MM`. Returns its id. */
    fun addAppointment(kind: AppointmentKind, start: String?, place: String?): String? =
        edit { it.addAppointment(NewAppointment(kind = kind, start = start, place = place)) }

    /** Share the case on the relay (if not yet) and create an invite code for a family member. */
    fun invite(role: Role = Role.EDITOR): String? {
        val sync = session.sync ?: return null.also { error.set(UiError("Sign in to a relay to invite family members.")) }
        return attempt {
            sync.shareCase(session.case(caseId))
            sync.relay().createInvite(caseId, role).code
        }.onFailure { error.set((it as? UiException)?.error) }.getOrNull()
    }

    private fun <T> edit(block: (org.casebook.ffi.Case) -> T): T? =
        attempt {
            val case = session.case(caseId)
            block(case).also { session.saveAndSync(case) }
        }.onFailure { error.set((it as? UiException)?.error) }.getOrNull()

    override fun close() {
        unsubscribe()
        unsubscribeSync()
    }
}
