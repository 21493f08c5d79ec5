// The app's view-models: plain Kotlin and kotlinx-coroutines (StateFlow, a CoroutineScope given by the
// app), no Android imports, so that the JVM test in bindings/tests compiles and runs them against the real
// library. The app wraps each in an androidx ViewModel and passes its viewModelScope.
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    api(project(":casebook-bindings"))
    compileOnly("net.java.dev.jna:jna:5.14.0")
}
