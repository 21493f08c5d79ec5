package org.casebook.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
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
import org.casebook.viewmodel.JoinCaseViewModel
import org.casebook.viewmodel.JoinState

/** Join the case a family member shared, with the invite code they sent. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun JoinCaseScreen(app: CasebookApplication, joined: (String) -> Unit) {
    val vm = rememberScreenModel { scope -> JoinCaseViewModel(app.session, scope) }
    val state by vm.state.collectAsStateWithLifecycle()
    val client by app.session.syncClient.collectAsStateWithLifecycle()
    var code by remember { mutableStateOf("") }
    var name by remember { mutableStateOf("") }
    var relationship by remember { mutableStateOf("") }

    LaunchedEffect(state) { (state as? JoinState.Joined)?.let { joined(it.caseId) } }

    Scaffold(topBar = { TopAppBar(title = { Text("Join a case") }) }) { padding ->
        Column(Modifier.padding(padding).padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
            if (client == null) Text("First sign in to your family's relay (Relay on the first screen).")
            OutlinedTextField(code, { code = it }, label = { Text("Invite code") })
            OutlinedTextField(name, { name = it }, label = { Text("Your name") })
            OutlinedTextField(relationship, { relationship = it }, label = { Text("You are their… (son, sister…)") })
            Button(
                onClick = { vm.join(code, name, relationship.ifBlank { null }) },
                enabled = state !is JoinState.Joining && code.isNotBlank() && name.isNotBlank(),
            ) { Text("Join") }
            when (val s = state) {
                is JoinState.Joining -> Text("Downloading the case…")
                is JoinState.Failed -> Text(s.error.message, color = MaterialTheme.colorScheme.error)
                else -> {}
            }
        }
    }
}
