plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

android {
    namespace = "org.casebook.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.casebook.app"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // The ABIs built by `cargo ndk` (see README.md); add x86_64 for the emulator.
        ndk { abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64") }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
    buildFeatures { compose = true }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    // libcasebook_ffi.so per ABI, written by `cargo ndk -o app/src/main/jniLibs` (not committed).
    sourceSets["main"].jniLibs.srcDir("src/main/jniLibs")
}

dependencies {
    implementation(project(":shared-viewmodel"))
    // JNA with its Android native dispatcher (libjnidispatch.so per ABI).
    implementation("net.java.dev.jna:jna:5.14.0@aar")

    implementation(platform("androidx.compose:compose-bom:2024.12.01"))
    implementation("androidx.compose.ui:ui")
    implementation("androidx.compose.material3:material3")
    implementation("androidx.compose.material:material-icons-core")
    implementation("androidx.activity:activity-compose:1.9.3")
    implementation("androidx.navigation:navigation-compose:2.8.5")
    // collectAsStateWithLifecycle, ViewModel + viewModelScope in Compose, the app's process lifecycle.
    implementation("androidx.lifecycle:lifecycle-runtime-compose:2.8.7")
    implementation("androidx.lifecycle:lifecycle-viewmodel-compose:2.8.7")
    implementation("androidx.lifecycle:lifecycle-process:2.8.7")
    // Dispatchers.Main on Android.
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.1")
    // Device token at rest: EncryptedSharedPreferences (Android Keystore).
    implementation("androidx.security:security-crypto:1.1.0-alpha06")
}
