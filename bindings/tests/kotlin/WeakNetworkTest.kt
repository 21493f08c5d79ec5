// The weak-network suite through the Kotlin bindings on the JVM (coroutines): typing never waits on the
// network, whatever the network does, and when it heals the siblings converge by themselves.
//
// A real relay (the casebook-server binary) and, between both phones and the relay (WebSocket and HTTP API
// alike), our own TCP proxy (tests/src/bin/tcp_proxy.rs) switched to one condition at a time: a blackhole
// (accepts, never answers), a stall in the middle of a message (7 bytes per direction, then nothing),
// connections cut every 2 s, 200 ms of latency per chunk. Ana and Ben are two stores in temp dirs with
// their own sync clients; Ana shared the case, Ben joined it with an invite code. Under each condition:
//
//  - Ana's sync worker (a coroutine on Dispatchers.IO) loops `syncCase` + `waitUntilSynced(100 ms)`,
//    ignoring the timeouts and network errors a weak network produces, as an app would;
//  - the UI thread (the main thread: runBlocking's event loop stands for Android's main looper) types 300
//    characters into Ana's notes, one `appendText` every 5 ms, and every 10 keystrokes launches
//    `case.save()` on Dispatchers.IO (as an app would: a save flushes to disk). Each keystroke is the
//    `appendText` call alone, timed with System.nanoTime(): every one must fit in a 60 Hz frame (16 ms)
//    and 99% of them in 2 ms;
//  - then the network heals (`pass`) and neither app does anything more: within 3 s, Ben's open Case, which
//    nobody touches, must show Ana's whole text (live merge), and both open cases the same state. (The
//    keystrokes after the worker's last push reach Ana's sync engine by the autosave, about a second after
//    the typing stops: `Case.save` writes to disk and leaves pushing to the sync client.)
//
// Each condition types into its own appointment's notes, empty at the start (like the Rust suite's fresh
// case per condition), so that its figures do not depend on how much the others typed. Before the
// conditions, 3,000 unpaced keystrokes into a scratch in-memory case compile the keystroke's path (JIT),
// then 200 through the whole scenario on a good network; neither is measured. The same scenario on a good
// network is the reference. Prints p50/p99/max per condition, and where the keystrokes' time went (on a
// CPU, waiting for one, blocked on the case's lock), from the scheduler's counters where Linux has them.
//
// The relay and the proxy run at a lower CPU priority (`nice -n 10`, where the machine has `nice`): they
// stand for a data centre and the network, which do not share a phone's CPU; on 2 shared cores they would
// otherwise take the UI thread's turn.
//
// Run by bindings/tests/run.sh after BindingsTest, with a concurrent collector (see there). Environment:
// CASEBOOK_SERVER = the casebook-server binary, CASEBOOK_PROXY = the tcp_proxy binary.

package weaknetwork

import java.io.BufferedReader
import java.io.File
import java.io.Writer
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.casebook.ffi.AppointmentKind
import org.casebook.ffi.Case
import org.casebook.ffi.CasebookException
import org.casebook.ffi.DeviceCredentials
import org.casebook.ffi.NewAppointment
import org.casebook.ffi.Relay
import org.casebook.ffi.Role
import org.casebook.ffi.SharedText
import org.casebook.ffi.Store
import org.casebook.ffi.SyncClient
import org.casebook.ffi.SyncState

/** Setup steps (accounts, share, join) while the network is good. */
const val WAIT_MS = 30_000u
/** Characters typed under each condition. */
const val KEYSTROKES = 300
/** Keystrokes into a scratch in-memory case first, unpaced, to compile the keystroke's path (JIT). */
const val JIT_WARM_UP_KEYSTROKES = 3_000
/** Then characters typed through the whole scenario on a good network, not measured either. */
const val WARM_UP_KEYSTROKES = 200
/** Pause between keystrokes. */
const val TYPING_PACE_MS = 5L
/** A save every this many keystrokes. */
const val SAVE_EVERY = 10
/** One frame at 60 Hz: no keystroke may take longer. */
const val FRAME_NS = 16_000_000L
/** The 99th percentile of keystrokes. */
const val P99_LIMIT_NS = 2_000_000L
/** How long after the network heals the siblings must have converged. */
const val CONVERGE_WITHIN_MS = 3_000L
/** Time the condition has been in force before typing starts (so that a cut every 2 s falls mid-typing). */
const val PRE_ROLL_MS = 1_000L
/** Timeout of the sync worker's waits. */
const val SYNC_WAIT_MS = 100u

