import Foundation

/// One splice in UTF-16 code units: replace `delete` units at `index` with `insert`.
struct TextEdit: Equatable {
    let index: Int
    let delete: Int
    let insert: String
}

/// Turns "the field used to show A, now shows B" (what a SwiftUI `TextField`/`TextEditor` binding reports)
/// into one splice, in UTF-16 units (Casebook's text unit), never cutting a surrogate pair.
enum TextDiff {
    static func between(_ old: String, _ new: String) -> TextEdit? {
        if old == new { return nil }
        let a = Array(old.utf16), b = Array(new.utf16)
        var prefix = 0
        let maxLen = min(a.count, b.count)
        while prefix < maxLen && a[prefix] == b[prefix] { prefix += 1 }
        if prefix > 0 && UTF16.isLeadSurrogate(a[prefix - 1]) { prefix -= 1 }
        var suffix = 0
        while suffix < maxLen - prefix && a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        if suffix > 0 && UTF16.isTrailSurrogate(a[a.count - suffix]) { suffix -= 1 }
        let inserted = String(decoding: b[prefix..<(b.count - suffix)], as: UTF16.self)
        return TextEdit(index: prefix, delete: a.count - prefix - suffix, insert: inserted)
    }
}
