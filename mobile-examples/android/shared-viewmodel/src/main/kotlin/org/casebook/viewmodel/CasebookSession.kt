package org.casebook.viewmodel

import java.util.concurrent.ConcurrentHashMap
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.flatMapLatest
import kotlinx.coroutines.flow.flowOf
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onSubscription
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import org.casebook.ffi.Case
import org.casebook.ffi.CaseChange
import org.casebook.ffi.CaseObserver
import org.casebook.ffi.CaseSyncStatus
import org.casebook.ffi.CasebookException
import org.casebook.ffi.ChangeOrigin
import org.casebook.ffi.DeviceCredentials
import org.casebook.ffi.Relay
import org.casebook.ffi.CaseSection
import org.casebook.ffi.Store
import org.casebook.ffi.SyncClient
import org.casebook.ffi.SyncObserver
import org.casebook.ffi.SyncState
import org.casebook.ffi.flow.statusFlow

/**
 * The app's one connection to Casebook: the [Store], the open cases (one [Case] per case id, shared by
 * every screen, so that all of them see the same edits) and, once signed in, the [SyncClient].
 *
 * Nothing here moves changes by hand: every case opened from the store is kept in sync by the client
 * (other devices' changes are merged into the open [Case] as they arrive), and the store saves an edited
 * case about a second after the last write and hands it to the client. The session only reopens a case
 * after an imported file (`IMPORT`), and tells each screen when to read ([reloads]): only when a change
 * from elsewhere concerns what it shows ([concerns]).
 *
 * One per app, created with the store. [io] runs what touches the disk. Lifecycle: [pause] when the app
 * goes to the background, [resume] when it comes back, [close] at the end.
 */
