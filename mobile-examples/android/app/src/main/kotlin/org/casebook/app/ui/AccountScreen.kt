package org.casebook.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.casebook.app.CasebookApplication
import org.casebook.ffi.CasebookException
import org.casebook.viewmodel.toUiError
import org.casebook.viewmodel.withoutRecoveryCode

/**
 * Sign this phone in to the family's relay (create an account; the token goes to encrypted storage), or
 * sign out. Everything works without it; the relay only carries edits between phones.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun AccountScreen(app: CasebookApplication, done: () -> Unit) {
    val failure by app.session.syncFailure.collectAsStateWithLifecycle()
    val client by app.session.syncClient.collectAsStateWithLifecycle()
    var url by remember { mutableStateOf(app.session.relayUrl ?: "https://") }
    var name by remember { mutableStateOf("") }
    var message by remember { mutableStateOf<String?>(null) }
    // Shown once, right after sign-up or recovery; never saved (the credential store keeps the token only).
    var recoveryCode by remember { mutableStateOf<String?>(null) }
    var typedRecoveryCode by remember { mutableStateOf("") }

    Scaffold(topBar = { TopAppBar(title = { Text("Relay") }) }) { padding ->
        Column(Modifier.padding(padding).padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
            failure?.let { Text(it.message, color = MaterialTheme.colorScheme.error) }
            Text(if (client != null) "Signed in to ${app.session.relayUrl}" else "Not signed in: cases stay on this phone.")
            OutlinedTextField(url, { url = it }, label = { Text("Relay address") })
            OutlinedTextField(name, { name = it }, label = { Text("Your name (shown to your family)") })
            Button(onClick = {
                // In the app's scope: signing in goes on if this screen is left meanwhile.
                app.appScope.launch {
                    message = try {
                        val creds = app.session.signUp(url.trim(), name.trim(), android.os.Build.MODEL)
                        app.credentials.save(url.trim(), creds.withoutRecoveryCode())
                        recoveryCode = creds.recoveryCode
                        "Signed in."
                    } catch (e: CasebookException) {
                        e.toUiError().message
                    }
                }
            }) { Text("Create account and sign in") }
            recoveryCode?.let { code ->
                Text("Write this down and keep it somewhere safe. If this phone is lost, it gets your account and " +
                    "every case back on a new phone. It is shown only now.", style = MaterialTheme.typography.bodyMedium)
                Text(code, style = MaterialTheme.typography.headlineSmall)
                OutlinedButton(onClick = { recoveryCode = null }) { Text("I have written it down") }
            }
            // A new phone after a lost one: the recovery code brings the account back and signs the lost
            // phone out.
            OutlinedTextField(typedRecoveryCode, { typedRecoveryCode = it }, label = { Text("Recovery code (lost phone)") })
            OutlinedButton(onClick = {
                app.appScope.launch {
                    message = try {
                        val (creds, cases) = app.session.recover(url.trim(), typedRecoveryCode, android.os.Build.MODEL)
                        app.credentials.save(url.trim(), creds.withoutRecoveryCode())
                        typedRecoveryCode = ""
                        recoveryCode = creds.recoveryCode
                        "Account recovered: ${cases.size} case(s) restored; the other devices are signed out."
                    } catch (e: CasebookException) {
                        e.toUiError().message
                    }
                }
            }) { Text("Recover my account") }
            OutlinedButton(onClick = {
                app.appScope.launch { app.session.stopSync() }
                app.credentials.clear()
                done()
            }) { Text("Sign out") }
            message?.let { Text(it) }
        }
    }
}
