package org.casebook.app

import android.app.Application
import android.content.Context
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import androidx.security.crypto.EncryptedSharedPreferences
import androidx.security.crypto.MasterKey
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.launch
import org.casebook.ffi.CasebookException
import org.casebook.ffi.DeviceCredentials
import org.casebook.ffi.Store
import org.casebook.viewmodel.CasebookSession

/**
 * Opens the store once for the app's lifetime (one sled directory in the app's private files), signs in to
 * the relay when this phone has credentials, and tells the session when the app goes to the background
 * (save every edit now, close the connection) and comes back (reconnect).
 */
class CasebookApplication : Application() {
    /** As long as the app runs: sign-in, the session's observation of sync, the lifecycle hooks. */
    val appScope: CoroutineScope = MainScope()

    lateinit var session: CasebookSession
        private set
    lateinit var credentials: CredentialStore
        private set

    override fun onCreate() {
        super.onCreate()
        val store = Store.open(File(filesDir, "casebook").path)
        session = CasebookSession(store, appScope)
        credentials = CredentialStore(this)
        credentials.load()?.let { (url, creds) ->
            appScope.launch {
                // A refused token shows on the account screen (session.syncFailure); offline, sync starts anyway.
                try {
                    session.signIn(url, creds)
                } catch (e: CasebookException) {
                    android.util.Log.w("Casebook", "sign-in failed: ${e.message}")
                }
            }
        }
        ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
            override fun onStart(owner: LifecycleOwner) {
                appScope.launch { session.resume() }
            }

            override fun onStop(owner: LifecycleOwner) {
                appScope.launch { session.pause() }
            }
        })
    }
}

/** The device token at rest, in EncryptedSharedPreferences (keys in the Android Keystore). */
class CredentialStore(context: Context) {
    private val prefs = EncryptedSharedPreferences.create(
        context,
        "casebook-credentials",
        MasterKey.Builder(context).setKeyScheme(MasterKey.KeyScheme.AES256_GCM).build(),
        EncryptedSharedPreferences.PrefKeyEncryptionScheme.AES256_SIV,
        EncryptedSharedPreferences.PrefValueEncryptionScheme.AES256_GCM,
    )

    fun load(): Pair<String, DeviceCredentials>? {
        val url = prefs.getString("relay_url", null) ?: return null
        val account = prefs.getString("account_id", null) ?: return null
        val device = prefs.getString("device_id", null) ?: return null
        val token = prefs.getString("token", null) ?: return null
        return url to DeviceCredentials(accountId = account, deviceId = device, token = token)
    }

    fun save(url: String, c: DeviceCredentials) {
        prefs.edit()
            .putString("relay_url", url)
            .putString("account_id", c.accountId)
            .putString("device_id", c.deviceId)
            .putString("token", c.token)
            .apply()
    }

    fun clear() = prefs.edit().clear().apply()
}

/** The application, from any context. */
val Context.casebook: CasebookApplication get() = applicationContext as CasebookApplication
