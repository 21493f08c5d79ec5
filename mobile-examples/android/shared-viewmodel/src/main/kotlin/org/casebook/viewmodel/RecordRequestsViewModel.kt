package org.casebook.viewmodel

import org.casebook.ffi.Channel
import org.casebook.ffi.EventKind
import org.casebook.ffi.NewRequestEvent
import org.casebook.ffi.RecordItem
import org.casebook.ffi.RequestStatus

/** One row of the record-request tracker. */
data class RequestRow(
    val id: String,
    val custodian: String,
    val items: List<RecordItem>,
    val status: RequestStatus,
    /** Legal due date, `YYYY-MM-DD` (the patient's own requests only). */
    val due: String?,
    /** The red badge: past the legal due date without a final answer. */
    val overdue: Boolean,
    val daysWaiting: Long?,
    /** Slides or blocks are out and must go back to the lab. */
    val materialOut: Boolean,
    val events: Int,
)

/** The tracker's state. */
data class RequestsState(val rows: List<RequestRow>, val overdueCount: Int)

/** The record-request tracker: every request with its derived status and overdue badges. */
class RecordRequestsViewModel(
    private val session: CasebookSession,
    val caseId: String,
    private val today: () -> String,
) : AutoCloseable {
    val state = Observable(RequestsState(emptyList(), 0))
    val error = Observable<UiError?>(null)
    private val unsubscribe = session.onCaseChanged { id, _ -> if (id == caseId) refresh() }

    init {
        refresh()
    }

    fun refresh() {
        attempt {
            session.case(caseId).requestProgress(today()).map { p ->
                RequestRow(
                    id = p.request.id,
                    custodian = p.request.custodian,
                    items = p.request.items,
                    status = p.request.status,
                    due = p.request.due,
                    overdue = p.overdue,
                    daysWaiting = p.daysWaiting,
                    materialOut = p.materialOut,
                    events = p.request.events.size,
                )
            }.sortedWith(compareByDescending<RequestRow> { it.overdue }.thenBy { it.custodian })
        }.onSuccess { rows -> state.set(RequestsState(rows, rows.count { it.overdue })) }
            .onFailure { error.set((it as? UiException)?.error) }
    }

    /** Add a request. Returns its id. */
    fun add(custodian: String, items: List<RecordItem>, channel: Channel = Channel.PATIENT_REQUEST): String? =
        edit { it.addRecordRequest(custodian, items, channel) }

    /** Log what happened (`date` as `YYYY-MM-DD`), recorded as this phone's user. */
    fun log(requestId: String, kind: EventKind, date: String, note: String? = null, feeCents: ULong? = null) {
        val me = session.me(caseId)
        edit { it.logRequestEvent(requestId, NewRequestEvent(kind = kind, date = date, note = note, feeCents = feeCents, by = me)) }
    }

    private fun <T> edit(block: (org.casebook.ffi.Case) -> T): T? =
        attempt {
            val case = session.case(caseId)
            block(case).also { session.saveAndSync(case) }
        }.onFailure { error.set((it as? UiException)?.error) }.getOrNull()

    override fun close() = unsubscribe()
}