class CasebookSession(
    val store: Store,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val open = ConcurrentHashMap<String, Case>()
    private val client = MutableStateFlow<SyncClient?>(null)
    private val lifecycle = Mutex()

    /** The sync client while signed in (screens that need the relay collect it). */
    val syncClient: StateFlow<SyncClient?> = client.asStateFlow()

    /** The sync client, if signed in. */
    val sync: SyncClient? get() = client.value

    /** The relay URL once signed in. */
    @Volatile
    var relayUrl: String? = null
        private set

    /** The relay account once signed in (the member behind this phone's caregiver in each case). */
    @Volatile
    var accountId: String? = null
        private set

    private val failure = MutableStateFlow<UiError?>(null)

    /** Set when the relay refused this device for good: the UI asks the user to sign in again. */
    val syncFailure: StateFlow<UiError?> = failure.asStateFlow()

    private val removed = MutableStateFlow<Set<String>>(emptySet())

    /** Cases the relay says this account is no longer a member of (removed by the owner): not synced. */
    val notMember: StateFlow<Set<String>> = removed.asStateFlow()

    /** How many change notifications of each origin arrived (diagnostics; the tests read it). */
    val changeCounts = ConcurrentHashMap<ChangeOrigin, Int>()

    // Unbounded: a change is a few strings, and a screen must not miss one. Without subscribers nothing is kept.
    private val changeFlow = MutableSharedFlow<Pair<String, CaseChange>>(extraBufferCapacity = Int.MAX_VALUE)

    /**
     * Every change of every case, once the session has handled it (after an import, [case] returns the
     * reopened case). Screens use [changes] with a case id.
     */
    val allChanges: SharedFlow<Pair<String, CaseChange>> = changeFlow.asSharedFlow()

    // A plain observer rather than `store.caseChanges()` (whose observer is added by a coroutine, later):
    // it is in place before the first change, and reopens an imported case before the screens hear of it.
    private val observerId = store.addObserver(object : CaseObserver {
        override fun onCaseChanged(caseId: String, change: CaseChange) {
            changeCounts.merge(change.origin, 1, Int::plus)
            if (change.origin == ChangeOrigin.IMPORT) {
                // An exchange file was imported into the store: the open case must be read again.
                open.remove(caseId)?.let { c -> runCatching { c.save() }; c.close() }
            }
            changeFlow.tryEmit(caseId to change)
        }
    })

    /**
     * The open case with this id (opened on first use, then shared). Reads and writes of a [Case] are
     * quick and never wait on the network: screens call them directly, even for each keystroke.
     */
    fun case(caseId: String): Case = open.computeIfAbsent(caseId) { store.openCase(it) }

    /** Make a case created or joined elsewhere the shared one for its id (if one is open, keep that). */
    fun adopt(case: Case): Case {
        val existing = open.putIfAbsent(case.id(), case) ?: return case
        if (existing !== case) case.close()
        return existing
    }

    /** The caregiver id of this device's user in a case. */
    fun me(caseId: String): String? = store.me(caseId)

    /** The changes of one case (all origins: filter with [concerns]). */
    fun changes(caseId: String): Flow<CaseChange> = allChanges.filter { it.first == caseId }.map { it.second }

    /**
     * When a screen showing [sections] of a case (of one [appointment]) must read it: once as soon as it
     * is subscribed (no change can fall between that read and the subscription), then after each change
     * from elsewhere that [concerns] it. Conflated: a burst of changes during a read gives one more read.
     */
    fun reloads(caseId: String, sections: Set<CaseSection>, appointment: String? = null): Flow<Unit> =
        allChanges
            .onSubscription { emit(caseId to readEverything) }
            .filter { (id, change) -> id == caseId && change.concerns(sections, appointment) }
            .map { }
            .conflate()

    /** Like [reloads] for a screen that lists cases: any change from elsewhere (imports, joined cases). */
    fun listReloads(): Flow<Unit> =
        allChanges
            .onSubscription { emit("" to readEverything) }
            .filter { (_, change) -> change.origin != ChangeOrigin.LOCAL }
            .map { }
            .conflate()

    /** The sync status of a case: null while signed out; follows sign-in and sign-out. */
    @OptIn(ExperimentalCoroutinesApi::class)
    fun syncStatus(caseId: String): Flow<CaseSyncStatus?> =
        client.flatMapLatest { c -> c?.statusFlow(caseId) ?: flowOf(null) }

    /**
     * "Save now": save the case and, when signed in, hand its edits to the relay at once. Never needed for
     * correctness (the store's autosave does it about a second after the last write); for a "Done" button.
     */
    suspend fun saveNow(caseId: String) = withContext(io) {
        val case = case(caseId)
        sync?.syncCase(case) ?: case.save()
        Unit
    }

    /**
     * Create an account on the relay and start syncing; returns the credentials to keep securely. Their
     * [DeviceCredentials.recoveryCode] is for the user's eyes only: show it once ("write this down") and
     * keep it nowhere (store the credentials with [withoutRecoveryCode]).
     */
    suspend fun signUp(relayUrl: String, displayName: String, deviceName: String? = null): DeviceCredentials {
        val credentials = Relay(relayUrl).use { it.createAccount(displayName, deviceName) }
        signIn(relayUrl, credentials)
        return credentials
    }

    /**
     * Every device was lost: get the account back on this phone with its recovery code, start syncing and
     * bring every case of the account back from the relay, writing as the same caregiver in each (the one
     * bound to the account). [revokeOtherDevices]: the lost phones' tokens are refused and their
     * connections closed. Returns the new credentials (their new recovery code replaces the typed one:
     * show it once) and the cases restored.
     */
    suspend fun recover(
        relayUrl: String,
        recoveryCode: String,
        deviceName: String? = null,
        revokeOtherDevices: Boolean = true,
        timeoutMs: UInt = 30_000u,
    ): Pair<DeviceCredentials, List<String>> {
        val credentials = Relay(relayUrl).use { it.recoverAccount(recoveryCode.trim(), deviceName, revokeOtherDevices) }
        signIn(relayUrl, credentials)
        val sync = sync ?: error("not signed in")
        val restored = sync.relay().listCases().map { membership ->
            val case = adopt(sync.joinCase(membership.caseId, timeoutMs))
            withContext(io) {
                if (store.me(case.id()) == null) {
                    case.caregiverOfAccount(credentials.accountId)?.let { store.setMe(case.id(), it) }
                }
            }
            case.id()
        }
        return credentials to restored
    }

    /**
     * Bind this phone's caregiver in a case to the signed-in account (once), so that a recovered or
     * linked phone of the account writes as the same caregiver. Called after creating, sharing or joining.
     */
    suspend fun bindMe(caseId: String) = withContext(io) {
        val account = accountId ?: return@withContext
        val me = store.me(caseId) ?: return@withContext
        val case = case(caseId)
        if (case.caregiverOfAccount(account) == null) case.linkCaregiverAccount(me, account)
    }

    /** Start syncing with credentials kept from an earlier [signUp]. */
    suspend fun signIn(relayUrl: String, credentials: DeviceCredentials) {
        stopSync()
        failure.value = null
        val started = withContext(io) {
            SyncClient.start(store, relayUrl, credentials).also { c ->
                // A plain observer, added right after start (not `events()`, whose observer is added by a
                // coroutine later): a refused token or a lost membership is known within milliseconds.
                c.addObserver(object : SyncObserver {
                    override fun onSyncStatusChanged(caseId: String, status: CaseSyncStatus) {}

                    override fun onSyncFailed(error: CasebookException) {
                        failure.value = error.toUiError()
                    }

                    override fun onNotMember(caseId: String) {
                        removed.update { it + caseId }
                    }
                })
            }
        }
        this.relayUrl = relayUrl
        this.accountId = credentials.accountId
        client.value = started
    }

    /** Stop syncing (the cases stay on the device, edits are saved). */
    suspend fun stopSync() {
        val stopping = client.value ?: return
        client.value = null
        runCatching { stopping.stop() }
        stopping.close()
    }

    /**
     * The app went to the background: save every edited case at once and close the relay connection
     * (Android: `ProcessLifecycleOwner` ON_STOP). Calls are applied in the order made.
     */
    suspend fun pause() = lifecycle.withLock {
        withContext(io) {
            val s = sync
            if (s != null) runCatching { s.pause() } else store.flushPendingSaves()
        }
        Unit
    }

    /** The app is in the foreground again: reconnect (Android: `ProcessLifecycleOwner` ON_START). */
    suspend fun resume() = lifecycle.withLock {
        withContext(io) { sync?.let { runCatching { it.resume() } } }
        Unit
    }

    /** Save everything, stop syncing, close the open cases. */
    suspend fun close() {
        store.removeObserver(observerId)
        stopSync()
        withContext(io) {
            store.flushPendingSaves()
            open.values.forEach { it.close() }
            open.clear()
        }
    }
}

