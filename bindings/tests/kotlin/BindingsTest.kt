// The Kotlin scenario through the generated bindings, the Flow support (bindings/kotlin-support) and the
// Android app's view-models, on the JVM (the same Kotlin an Android app runs). Two phones (two stores in
// temp dirs) take notes offline in the same appointment with non-ASCII text, update a record request, swap
// exchange files; then sync through a relay this test starts: edits reach the other phone's open case by
// themselves (autosave + live merge, no sync call by the app), remote changes name their sections, a
// paused phone catches up when resumed; a third phone joins with an invite code; a wrong token is a typed
// exception.
//
// Run by bindings/tests/run.sh (which builds the library, generates the bindings and compiles this with
// them). Environment: CASEBOOK_SERVER = path of the casebook-server binary.

import java.io.File
import java.nio.file.Files
import java.security.MessageDigest
import java.time.LocalDate
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.random.Random
import org.casebook.ffi.AgendaKind
import org.casebook.ffi.AppointmentKind
import org.casebook.ffi.AttachTarget
import org.casebook.ffi.CaseChange
import org.casebook.ffi.CaseObserver
import org.casebook.ffi.CaseSyncStatus
import org.casebook.ffi.CasebookException
import org.casebook.ffi.Category
import org.casebook.ffi.ChangeOrigin
import org.casebook.ffi.DeviceCredentials
import org.casebook.ffi.EventKind
import org.casebook.ffi.InviteLink
import org.casebook.ffi.parseInviteLink
import org.casebook.ffi.PatientField
import org.casebook.ffi.Priority
import org.casebook.ffi.RecordItem
import org.casebook.ffi.Relay
import org.casebook.ffi.RequestStatus
import org.casebook.ffi.Role
import org.casebook.ffi.CaseSection
import org.casebook.ffi.SharedText
import org.casebook.ffi.Store
import org.casebook.ffi.SyncClient
import org.casebook.ffi.SyncState
import org.casebook.ffi.TargetKind
import org.casebook.ffi.TransferProgress
import org.casebook.ffi.flow.SyncEvent
import org.casebook.ffi.flow.caseChanges
import org.casebook.ffi.flow.events
import org.casebook.ffi.flow.statusFlow
import org.casebook.viewmodel.AppointmentNotesViewModel
import org.casebook.viewmodel.CaseOverviewViewModel
import org.casebook.viewmodel.CasebookSession
import org.casebook.viewmodel.CasesListViewModel
import org.casebook.viewmodel.JoinCaseViewModel
import org.casebook.viewmodel.JoinState
import org.casebook.viewmodel.QuestionsViewModel
import org.casebook.viewmodel.RecordRequestsViewModel
import org.casebook.viewmodel.TextDiff

// --- a minimal test runner (no JUnit on this machine): each test is a named block ---

var passed = 0
var failed = 0

/**
 * Run a test in `runBlocking`. [body] gets the scope of its screens (like `viewModelScope`, on
 * Dispatchers.Default here instead of Main), cancelled when the test ends: its view-models stop observing.
 */
