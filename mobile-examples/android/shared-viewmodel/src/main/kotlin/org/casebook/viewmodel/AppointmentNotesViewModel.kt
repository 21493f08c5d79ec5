package org.casebook.viewmodel

import org.casebook.ffi.Appointment
import org.casebook.ffi.CaseSyncStatus
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
    val unsaved: Boolean,
    val sync: CaseSyncStatus?,
    val syncLabel: String,
)

/**
 * The appointment screen: take notes during the consultation, offline or not. Each keystroke becomes a
 * splice in UTF-16 units (Kotlin's own string unit, so indices pass through as they are); [save] makes
 * the notes durable and hands them to the relay — call it on a short debounce (one second idle) and
 * when the app goes to the background.
 */
class AppointmentNotesViewModel(
    private val session: CasebookSession,
    val caseId: String,
    val appointmentId: String,
) : AutoCloseable {
    val state = Observable<NotesState?>(null)
    val error = Observable<UiError?>(null)
    private val me: String = session.me(caseId) ?: error("this phone has no caregiver in case $caseId")
    private val unsubscribe = session.onCaseChanged { id, _ -> if (id == caseId) refresh() }
    private val unsubscribeSync = session.syncStatus.subscribe { if (state.value != null) refresh() }

    private val mine get() = SharedText.AppointmentNotes(appointmentId, me)
    private val summaryField get() = SharedText.AppointmentSummary(appointmentId)

    init {
        refresh()
    }

    fun refresh() {
        attempt {
            val case = session.case(caseId)
            val appointment = case.appointments().firstOrNull { it.id == appointmentId }
                ?: throw org.casebook.ffi.CasebookException.NotFound("appointment $appointmentId")
            val notes = case.notes(appointmentId)
            val names = case.careTeam().associate { it.id to it.name }
            val sync = session.syncStatus.value[caseId] ?: session.sync?.status(caseId)
            NotesState(
                appointment = appointment,
                myNotes = notes.byAuthor.firstOrNull { it.author == me }?.text ?: "",
                others = notes.byAuthor.filter { it.author != me }
                    .map { OthersNotes(it.author, names[it.author] ?: "Someone", it.text) },
                summary = notes.summary,
                unsaved = case.hasUnsavedChanges(),
                sync = sync,
                syncLabel = sync.label(),
            )
        }.onSuccess { state.set(it) }.onFailure { error.set((it as? UiException)?.error) }
    }

    /** The text field now shows [newText]: apply the difference to my notes. */
    fun editMyNotes(newText: String) = editText(mine, newText)

    /** The summary field now shows [newText]: apply the difference to the shared summary. */
    fun editSummary(newText: String) = editText(summaryField, newText)

    /** Append to my notes (a quick-note button). */
    fun appendToMyNotes(text: String) {
        attempt { session.case(caseId).appendText(mine, text) }.onFailure { error.set((it as? UiException)?.error) }
    }

    /** Save, then hand the notes to the relay when signed in (offline they wait on the phone). */
    fun save() {
        attempt { session.saveAndSync(session.case(caseId)) }.onFailure { error.set((it as? UiException)?.error) }
        refresh()
    }

    private fun editText(field: SharedText, newText: String) {
        attempt {
            val case = session.case(caseId)
            val old = case.text(field)
            val edit = TextDiff.between(old, newText)
            if (edit != null) case.spliceText(field, edit.index.toUInt(), edit.delete.toUInt(), edit.insert)
        }.onFailure { error.set((it as? UiException)?.error) }
    }

    override fun close() {
        unsubscribe()
        unsubscribeSync()
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
