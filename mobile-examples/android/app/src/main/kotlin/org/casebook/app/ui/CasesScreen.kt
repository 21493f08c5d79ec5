package org.casebook.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.ListItem
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
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.casebook.viewmodel.CasebookSession
import org.casebook.viewmodel.CasesListViewModel

/** Every case on this phone; create one, join one with an invite code, sign in to a relay. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun CasesScreen(session: CasebookSession, open: (String) -> Unit, join: () -> Unit, account: () -> Unit) {
    val vm = rememberScreenModel { scope -> CasesListViewModel(session, scope) }
    val cases by vm.cases.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()
    var creating by remember { mutableStateOf(false) }
    val ui = rememberCoroutineScope()
    RefreshWhenShownAgain { vm.refresh() }

    Scaffold(topBar = { TopAppBar(title = { Text("Casebook") }) }) { padding ->
        Column(Modifier.padding(padding).padding(16.dp).fillMaxSize(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = { creating = true }) { Text("New case") }
                OutlinedButton(onClick = join) { Text("Join with a code") }
                TextButton(onClick = account) { Text("Relay") }
            }
            error?.let { Text(it.message) }
            if (cases.isEmpty()) {
                Text("No case yet. Start one for your loved one, or join the one a family member shared.")
            }
            LazyColumn {
                items(cases, key = { it.id }) { row ->
                    ListItem(
                        headlineContent = { Text(row.title) },
                        supportingContent = { row.error?.let { Text("Cannot open: $it") } },
                        modifier = Modifier.fillMaxWidth().clickable(enabled = row.error == null) { open(row.id) },
                    )
                }
            }
        }
    }

    if (creating) {
        var patient by remember { mutableStateOf("") }
        var me by remember { mutableStateOf("") }
        var relationship by remember { mutableStateOf("") }
        AlertDialog(
            onDismissRequest = { creating = false },
            title = { Text("New case") },
            text = {
                Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                    OutlinedTextField(patient, { patient = it }, label = { Text("Patient (how the family calls them)") })
                    OutlinedTextField(me, { me = it }, label = { Text("Your name") })
                    OutlinedTextField(relationship, { relationship = it }, label = { Text("You are their… (daughter, son…)") })
                }
            },
            confirmButton = {
                Button(onClick = {
                    // Runs in the view-model's scope; this screen only awaits the id to open the case.
                    ui.launch {
                        vm.create(patient, me, relationship.ifBlank { null }).await()?.let { id ->
                            creating = false
                            open(id)
                        }
                    }
                }) { Text("Create") }
            },
            dismissButton = { TextButton(onClick = { creating = false }) { Text("Cancel") } },
        )
    }
}