fun check(cond: Boolean, msg: () -> String) {
    if (!cond) throw AssertionError(msg())
}

fun ms(ns: Long) = "%.3f ms".format(ns / 1e6)

/** p-th percentile (0..=100) of sorted durations (nearest rank). */
fun percentile(sorted: LongArray, p: Int): Long = sorted[maxOf((sorted.size * p + 99) / 100, 1) - 1]

// --- the relay and the proxy, as real processes ---

class RelayProcess(binary: String) : AutoCloseable {
    private val dir = Files.createTempDirectory("casebook-relay").toFile()
    private val process: Process
    /** host:port. */
    val addr: String

    init {
        process = ProcessBuilder(
            niced(binary) + listOf(
                "--listen", "127.0.0.1:0", "--data-dir", File(dir, "data").path,
                "--accounts-per-hour", "10000", "--auth-failures-per-minute", "10000",
                "--redeem-attempts-per-minute", "10000", "--shutdown-grace-secs", "0",
            ),
        ).redirectErrorStream(true).also { it.environment()["NO_COLOR"] = "1" }.start()
        val lines = process.inputStream.bufferedReader()
        var found: String? = null
        val deadline = System.currentTimeMillis() + 30_000
        // The relay logs `relay listening addr=127.0.0.1:PORT` once bound (port 0: a free port).
        while (found == null && System.currentTimeMillis() < deadline) {
            val line = lines.readLine() ?: break
            val plain = line.replace(Regex("\u001B\\[[0-9;]*m"), "")
            found = Regex("relay listening.*addr=(\\S+)").find(plain)?.groupValues?.get(1)
        }
        check(found != null) { "the relay did not print its address" }
        addr = found!!
        Thread { runCatching { lines.forEachLine { } } }.apply { isDaemon = true }.start()
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
        dir.deleteRecursively()
    }
}

/** [binary] run at a lower CPU priority where the machine has `nice` (see the header). */
fun niced(binary: String): List<String> =
    if (File("/usr/bin/nice").canExecute()) listOf("/usr/bin/nice", "-n", "10", binary) else listOf(binary)

/** The tcp_proxy binary in front of [target] (host:port), driven by commands on its stdin. */
class ProxyProcess(binary: String, target: String) : AutoCloseable {
    private val process = ProcessBuilder(niced(binary) + target).redirectError(ProcessBuilder.Redirect.INHERIT).start()
    private val commands: Writer = process.outputStream.bufferedWriter()
    private val answers: BufferedReader = process.inputStream.bufferedReader()
    /** What the phones dial instead of the relay. */
    val url: String

    init {
        val first = answers.readLine() ?: error("the proxy exited before listening")
        check(first.startsWith("listening ")) { "the proxy said: $first" }
        url = first.removePrefix("listening ").trim()
    }

    /** Send one command (`pass`, `blackhole`, `stall 7`, `cut 2000`, `latency 200`, `cut-all`). */
    fun send(command: String) {
        commands.write(command + "\n")
        commands.flush()
        val answer = answers.readLine()
        check(answer == "ok") { "proxy `$command`: $answer" }
    }

    override fun close() {
        runCatching { commands.close() } // the proxy exits when its stdin closes
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}

// --- phones ---

class Phone(val name: String, url: String) {
    val dir: File = Files.createTempDirectory("casebook-weak-$name").toFile()
    val store: Store = Store.open(dir.path)
    val credentials: DeviceCredentials = runBlocking { Relay(url).use { it.createAccount(name) } }
    lateinit var sync: SyncClient

    fun online(url: String) {
        sync = SyncClient.start(store, url, credentials)
    }

