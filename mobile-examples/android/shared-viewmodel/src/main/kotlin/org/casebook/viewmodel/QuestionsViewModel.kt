package org.casebook.viewmodel

import org.casebook.ffi.Answer
import org.casebook.ffi.Category
import org.casebook.ffi.Priority
import org.casebook.ffi.Question

/** An answer with the name of who wrote it down. */
data class AnswerRow(val author: String, val text: String)

/** A question with its answers at the appointment on screen, and how many were given elsewhere. */
data class QuestionRow(
    val question: Question,
    val fromGuide: Boolean,
    val answersHere: List<AnswerRow>,
    val answersElsewhere: Int,
)

/**
 * The questions to ask, with the answers heard at one appointment ([appointmentId]; null: the list
 * before any appointment).
 */
class QuestionsViewModel(
    private val session: CasebookSession,
    val caseId: String,
    val appointmentId: String?,
) : AutoCloseable {
    val questions = Observable<List<QuestionRow>>(emptyList())
    val error = Observable<UiError?>(null)
    private val guide = org.casebook.ffi.guideAuthorId()
    private val unsubscribe = session.onCaseChanged { id, _ -> if (id == caseId) refresh() }

    init {
        refresh()
    }

    fun refresh() {
        attempt {
            val case = session.case(caseId)
            val names = case.careTeam().associate { it.id to it.name }
            case.questions().map { q ->
                val (here, elsewhere) = q.answers.partition { it.appointment == appointmentId }
                QuestionRow(
                    question = q,
                    fromGuide = q.addedBy == guide,
                    answersHere = here.map { a: Answer -> AnswerRow(names[a.author] ?: "Someone", a.text) },
                    answersElsewhere = elsewhere.size,
                )
            }
        }.onSuccess { questions.set(it) }.onFailure { error.set((it as? UiException)?.error) }
    }

    /** Add a question of this phone's user. Returns its id. */
    fun add(text: String, category: Category = Category.OTHER, priority: Priority = Priority.NORMAL): String? {
        val me = session.me(caseId) ?: return null
        return edit { it.addQuestion(text, category, priority, me) }
    }

    /** Write down the answer heard at this screen's appointment. */
    fun answer(questionId: String, text: String) {
        val me = session.me(caseId) ?: return
        val appointment = appointmentId ?: return error.set(UiError("Open an appointment to record answers."))
        edit { it.addAnswer(questionId, appointment, me, text) }
    }

    private fun <T> edit(block: (org.casebook.ffi.Case) -> T): T? =
        attempt {
            val case = session.case(caseId)
            block(case).also { session.saveAndSync(case) }
        }.onFailure { error.set((it as? UiException)?.error) }.getOrNull()

    override fun close() = unsubscribe()
}
