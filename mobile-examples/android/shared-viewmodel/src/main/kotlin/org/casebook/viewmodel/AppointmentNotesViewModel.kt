package org.casebook.viewmodel

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.casebook.ffi.Appointment
import org.casebook.ffi.CaseSyncStatus
import org.casebook.ffi.CasebookException
import org.casebook.ffi.CaseSection
import org.casebook.ffi.SharedText

/** Another caregiver's notes, with their name. */
data class OthersNotes(val authorId: String, val name: String, val text: String)

/** What the appointment screen shows. */
data class NotesState(
    val appointment: Appointment,
    /** This phone's user's own notes (the text field). */
    val myNotes: String,
    /** Everyone else's notes, read-only, live. */
    val others: List<OthersNotes>,
    /** The shared summary anyone may edit. */
    val summary: String,
    /** Edits not yet saved on the phone (the store saves about a second after the last keystroke). */
    val unsaved: Boolean,
    val sync: CaseSyncStatus? = null,
    val syncLabel: String = sync.label(),
)

/**
 * The appointment screen: take notes during the consultation, offline or not. Each keystroke becomes a
 * splice in UTF-16 units (Kotlin's own string unit, so indices pass through as they are), applied at once
 * on the calling thread (a write to the shared case is quick and never waits on the network; keystrokes
 * stay in order). The store saves the notes about a second after the last keystroke and the sync client
 * sends them; other caregivers' notes are merged into the case live and shown when they change.
 */
class AppointmentNotesViewModel(
    session: CasebookSession,
    caseId: String,
    val appointmentId: String,
    scope: CoroutineScope,
    io: CoroutineDispatcher = Dispatchers.IO,
) : CaseScreen(session, caseId, scope, io) {
    private val me: String = session.me(caseId) ?: error("this phone has no caregiver in case $caseId")
    private val content = MutableStateFlow<NotesState?>(null)
    private var savedCheck: Job? = null

    /** The screen: the notes as last read or typed, with the sync status. */
    val state: StateFlow<NotesState?> =
        combine(content, session.syncStatus(caseId)) { notes, sync -> notes?.copy(sync = sync, syncLabel = sync.label()) }
            .stateIn(scope, SharingStarted.Eagerly, null)

    private val mine get() = SharedText.AppointmentNotes(appointmentId, me)
    private val summaryField get() = SharedText.AppointmentSummary(appointmentId)

    init {
        // This appointment's notes and details, and the care team (the names of the others' notes).
        readWhenChanged(setOf(CaseSection.NOTES, CaseSection.APPOINTMENTS, CaseSection.CARE_TEAM), appointmentId)
    }

    override fun read() {
        val case = session.case(caseId)
        val appointment = case.appointments().firstOrNull { it.id == appointmentId }
            ?: throw CasebookException.NotFound("appointment $appointmentId")
        val notes = case.notes(appointmentId)
        val names = case.careTeam().associate { it.id to it.name }
        content.value = NotesState(
            appointment = appointment,
            myNotes = notes.byAuthor.firstOrNull { it.author == me }?.text ?: "",
            others = notes.byAuthor.filter { it.author != me }
                .map { OthersNotes(it.author, names[it.author] ?: "Someone", it.text) },
            summary = notes.summary,
            unsaved = case.hasUnsavedChanges(),
        )
    }

    /** The text field now shows [newText]: apply the difference to my notes. */
    fun editMyNotes(newText: String) {
        if (editText(mine, newText)) typed { it.copy(myNotes = newText) }
    }

    /** The summary field now shows [newText]: apply the difference to the shared summary. */
    fun editSummary(newText: String) {
        if (editText(summaryField, newText)) typed { it.copy(summary = newText) }
    }

    /** Append to my notes (a quick-note button). */
    fun appendToMyNotes(text: String) {
        attempt {
            val case = session.case(caseId)
            case.appendText(mine, text)
            case.text(mine)
        }.onSuccess { notes -> typed { it.copy(myNotes = notes) } }.onFailure { fail(it) }
    }

    /** "Done": save now and send (never needed for safety: the store saves a second after typing stops). */
    fun save(): Job = scope.launch {
        attempt { session.saveNow(caseId) }.onFailure { fail(it) }
        load()
    }

    private fun editText(field: SharedText, newText: String): Boolean =
        attempt {
            val case = session.case(caseId)
            val edit = TextDiff.between(case.text(field), newText)
            if (edit != null) case.spliceText(field, edit.index.toUInt(), edit.delete.toUInt(), edit.insert)
        }.onFailure { fail(it) }.isSuccess

    /** Show what was just typed, and look again whether it is saved once the autosave has run. */
    private fun typed(change: (NotesState) -> NotesState) {
        content.update { it?.let(change)?.copy(unsaved = true) }
        savedCheck?.cancel()
        savedCheck = scope.launch {
            delay(AUTOSAVE_CHECK_MS)
            val unsaved = withContext(io) { attempt { session.case(caseId).hasUnsavedChanges() }.getOrNull() }
            if (unsaved != null) content.update { it?.copy(unsaved = unsaved) }
        }
    }

    private companion object {
        /** A little after the store's autosave (about a second after the last write). */
        const val AUTOSAVE_CHECK_MS = 1_500L
    }
}

/** One splice: replace [delete] UTF-16 units at [index] with [insert]. */
data class TextEdit(val index: Int, val delete: Int, val insert: String)

/** Turns "the field used to show A, now shows B" (what a text field reports) into one splice. */
object TextDiff {
    /** The splice from [old] to [new], or null when equal. Never cuts a surrogate pair. */
    fun between(old: String, new: String): TextEdit? {
        if (old == new) return null
        var prefix = 0
        val max = minOf(old.length, new.length)
        while (prefix < max && old[prefix] == new[prefix]) prefix++
        if (prefix > 0 && Character.isHighSurrogate(old[prefix - 1])) prefix--
        var suffix = 0
        while (suffix < max - prefix && old[old.length - 1 - suffix] == new[new.length - 1 - suffix]) suffix++
        if (suffix > 0 && Character.isLowSurrogate(old[old.length - suffix])) suffix--
        return TextEdit(prefix, old.length - prefix - suffix, new.substring(prefix, new.length - suffix))
    }
}