    suspend fun close() {
        sync.stop()
        sync.close()
        store.close()
        dir.deleteRecursively()
    }
}

/** What one condition measured. */
class Figures(val name: String, keystrokeNs: LongArray, saveNs: LongArray) {
    val keystrokes = keystrokeNs.sortedArray()
    val saves = saveNs.sortedArray()
    val p50 = percentile(keystrokes, 50)
    val p99 = percentile(keystrokes, 99)
    val max = keystrokes.last()
    var syncRounds = 0
    var syncErrors = mapOf<String, Int>()
    var stateBeforeHealing: SyncState? = null
    var convergedMs: Long? = null
    var gcMs = 0L
    var gcCount = 0L
    /** Per keystroke (sorted): on a CPU, waiting for a CPU, neither (blocked: on the case's lock above all). */
    var onCpu: LongArray? = null
    var runQueue: LongArray? = null
    var blocked: LongArray? = null
    /** The slowest keystroke: which, and its split. */
    var slowest = ""

    private fun split(): String {
        val (c, q, b) = Triple(onCpu ?: return "", runQueue ?: return "", blocked ?: return "")
        return "(on CPU p50 ${ms(percentile(c, 50))} p99 ${ms(percentile(c, 99))}; waiting for a CPU p99 " +
            "${ms(percentile(q, 99))} max ${ms(q.last())}; blocked p99 ${ms(percentile(b, 99))} " +
            "max ${ms(b.last())}; $slowest) "
    }

    override fun toString() =
        "[$name] keystrokes (${keystrokes.size}): p50 ${ms(p50)} p99 ${ms(p99)} max ${ms(max)} ${split()}| " +
            "saves (${saves.size}, background): p50 ${ms(percentile(saves, 50))} max ${ms(saves.last())} | " +
            "sync worker rounds $syncRounds, errors $syncErrors, state before healing $stateBeforeHealing | " +
            "GC while typing: $gcCount, $gcMs ms | converged after healing: " +
            (convergedMs?.let { "$it ms" } ?: "NOT within $CONVERGE_WITHIN_MS ms")
}

/**
 * The scheduler's counters of the thread that creates it (Linux: /proc/thread-self/schedstat, kept open):
 * nanoseconds waiting for a CPU while runnable (updated each time the thread gets a CPU, so current when it
 * reads them; the first field, time on a CPU, is not, hence the thread CPU clock for that). [read] is cheap
 * (one pread, no allocation); false where not available.
 */
class SchedStat : AutoCloseable {
    private val file = runCatching { java.io.RandomAccessFile("/proc/thread-self/schedstat", "r") }.getOrNull()
    private val buf = ByteArray(128)
    var waiting = 0L

    fun read(): Boolean {
        val f = file ?: return false
        return try {
            f.seek(0)
            val n = f.read(buf)
            var i = 0
            fun number(): Long {
                var v = 0L
                while (i < n && buf[i] >= '0'.code.toByte() && buf[i] <= '9'.code.toByte()) {
                    v = v * 10 + (buf[i++] - '0'.code.toByte())
                }
                i++ // the space
                return v
            }
            number() // on a CPU
            waiting = number()
            n > 0
        } catch (e: java.io.IOException) {
            false
        }
    }

    override fun close() {
        file?.close()
    }
}

fun gcTotals(): Pair<Long, Long> {
    val beans = java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    return beans.sumOf { maxOf(it.collectionCount, 0) } to beans.sumOf { maxOf(it.collectionTime, 0) }
}

/** Ana's and Ben's open cases (the same case) and the proxy between them and the relay. */
class Scenario(val proxy: ProxyProcess, val ana: Phone, val ben: Phone, val anaCase: Case, val benCase: Case) {
    val caseId = anaCase.id()

