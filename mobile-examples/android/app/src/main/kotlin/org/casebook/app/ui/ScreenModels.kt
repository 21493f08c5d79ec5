package org.casebook.app.ui

import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.ViewModel
import androidx.lifecycle.compose.LifecycleEventEffect
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import kotlinx.coroutines.CoroutineScope

/**
 * An androidx [ViewModel] holding one of the shared view-models (plain Kotlin, `:shared-viewmodel`): it
 * survives configuration changes, lives as long as its navigation entry, and runs in [viewModelScope],
 * which is cancelled when the entry is popped (every observation of Casebook ends with it).
 */
class ScreenModel<T : Any>(create: (CoroutineScope) -> T) : ViewModel() {
    val model: T = create(viewModelScope)
}

/** This screen's shared view-model (one per navigation entry and [key]), created with its viewModelScope. */
@Composable
inline fun <reified T : Any> rememberScreenModel(key: String = "", noinline create: (CoroutineScope) -> T): T {
    val holder: ScreenModel<T> = viewModel(
        key = "${T::class.java.name}:$key",
        factory = viewModelFactory { initializer { ScreenModel(create) } },
    )
    return holder.model
}

/**
 * Read the screen's case again when the screen is shown again: a screen re-reads by itself only for
 * changes from other devices and imports, not for writes made by the app's other screens meanwhile.
 */
@Composable
fun RefreshWhenShownAgain(refresh: () -> Unit) {
    var shown by remember { mutableStateOf(false) }
    LifecycleEventEffect(Lifecycle.Event.ON_RESUME) {
        if (shown) refresh() else shown = true
    }
}