/**
 * Whether a change concerns a screen that shows [sections] of a case (and, for a screen of one
 * appointment, [appointment]: a change of `NOTES` or `APPOINTMENTS` concerns it only if it names that
 * appointment).
 *
 * - `LOCAL`: never. It is this app's own write through the shared [Case], already visible there; the screen
 *   that made it updates itself, and the others read it when they are shown again.
 * - `IMPORT`, and a `REMOTE` change that names nothing (merged into a case that was not open): always.
 * - `REMOTE`: when one of [sections] changed.
 */
fun CaseChange.concerns(sections: Set<CaseSection>, appointment: String? = null): Boolean = when (origin) {
    ChangeOrigin.LOCAL -> false
    ChangeOrigin.IMPORT -> true
    ChangeOrigin.REMOTE ->
        (this.sections.isEmpty() && appointments.isEmpty()) ||
            this.sections.any { s ->
                s in sections && (appointment == null || s !in perAppointment || appointment in appointments)
            }
}

private val perAppointment = setOf(CaseSection.NOTES, CaseSection.APPOINTMENTS)

/** "Read everything" (what an import means): the first read of a screen. */
private val readEverything = CaseChange(ChangeOrigin.IMPORT, emptyList(), emptyList())

/** What the appointment screen says about sync. */
fun CaseSyncStatus?.label(): String = when {
    this == null -> "Not synced: saved on this phone"
    state == SyncState.OFFLINE -> if (savedToRelay) "Offline: everything was sent" else "Offline: saved on this phone, will sync later"
    state == SyncState.CONNECTING -> "Connecting…"
    state == SyncState.SYNCING -> "Syncing…"
    else -> "Up to date"
}

/** What a screen shows when a call failed: the message of a [CasebookException]. */
data class UiError(val message: String, val signInAgain: Boolean = false)

/** A [CasebookException] as a screen shows it. */
fun CasebookException.toUiError(): UiError = when (this) {
    is CasebookException.Unauthorized -> UiError("This phone is signed out of the relay: sign in again.", signInAgain = true)
    is CasebookException.InvalidInput -> UiError(reason)
    is CasebookException.NotFound -> UiError("Not found (it may have been removed by someone else).")
    is CasebookException.Network -> UiError("No connection: your notes are safe on this phone.")
    is CasebookException.Forbidden -> UiError("Your role in this case does not allow this.")
    is CasebookException.RateLimited -> UiError("Too many attempts: wait a minute and try again.")
    is CasebookException.Timeout -> UiError("The relay is slow to answer: try again in a moment.")
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

/** The [UiError] of a failed [attempt] (a non-Casebook failure as its message). */
fun Throwable.uiError(): UiError = (this as? UiException)?.error ?: UiError(message ?: toString())

/** The credentials to keep at rest: never the recovery code. */
fun DeviceCredentials.withoutRecoveryCode(): DeviceCredentials = copy(recoveryCode = null)