    /**
     * Switch the proxy to [condition], type [count] characters into [field] (empty so far) while Ana's sync
     * worker runs, heal the network and wait for the convergence. Runs on the caller's thread (the UI
     * thread).
     */
    fun typeUnder(name: String, condition: String, count: Int, field: SharedText): Figures = runBlocking {
        val typed = StringBuilder()
        val keystrokes = LongArray(count)
        // Where each keystroke's time went, read just outside the timed window: on a CPU (the thread's CPU
        // clock), waiting for one (the scheduler's run delay: on 2 cores the sync engines, the relay and the
        // proxy compete with the UI thread), neither (blocked).
        val onCpu = LongArray(count)
        val runQueue = LongArray(count)
        val sched = SchedStat()
        val threadCpu = java.lang.management.ManagementFactory.getThreadMXBean()
        var schedOk = true
        val saveTimes = java.util.concurrent.ConcurrentLinkedQueue<Long>()
        val saves = mutableListOf<Job>()
        val typing = AtomicBoolean(true)
        val rounds = AtomicInteger()
        val errors = java.util.concurrent.ConcurrentHashMap<String, Int>()
        // Ana's sync worker: push, wait a little, again; what a weak network throws is ignored.
        val worker = launch(Dispatchers.IO) {
            while (typing.get()) {
                try {
                    ana.sync.syncCase(anaCase)
                    ana.sync.waitUntilSynced(caseId, SYNC_WAIT_MS)
                } catch (e: CasebookException) {
                    errors.merge(e::class.simpleName ?: "?", 1, Int::plus)
                }
                rounds.incrementAndGet()
                delay(10)
            }
        }
        proxy.send(condition)
        delay(PRE_ROLL_MS)
        val (gcCountBefore, gcMsBefore) = gcTotals()
        for (i in 0 until count) {
            val ch = ('a' + i % 26).toString()
            schedOk = sched.read() && schedOk
            val waitingBefore = sched.waiting
            val cpuBefore = threadCpu.currentThreadCpuTime
            val started = System.nanoTime()
            anaCase.appendText(field, ch)
            keystrokes[i] = System.nanoTime() - started
            onCpu[i] = threadCpu.currentThreadCpuTime - cpuBefore
            schedOk = sched.read() && schedOk
            runQueue[i] = sched.waiting - waitingBefore
            typed.append(ch)
            if ((i + 1) % SAVE_EVERY == 0) {
                saves += launch(Dispatchers.IO) {
                    val t = System.nanoTime()
                    anaCase.save()
                    saveTimes += System.nanoTime() - t
                }
            }
            delay(TYPING_PACE_MS)
        }
        val (gcCountAfter, gcMsAfter) = gcTotals()
        sched.close()
        saves.joinAll()
        typing.set(false)
        worker.join()
        val figures = Figures(name, keystrokes, saveTimes.toLongArray())
        if (schedOk) {
            figures.onCpu = onCpu.sortedArray()
            figures.runQueue = runQueue.sortedArray()
            figures.blocked = LongArray(count) { maxOf(keystrokes[it] - onCpu[it] - runQueue[it], 0) }.apply { sort() }
            val i = keystrokes.indices.maxByOrNull { keystrokes[it] }!!
            figures.slowest = "slowest #$i: on CPU ${ms(onCpu[i])}, waiting for a CPU ${ms(runQueue[i])}"
        }
        figures.syncRounds = rounds.get()
        figures.syncErrors = errors.toMap()
        figures.gcCount = gcCountAfter - gcCountBefore
        figures.gcMs = gcMsAfter - gcMsBefore
        figures.stateBeforeHealing = ana.sync.status(caseId).state

        // The network heals. Neither app does anything more: the engines alone must bring Ana's text to
        // Ben's open case (what she typed after the worker's last push reaches her engine by the autosave).
        proxy.send("pass")
        val healed = System.nanoTime()
        val expected = typed.toString()
        while (true) {
            val elapsedMs = (System.nanoTime() - healed) / 1_000_000
            if (benCase.text(field) == expected && anaCase.state() == benCase.state()) {
                figures.convergedMs = elapsedMs
                break
            }
            if (elapsedMs > CONVERGE_WITHIN_MS) break
            delay(10)
        }
        figures
    }
}

/** The conditions: name, proxy command. The good network first, as the reference. */
val CONDITIONS = listOf(
    "good network" to "pass",
    "blackhole" to "blackhole",
    "stall mid-message" to "stall 7",
    "cut every 2 s" to "cut 2000",
    "latency 200 ms" to "latency 200",
)

fun main() {
    val server = System.getenv("CASEBOOK_SERVER") ?: error("set CASEBOOK_SERVER to the casebook-server binary")
    val proxyBin = System.getenv("CASEBOOK_PROXY") ?: error("set CASEBOOK_PROXY to the tcp_proxy binary")
    var failures = 0
    try {
        RelayProcess(server).use { relay ->
            ProxyProcess(proxyBin, relay.addr).use { proxy ->
                failures = run(proxy)
            }
        }
    } catch (t: Throwable) {
        failures++
        println("FAIL weak network: $t")
        t.printStackTrace(System.out)
    }
    println("kotlin weak network: ${CONDITIONS.size - failures} passed, $failures failed")
    System.exit(if (failures == 0) 0 else 1)
}

/**
 * Compile the keystroke's path (Kotlin, JNA, uniffi's lowering and lifting) before anything is measured:
 * [count] appends, unpaced, with a save every [SAVE_EVERY], into a scratch case of an in-memory store.
 */
fun warmUpJit(count: Int) {
    Store.inMemory().use { store ->
        val created = store.createCase("Scratch", "Ana")
        created.case.use { case ->
            lateinit var field: SharedText
            for (i in 0 until count) {
                if (i % KEYSTROKES == 0) {
                    val appt = case.addAppointment(NewAppointment(kind = AppointmentKind.SECOND_OPINION))
                    field = SharedText.AppointmentNotes(appt, created.me)
                }
                case.appendText(field, "x")
                if ((i + 1) % SAVE_EVERY == 0) case.save()
            }
        }
    }
}

/** The suite; returns the number of conditions that failed. */
fun run(proxy: ProxyProcess): Int {
    val url = proxy.url
    val jitStarted = System.nanoTime()
    warmUpJit(JIT_WARM_UP_KEYSTROKES)
    val jitMs = (System.nanoTime() - jitStarted) / 1_000_000
    println("weak network: JIT warm-up, $JIT_WARM_UP_KEYSTROKES keystrokes offline: $jitMs ms")
    // Ana and Ben set up and synced while the network is good. Each condition (and the warm-up) types
    // into the notes of its own appointment, each empty at the start, like the Rust suite's fresh case per
    // condition: the figures of one condition do not depend on how much the others typed.
    val ana = Phone("Ana", url)
    val ben = Phone("Ben", url)
    val created = ana.store.createCase("Mum", "Ana")
    val anaCase = created.case
    val fields = (0..CONDITIONS.size).map {
        val appt = anaCase.addAppointment(NewAppointment(kind = AppointmentKind.SECOND_OPINION))
        SharedText.AppointmentNotes(appt, created.me)
    }
    anaCase.save()
    val caseId = anaCase.id()
    val benCase = runBlocking {
        withTimeout(120_000) {
            ana.online(url)
            ana.sync.shareCase(anaCase)
            ana.sync.syncAndWait(anaCase, WAIT_MS)
            val code = ana.sync.relay().createInvite(caseId, Role.EDITOR).code
            Relay.withToken(url, ben.credentials.token).use { it.redeemInvite(code) }
            ben.online(url)
            val b = ben.sync.joinCase(caseId, WAIT_MS)
            ben.sync.waitUntilSynced(caseId, WAIT_MS)
            ana.sync.syncAndWait(anaCase, WAIT_MS)
            b
        }
    }
    val scenario = Scenario(proxy, ana, ben, anaCase, benCase)

    val warmUp = scenario.typeUnder("warm-up", "pass", WARM_UP_KEYSTROKES, fields.last())
    println("weak network: $warmUp (JIT warm-up, not asserted)")
    var failures = 0
    for ((i, condition) in CONDITIONS.withIndex()) {
        val (name, command) = condition
        val f = scenario.typeUnder(name, command, KEYSTROKES, fields[i])
        println("weak network: $f")
        val problems = mutableListOf<String>()
        if (command == "blackhole" || command.startsWith("stall")) {
            // Nothing can have got through: the condition was in force while Ana typed.
            if (f.stateBeforeHealing == SyncState.UP_TO_DATE) problems += "the proxy let the edits through"
        }
        if (f.max >= FRAME_NS) problems += "a keystroke took ${ms(f.max)} (limit ${ms(FRAME_NS)})"
        if (f.p99 >= P99_LIMIT_NS) problems += "keystroke p99 ${ms(f.p99)} (limit ${ms(P99_LIMIT_NS)})"
        if (f.convergedMs == null) problems += "Ben's open case did not show Ana's text within $CONVERGE_WITHIN_MS ms"
        if (problems.isEmpty()) {
            println("ok   typing stays instant and the siblings converge: $name")
        } else {
            failures++
            println("FAIL typing stays instant and the siblings converge: $name: ${problems.joinToString("; ")}")
        }
    }
    runBlocking {
        anaCase.close()
        benCase.close()
        ana.close()
        ben.close()
    }
    return failures
}
