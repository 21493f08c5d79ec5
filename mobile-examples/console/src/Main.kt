// Casebook from Kotlin on the JVM — the same bindings, Flow support and view-models the Android app uses.
//
// The story: Ana and her brother Ben organise their mother's second opinion. Both phones are offline in
// the clinic basement; both take notes in the same consultation. Ben gets the case from a file Ana sent;
// later both phones sync through the relay (if one was given): Ben's line appears on Ana's screen by
// itself, with no sync call by the app.
//
// Run: mobile-examples/console/run.sh   (it builds everything and starts a local relay)

import java.nio.file.Files
import java.time.LocalDate
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.filterNotNull
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.casebook.ffi.AppointmentKind
import org.casebook.ffi.CasebookException
import org.casebook.ffi.EventKind
import org.casebook.ffi.PatientField
import org.casebook.ffi.RecordItem
import org.casebook.ffi.Relay
import org.casebook.ffi.Store
import org.casebook.viewmodel.AppointmentNotesViewModel
import org.casebook.viewmodel.CaseOverviewViewModel
import org.casebook.viewmodel.CasebookSession
import org.casebook.viewmodel.CasesListViewModel
import org.casebook.viewmodel.JoinCaseViewModel
import org.casebook.viewmodel.JoinState
import org.casebook.viewmodel.RecordRequestsViewModel

fun say(s: String) = println("\n▶ $s")

fun main(args: Array<String>) = runBlocking {
    val relayUrl = args.firstOrNull()
    val today = LocalDate.now().toString()
    val anaDir = Files.createTempDirectory("ana-phone").toFile()
    val benDir = Files.createTempDirectory("ben-phone").toFile()
    val ana = CasebookSession(Store.open(anaDir.path))
    val ben = CasebookSession(Store.open(benDir.path))
    // The screens' scope (an Android app passes each view-model its viewModelScope).
    val screens = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    say("Ana creates the case on her phone")
    val caseId = CasesListViewModel(ana, screens).create("Mum", "Ana", "daughter").await()!!
    val overview = CaseOverviewViewModel(ana, caseId, screens) { today }
    overview.agreeToSecondOpinion().join()
    ana.case(caseId).setPatient(PatientField.DIAGNOSIS_DATE, LocalDate.now().minusDays(10).toString())
    val appt = overview.addAppointment(AppointmentKind.SECOND_OPINION, "${today}T09:30", "Cancer centre, 3rd floor").await()!!
    val requests = RecordRequestsViewModel(ana, caseId, screens) { today }
    val slides = requests.add("City Hospital pathology", listOf(RecordItem.PATHOLOGY_SLIDES, RecordItem.PATHOLOGY_REPORT)).await()!!
    requests.log(slides, EventKind.REQUESTED_IN_WRITING, LocalDate.now().minusDays(35).toString()).join()
    println("  case ${caseId.take(8)}…, ${overview.overview.filterNotNull().first().stepsDone} of 7 steps done")

    say("Ana sends the case to Ben as a file (no network needed)")
    ana.store.flushPendingSaves() // the autosave would save a second later; the file needs it now
    ben.store.importChanges(ana.store.exportChanges(caseId))
    val benCase = ben.case(caseId)
    ben.store.setMe(caseId, benCase.addCaregiver("Ben", "son"))

    say("In the basement, offline, both take notes in the same consultation")
    val anaNotes = AppointmentNotesViewModel(ana, caseId, appt, screens)
    val benNotes = AppointmentNotesViewModel(ben, caseId, appt, screens)
    anaNotes.editMyNotes("Dr Okafor agrees with the staging. Wants a PET scan 🩺")
    benNotes.editMyNotes("Résumé: l'oncologue propose une chimio néoadjuvante. 診断は同じ。")
    anaNotes.editSummary("PET scan first; decide after.")
    println("  Ana's phone: ${anaNotes.state.filterNotNull().first().syncLabel}")

    say("Back home: they swap files again, and both phones show the same notes")
    for (s in listOf(ana, ben)) s.store.flushPendingSaves()
    ben.store.importChanges(ana.store.exportChanges(caseId, ben.case(caseId).state()))
    ana.store.importChanges(ben.store.exportChanges(caseId, ana.case(caseId).state()))
    // The import reopened the case and Ana's notes screen read it again by itself.
    val merged = withTimeout(10_000) { anaNotes.state.first { s -> s?.others?.isNotEmpty() == true } }!!
    merged.others.forEach { println("  ${it.name} wrote: ${it.text}") }
    println("  Ana wrote: ${merged.myNotes}")
    check(ana.case(caseId).notes(appt) == ben.case(caseId).notes(appt)) { "the phones disagree" }

    say("What is next, and what is late")
    overview.refresh().join()
    val o = overview.overview.filterNotNull().first()
    println("  next: step ${o.next?.number} — ${o.next?.next}")
    println("  decision window: ${o.decision.daysLeft?.let { "$it days left" } ?: "set the diagnosis date"}")
    requests.refresh().join()
    requests.state.value.rows.forEach { r -> println("  ${r.custodian}: ${r.status}${if (r.overdue) "  ⚠ OVERDUE (due ${r.due})" else ""}") }

    if (relayUrl != null) {
        say("Both sign in to the family relay at $relayUrl; Ana invites Ben")
        ana.signUp(relayUrl, "Ana")
        val code = overview.invite().await()!!
        ben.signUp(relayUrl, "Ben")
        val join = JoinCaseViewModel(ben, screens)
        join.join(code, "Ben", "son").join()
        println("  Ben: ${join.state.value}")
        check(join.state.value is JoinState.Joined)

        say("Ben adds a line on his phone; it appears on Ana's screen by itself")
        benNotes.appendToMyNotes(" (ajouté en ligne)")
        // No save, no sync call: Ben's phone saves and sends it a second later, Ana's phone merges it
        // into her open case and her appointment screen reads it again.
        val live = withTimeout(30_000) {
            anaNotes.state.first { s -> s?.others?.any { it.text.endsWith("(ajouté en ligne)") } == true }
        }!!
        live.others.forEach { println("  on Ana's phone, ${it.name} wrote: ${it.text}") }
        ana.sync!!.waitUntilSynced(caseId, 30_000u)
        println("  Ana's phone: ${withTimeout(10_000) { anaNotes.state.first { it?.sync != null } }!!.syncLabel}")

        say("Ana's phone goes to the background and comes back")
        ana.pause()
        println("  paused: connected = ${ana.sync!!.isConnected()}")
        ana.resume()
        ana.sync!!.waitUntilSynced(caseId, 30_000u)
        println("  resumed: connected = ${ana.sync!!.isConnected()}")

        say("A phone with a wrong token gets a typed error")
        try {
            Relay.withToken(relayUrl, "0".repeat(64)).use { it.me() }
        } catch (e: CasebookException.Unauthorized) {
            println("  CasebookException.Unauthorized: the app asks this phone to sign in again")
        }
    }

    screens.cancel()
    ana.close()
    ben.close()
    anaDir.deleteRecursively()
    benDir.deleteRecursively()
    println("\nDone.")
}
