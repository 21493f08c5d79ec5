package org.casebook.viewmodel

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import org.casebook.ffi.Answer
import org.casebook.ffi.Category
import org.casebook.ffi.Priority
import org.casebook.ffi.Question
import org.casebook.ffi.CaseSection

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
    session: CasebookSession,
    caseId: String,
    val appointmentId: String?,
    scope: CoroutineScope,
    io: CoroutineDispatcher = Dispatchers.IO,
) : CaseScreen(session, caseId, scope, io) {
    private val rows = MutableStateFlow<List<QuestionRow>>(emptyList())
    val questions: StateFlow<List<QuestionRow>> = rows.asStateFlow()
    private val guide = org.casebook.ffi.guideAuthorId()

    init {
        readWhenChanged(setOf(CaseSection.QUESTIONS, CaseSection.CARE_TEAM))
    }

    override fun read() {
        val case = session.case(caseId)
        val names = case.careTeam().associate { it.id to it.name }
        rows.value = case.questions().map { q ->
            val (here, elsewhere) = q.answers.partition { it.appointment == appointmentId }
            QuestionRow(
                question = q,
                fromGuide = q.addedBy == guide,
                answersHere = here.map { a: Answer -> AnswerRow(names[a.author] ?: "Someone", a.text) },
                answersElsewhere = elsewhere.size,
            )
        }
    }

    /** Add a question of this phone's user: its id, or null on failure ([error]). */
    fun add(text: String, category: Category = Category.OTHER, priority: Priority = Priority.NORMAL): Deferred<String?> {
        val me = session.me(caseId) ?: return CompletableDeferred(null)
        return edit { it.addQuestion(text, category, priority, me) }
    }

    /** Write down the answer heard at this screen's appointment. */
    fun answer(questionId: String, text: String): Job {
        val me = session.me(caseId) ?: return Job().apply { complete() }
        val appointment = appointmentId ?: run {
            fail(IllegalStateException("Open an appointment to record answers."))
            return Job().apply { complete() }
        }
        return edit { it.addAnswer(questionId, appointment, me, text) }
    }
}
