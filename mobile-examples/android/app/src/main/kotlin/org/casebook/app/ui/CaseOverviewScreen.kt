package org.casebook.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
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
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import java.time.LocalDate
import java.time.ZoneId
import kotlinx.coroutines.launch
import org.casebook.app.CasebookApplication
import org.casebook.ffi.AgendaKind
import org.casebook.ffi.AppointmentKind
import org.casebook.viewmodel.CaseOverviewViewModel
import org.casebook.viewmodel.badge
import org.casebook.viewmodel.line
import org.casebook.viewmodel.label

/**
 * The case at a glance: the agenda first (what comes next, what is late), then what is next in the guide,
 * the decision window, the verdict, the seven steps, appointments, and the way to the record requests and
 * the questions.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun CaseOverviewScreen(
    app: CasebookApplication,
    caseId: String,
    openAppointment: (String) -> Unit,
    openRequests: () -> Unit,
    openQuestions: () -> Unit,
) {
    val vm = rememberScreenModel(caseId) { scope -> CaseOverviewViewModel(app.session, caseId, scope) { LocalDate.now().toString() } }
    val overview by vm.overview.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()
    var inviteCode by rememberSaveable { mutableStateOf<String?>(null) }
    var adding by remember { mutableStateOf(false) }
    val ui = rememberCoroutineScope()
    // The overview re-reads by itself for other phones' changes; the app's other screens' writes show here
    // when it is shown again.
    RefreshWhenShownAgain { vm.refresh() }
    val o = overview ?: return
    val phoneZone = ZoneId.systemDefault().id

    Scaffold(topBar = { TopAppBar(title = { Text(o.patientName) }) }) { padding ->
        LazyColumn(Modifier.padding(padding).padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
            item {
                Text(if (o.late > 0) "Coming up (${o.late} late)" else "Coming up", style = MaterialTheme.typography.titleMedium)
                if (o.agenda.isEmpty()) Text("Nothing on the agenda: no upcoming appointment, due date or open task.")
            }
            items(o.agenda, key = { "${it.kind}-${it.id}" }) { e ->
                val appointment = e.id?.takeIf { e.kind == AgendaKind.APPOINTMENT }
                ListItem(
                    headlineContent = { Text(e.line(phoneZone)) },
                    supportingContent = { Text(e.badge(), color = if (e.late) MaterialTheme.colorScheme.error else Color.Unspecified) },
                    modifier = appointment?.let { id -> Modifier.clickable { openAppointment(id) } } ?: Modifier,
                )
            }
            item {
                o.next?.let { step ->
                    Card(Modifier.fillMaxWidth()) {
                        Column(Modifier.padding(16.dp)) {
                            Text("Next — step ${step.number}: ${step.title}", style = MaterialTheme.typography.titleMedium)
                            step.next?.let { Text(it) }
                        }
                    }
                } ?: Text("All seven steps are done.", style = MaterialTheme.typography.titleMedium)
            }
            item {
                val d = o.decision
                val when_ = when {
                    d.date == null -> "Set the diagnosis date to see the decision window"
                    (d.daysLeft ?: 0) >= 0 -> "${d.daysLeft} days left to decide (${d.date}${if (d.isDefault) ", default: diagnosis + 28 days" else ""})"
                    else -> "The decision date ${d.date} has passed"
                }
                Text(when_)
                if (o.verdict.stronglyAdvised) {
                    Text("A critical situation applies (${o.verdict.reasons.size}): the guide suggests a second opinion.", color = MaterialTheme.colorScheme.error)
                }
                if (o.conflicts > 0) Text("${o.conflicts} field(s) were set differently by two people: pick one.")
                if (o.removedFromRelay) {
                    Text("You were removed from this case on the relay: it stays on this phone but no longer syncs.", color = MaterialTheme.colorScheme.error)
                }
                Text(o.sync.label(), style = MaterialTheme.typography.bodySmall)
                error?.let { Text(it.message, color = MaterialTheme.colorScheme.error) }
            }
            item {
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Button(onClick = openRequests) { Text(if (o.overdueRequests > 0) "Records (${o.overdueRequests} overdue)" else "Records") }
                    OutlinedButton(onClick = openQuestions) { Text("Questions") }
                    OutlinedButton(onClick = { ui.launch { vm.invite().await()?.let { inviteCode = it } } }) { Text("Invite") }
                }
            }
            item { Text("The seven steps (${o.stepsDone} of 7 done)", style = MaterialTheme.typography.titleMedium) }
            items(o.steps, key = { it.number.toInt() }) { step ->
                ListItem(
                    headlineContent = { Text("${if (step.done) "✓" else "○"} ${step.number}. ${step.title}") },
                    supportingContent = { Text((step.achieved + listOfNotNull(step.next?.let { "Next: $it" })).joinToString("\n")) },
                )
                if (step.number.toInt() == 1 && !step.done) {
                    TextButton(onClick = { vm.agreeToSecondOpinion() }) { Text("We agreed together to seek a second opinion") }
                }
            }
            item {
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Text("Appointments", style = MaterialTheme.typography.titleMedium)
                    TextButton(onClick = { adding = true }) { Text("Add") }
                }
            }
            items(o.appointments, key = { it.id }) { a ->
                ListItem(
                    headlineContent = { Text(a.kind.name.lowercase().replace('_', ' ')) },
                    supportingContent = { Text(listOfNotNull(a.start?.replace('T', ' '), a.place).joinToString(" · ")) },
                    modifier = Modifier.clickable { openAppointment(a.id) },
                )
            }
        }
    }

    inviteCode?.let { code ->
        AlertDialog(
            onDismissRequest = { inviteCode = null },
            title = { Text("Invite code") },
            text = { Text("Send this code to a family member. It works once, for 7 days:\n\n$code") },
            confirmButton = { TextButton(onClick = { inviteCode = null }) { Text("Done") } },
        )
    }
    if (adding) {
        var start by remember { mutableStateOf("") }
        var place by remember { mutableStateOf("") }
        AlertDialog(
            onDismissRequest = { adding = false },
            title = { Text("Second-opinion consultation") },
            text = {
                Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                    OutlinedTextField(start, { start = it }, label = { Text("When (YYYY-MM-DD HH:MM)") })
                    OutlinedTextField(place, { place = it }, label = { Text("Where") })
                }
            },
            confirmButton = {
                Button(onClick = {
                    ui.launch {
                        vm.addAppointment(AppointmentKind.SECOND_OPINION, start.ifBlank { null }, place.ifBlank { null }).await()?.let { adding = false }
                    }
                }) { Text("Add") }
            },
            dismissButton = { TextButton(onClick = { adding = false }) { Text("Cancel") } },
        )
    }
}
