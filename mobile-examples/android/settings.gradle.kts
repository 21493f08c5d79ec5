// Casebook example app for Android: Kotlin + Jetpack Compose on the generated uniffi bindings.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "CasebookAndroid"
// casebook-bindings: the generated Kotlin (bindings/generated/kotlin), a plain JVM library.
// shared-viewmodel: the app's view-models, plain Kotlin with no Android imports (the JVM test runs them).
// app: the Compose UI.
include(":casebook-bindings", ":shared-viewmodel", ":app")
