// Casebook from Kotlin on the JVM — the same bindings and view-models the Android app uses.
//
// The story: Ana and her brother Ben organise their mother's second opinion. Both phones are offline in
// the clinic basement; both take notes in the same consultation. Ben gets the case from a file Ana sent;
// later both phones sync through the relay (if one was given) and agree on every word.
//
// Run: mobile-examples/console/run.sh   (it builds everything and starts a local relay)

import java.nio.file.Files
import java.time.LocalDate
import org.casebook.ffi.AppointmentKind
import org.casebook.ffi.CasebookException
import org.casebook.ffi.EventKind
import org.casebook.ffi.PatientField
import org.casebook.ffi.RecordItem
import org.casebook.ffi.Store
import org.casebook.viewmodel.AppointmentNotesViewModel
import org.casebook.viewmodel.CaseOverviewViewModel
import org.casebook.viewmodel.CasebookSession
import org.casebook.viewmodel.CasesListViewModel
import org.casebook.viewmodel.JoinCaseViewModel
import org.casebook.viewmodel.JoinState
import org.casebook.viewmodel.RecordRequestsViewModel

fun say(s: String) = println("\n▶ $s")

fun main(args: Array<String>) {
    val relayUrl = args.firstOrNull()
    val today = LocalDate.now().toString()
    val anaDir = Files.createTempDirectory("ana-phone").toFile()
    val benDir = Files.createTempDirectory("ben-phone").toFile()
    val ana = CasebookSession(Store.open(anaDir.path))
    val ben = CasebookSession(Store.open(benDir.path))

    say("Ana creates the case on her phone")
    val caseId = CasesListViewModel(ana).create("Mum", "Ana", "daughter")!!
    val overview = CaseOverviewViewModel(ana, caseId) { today }
    overview.agreeToSecondOpinion()
    ana.case(caseId).setPatient(PatientField.DIAGNOSIS_DATE, LocalDate.now().minusDays(10).toString())
    val appt = overview.addAppointment(AppointmentKind.SECOND_OPINION, "${today}T09:30", "Cancer centre, 3rd floor")!!
    val requests = RecordRequestsViewModel(ana, caseId) { today }
    val slides = requests.add("City Hospital pathology", listOf(RecordItem.PATHOLOGY_SLIDES, RecordItem.PATHOLOGY_REPORT))!!
    requests.log(slides, EventKind.REQUESTED_IN_WRITING, LocalDate.now().minusDays(35).toString())
    println("  case ${caseId.take(8)}…, ${overview.overview.value!!.stepsDone} of 7 steps done")

    say("Ana sends the case to Ben as a file (no network needed)")
    ben.store.importChanges(ana.store.exportChanges(caseId))
    val benCase = ben.case(caseId)
    ben.store.setMe(caseId, benCase.addCaregiver("Ben", "son"))
    benCase.save()

    say("In the basement, offline, both take notes in the same consultation")
    val anaNotes = AppointmentNotesViewModel(ana, caseId, appt)
    val benNotes = AppointmentNotesViewModel(ben, caseId, appt)
    anaNotes.editMyNotes("Dr Okafor agrees with the staging. Wants a PET scan 🩺")
    benNotes.editMyNotes("Résumé: l'oncologue propose une chimio néoadjuvante. 診断は同じ。")
    anaNotes.editSummary("PET scan first; decide after.")
    anaNotes.save()
    benNotes.save()
    println("  Ana's phone: ${anaNotes.state.value!!.syncLabel}")

    say("Back home: they swap files again, and both phones show the same notes")
    ben.store.importChanges(ana.store.exportChanges(caseId, ben.case(caseId).state()))
    ana.store.importChanges(ben.store.exportChanges(caseId, ana.case(caseId).state()))
    anaNotes.refresh()
    anaNotes.state.value!!.others.forEach { println("  ${it.name} wrote: ${it.text}") }
    println("  Ana wrote: ${anaNotes.state.value!!.myNotes}")
    check(ana.case(caseId).notes(appt) == ben.case(caseId).notes(appt)) { "the phones disagree" }

    say("What is next, and what is late")
    overview.refresh()
    val o = overview.overview.value!!
    println("  next: step ${o.next?.number} — ${o.next?.next}")
    println("  decision window: ${o.decision.daysLeft?.let { "$it days left" } ?: "set the diagnosis date"}")
    requests.refresh()
    requests.state.value.rows.forEach { r -> println("  ${r.custodian}: ${r.status}${if (r.overdue) "  ⚠ OVERDUE (due ${r.due})" else ""}") }

    if (relayUrl != null) {
        say("Both sign in to the family relay at $relayUrl; Ana invites Ben")
        ana.signUp(relayUrl, "Ana")
        val code = overview.invite()!!
        ben.signUp(relayUrl, "Ben")
        val join = JoinCaseViewModel(ben)
        join.join(code, "Ben", "son")
        println("  Ben: ${join.state.value}")
        check(join.state.value is JoinState.Joined)

        say("Ben adds a line on his phone; it reaches Ana's phone through the relay")
        benNotes.appendToMyNotes(" (ajouté en ligne)")
        benNotes.save()
        ben.sync!!.waitUntilSynced(caseId, 30_000u)
        val deadline = System.currentTimeMillis() + 20_000
        while (System.currentTimeMillis() < deadline &&
            ana.case(caseId).notes(appt).byAuthor.none { it.text.endsWith("(ajouté en ligne)") }
        ) {
            Thread.sleep(100)
        }
        anaNotes.refresh()
        anaNotes.state.value!!.others.forEach { println("  on Ana's phone, ${it.name} wrote: ${it.text}") }
        println("  Ana's phone: ${anaNotes.state.value!!.syncLabel}")

        say("A phone with a wrong token gets a typed error")
        try {
            org.casebook.ffi.Relay.withToken(relayUrl, "0".repeat(64)).me()
        } catch (e: CasebookException.Unauthorized) {
            println("  CasebookException.Unauthorized: the app asks this phone to sign in again")
        }
    }

    listOf(anaNotes, benNotes, overview, requests).forEach { it.close() }
    ana.close()
    ben.close()
    anaDir.deleteRecursively()
    benDir.deleteRecursively()
    println("\nDone.")
}
