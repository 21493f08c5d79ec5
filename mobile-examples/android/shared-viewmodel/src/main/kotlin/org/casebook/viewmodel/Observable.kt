package org.casebook.viewmodel

import java.util.concurrent.CopyOnWriteArrayList

/**
 * Runs UI-state updates on the UI thread. Android: `Handler(Looper.getMainLooper())::post`; tests and the
 * console example: [Immediate]. Casebook's callbacks arrive on background threads; view-models hand every
 * state change to this.
 */
fun interface UiDispatcher {
    fun post(block: () -> Unit)
}

/** Runs the block on the calling thread. */
object Immediate : UiDispatcher {
    override fun post(block: () -> Unit) = block()
}

/**
 * A value the UI observes: a small stand-in for `StateFlow`, so this layer needs no kotlinx-coroutines
 * (the Compose app adapts it with `mutableStateOf`; see the app's `Observe.kt`).
 */
class Observable<T>(initial: T) {
    @Volatile
    var value: T = initial
        private set
    private val listeners = CopyOnWriteArrayList<(T) -> Unit>()

    /** Calls [listener] now and on every change; returns the function that unsubscribes. */
    fun subscribe(listener: (T) -> Unit): () -> Unit {
        listeners += listener
        listener(value)
        return { listeners -= listener }
    }

    internal fun set(v: T) {
        value = v
        listeners.forEach { it(v) }
    }
}

/** What a screen shows when a call failed: the message of a [org.casebook.ffi.CasebookException]. */
data class UiError(val message: String, val signInAgain: Boolean = false)
