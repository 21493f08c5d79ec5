package org.casebook.viewmodel

/** One row of the cases list. */
data class CaseRow(val id: String, val title: String, val error: String?)

/** The cases list: every case on this phone; create and delete. */
class CasesListViewModel(private val session: CasebookSession) : AutoCloseable {
    val cases = Observable<List<CaseRow>>(emptyList())
    val error = Observable<UiError?>(null)
    private val unsubscribe = session.onCaseChanged { _, _ -> refresh() }

    init {
        refresh()
    }

    fun refresh() {
        attempt { session.store.listCases() }
            .onSuccess { list -> cases.set(list.map { CaseRow(it.id, it.displayName ?: "(unnamed)", it.error) }.sortedBy { it.title }) }
            .onFailure { error.set((it as? UiException)?.error) }
    }

    /** Create a case; this phone's user is its first caregiver. Returns the case id. */
    fun create(patientName: String, myName: String, relationship: String?): String? =
        attempt {
            val created = session.store.createCase(patientName, myName, relationship)
            session.adopt(created.case).id()
        }.onFailure { error.set((it as? UiException)?.error) }
            .also { refresh() }
            .getOrNull()

    /** Delete a case from this phone. */
    fun delete(caseId: String) {
        attempt { session.store.deleteCase(caseId) }.onFailure { error.set((it as? UiException)?.error) }
        refresh()
    }

    override fun close() = unsubscribe()
}
