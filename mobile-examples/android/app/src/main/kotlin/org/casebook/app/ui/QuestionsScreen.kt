package org.casebook.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.casebook.app.CasebookApplication
import org.casebook.viewmodel.QuestionRow
import org.casebook.viewmodel.QuestionsViewModel

/** The questions to ask (the guide's six and the family's own), with the answers heard at an appointment. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun QuestionsScreen(app: CasebookApplication, caseId: String, appointmentId: String?) {
    val vm = rememberScreenModel("$caseId/$appointmentId") { scope -> QuestionsViewModel(app.session, caseId, appointmentId, scope) }
    val questions by vm.questions.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()
    var newQuestion by remember { mutableStateOf("") }
    val ui = rememberCoroutineScope()
    RefreshWhenShownAgain { vm.refresh() }

    Scaffold(topBar = { TopAppBar(title = { Text(if (appointmentId == null) "Questions to ask" else "Questions and answers") }) }) { padding ->
        LazyColumn(Modifier.padding(padding).padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
            item {
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    OutlinedTextField(newQuestion, { newQuestion = it }, label = { Text("Your question") }, modifier = Modifier.weight(1f))
                    Button(onClick = { ui.launch { vm.add(newQuestion).await()?.let { newQuestion = "" } } }) { Text("Add") }
                }
                error?.let { Text(it.message, color = MaterialTheme.colorScheme.error) }
            }
            items(questions, key = { it.question.id }) { row -> QuestionCard(row, canAnswer = appointmentId != null) { vm.answer(row.question.id, it) } }
        }
    }
}

@Composable
private fun QuestionCard(row: QuestionRow, canAnswer: Boolean, answer: (String) -> Unit) {
    var text by remember { mutableStateOf("") }
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(6.dp)) {
            Text(row.question.text, style = MaterialTheme.typography.titleSmall)
            Text(
                listOfNotNull(
                    row.question.priority.name.lowercase() + " priority",
                    if (row.fromGuide) "from the guide" else null,
                    if (row.answersElsewhere > 0) "${row.answersElsewhere} answer(s) at other appointments" else null,
                ).joinToString(" · "),
                style = MaterialTheme.typography.bodySmall,
            )
            row.answersHere.forEach { Text("${it.author}: ${it.text}") }
            if (canAnswer) {
                OutlinedTextField(text, { text = it }, label = { Text("What the doctor said") }, modifier = Modifier.fillMaxWidth())
                TextButton(onClick = { answer(text); text = "" }, enabled = text.isNotBlank()) { Text("Save answer") }
            }
        }
    }
}
