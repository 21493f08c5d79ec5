package org.casebook.viewmodel

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext

/** One row of the cases list. */
data class CaseRow(val id: String, val title: String, val error: String?)

/**
 * The cases list: every case on this phone; create and delete. Reads the store's listing at start and
 * after any change from elsewhere (an imported file, a joined case, a patient renamed on another phone).
 */
class CasesListViewModel(
    private val session: CasebookSession,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val rows = MutableStateFlow<List<CaseRow>>(emptyList())
    val cases: StateFlow<List<CaseRow>> = rows.asStateFlow()
    private val errors = MutableStateFlow<UiError?>(null)
    val error: StateFlow<UiError?> = errors.asStateFlow()

    // One read at a time: a read started after a write publishes after any read started before it.
    private val reading = Mutex()

    init {
        scope.launch { session.listReloads().collect { load() } }
    }

    /** Read the list again now (the screen is shown again). */
    fun refresh(): Job = scope.launch { load() }

    /** Create a case; this phone's user is its first caregiver. Its id, or null on failure ([error]). */
    fun create(patientName: String, myName: String, relationship: String?): Deferred<String?> = scope.async(io) {
        attempt {
            val created = session.store.createCase(patientName, myName, relationship)
            session.adopt(created.case).id()
        }.onFailure { errors.value = it.uiError() }.getOrNull().also { load() }
    }

    /** Delete a case from this phone. */
    fun delete(caseId: String): Job = scope.launch(io) {
        attempt { session.store.deleteCase(caseId) }.onFailure { errors.value = it.uiError() }
        load()
    }

    private suspend fun load() = reading.withLock {
        withContext(io) {
            attempt { session.store.listCases() }
                .onSuccess { list -> rows.value = list.map { CaseRow(it.id, it.displayName ?: "(unnamed)", it.error) }.sortedBy { it.title } }
                .onFailure { errors.value = it.uiError() }
        }
        Unit
    }
}
