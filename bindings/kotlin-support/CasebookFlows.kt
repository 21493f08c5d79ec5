// Kotlin Flows over Casebook's observers, for UIs (Compose, view-models). Compile this file together with
// the generated bindings (bindings/generated/kotlin); it needs kotlinx-coroutines-core (1.8+), which the
// generated `suspend` functions need anyway. Android: the example adds this directory as a source
// directory of its `:casebook-bindings` module.
//
// Every function here returns a cold Flow: each collection adds its own observer, and removes it when the
// collection ends (the collecting coroutine is cancelled, `first()` returned, …). Collect in a scope that
// matches the screen (`viewModelScope`, `lifecycleScope.launch { repeatOnLifecycle(STARTED) { … } }`), or
// share one collection between many collectors with `shareIn`/`stateIn`.
package org.casebook.ffi.flow

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import org.casebook.ffi.CaseChange
import org.casebook.ffi.CaseObserver
import org.casebook.ffi.CaseSyncStatus
import org.casebook.ffi.CasebookException
import org.casebook.ffi.Store
import org.casebook.ffi.SyncClient
import org.casebook.ffi.SyncObserver

/**
 * Every change of every case of this store, as `caseId to change`, in the order they happened: local
 * writes (`ChangeOrigin.LOCAL`: the screen that wrote already shows it), other devices' changes merged
 * into the open cases (`REMOTE`, naming the sections and appointments that changed) and imported files
 * (`IMPORT`: open the case again).
 *
 * Nothing is dropped (the buffer is unbounded: a change is a few strings); the observer is added when
 * collection starts, so changes made before that are not replayed: read the state after subscribing.
 */
fun Store.caseChanges(): Flow<Pair<String, CaseChange>> = callbackFlow {
    val id = addObserver(object : CaseObserver {
        override fun onCaseChanged(caseId: String, change: CaseChange) {
            trySend(caseId to change)
        }
    })
    // A store closed before the collection ends has no observers left to remove.
    awaitClose { runCatching { removeObserver(id) } }
}.buffer(Channel.UNLIMITED)

/** The changes of one case (see [caseChanges]). */
fun Store.caseChanges(caseId: String): Flow<CaseChange> =
    caseChanges().filter { it.first == caseId }.map { it.second }

/**
 * The sync status of a case: its current status first, then each new one. Conflated (a slow collector
 * sees the latest status, not every step) and without repeats, like a `StateFlow`; [statusState] makes it
 * one. Completes when the client is stopped.
 */
fun SyncClient.statusFlow(caseId: String): Flow<CaseSyncStatus> = callbackFlow {
    val wanted = caseId
    val id = addObserver(object : SyncObserver {
        override fun onSyncStatusChanged(caseId: String, status: CaseSyncStatus) {
            if (caseId == wanted) trySend(status)
        }

        override fun onSyncFailed(error: CasebookException) {}

        override fun onNotMember(caseId: String) {}
    })
    // The current status, read after the observer is in place so that no change falls in between.
    try {
        trySend(status(caseId))
    } catch (e: CasebookException.Stopped) {
        close()
    } catch (e: CasebookException) {
        close(e)
    }
    awaitClose { runCatching { removeObserver(id) } }
}.conflate().distinctUntilChanged()

/**
 * [statusFlow] as a `StateFlow` in [scope] (a view-model's `viewModelScope`), starting from the current
 * status; it stops observing 5 s after its last collector leaves. Throws `CasebookException.Stopped` if
 * the client is stopped.
 */
fun SyncClient.statusState(caseId: String, scope: CoroutineScope): StateFlow<CaseSyncStatus> =
    statusFlow(caseId).stateIn(scope, SharingStarted.WhileSubscribed(5_000), status(caseId))

/** What a [SyncClient] tells its observers, as one type (see [events]). */
sealed interface SyncEvent {
    /** The sync status of case [caseId] changed. */
    data class StatusChanged(val caseId: String, val status: CaseSyncStatus) : SyncEvent

    /** The relay refused this device for good (wrong or revoked token): sync stopped; sign in again. */
    data class Failed(val error: CasebookException) : SyncEvent

    /** The relay says this account is not a member of case [caseId] (removed from it): it is not synced. */
    data class NotMember(val caseId: String) : SyncEvent
}

/** Every event of this sync client, in order, none dropped (see [SyncEvent]). */
fun SyncClient.events(): Flow<SyncEvent> = callbackFlow {
    val id = addObserver(object : SyncObserver {
        override fun onSyncStatusChanged(caseId: String, status: CaseSyncStatus) {
            trySend(SyncEvent.StatusChanged(caseId, status))
        }

        override fun onSyncFailed(error: CasebookException) {
            trySend(SyncEvent.Failed(error))
        }

        override fun onNotMember(caseId: String) {
            trySend(SyncEvent.NotMember(caseId))
        }
    })
    awaitClose { runCatching { removeObserver(id) } }
}.buffer(Channel.UNLIMITED)
