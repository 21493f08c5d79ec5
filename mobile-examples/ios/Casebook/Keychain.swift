import Foundation
import Security
import CasebookFFI

/// The relay URL and device credentials in the Keychain (this device only, after first unlock).
enum CredentialStore {
    private static let service = "org.casebook.relay"

    static func save(url: String, _ c: DeviceCredentials) {
        let value = [url, c.accountId, c.deviceId, c.token].joined(separator: "\n")
        let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: service]
        SecItemDelete(query as CFDictionary)
        var add = query
        add[kSecValueData as String] = Data(value.utf8)
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        SecItemAdd(add as CFDictionary, nil)
    }

    static func load() -> (url: String, credentials: DeviceCredentials)? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecReturnData as String: true,
            kSecMatchLimit as String: kSecMatchLimitOne,
        ]
        var out: CFTypeRef?
        guard SecItemCopyMatching(query as CFDictionary, &out) == errSecSuccess,
              let data = out as? Data,
              let parts = String(data: data, encoding: .utf8)?.components(separatedBy: "\n"),
              parts.count == 4 else { return nil }
        return (parts[0], DeviceCredentials(accountId: parts[1], deviceId: parts[2], token: parts[3]))
    }

    static func clear() {
        SecItemDelete([kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: service] as CFDictionary)
    }
}
