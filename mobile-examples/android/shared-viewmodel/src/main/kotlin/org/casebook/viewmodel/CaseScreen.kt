package org.casebook.viewmodel

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import org.casebook.ffi.Case
import org.casebook.ffi.CaseSection

/**
 * What the screens of one case share. A screen's view-model lives in [scope] (Android: the `viewModelScope`
 * of the `ViewModel` that holds it; cancelling the scope ends every observation); it reads the case on [io]
 * once at start and again only when a change from elsewhere concerns what it shows
 * ([CasebookSession.reloads]); its own writes run on [io] and then update its state. Actions return a
 * [Job] (or a [Deferred] with their result) that the UI may ignore and a test may await.
 */
abstract class CaseScreen(
    protected val session: CasebookSession,
    val caseId: String,
    protected val scope: CoroutineScope,
    protected val io: CoroutineDispatcher,
) {
    private val errors = MutableStateFlow<UiError?>(null)

    // One read at a time: a read started after a write publishes after any read started before it.
    private val reading = Mutex()

    /** The last failure, for a snackbar or a line on screen. */
    val error: StateFlow<UiError?> = errors.asStateFlow()

    /** Read the case and publish the screen's state (runs on [io]). */
    protected abstract fun read()

    /** Start reading [sections] (of [appointment]): call once, at the end of the subclass's `init`. */
    protected fun readWhenChanged(sections: Set<CaseSection>, appointment: String? = null) {
        scope.launch { session.reloads(caseId, sections, appointment).collect { load() } }
    }

    /** Read again now (a screen shown again after others wrote to the case). */
    fun refresh(): Job = scope.launch { load() }

    fun dismissError() {
        errors.value = null
    }

    protected suspend fun load() {
        reading.withLock { withContext(io) { attempt { read() }.onFailure { fail(it) } } }
    }

    protected fun fail(t: Throwable) {
        errors.value = t.uiError()
    }

    /** A write of this screen on [io]; then the screen reads its state again (derived views changed). */
    protected fun <T> edit(block: (Case) -> T): Deferred<T?> = scope.async(io) {
        attempt { block(session.case(caseId)) }.onFailure { fail(it) }.getOrNull().also { load() }
    }
}
