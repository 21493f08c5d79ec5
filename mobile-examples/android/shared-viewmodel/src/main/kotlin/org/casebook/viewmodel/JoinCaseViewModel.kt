package org.casebook.viewmodel

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.casebook.ffi.parseInviteLink

/** Where joining stands. */
sealed interface JoinState {
    data object Idle : JoinState
    data object Joining : JoinState
    data class Joined(val caseId: String, val patientName: String) : JoinState
    data class Failed(val error: UiError) : JoinState
}

/**
 * Join a family member's case with the invite code they sent: redeem it on the relay, download the case,
 * add this phone's user to the care team and remember them as "me" for the case. Needs a signed-in
 * session ([CasebookSession.signUp] or [CasebookSession.signIn]).
 */
class JoinCaseViewModel(
    private val session: CasebookSession,
    private val scope: CoroutineScope,
    private val io: CoroutineDispatcher = Dispatchers.IO,
    private val timeoutMs: UInt = 30_000u,
) {
    private val mutableState = MutableStateFlow<JoinState>(JoinState.Idle)
    val state: StateFlow<JoinState> = mutableState.asStateFlow()

    /** [code]: the invite code typed, or the invite link the app was opened with (`casebook://invite/…`). */
    fun join(code: String, myName: String, relationship: String?): Job = scope.launch {
        val sync = session.sync ?: run {
            mutableState.value = JoinState.Failed(UiError("Sign in to a relay first."))
            return@launch
        }
        mutableState.value = JoinState.Joining
        mutableState.value = attempt {
            val typed = code.trim()
            val invite = if (typed.startsWith("casebook://", ignoreCase = true)) parseInviteLink(typed).code else typed
            val membership = sync.relay().redeemInvite(invite)
            val case = session.adopt(sync.joinCase(membership.caseId, timeoutMs))
            withContext(io) {
                if (session.me(case.id()) == null) {
                    val me = case.addCaregiver(myName, relationship)
                    session.store.setMe(case.id(), me)
                }
                session.bindMe(case.id())
                // Push now rather than in a second: the family sees the new member at once.
                sync.syncCase(case)
                JoinState.Joined(case.id(), case.patient().displayName ?: "(unnamed)")
            }
        }.getOrElse { JoinState.Failed(it.uiError()) }
    }
}
