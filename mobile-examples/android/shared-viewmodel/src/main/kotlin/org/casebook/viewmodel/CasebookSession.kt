package org.casebook.viewmodel

import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import org.casebook.ffi.Case
import org.casebook.ffi.CaseObserver
import org.casebook.ffi.CaseSyncStatus
import org.casebook.ffi.CasebookException
import org.casebook.ffi.ChangeOrigin
import org.casebook.ffi.DeviceCredentials
import org.casebook.ffi.Relay
import org.casebook.ffi.Store
import org.casebook.ffi.SyncClient
import org.casebook.ffi.SyncObserver
import org.casebook.ffi.SyncState

/**
 * The app's one connection to Casebook: the [Store], the open cases (one [Case] per case id, shared by
 * every screen, so that all of them see the same edits) and, once signed in, the [SyncClient].
 *
 * It turns the core's events into "case X changed, reload": local writes are already in the shared
 * [Case]; relay changes are merged with `syncCase` first; an imported file reopens the case.
 */
class CasebookSession(val store: Store, private val ui: UiDispatcher = Immediate) : AutoCloseable {
    private val open = ConcurrentHashMap<String, Case>()
    private val listeners = CopyOnWriteArrayList<(String, ChangeOrigin) -> Unit>()

    @Volatile
    var sync: SyncClient? = null
        private set

    /** The relay URL once signed in. */
    @Volatile
    var relayUrl: String? = null
        private set

    /** Sync status per case id, as reported by the sync client. */
    val syncStatus = Observable<Map<String, CaseSyncStatus>>(emptyMap())

    /** Set when the relay refused this device for good: the UI asks the user to sign in again. */
    val syncFailure = Observable<UiError?>(null)

    /** How many change notifications of each origin arrived (diagnostics; the tests read it). */
    val changeCounts = ConcurrentHashMap<ChangeOrigin, Int>()

    private val caseObserverId = store.addObserver(object : CaseObserver {
        override fun onCaseChanged(caseId: String, origin: ChangeOrigin) {
            changeCounts.merge(origin, 1, Int::plus)
            when (origin) {
                ChangeOrigin.LOCAL -> {}
                // Other devices' changes reached the store: merge them into the open case.
                ChangeOrigin.RELAY -> open[caseId]?.let { c -> runCatching { sync?.syncCase(c) } }
                // An exchange file was imported: the open case must be read again.
                ChangeOrigin.IMPORT -> open.remove(caseId)?.let { c -> runCatching { c.save() }; c.close() }
            }
            ui.post { listeners.forEach { it(caseId, origin) } }
        }
    })

    /** The open case with this id (opened on first use, then shared). */
    fun case(caseId: String): Case = open.computeIfAbsent(caseId) { store.openCase(it) }

    /** Make a case created or joined elsewhere the shared one for its id (if one is open, keep that). */
    fun adopt(case: Case): Case {
        val existing = open.putIfAbsent(case.id(), case) ?: return case
        if (existing !== case) case.close()
        return existing
    }

    /** The caregiver id of this device's user in a case. */
    fun me(caseId: String): String? = store.me(caseId)

    /** Listen to changes of any case; returns the function that stops listening. */
    fun onCaseChanged(listener: (caseId: String, origin: ChangeOrigin) -> Unit): () -> Unit {
        listeners += listener
        return { listeners -= listener }
    }

    /** Save a case and, when signed in, hand its edits to the relay (offline: they go out later). */
    fun saveAndSync(case: Case) {
        case.save()
        sync?.let { s ->
            s.syncCase(case)
            publishStatus(case.id(), s.status(case.id()))
        }
    }

    /** Save (and sync) every open case: when the app goes to the background. */
    fun saveOpenCases() = open.values.forEach { runCatching { saveAndSync(it) } }

    /** Create an account on the relay and start syncing; returns the credentials to keep securely. */
    fun signUp(relayUrl: String, displayName: String, deviceName: String? = null): DeviceCredentials {
        val credentials = Relay(relayUrl).use { it.createAccount(displayName, deviceName) }
        signIn(relayUrl, credentials)
        return credentials
    }

    /** Start syncing with credentials kept from an earlier [signUp]. */
    fun signIn(relayUrl: String, credentials: DeviceCredentials) {
        stopSync()
        val client = SyncClient.start(store, relayUrl, credentials)
        client.addObserver(object : SyncObserver {
            override fun onSyncStatusChanged(caseId: String, status: CaseSyncStatus) = publishStatus(caseId, status)

            override fun onSyncFailed(error: CasebookException) {
                ui.post { syncFailure.set(error.toUiError()) }
            }
        })
        sync = client
        this.relayUrl = relayUrl
        syncFailure.set(null)
    }

    /** Stop syncing (the cases stay on the device). */
    fun stopSync() {
        sync?.let { runCatching { it.stop() }; it.close() }
        sync = null
    }

    private fun publishStatus(caseId: String, status: CaseSyncStatus) {
        ui.post { syncStatus.set(syncStatus.value + (caseId to status)) }
    }

    override fun close() {
        store.removeObserver(caseObserverId)
        open.values.forEach { runCatching { it.save() }; it.close() }
        open.clear()
        stopSync()
    }
}

/** What the appointment screen says about sync. */
fun CaseSyncStatus?.label(): String = when {
    this == null -> "Not synced: saved on this phone"
    state == SyncState.OFFLINE -> if (savedToRelay) "Offline: everything was sent" else "Offline: saved on this phone, will sync later"
    state == SyncState.CONNECTING -> "Connecting…"
    state == SyncState.SYNCING -> "Syncing…"
    else -> "Up to date"
}

/** A [CasebookException] as a screen shows it. */
fun CasebookException.toUiError(): UiError = when (this) {
    is CasebookException.Unauthorized -> UiError("This phone is signed out of the relay: sign in again.", signInAgain = true)
    is CasebookException.InvalidInput -> UiError(reason)
    is CasebookException.NotFound -> UiError("Not found (it may have been removed by someone else).")
    is CasebookException.Network -> UiError("No connection: your notes are safe on this phone.")
    is CasebookException.Forbidden -> UiError("Your role in this case does not allow this.")
    is CasebookException.RateLimited -> UiError("Too many attempts: wait a minute and try again.")
    else -> UiError(message ?: toString())
}

/** Run [block], turning a [CasebookException] into a [UiError] result. */
inline fun <T> attempt(block: () -> T): Result<T> = try {
    Result.success(block())
} catch (e: CasebookException) {
    Result.failure(UiException(e.toUiError(), e))
}

/** A [UiError] carried by a failed [Result]. */
class UiException(val error: UiError, cause: Throwable) : Exception(error.message, cause)
