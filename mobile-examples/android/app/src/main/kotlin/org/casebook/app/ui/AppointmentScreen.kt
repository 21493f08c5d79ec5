package org.casebook.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.casebook.app.CasebookApplication
import org.casebook.viewmodel.AppointmentNotesViewModel

/**
 * Notes during the consultation. Works offline (in the clinic basement): every keystroke is applied to
 * the shared case at once; the store saves it about a second after the last keystroke (and at once when
 * the app goes to the background) and the sync client sends it when there is a network. Other caregivers'
 * notes appear as they arrive. The sync status is always on screen.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun AppointmentScreen(app: CasebookApplication, caseId: String, appointmentId: String, openQuestions: () -> Unit) {
    val vm = rememberScreenModel("$caseId/$appointmentId") { scope -> AppointmentNotesViewModel(app.session, caseId, appointmentId, scope) }
    val state by vm.state.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()
    val s = state ?: return
    // The text fields' own copies; the view-model turns each change into a UTF-16 splice.
    var mine by remember(appointmentId) { mutableStateOf(s.myNotes) }
    var summary by remember(appointmentId) { mutableStateOf(s.summary) }
    var typedAt by remember { mutableStateOf<Long?>(null) }

    // Someone else's edit merged into the summary: show it, unless this phone's user is typing in it
    // (the field keeps its text; the merged text shows once typing pauses and the next change arrives).
    LaunchedEffect(s.summary) {
        if (typedAt.let { it == null || System.nanoTime() - it > 1_000_000_000L }) summary = s.summary
    }

    Scaffold(topBar = { TopAppBar(title = { Text(s.appointment.kind.name.lowercase().replace('_', ' ')) }) }) { padding ->
        Column(
            Modifier.padding(padding).padding(16.dp).verticalScroll(rememberScrollState()),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            Text(
                (if (s.unsaved) "Saving… · " else "Saved on this phone · ") + s.syncLabel,
                style = MaterialTheme.typography.bodySmall,
            )
            error?.let { Text(it.message, color = MaterialTheme.colorScheme.error) }
            OutlinedTextField(
                value = mine,
                onValueChange = {
                    mine = it
                    vm.editMyNotes(it)
                },
                label = { Text("My notes") },
                modifier = Modifier.fillMaxWidth().heightIn(min = 200.dp),
            )
            OutlinedTextField(
                value = summary,
                onValueChange = {
                    summary = it
                    vm.editSummary(it)
                    typedAt = System.nanoTime()
                },
                label = { Text("Shared summary (everyone edits it)") },
                modifier = Modifier.fillMaxWidth().heightIn(min = 120.dp),
            )
            OutlinedButton(onClick = openQuestions) { Text("Questions and answers for this appointment") }
            s.others.forEach { other ->
                Text("${other.name}'s notes", style = MaterialTheme.typography.titleSmall)
                Text(other.text)
            }
        }
    }
}
