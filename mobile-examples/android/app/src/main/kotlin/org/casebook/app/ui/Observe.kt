package org.casebook.app.ui

import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.State
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import org.casebook.viewmodel.Observable

/** A view-model's [Observable] as Compose state (the shared view-models need no coroutines). */
@Composable
fun <T> Observable<T>.asState(): State<T> {
    val state = remember(this) { mutableStateOf(value) }
    DisposableEffect(this) {
        val unsubscribe = subscribe { state.value = it }
        onDispose { unsubscribe() }
    }
    return state
}

/** A view-model that lives as long as the composable that created it. */
@Composable
fun <T : AutoCloseable> rememberClosing(vararg keys: Any?, create: () -> T): T {
    val vm = remember(*keys) { create() }
    DisposableEffect(vm) { onDispose { vm.close() } }
    return vm
}
