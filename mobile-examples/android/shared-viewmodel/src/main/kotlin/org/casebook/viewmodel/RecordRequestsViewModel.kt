package org.casebook.viewmodel

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import org.casebook.ffi.Channel
import org.casebook.ffi.EventKind
import org.casebook.ffi.NewRequestEvent
import org.casebook.ffi.RecordItem
import org.casebook.ffi.RequestStatus
import org.casebook.ffi.CaseSection

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
    session: CasebookSession,
    caseId: String,
    scope: CoroutineScope,
    io: CoroutineDispatcher = Dispatchers.IO,
    private val today: () -> String,
) : CaseScreen(session, caseId, scope, io) {
    private val mutableState = MutableStateFlow(RequestsState(emptyList(), 0))
    val state: StateFlow<RequestsState> = mutableState.asStateFlow()

    init {
        readWhenChanged(setOf(CaseSection.RECORD_REQUESTS))
    }

    override fun read() {
        val rows = session.case(caseId).requestProgress(today()).map { p ->
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
        mutableState.value = RequestsState(rows, rows.count { it.overdue })
    }

    /** Add a request: its id, or null on failure ([error]). */
    fun add(custodian: String, items: List<RecordItem>, channel: Channel = Channel.PATIENT_REQUEST): Deferred<String?> =
        edit { it.addRecordRequest(custodian, items, channel) }

    /** Log what happened (`date` as `YYYY-MM-DD`), recorded as this phone's user. */
    fun log(requestId: String, kind: EventKind, date: String, note: String? = null, feeCents: ULong? = null): Job {
        val me = session.me(caseId)
        return edit { it.logRequestEvent(requestId, NewRequestEvent(kind = kind, date = date, note = note, feeCents = feeCents, by = me)) }
    }
}
