package org.casebook.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import androidx.navigation.NavType
import androidx.navigation.navArgument
import org.casebook.app.ui.AccountScreen
import org.casebook.app.ui.AppointmentScreen
import org.casebook.app.ui.CaseOverviewScreen
import org.casebook.app.ui.CasesScreen
import org.casebook.app.ui.JoinCaseScreen
import org.casebook.app.ui.QuestionsScreen
import org.casebook.app.ui.RecordRequestsScreen

/**
 * One activity, one navigation graph:
 * cases → case overview → appointment notes / record requests / questions; join; account.
 * Each destination holds its view-model in an androidx ViewModel scoped to its navigation entry (see
 * `ui/ScreenModels.kt`). Going to the background is handled for the whole app by [CasebookApplication].
 */
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = casebook
        setContent {
            MaterialTheme {
                Surface {
                    val nav = rememberNavController()
                    NavHost(navController = nav, startDestination = "cases") {
                        composable("cases") {
                            CasesScreen(
                                app.session,
                                open = { id -> nav.navigate("case/$id") },
                                join = { nav.navigate("join") },
                                account = { nav.navigate("account") },
                            )
                        }
                        composable("case/{caseId}") { entry ->
                            val caseId = entry.arguments?.getString("caseId") ?: return@composable
                            CaseOverviewScreen(
                                app,
                                caseId,
                                openAppointment = { appt -> nav.navigate("appointment/$caseId/$appt") },
                                openRequests = { nav.navigate("requests/$caseId") },
                                openQuestions = { nav.navigate("questions/$caseId") },
                            )
                        }
                        composable("appointment/{caseId}/{appointmentId}") { entry ->
                            val caseId = entry.arguments?.getString("caseId") ?: return@composable
                            val appt = entry.arguments?.getString("appointmentId") ?: return@composable
                            AppointmentScreen(app, caseId, appt, openQuestions = { nav.navigate("questions/$caseId?appointment=$appt") })
                        }
                        composable("requests/{caseId}") { entry ->
                            val caseId = entry.arguments?.getString("caseId") ?: return@composable
                            RecordRequestsScreen(app, caseId)
                        }
                        composable(
                            "questions/{caseId}?appointment={appointment}",
                            arguments = listOf(navArgument("appointment") {
                                type = NavType.StringType
                                nullable = true
                                defaultValue = null
                            }),
                        ) { entry ->
                            val caseId = entry.arguments?.getString("caseId") ?: return@composable
                            QuestionsScreen(app, caseId, entry.arguments?.getString("appointment"))
                        }
                        composable("join") {
                            JoinCaseScreen(app, joined = { id -> nav.navigate("case/$id") { popUpTo("cases") } })
                        }
                        composable("account") {
                            AccountScreen(app, done = { nav.popBackStack() })
                        }
                    }
                }
            }
        }
    }
}
