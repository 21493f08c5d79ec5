// The app's view-models: plain Kotlin, no Android imports, so that the JVM test in bindings/tests compiles
// and runs them against the real library.
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