fun test(name: String, body: suspend (screens: CoroutineScope) -> Unit) {
    val screens = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    try {
        runBlocking { withTimeout(180_000) { body(screens) } }
        passed++
        println("ok   $name")
    } catch (t: Throwable) {
        failed++
        println("FAIL $name: $t")
        t.printStackTrace(System.out)
    } finally {
        screens.cancel()
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

fun sha256(bytes: ByteArray): String = MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }

/** The text of [pdf] as poppler's `pdftotext` reads it (installed by scripts/test.sh; a clear failure without it). */
fun pdftotext(pdf: ByteArray): String {
    val file = java.io.File.createTempFile("casebook", ".pdf")
    try {
        file.writeBytes(pdf)
        val process = try {
            ProcessBuilder("pdftotext", "-enc", "UTF-8", file.path, "-").redirectErrorStream(true).start()
        } catch (e: java.io.IOException) {
            throw AssertionError("pdftotext (poppler-utils) is needed: run scripts/test.sh, which installs it ($e)")
        }
        val out = process.inputStream.readBytes().toString(Charsets.UTF_8)
        check(process.waitFor() == 0) { "pdftotext failed: $out" }
        return out
    } finally {
        file.delete()
    }
}

/** Poll [cond] until it holds (a deadline, not a fixed sleep). */
suspend fun eventually(what: String, timeoutMs: Long = 20_000, cond: suspend () -> Boolean) {
    val end = System.currentTimeMillis() + timeoutMs
    while (System.currentTimeMillis() < end) {
        if (cond()) return
        delay(50)
    }
    throw AssertionError("timed out waiting for: $what")
}

/** The first value of a view-model's state that satisfies [cond]. */
suspend fun <T> StateFlow<T>.await(what: String, timeoutMs: Long = 20_000, cond: (T) -> Boolean): T =
    withTimeoutOrNull(timeoutMs) { first(cond) } ?: throw AssertionError("timed out waiting for: $what (last: $value)")

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

class Phone(val name: String) {
    val dir: File = Files.createTempDirectory("casebook-$name").toFile()
    val store = Store.open(dir.path)

    val session = CasebookSession(store)
    val changes = ConcurrentLinkedQueue<Pair<String, CaseChange>>()
    private val observerId = store.addObserver(object : CaseObserver {
        override fun onCaseChanged(caseId: String, change: CaseChange) {
            changes += caseId to change
        }
    })

    val sync: SyncClient get() = session.sync ?: error("$name is not signed in")

    fun count(origin: ChangeOrigin) = changes.count { it.second.origin == origin }

    /** The changes from other devices merged into case [caseId]. */
    fun remote(caseId: String) = changes.filter { it.first == caseId && it.second.origin == ChangeOrigin.REMOTE }.map { it.second }

    suspend fun close() {
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
    lateinit var cyCredentials: DeviceCredentials
    lateinit var anaRecoveryCode: String
    lateinit var anaCredentials: DeviceCredentials

    test("create a case through the cases list view-model; the store saves it by itself") { screens ->
        val list = CasesListViewModel(ana.session, screens)
        caseId = list.create("Mum", "Ana", "daughter").await() ?: error("create failed: ${list.error.value}")
        list.cases.await("the list shows the case") { rows -> rows.map { it.title } == listOf("Mum") }
        anaId = ana.session.me(caseId)!!
        val case = ana.session.case(caseId)
        case.setPatient(PatientField.DIAGNOSIS_DATE, today)
        appt = case.addAppointment(org.casebook.ffi.NewAppointment(kind = AppointmentKind.SECOND_OPINION, start = "${today}T09:30"))
        request = case.addRecordRequest("City Hospital pathology", listOf(RecordItem.PATHOLOGY_SLIDES, RecordItem.PATHOLOGY_REPORT), org.casebook.ffi.Channel.PATIENT_REQUEST)
        check(ana.count(ChangeOrigin.LOCAL) >= 3) { "local change callbacks: ${ana.changes}" }
        check(ana.changes.filter { it.second.origin == ChangeOrigin.LOCAL }.all { it.second.sections.isEmpty() }) { "LOCAL names nothing" }
        check(case.hasUnsavedChanges()) { "edits pending" }
        // No save() call: the autosave saves about a second after the last write.
        eventually("the autosave saved the case", 10_000) { !case.hasUnsavedChanges() }
    }

    test("the overview shows the seven steps and what is next") { screens ->
        val vm = CaseOverviewViewModel(ana.session, caseId, screens) { today }
        val o = vm.overview.await("the overview") { it != null }!!
        eq(o.steps.size, 7, "steps")
        eq(o.next?.number?.toInt(), 1, "next step")
        eq(o.decision.daysLeft, 28L, "days left (diagnosis today + 28)")
        check(o.decision.isDefault) { "default decision date" }
        // The agenda first: today's consultation (its time and the phone's zone), then the default decision
        // date; the request is not sent yet, so it has no due date.
        eq(o.agenda.map { it.kind }, listOf(AgendaKind.APPOINTMENT, AgendaKind.DECISION_DATE), "agenda")
        eq(o.agenda[0].id, appt, "the appointment's id")
        eq(o.agenda[0].time, "09:30", "its time")
        eq(o.agenda[1].daysLeft, 28L, "days left to the decision")
        check(o.agenda[1].isDefault && o.late == 0) { "default decision date, nothing late: ${o.agenda}" }
        eq(ana.session.case(caseId).agenda(today), o.agenda, "Case.agenda")
        eq(o.sync, null, "not signed in: no sync status")
        vm.agreeToSecondOpinion().join()
        vm.overview.await("next step after agreeing is 2") { it?.next?.number?.toInt() == 2 }
    }

    test("Ben gets the case from an exchange file and joins the care team (offline)") { _ ->
        // Export what is saved: save the pending edits first instead of waiting for the autosave.
        ana.store.flushPendingSaves()
        val file = ana.store.exportChanges(caseId)
        val report = ben.store.importChanges(file)
        check(report.newCase) { "new case" }
        eq(ben.count(ChangeOrigin.IMPORT), 1, "import callbacks")
        val case = ben.session.case(caseId)
        benId = case.addCaregiver("Ben", "son")
        ben.store.setMe(caseId, benId)
        eq(case.patient().displayName, "Mum", "patient on Ben's phone")
        check(case.preferences().agreedToSecondOpinion) { "the agreement made on the overview was in the file" }
    }

    test("both phones take notes offline in the same appointment, in UTF-16 units") { screens ->
        val anaNotes = AppointmentNotesViewModel(ana.session, caseId, appt, screens)
        val benNotes = AppointmentNotesViewModel(ben.session, caseId, appt, screens)
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
        anaNotes.save().join()
        benNotes.save().join()
        eq(anaNotes.state.value?.myNotes, fixed, "Ana's notes")
        eq(benNotes.state.value?.myNotes, BEN_NOTES, "Ben's notes")
        eq(anaNotes.state.value?.unsaved, false, "saved")
        eq(ana.session.case(caseId).textLen(SharedText.AppointmentNotes(appt, anaId)).toInt(), fixed.length, "UTF-16 length")
    }

    test("a splice that would cut an emoji in half is a typed InvalidInput") { _ ->
        val case = ana.session.case(caseId)
        val field = SharedText.AppointmentNotes(appt, anaId)
        val text = case.text(field)
        val inside = text.indexOf("😀") + 1 // between the two surrogates
        val e = throws<CasebookException.InvalidInput> { case.spliceText(field, inside.toUInt(), 0u, "x") }
        check(e.reason.isNotEmpty()) { "reason" }
        eq(case.text(field), text, "text unchanged")
        throws<CasebookException.NotFound> { case.setAttendee("no-such-appointment", "Ana", true) }
    }

    test("both update the record request offline; the tracker shows the overdue badge") { screens ->
        val anaReq = RecordRequestsViewModel(ana.session, caseId, screens) { today }
        val benReq = RecordRequestsViewModel(ben.session, caseId, screens) { today }
        anaReq.log(request, EventKind.REQUESTED_IN_WRITING, fortyDaysAgo).join()
        benReq.log(request, EventKind.FOLLOWED_UP, today, note = "called, no answer").join()
        eq(anaReq.state.value.overdueCount, 1, "overdue on Ana's phone (requested 40 days ago)")
        eq(benReq.state.value.rows.single().status, RequestStatus.NOT_REQUESTED, "Ben has not seen the written request yet")
    }

    test("questions with answers per appointment") { screens ->
        val q = QuestionsViewModel(ana.session, caseId, appt, screens)
        q.questions.await("the guide's six questions") { it.size == 6 }
        val mine = q.add("Is a PET scan needed before surgery?").await() ?: error("add failed: ${q.error.value}")
        q.answer(q.questions.value.first().question.id, "Oui — d'accord avec le diagnostic").join()
        eq(q.questions.value.first().answersHere.single().author, "Ana", "answer author")
        check(q.questions.value.any { it.question.id == mine && !it.fromGuide }) { "own question" }
    }

    test("the packet and the request letter as PDFs: pdftotext finds the patient's name") { _ ->
        val case = ana.session.case(caseId)
        val pdf = case.packetPdf(today, true)
        eq(String(pdf.copyOfRange(0, 4), Charsets.US_ASCII), "%PDF", "the packet's first bytes")
        val text = pdftotext(pdf)
        check(text.contains("Mum") && text.contains("Questions for the specialist")) { "the packet:\n$text" }
        val letter = case.requestLetterPdf(request, today, null)
        eq(String(letter.copyOfRange(0, 4), Charsets.US_ASCII), "%PDF", "the letter's first bytes")
        val letterText = pdftotext(letter).split(Regex("\\s+")).joinToString(" ")
        check(letterText.contains("City Hospital pathology") && letterText.contains("Printed name: Mum")) { "the letter:\n$letterText" }
        throws<CasebookException.NotFound> { case.requestLetterPdf("nope", today, null) }
    }

    test("offline exchange both ways converges; an open screen re-reads after the import") { screens ->
        val anaNotes = AppointmentNotesViewModel(ana.session, caseId, appt, screens)
        anaNotes.state.await("Ana's notes screen") { it != null }
        for (p in listOf(ana, ben)) p.store.flushPendingSaves()
        val toBen = ana.store.exportChanges(caseId, ben.session.case(caseId).state())
        val toAna = ben.store.exportChanges(caseId, ana.session.case(caseId).state())
        ben.store.importChanges(toBen)
        ana.store.importChanges(toAna)
        // IMPORT: the session reopened the case; the screen read it again.
        anaNotes.state.await("Ben's notes on Ana's screen after the import") { s -> s?.others?.any { it.text == BEN_NOTES } == true }
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

    test("a wrong token is a typed Kotlin exception") { _ ->
        RelayProcess(server).use { relay ->
            Relay.withToken(relay.url, "0".repeat(64)).use { wrong ->
                throws<CasebookException.Unauthorized> { wrong.me() }
                throws<CasebookException.Unauthorized> { wrong.listCases() }
            }
            // The sync client with a wrong token: its calls fail with Unauthorized. (Its observers may not hear
            // it: the refusal can come before `addObserver` runs, as the client connects from `start` on.)
            val bad = DeviceCredentials(accountId = "nobody", deviceId = "nothing", token = "f".repeat(64))
            val client = SyncClient.start(ana.store, relay.url, bad)
            throws<CasebookException.Unauthorized> {
                client.syncCase(ana.session.case(caseId))
                client.waitUntilSynced(caseId, 10_000u)
            }
            // Once refused, every call says so.
            throws<CasebookException.Unauthorized> { client.syncCase(ana.session.case(caseId)) }
            client.stop()
            throws<CasebookException.Stopped> { client.status(caseId) }
            client.close()
        }
    }

    RelayProcess(server).use { relay ->
        test("sync through the relay: edits reach the other phone's open case by themselves") { screens ->
            val statuses = ConcurrentLinkedQueue<CaseSyncStatus>()
            anaCredentials = ana.session.signUp(relay.url, "Ana", "Ana's phone")
            anaRecoveryCode = anaCredentials.recoveryCode ?: error("no recovery code at sign-up")
            screens.launch { ana.sync.statusFlow(caseId).collect { statuses += it } }
            val overview = CaseOverviewViewModel(ana.session, caseId, screens) { today }
            val code = overview.invite().await() ?: error("invite failed: ${overview.error.value}")
            // Ben already has the case (from the file): he redeems the invite and syncs the same case.
            ben.session.signUp(relay.url, "Ben")
            val join = JoinCaseViewModel(ben.session, screens)
            join.join(code, "Ben", "son").join()
            val joined = join.state.value
            check(joined is JoinState.Joined && joined.caseId == caseId) { "Ben joined: $joined" }
            // The open cases and screens of both phones, before anyone edits.
            val anaCase = ana.session.case(caseId)
            val benCase = ben.session.case(caseId)
            val anaVm = AppointmentNotesViewModel(ana.session, caseId, appt, screens)
            val benVm = AppointmentNotesViewModel(ben.session, caseId, appt, screens)
            benVm.state.await("Ben's notes screen") { it != null }
            val benRemoteBefore = ben.remote(caseId).size
            // New edits on both phones, and no save or sync call: the autosave saves and sends them, the
            // sync client merges them into the other phone's open case.
            anaVm.appendToMyNotes(" — vu le Dr Okafor")
            anaCase.setPatient(PatientField.STAGE, "IIb")
            benVm.appendToMyNotes(" 追加")
            eventually("Ben's open Case shows Ana's new notes and the stage (live merge)", 30_000) {
                benCase.patient().stage == "IIb" && benCase.notes(appt).byAuthor.any { it.author == anaId && it.text.endsWith("Okafor") }
            }
            eventually("Ana's open Case shows Ben's new notes (live merge)", 30_000) {
                anaCase.notes(appt).byAuthor.any { it.author == benId && it.text.endsWith(" 追加") }
            }
            // The REMOTE changes name what changed: the patient, and the notes of that appointment.
            eventually("a REMOTE change on Ben's phone names PATIENT") {
                ben.remote(caseId).drop(benRemoteBefore).any { CaseSection.PATIENT in it.sections }
            }
            eventually("a REMOTE change on Ben's phone names NOTES of the appointment") {
                ben.remote(caseId).drop(benRemoteBefore).any { CaseSection.NOTES in it.sections && appt in it.appointments }
            }
            // Ben's appointment screen re-read on the REMOTE change (no call by the app).
            benVm.state.await("Ana's new notes on Ben's screen") { s -> s?.others?.any { it.authorId == anaId && it.text.endsWith("Okafor") } == true }
            for (p in listOf(ana, ben)) p.sync.waitUntilSynced(caseId, 30_000u)
            eq(anaCase.notes(appt), benCase.notes(appt), "notes converge")
            eq(anaCase.recordRequests(), benCase.recordRequests(), "requests converge")
            eventually("Ana's sync status reached up to date (statusFlow)") { statuses.any { it.state == SyncState.UP_TO_DATE } }
            eq(ana.sync.status(caseId).state, SyncState.UP_TO_DATE, "status")
            anaVm.state.await("the appointment screen shows the sync status") { it?.sync?.state == SyncState.UP_TO_DATE }
            overview.overview.await("the overview shows the sync status") { it?.sync != null }
            val members = ana.sync.relay().listMembers(caseId)
            eq(members.map { it.displayName }.sorted(), listOf("Ana", "Ben"), "members")
        }

        test("a Flow delivers a REMOTE change, naming its section") { screens ->
            val anaCase = ana.session.case(caseId)
            val remote = screens.async(start = CoroutineStart.UNDISPATCHED) {
                ben.store.caseChanges(caseId).first { it.origin == ChangeOrigin.REMOTE && CaseSection.QUESTIONS in it.sections }
            }
            val benQuestions = QuestionsViewModel(ben.session, caseId, null, screens)
            benQuestions.questions.await("Ben's questions") { it.isNotEmpty() }
            // The collector's observer is in place within microseconds; the change takes a second to come.
            delay(100)
            anaCase.addQuestion("Which trials are open to her?", Category.OTHER, Priority.HIGH, anaId)
            val change = withTimeout(30_000) { remote.await() }
            eq(change.origin, ChangeOrigin.REMOTE, "origin")
            benQuestions.questions.await("the question on Ben's questions screen") { rows -> rows.any { it.question.text == "Which trials are open to her?" } }
            // statusFlow starts with the current status, without waiting for a change.
            ben.sync.waitUntilSynced(caseId, 30_000u)
            val before = ben.sync.status(caseId)
            val first = withTimeout(2_000) { ben.sync.statusFlow(caseId).first() }
            val after = ben.sync.status(caseId)
            check(first == before || first == after) { "statusFlow's first value $first, status() $before then $after" }
        }

        test("pause and resume: a paused phone gets nothing, then catches up both ways") { screens ->
            val anaCase = ana.session.case(caseId)
            val benCase = ben.session.case(caseId)
            val summary = SharedText.AppointmentSummary(appt)
            val benEvents = ConcurrentLinkedQueue<SyncEvent>()
            screens.launch { ben.sync.events().collect { benEvents += it } }
            delay(100) // the collector's observer is in place
            ben.session.pause()
            eventually("Ben's phone is disconnected") { !ben.sync.isConnected() }
            eq(ben.sync.status(caseId).state, SyncState.OFFLINE, "Ben's status while paused")
            eventually("events() told Ben's phone it is offline") {
                benEvents.any { it is SyncEvent.StatusChanged && it.caseId == caseId && it.status.state == SyncState.OFFLINE }
            }
            // Ben writes while paused (saved on the phone, sent later); Ana writes and the relay has it.
            benCase.appendText(SharedText.AppointmentNotes(appt, benId), " (écrit hors ligne)")
            anaCase.appendText(summary, " + avis du Dr Okafor")
            ana.sync.syncAndWait(anaCase, 30_000u)
            delay(1_500)
            check(!benCase.text(summary).endsWith("Dr Okafor")) { "a paused phone received a change" }
            check(!ben.sync.isConnected()) { "Ben's phone reconnected by itself while paused" }
            ben.session.resume()
            eventually("Ben's open case has Ana's summary after resume", 30_000) { benCase.text(summary).endsWith("Dr Okafor") }
            eventually("Ana's open case has what Ben wrote while paused", 30_000) {
                anaCase.notes(appt).byAuthor.any { it.author == benId && it.text.endsWith("(écrit hors ligne)") }
            }
            check(ben.sync.isConnected()) { "Ben reconnected" }
            ben.sync.waitUntilSynced(caseId, 30_000u)
            eventually("events() told Ben's phone it is up to date again") {
                benEvents.toList().dropWhile { !(it is SyncEvent.StatusChanged && it.status.state == SyncState.OFFLINE) }
                    .any { it is SyncEvent.StatusChanged && it.caseId == caseId && it.status.state == SyncState.UP_TO_DATE }
            }
        }

        test("a third phone joins with an invite code and sees everything") { screens ->
            val code = ana.sync.relay().createInvite(caseId, Role.VIEWER).code
            cyCredentials = cy.session.signUp(relay.url, "Cy")
            val join = JoinCaseViewModel(cy.session, screens)
            join.join(code, "Cy", "grandson").join()
            val s = join.state.value
            check(s is JoinState.Joined && s.patientName == "Mum") { "Cy joined: $s" }
            val c = cy.session.case(caseId)
            val anaText = ana.session.case(caseId).notes(appt).byAuthor.first { it.author == anaId }.text
            // joinCase waits for the case's first download; an appointment's notes may come a moment later.
            eventually("Ana's notes in Cy's open case", 30_000) { c.notes(appt).byAuthor.firstOrNull { it.author == anaId }?.text == anaText }
            CasesListViewModel(cy.session, screens).cases.await("Cy's cases list") { rows -> rows.map { it.title } == listOf("Mum") }
        }

        test("a member removed by the owner hears onNotMember when its sync client starts") { screens ->
            val cyAccount = cy.sync.accountId()
            val overview = CaseOverviewViewModel(cy.session, caseId, screens) { today }
            overview.overview.await("Cy's overview") { it != null }
            ana.sync.relay().removeMember(caseId, cyAccount)
            eq(ana.sync.relay().listMembers(caseId).map { it.displayName }.sorted(), listOf("Ana", "Ben"), "members")
            // The client checks membership once per case when it starts syncing it: the next start (the app
            // launched again, or signed in again) finds out.
            cy.session.signIn(relay.url, cyCredentials)
            cy.session.notMember.await("Cy's session hears that Cy is no longer a member", 30_000) { caseId in it }
            overview.overview.await("Cy's overview says so") { it?.removedFromRelay == true }
            throws<CasebookException.NotFound> { cy.sync.waitUntilSynced(caseId, 10_000u) }
        }

        test("attachments: Ana attaches and uploads a file (progress to the end); Ben sees it and downloads the same bytes") { _ ->
            val anaCase = ana.session.case(caseId)
            val benCase = ben.session.case(caseId)
            val target = AttachTarget(TargetKind.APPOINTMENT, appt)
            // This part moves the bytes with the explicit calls (counted); the background passes, which the
            // apps leave on, come at the end.
            ana.sync.setMoveAttachments(false)
            ben.sync.setMoveAttachments(false)
            // A scan: a few hundred KB of random bytes, from a file (storeBlob reads it off the case's lock).
            val bytes = Random(20261206).nextBytes(300 * 1024 + 17)
            val file = File.createTempFile("casebook-scan", ".pdf")
            file.writeBytes(bytes)
            val blob = ana.store.storeBlob(file.path, false)
            file.delete()
            eq(blob.size, bytes.size.toULong(), "stored size")
            eq(blob.sha256, sha256(bytes), "stored SHA-256")
            val scan = anaCase.attachStored(target, blob, "biopsy-report.pdf", "application/pdf", anaId)
            check(scan.onDevice && scan.target == target && scan.author == anaId) { "Ana's attachment: $scan" }
            check(anaCase.readAttachment(scan.id).contentEquals(bytes)) { "Ana reads her bytes back" }
            // A photo: its Exif segment (where a phone writes the location) is dropped.
            val exif = byteArrayOf(0xFF.toByte(), 0xE1.toByte(), 0, 10) + "Exif\u0000\u0000GP".toByteArray()
            val scanData = byteArrayOf(0xFF.toByte(), 0xDA.toByte(), 0, 2, 1, 2, 3, 0xFF.toByte(), 0xD9.toByte())
            val soi = byteArrayOf(0xFF.toByte(), 0xD8.toByte())
            val jpegFile = File.createTempFile("casebook-photo", ".jpg")
            jpegFile.writeBytes(soi + exif + scanData)
            val photo = anaCase.attachStored(target, ana.store.storeBlob(jpegFile.path, false), "letter.jpg", "image/jpeg", anaId)
            jpegFile.delete()
            check(anaCase.readAttachment(photo.id).contentEquals(soi + scanData)) { "the photo without its Exif segment" }
            eq(anaCase.attachments(target).map { it.id }.toSet(), setOf(scan.id, photo.id), "Ana's attachments of the appointment")

            // Ben's open case gets the references by itself; the bytes are neither on his phone nor on the relay.
            eventually("the attachments in Ben's open case", 30_000) { benCase.attachments(target).size == 2 }
            val seen = benCase.attachment(scan.id)
            check(!seen.onDevice && seen.sha256 == scan.sha256 && seen.size == scan.size && seen.fileName == "biopsy-report.pdf") {
                "Ben's view of the scan: $seen"
            }
            throws<CasebookException.InvalidInput> { benCase.readAttachment(scan.id) }
            throws<CasebookException.NotFound> { ben.sync.downloadAttachment(caseId, scan.id) }

            val progress = ConcurrentLinkedQueue<Triple<String, ULong, ULong>>()
            val recorder = object : TransferProgress {
                override fun onProgress(attachmentId: String, done: ULong, total: ULong) {
                    progress += Triple(attachmentId, done, total)
                }
            }
            eq(ana.sync.uploadAttachments(caseId, recorder), 2u, "uploaded")
            val upScan = progress.filter { it.first == scan.id }
            check(upScan.isNotEmpty() && upScan.all { it.third == scan.size && it.second <= it.third }) { "upload progress: $progress" }
            eq(upScan.last().second, scan.size, "upload progress reached the total")
            check(upScan.zipWithNext().all { (a, b) -> a.second <= b.second }) { "upload progress only goes forward: $upScan" }
            eq(ana.sync.uploadAttachments(caseId), 0u, "nothing left to upload")

            progress.clear()
            ben.sync.downloadAttachment(caseId, scan.id, recorder)
            eq(progress.last(), Triple(scan.id, scan.size, scan.size), "download progress reached the total")
            check(benCase.attachment(scan.id).onDevice) { "the scan is on Ben's phone" }
            val got = benCase.readAttachment(scan.id)
            eq(sha256(got), sha256(bytes), "SHA-256 of Ben's copy")
            check(got.contentEquals(bytes)) { "Ben has the same bytes" }
            val out = File(ben.dir, "exported.pdf")
            ben.store.exportAttachment(caseId, scan.id, out.path)
            check(out.readBytes().contentEquals(bytes)) { "the exported file" }

            // Keep offline: the pinned photo comes with downloadPinned.
            ben.store.keepOffline(caseId, photo.id, true)
            eq(ben.store.pinnedAttachments(caseId), listOf(photo.id), "pinned")
            eq(ben.sync.downloadPinned(caseId), 1u, "pinned photo downloaded")
            check(benCase.readAttachment(photo.id).contentEquals(soi + scanData)) { "Ben's photo" }
            eq(ben.sync.downloadPinned(caseId), 0u, "nothing left to download")

            // Retracted on Ana's phone: gone from Ben's list too.
            anaCase.retractAttachment(photo.id, "wrong photo", anaId, today)
            eventually("the retraction on Ben's phone", 30_000) { benCase.attachments(target).map { it.id } == listOf(scan.id) }

            // In the background, as the apps run: a new letter goes up by itself, and Ben, who keeps it
            // offline, gets its bytes without any call.
            ana.sync.setMoveAttachments(true)
            ben.sync.setMoveAttachments(true)
            val letterBytes = Random(7).nextBytes(20 * 1024)
            val letterFile = File.createTempFile("casebook-letter", ".pdf")
            letterFile.writeBytes(letterBytes)
            val letter = anaCase.attachStored(target, ana.store.storeBlob(letterFile.path, false), "letter.pdf", "application/pdf", anaId)
            letterFile.delete()
            eventually("the letter in Ben's open case", 30_000) { benCase.attachments(target).any { it.id == letter.id } }
            ben.store.keepOffline(caseId, letter.id, true)
            eventually("the letter's bytes on Ben's phone, moved in the background", 60_000) { benCase.attachment(letter.id).onDevice }
            check(benCase.readAttachment(letter.id).contentEquals(letterBytes)) { "Ben's letter" }
        }

        test("co-owners: Ana makes Ben an owner; Ben invites; the last owner cannot leave") { _ ->
            val anaAccount = ana.sync.accountId()
            val benAccount = ben.sync.accountId()
            eq(ana.sync.relay().changeRole(caseId, benAccount, Role.OWNER).role, Role.OWNER, "Ben's new role")
            // An owner's operation works for every owner.
            val code = ben.sync.relay().createInvite(caseId, Role.VIEWER).code
            check(code.isNotBlank()) { "Ben's invite" }
            // The invite as a link and back (what the QR code carries and the app opens).
            val link = ben.sync.relay().inviteLink(code)
            check(link.startsWith("casebook://invite/")) { "link: $link" }
            eq(parseInviteLink(link), InviteLink(relay.url.trimEnd('/'), code), "parsed link")
            throws<CasebookException.InvalidInput> { parseInviteLink("https://example.org/not-an-invite") }
            // Ben steps down: Ana is the last owner again and cannot leave.
            eq(ben.sync.relay().changeRole(caseId, benAccount, Role.EDITOR).role, Role.EDITOR, "Ben stepped down")
            throws<CasebookException.Conflict> { ana.sync.relay().leaveCase(caseId) }
            eq(ana.sync.relay().listMembers(caseId).first { it.accountId == anaAccount }.role, Role.OWNER, "Ana still owns it")
        }

        test("last seen: Ana sees when Ben's phone synced the case") { _ ->
            ben.sync.syncAndWait(ben.session.case(caseId), 30_000u)
            val seen = ana.sync.relay().lastSeen(caseId)
            val bens = seen.filter { it.displayName == "Ben" }
            check(bens.isNotEmpty()) { "Ben's device in last seen: $seen" }
            val now = System.currentTimeMillis() / 1000
            check(bens.all { now - it.syncedAt.toLong() in -5L..120L }) { "Ben synced just now: $bens" }
            // A non-member learns nothing.
            Relay(relay.url).use { r ->
                val stranger = r.createAccount("Stranger")
                Relay.withToken(relay.url, stranger.token).use { s -> throws<CasebookException.NotFound> { s.lastSeen(caseId) } }
            }
        }

        test("Ana loses her phone: the recovery code brings the account and the case back; the lost phone is signed out") { _ ->
            val newPhone = Phone("ana-new")
            try {
                val lostDevice = anaCredentials.deviceId
                val (creds, restored) = newPhone.session.recover(relay.url, anaRecoveryCode, "Ana's new phone")
                eq(restored, listOf(caseId), "cases restored")
                eq(creds.accountId, ana.sync.accountId(), "the same account")
                check(creds.recoveryCode != null && creds.recoveryCode != anaRecoveryCode) { "a new recovery code" }
                eq(newPhone.session.me(caseId), anaId, "the new phone writes as Ana (the caregiver bound to her account)")
                val c = newPhone.session.case(caseId)
                eventually("Ana's notes on the new phone", 30_000) { c.notes(appt).byAuthor.any { it.author == anaId } }
                // The lost phone: its token is refused.
                Relay.withToken(relay.url, anaCredentials.token).use { old -> throws<CasebookException.Unauthorized> { old.me() } }
                eq(newPhone.sync.relay().listDevices().map { it.deviceId }.contains(lostDevice), false, "the lost device is gone")
                // The typed code is used up.
                Relay(relay.url).use { r -> throws<CasebookException.NotFound> { r.recoverAccount(anaRecoveryCode) } }
            } finally {
                newPhone.close()
            }
        }

        runBlocking { for (p in listOf(ana, ben, cy)) p.session.stopSync() }
    }

    test("text diff never cuts a surrogate pair") { _ ->
        eq(TextDiff.between("a😀b", "a😁b")?.index, 1, "index before the pair")
        eq(TextDiff.between("abc", "abc"), null, "no edit")
        eq(TextDiff.between("", "é"), org.casebook.viewmodel.TextEdit(0, 0, "é"), "insert")
    }

    runBlocking { for (p in listOf(ana, ben, cy)) p.close() }
    println("kotlin: $passed passed, $failed failed")
    System.exit(if (failed == 0) 0 else 1)
}
