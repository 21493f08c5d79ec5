package org.casebook.app

import android.app.Application
import android.content.Context
import android.os.Handler
import android.os.Looper
import androidx.security.crypto.EncryptedSharedPreferences
import androidx.security.crypto.MasterKey
import java.io.File
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.casebook.ffi.DeviceCredentials
import org.casebook.ffi.Store
import org.casebook.viewmodel.CasebookSession
import org.casebook.viewmodel.UiDispatcher

/**
 * Opens the store once for the app's lifetime (one sled directory in the app's private files) and signs
 * in to the relay when this phone has credentials.
 */
class CasebookApplication : Application() {
    lateinit var session: CasebookSession
        private set
    lateinit var credentials: CredentialStore
        private set

    /** Blocking Casebook calls that may touch the network (sync, invites, joining) run here. */
    val background: ExecutorService = Executors.newSingleThreadExecutor { r -> Thread(r, "casebook-io") }

    override fun onCreate() {
        super.onCreate()
        val main = Handler(Looper.getMainLooper())
        val store = Store.open(File(filesDir, "casebook").path)
        session = CasebookSession(store, UiDispatcher { block -> main.post(block) })
        credentials = CredentialStore(this)
        credentials.load()?.let { (url, creds) ->
            background.execute { runCatching { session.signIn(url, creds) } }
        }
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
