package org.casebook.viewmodel

/** Where joining stands. */
sealed class JoinState {
    object Idle : JoinState()
    object Joining : JoinState()
    data class Joined(val caseId: String, val patientName: String) : JoinState()
    data class Failed(val error: UiError) : JoinState()
}

/**
 * Join a family member's case with the invite code they sent: redeem it on the relay, download the case,
 * add this phone's user to the care team and remember them as "me" for the case. Needs a signed-in
 * session ([CasebookSession.signUp] or [CasebookSession.signIn]). Blocking: call it off the UI thread.
 */
class JoinCaseViewModel(private val session: CasebookSession, private val timeoutMs: UInt = 30_000u) {
    val state = Observable<JoinState>(JoinState.Idle)

    fun join(code: String, myName: String, relationship: String?) {
        val sync = session.sync ?: return state.set(JoinState.Failed(UiError("Sign in to a relay first.")))
        state.set(JoinState.Joining)
        attempt {
            val membership = sync.relay().redeemInvite(code.trim())
            val case = session.adopt(sync.joinCase(membership.caseId, timeoutMs))
            val existing = session.me(case.id())
            if (existing == null) {
                val me = case.addCaregiver(myName, relationship)
                session.store.setMe(case.id(), me)
            }
            session.saveAndSync(case)
            JoinState.Joined(case.id(), case.patient().displayName ?: "(unnamed)")
        }.onSuccess { state.set(it) }
            .onFailure { state.set(JoinState.Failed((it as? UiException)?.error ?: UiError(it.toString()))) }
    }
}
