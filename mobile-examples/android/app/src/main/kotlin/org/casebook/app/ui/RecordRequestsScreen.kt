package org.casebook.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.AssistChip
import androidx.compose.material3.Badge
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.Checkbox
import androidx.compose.material3.DropdownMenu
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateListOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import java.time.LocalDate
import kotlinx.coroutines.launch
import org.casebook.app.CasebookApplication
import org.casebook.ffi.EventKind
import org.casebook.ffi.RecordItem
import org.casebook.viewmodel.RecordRequestsViewModel
import org.casebook.viewmodel.RequestRow

private fun String.pretty() = lowercase().replace('_', ' ')

/** The record-request tracker: status from the event log, legal due dates, overdue badges. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun RecordRequestsScreen(app: CasebookApplication, caseId: String) {
    val vm = rememberScreenModel(caseId) { scope -> RecordRequestsViewModel(app.session, caseId, scope) { LocalDate.now().toString() } }
    val state by vm.state.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()
    var adding by remember { mutableStateOf(false) }
    val ui = rememberCoroutineScope()
    RefreshWhenShownAgain { vm.refresh() }

    Scaffold(topBar = {
        TopAppBar(title = {
            Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Text("Medical records")
                if (state.overdueCount > 0) Badge { Text("${state.overdueCount}") }
            }
        })
    }) { padding ->
        LazyColumn(Modifier.padding(padding).padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
            item {
                Button(onClick = { adding = true }) { Text("Request records") }
                error?.let { Text(it.message, color = MaterialTheme.colorScheme.error) }
            }
            items(state.rows, key = { it.id }) { row -> RequestCard(row) { kind -> vm.log(row.id, kind, LocalDate.now().toString()) } }
        }
    }

    if (adding) {
        var custodian by remember { mutableStateOf("") }
        val items = remember { mutableStateListOf<RecordItem>() }
        AlertDialog(
            onDismissRequest = { adding = false },
            title = { Text("Request records") },
            text = {
                Column {
                    OutlinedTextField(custodian, { custodian = it }, label = { Text("Hospital or lab holding them") })
                    RecordItem.entries.forEach { item ->
                        Row(verticalAlignment = Alignment.CenterVertically) {
                            Checkbox(item in items, { on -> if (on) items += item else items -= item })
                            Text(item.name.pretty())
                        }
                    }
                }
            },
            confirmButton = {
                Button(onClick = { ui.launch { vm.add(custodian, items.toList()).await()?.let { adding = false } } }) { Text("Add") }
            },
            dismissButton = { TextButton(onClick = { adding = false }) { Text("Cancel") } },
        )
    }
}

@Composable
private fun RequestCard(row: RequestRow, log: (EventKind) -> Unit) {
    var menu by remember { mutableStateOf(false) }
    Card {
        Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Text(row.custodian, style = MaterialTheme.typography.titleMedium)
                if (row.overdue) Badge(containerColor = MaterialTheme.colorScheme.error) { Text("OVERDUE") }
                if (row.materialOut) Badge { Text("slides out") }
            }
            Text(row.items.joinToString { it.name.pretty() })
            Text(
                listOfNotNull(
                    row.status.name.pretty(),
                    row.due?.let { "due $it" },
                    row.daysWaiting?.let { "waiting $it days" },
                ).joinToString(" · "),
            )
            AssistChip(onClick = { menu = true }, label = { Text("Log what happened today") })
            DropdownMenu(expanded = menu, onDismissRequest = { menu = false }) {
                EventKind.entries.forEach { kind ->
                    DropdownMenuItem(text = { Text(kind.name.pretty()) }, onClick = {
                        menu = false
                        log(kind)
                    })
                }
            }
        }
    }
}
