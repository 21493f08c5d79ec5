package org.casebook.viewmodel

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.stateIn
import org.casebook.ffi.AgendaEntry
import org.casebook.ffi.AgendaKind
import org.casebook.ffi.Appointment
import org.casebook.ffi.AppointmentKind
import org.casebook.ffi.CaseSyncStatus
import org.casebook.ffi.DecisionWindow
import org.casebook.ffi.NewAppointment
import org.casebook.ffi.Role
import org.casebook.ffi.CaseSection
import org.casebook.ffi.Step
import org.casebook.ffi.Verdict

/** What the case overview shows. */
data class Overview(
    val caseId: String,
    val patientName: String,
    /**
     * What comes next, in time order, shown first: appointments (time local to the place, with its zone),
     * the decision date (`isDefault`: diagnosis + 28 days), records due, slides to return, tasks. Done
     * things are left out; past ones still open are `late`.
     */
    val agenda: List<AgendaEntry>,
    /** How many agenda entries are late (records: overdue). */
    val late: Int,
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
    val sync: CaseSyncStatus? = null,
    /** The relay says this account was removed from the case: it stays here but is no longer synced. */
    val removedFromRelay: Boolean = false,
)

/**
 * The case overview: the agenda first, then the seven steps and what is next, the decision window, the
 * verdict, appointments. [today] gives the phone's local date as `YYYY-MM-DD` (`LocalDate.now()`, in the
 * phone's time zone, not UTC: days left, late and overdue badges depend on it).
 */
class CaseOverviewViewModel(
    session: CasebookSession,
    caseId: String,
    scope: CoroutineScope,
    io: CoroutineDispatcher = Dispatchers.IO,
    private val today: () -> String,
) : CaseScreen(session, caseId, scope, io) {
    private val content = MutableStateFlow<Overview?>(null)

    /** The overview: the case as last read, with its sync status. */
    val overview: StateFlow<Overview?> =
        combine(content, session.syncStatus(caseId), session.notMember) { o, status, removed ->
            o?.copy(sync = status, removedFromRelay = caseId in removed)
        }.stateIn(scope, SharingStarted.Eagerly, null)

    init {
        // The steps, the verdict and the conflicts read almost every section: only a change of notes alone
        // leaves the overview as it is.
        readWhenChanged(CaseSection.entries.toSet() - CaseSection.NOTES)
    }

    override fun read() {
        val case = session.case(caseId)
        val day = today()
        val progress = case.progress(day)
        val agenda = case.agenda(day)
        content.value = Overview(
            caseId = caseId,
            patientName = case.patient().displayName ?: "(unnamed)",
            agenda = agenda,
            late = agenda.count { it.late },
            decision = case.decisionWindow(day),
            verdict = case.verdict(),
            steps = progress.steps,
            stepsDone = progress.done.toInt(),
            next = progress.steps.firstOrNull { !it.done },
            appointments = case.appointments(),
            overdueRequests = case.overdueRequests(day).size,
            conflicts = case.conflicts().size,
        )
    }

    /** Record that the patient agreed to seek a second opinion (step 1). */
    fun agreeToSecondOpinion(): Job = edit { it.setAgreedToSecondOpinion(true) }

    /** Add an appointment; `start` as `YYYY-MM-DDTHH:MM`. Its id, or null on failure ([error]). */
    fun addAppointment(kind: AppointmentKind, start: String?, place: String?): Deferred<String?> =
        edit { it.addAppointment(NewAppointment(kind = kind, start = start, place = place)) }

    /**
     * Share the case on the relay (if not yet) and create an invite code for a family member: the code, or
     * null on failure ([error]).
     */
    fun invite(role: Role = Role.EDITOR): Deferred<String?> = scope.async(io) {
        val sync = session.sync ?: run {
            fail(IllegalStateException("Sign in to a relay to invite family members."))
            return@async null
        }
        attempt {
            // This phone's caregiver is the account's member: a recovered phone writes as them.
            session.bindMe(caseId)
            sync.shareCase(session.case(caseId))
            sync.relay().createInvite(caseId, role).code
        }.onFailure { fail(it) }.getOrNull()
    }
}

/**
 * One line of the agenda for the screen: "2026-12-07 09:30 (America/New_York) · Second-opinion consultation
 * with Dr Chen", the place's zone shown only when it is not the phone's ([phoneZone], e.g.
 * `ZoneId.systemDefault().id`).
 */
fun AgendaEntry.line(phoneZone: String?): String {
    val zone = tz?.takeIf { it != phoneZone }?.let { " ($it)" } ?: ""
    val at = listOfNotNull(date, time).joinToString(" ") + zone
    return "$at · $title"
}

/** The badge of an agenda entry: OVERDUE (records past their legal due date), LATE, or the days left. */
fun AgendaEntry.badge(): String = when {
    late && kind == AgendaKind.RECORDS_DUE -> "OVERDUE"
    late -> "LATE"
    daysLeft == 0L -> "today"
    daysLeft == 1L -> "tomorrow"
    else -> "in $daysLeft days"
} + if (kind == AgendaKind.DECISION_DATE && isDefault) " · default date" else ""
