// The Kotlin scenario through the generated bindings and the Android app's view-models, on the JVM (the
// same Kotlin an Android app runs). Two phones (two stores in temp dirs) take notes offline in the same
// appointment with non-ASCII text, update a record request, swap exchange files; then sync through a relay
// this test starts; a third phone joins with an invite code; a wrong token is a typed exception.
//
// Run by bindings/tests/run.sh (which builds the library, generates the bindings and compiles this with
// them). Environment: CASEBOOK_SERVER = path of the casebook-server binary.

import java.io.File
import java.nio.file.Files
import java.time.LocalDate
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.TimeUnit
import org.casebook.viewmodel.AppointmentNotesViewModel
import org.casebook.viewmodel.CaseOverviewViewModel
import org.casebook.viewmodel.CasebookSession
import org.casebook.viewmodel.CasesListViewModel
import org.casebook.viewmodel.JoinCaseViewModel
import org.casebook.viewmodel.JoinState
import org.casebook.viewmodel.QuestionsViewModel
import org.casebook.viewmodel.RecordRequestsViewModel
import org.casebook.viewmodel.TextDiff
import org.casebook.ffi.AppointmentKind
import org.casebook.ffi.CaseObserver
import org.casebook.ffi.CaseSyncStatus
import org.casebook.ffi.CasebookException
import org.casebook.ffi.ChangeOrigin
import org.casebook.ffi.DeviceCredentials
import org.casebook.ffi.EventKind
import org.casebook.ffi.NewRequestEvent
import org.casebook.ffi.PatientField
import org.casebook.ffi.RecordItem
import org.casebook.ffi.Relay
import org.casebook.ffi.RequestStatus
import org.casebook.ffi.SharedText
import org.casebook.ffi.Store
import org.casebook.ffi.SyncClient
import org.casebook.ffi.SyncObserver
import org.casebook.ffi.SyncState

// --- a minimal test runner (no JUnit on this machine): each test is a named block ---

var passed = 0
var failed = 0

fun test(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (t: Throwable) {
        failed++
        println("FAIL $name: $t")
        t.printStackTrace(System.out)
    }
}

fun check(cond: Boolean, msg: () -> String) {
    if (!cond) throw AssertionError(msg())
}

fun <T> eq(actual: T, expected: T, what: String) = check(actual == expected) { "$what: expected <$expected>, got <$actual>" }

inline fun <reified E : Throwable> throws(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing thrown")
}

fun eventually(what: String, timeoutMs: Long = 20_000, cond: () -> Boolean) {
    val end = System.currentTimeMillis() + timeoutMs
    while (System.currentTimeMillis() < end) {
        if (cond()) return
        Thread.sleep(50)
    }
    throw AssertionError("timed out waiting for: $what")
}

// --- the relay, as a real process ---

class RelayProcess(binary: String) : AutoCloseable {
    private val dir = Files.createTempDirectory("casebook-relay").toFile()
    private val process: Process
    val url: String

    init {
        process = ProcessBuilder(
            binary, "--listen", "127.0.0.1:0", "--data-dir", File(dir, "data").path,
            "--accounts-per-hour", "10000", "--auth-failures-per-minute", "10000",
            "--redeem-attempts-per-minute", "10000", "--shutdown-grace-secs", "0",
        ).redirectErrorStream(true).also { it.environment()["NO_COLOR"] = "1" }.start()
        val lines = process.inputStream.bufferedReader()
        var addr: String? = null
        val deadline = System.currentTimeMillis() + 30_000
        // The relay logs `relay listening addr=127.0.0.1:PORT` once bound (port 0: a free port).
        while (addr == null && System.currentTimeMillis() < deadline) {
            val line = lines.readLine() ?: break
            val plain = line.replace(Regex("\u001B\\[[0-9;]*m"), "")
            addr = Regex("relay listening.*addr=(\\S+)").find(plain)?.groupValues?.get(1)
        }
        check(addr != null) { "the relay did not print its address" }
        url = "http://$addr"
        Thread { runCatching { lines.forEachLine { } } }.apply { isDaemon = true }.start()
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
        dir.deleteRecursively()
    }
}

// --- phones ---

class Phone(val name: String) : AutoCloseable {
    val dir: File = Files.createTempDirectory("casebook-$name").toFile()
    val store = Store.open(dir.path)
    val session = CasebookSession(store)
    val events = ConcurrentLinkedQueue<Pair<String, ChangeOrigin>>()
    private val observerId = store.addObserver(object : CaseObserver {
        override fun onCaseChanged(caseId: String, origin: ChangeOrigin) {
            events += caseId to origin
        }
    })

    fun count(origin: ChangeOrigin) = events.count { it.second == origin }

    override fun close() {
        store.removeObserver(observerId)
        session.close()
        store.close()
        dir.deleteRecursively()
    }
}

val today: String = LocalDate.now().toString()
val fortyDaysAgo: String = LocalDate.now().minusDays(40).toString()

// Ana writes French and an emoji, Ben Japanese and an emoji: every UTF-16 unit must land where typed.
const val ANA_NOTES = "Médecin d'accord: stade II 😀"
const val BEN_NOTES = "診断: 肺腺癌 — PET 😀 demandé"

fun main() {
    val server = System.getenv("CASEBOOK_SERVER") ?: error("set CASEBOOK_SERVER to the casebook-server binary")
    val ana = Phone("ana")
    val ben = Phone("ben")
    val cy = Phone("cy")
    lateinit var caseId: String
    lateinit var appt: String
    lateinit var request: String
    lateinit var anaId: String
    lateinit var benId: String

    test("create a case through the cases list view-model") {
        val list = CasesListViewModel(ana.session)
        caseId = list.create("Mum", "Ana", "daughter") ?: error("create failed: ${list.error.value}")
        eq(list.cases.value.map { it.title }, listOf("Mum"), "cases list")
        anaId = ana.session.me(caseId)!!
        val case = ana.session.case(caseId)
        case.setPatient(PatientField.DIAGNOSIS_DATE, today)
        appt = case.addAppointment(org.casebook.ffi.NewAppointment(kind = AppointmentKind.SECOND_OPINION, start = "${today}T09:30"))
        request = case.addRecordRequest("City Hospital pathology", listOf(RecordItem.PATHOLOGY_SLIDES, RecordItem.PATHOLOGY_REPORT), org.casebook.ffi.Channel.PATIENT_REQUEST)
        case.save()
        check(ana.count(ChangeOrigin.LOCAL) >= 3) { "local change callbacks: ${ana.events}" }
        list.close()
    }

    test("the overview shows the seven steps and what is next") {
        val vm = CaseOverviewViewModel(ana.session, caseId) { today }
        val o = vm.overview.value ?: error("no overview: ${vm.error.value}")
        eq(o.steps.size, 7, "steps")
        eq(o.next?.number?.toInt(), 1, "next step")
        eq(o.decision.daysLeft, 28L, "days left (diagnosis today + 28)")
        check(o.decision.isDefault) { "default decision date" }
        vm.agreeToSecondOpinion()
        eq(vm.overview.value?.next?.number?.toInt(), 2, "next step after agreeing")
        vm.close()
    }

    test("Ben gets the case from an exchange file and joins the care team (offline)") {
        val file = ana.store.exportChanges(caseId)
        val report = ben.store.importChanges(file)
        check(report.newCase) { "new case" }
        eq(ben.count(ChangeOrigin.IMPORT), 1, "import callbacks")
        val case = ben.session.case(caseId)
        benId = case.addCaregiver("Ben", "son")
        ben.store.setMe(caseId, benId)
        case.save()
        eq(case.patient().displayName, "Mum", "patient on Ben's phone")
    }

    test("both phones take notes offline in the same appointment, in UTF-16 units") {
        val anaNotes = AppointmentNotesViewModel(ana.session, caseId, appt)
        val benNotes = AppointmentNotesViewModel(ben.session, caseId, appt)
        // Typed keystroke by keystroke (each a splice computed from the text field's old and new text).
        var typed = ""
        for (ch in ANA_NOTES.codePoints().toArray()) {
            typed += String(Character.toChars(ch))
            anaNotes.editMyNotes(typed)
        }
        benNotes.editMyNotes(BEN_NOTES)
        // A correction in the middle, after the emoji-free prefix: "stade II" -> "stade IIb".
        val fixed = ANA_NOTES.replace("stade II", "stade IIb")
        anaNotes.editMyNotes(fixed)
        // Both edit the shared summary concurrently.
        anaNotes.editSummary("Résumé: ")
        benNotes.editSummary("まとめ 😀")
        anaNotes.save()
        benNotes.save()
        eq(anaNotes.state.value?.myNotes, fixed, "Ana's notes")
        eq(benNotes.state.value?.myNotes, BEN_NOTES, "Ben's notes")
        eq(ana.session.case(caseId).textLen(SharedText.AppointmentNotes(appt, anaId)).toInt(), fixed.length, "UTF-16 length")
        anaNotes.close()
        benNotes.close()
    }

    test("a splice that would cut an emoji in half is a typed InvalidInput") {
        val case = ana.session.case(caseId)
        val field = SharedText.AppointmentNotes(appt, anaId)
        val text = case.text(field)
        val inside = text.indexOf("😀") + 1 // between the two surrogates
        val e = throws<CasebookException.InvalidInput> { case.spliceText(field, inside.toUInt(), 0u, "x") }
        check(e.reason.isNotEmpty()) { "reason" }
        eq(case.text(field), text, "text unchanged")
        throws<CasebookException.NotFound> { case.setAttendee("no-such-appointment", "Ana", true) }
    }

    test("both update the record request offline; the tracker shows the overdue badge") {
        val anaReq = RecordRequestsViewModel(ana.session, caseId) { today }
        val benReq = RecordRequestsViewModel(ben.session, caseId) { today }
        anaReq.log(request, EventKind.REQUESTED_IN_WRITING, fortyDaysAgo)
        benReq.log(request, EventKind.FOLLOWED_UP, today, note = "called, no answer")
        eq(anaReq.state.value.overdueCount, 1, "overdue on Ana's phone (requested 40 days ago)")
        eq(benReq.state.value.rows.single().status, RequestStatus.NOT_REQUESTED, "Ben has not seen the written request yet")
        anaReq.close()
        benReq.close()
    }

    test("questions with answers per appointment") {
        val q = QuestionsViewModel(ana.session, caseId, appt)
        eq(q.questions.value.size, 6, "the guide's six questions")
        val mine = q.add("Is a PET scan needed before surgery?") ?: error("add failed: ${q.error.value}")
        q.answer(q.questions.value.first().question.id, "Oui — d'accord avec le diagnostic")
        eq(q.questions.value.first().answersHere.single().author, "Ana", "answer author")
        check(q.questions.value.any { it.question.id == mine && !it.fromGuide }) { "own question" }
        q.close()
    }

    test("offline exchange both ways converges") {
        val toBen = ana.store.exportChanges(caseId, ben.session.case(caseId).state())
        val toAna = ben.store.exportChanges(caseId, ana.session.case(caseId).state())
        ben.store.importChanges(toBen)
        ana.store.importChanges(toAna)
        val a = ana.session.case(caseId)
        val b = ben.session.case(caseId)
        eq(a.notes(appt), b.notes(appt), "notes")
        val notes = a.notes(appt)
        eq(notes.byAuthor.first { it.author == benId }.text, BEN_NOTES, "Ben's notes on Ana's phone")
        check(notes.summary.contains("Résumé") && notes.summary.contains("まとめ 😀")) { "both summary edits kept: ${notes.summary}" }
        eq(a.recordRequests(), b.recordRequests(), "record requests")
        eq(a.recordRequests().single().events.size, 2, "both events kept")
        eq(b.overdueRequests(today).size, 1, "overdue on Ben's phone too")
    }

    test("a wrong token is a typed Kotlin exception") {
        RelayProcess(server).use { relay ->
            Relay.withToken(relay.url, "0".repeat(64)).use { wrong ->
                throws<CasebookException.Unauthorized> { wrong.me() }
                throws<CasebookException.Unauthorized> { wrong.listCases() }
            }
            // The sync client with a wrong token: its calls fail with Unauthorized, and the observer hears it.
            val failed = ConcurrentLinkedQueue<CasebookException>()
            val bad = DeviceCredentials(accountId = "nobody", deviceId = "nothing", token = "f".repeat(64))
            val client = SyncClient.start(ana.store, relay.url, bad)
            client.addObserver(object : SyncObserver {
                override fun onSyncStatusChanged(caseId: String, status: CaseSyncStatus) {}
                override fun onSyncFailed(error: CasebookException) {
                    failed += error
                }
            })
            throws<CasebookException.Unauthorized> {
                client.syncCase(ana.session.case(caseId))
                client.waitUntilSynced(caseId, 10_000u)
            }
            client.stop()
            throws<CasebookException.Stopped> { client.status(caseId) }
            client.close()
        }
    }

    RelayProcess(server).use { relay ->
        test("sync through the relay: both phones converge, callbacks fire") {
            val statuses = ConcurrentLinkedQueue<CaseSyncStatus>()
            ana.session.signUp(relay.url, "Ana", "Ana's phone")
            ana.session.sync!!.addObserver(object : SyncObserver {
                override fun onSyncStatusChanged(caseId: String, status: CaseSyncStatus) {
                    statuses += status
                }
                override fun onSyncFailed(error: CasebookException) {}
            })
            val overview = CaseOverviewViewModel(ana.session, caseId) { today }
            val code = overview.invite() ?: error("invite failed: ${overview.error.value}")
            // Ben already has the case (from the file): he redeems the invite and syncs the same case.
            ben.session.signUp(relay.url, "Ben")
            JoinCaseViewModel(ben.session).apply {
                join(code, "Ben", "son")
                val s = state.value
                check(s is JoinState.Joined && s.caseId == caseId) { "Ben joined: $s" }
            }
            // New edits on both phones after the file exchange.
            val anaVm = AppointmentNotesViewModel(ana.session, caseId, appt)
            val benVm = AppointmentNotesViewModel(ben.session, caseId, appt)
            anaVm.appendToMyNotes(" — vu le Dr Okafor")
            anaVm.save()
            benVm.appendToMyNotes(" 追加")
            benVm.save()
            ana.session.case(caseId).setPatient(PatientField.STAGE, "IIb")
            ana.session.saveAndSync(ana.session.case(caseId))
            for (p in listOf(ana, ben)) p.session.sync!!.waitUntilSynced(caseId, 30_000u)
            eventually("Ana's phone has Ben's new notes") {
                ana.session.case(caseId).notes(appt).byAuthor.any { it.author == benId && it.text.endsWith(" 追加") }
            }
            eventually("Ben's phone has Ana's new notes and the stage") {
                val c = ben.session.case(caseId)
                c.patient().stage == "IIb" && c.notes(appt).byAuthor.any { it.author == anaId && it.text.endsWith("Okafor") }
            }
            eq(ana.session.case(caseId).notes(appt), ben.session.case(caseId).notes(appt), "notes converge")
            eq(ana.session.case(caseId).recordRequests(), ben.session.case(caseId).recordRequests(), "requests converge")
            eventually("a relay change callback on Ana's phone") { ana.count(ChangeOrigin.RELAY) > 0 }
            eventually("a relay change callback on Ben's phone") { ben.count(ChangeOrigin.RELAY) > 0 }
            eventually("Ana's sync status reached up to date") { statuses.any { it.state == SyncState.UP_TO_DATE } }
            eq(ana.session.sync!!.status(caseId).state, SyncState.UP_TO_DATE, "status")
            check(anaVm.state.value?.syncLabel != null) { "appointment screen shows sync status" }
            val members = ana.session.sync!!.relay().listMembers(caseId)
            eq(members.map { it.displayName }.sorted(), listOf("Ana", "Ben"), "members")
            anaVm.close()
            benVm.close()
            overview.close()
        }

        test("a third phone joins with an invite code and sees everything") {
            val code = ana.session.sync!!.relay().createInvite(caseId, org.casebook.ffi.Role.VIEWER).code
            cy.session.signUp(relay.url, "Cy")
            val join = JoinCaseViewModel(cy.session)
            join.join(code, "Cy", "grandson")
            val s = join.state.value
            check(s is JoinState.Joined && s.patientName == "Mum") { "Cy joined: $s" }
            val c = cy.session.case(caseId)
            eq(c.notes(appt).byAuthor.first { it.author == anaId }.text, ana.session.case(caseId).notes(appt).byAuthor.first { it.author == anaId }.text, "Ana's notes on Cy's phone")
            eq(CasesListViewModel(cy.session).cases.value.map { it.title }, listOf("Mum"), "Cy's cases list")
        }

        for (p in listOf(ana, ben, cy)) p.session.stopSync()
    }

    test("text diff never cuts a surrogate pair") {
        eq(TextDiff.between("a😀b", "a😁b")?.index, 1, "index before the pair")
        eq(TextDiff.between("abc", "abc"), null, "no edit")
        eq(TextDiff.between("", "é"), org.casebook.viewmodel.TextEdit(0, 0, "é"), "insert")
    }

    for (p in listOf(ana, ben, cy)) p.close()
    println("kotlin: $passed passed, $failed failed")
    System.exit(if (failed == 0) 0 else 1)
}
