// AsyncStreams over Casebook's observers, for SwiftUI (`.task { for await … }`) and Swift concurrency.
// Swift 5.9+. Compile it in the same module as the generated `casebook_ffi.swift` (the iOS example's
// build script copies both into the CasebookFFI package), or in the app with `import CasebookFFI` added.
//
// Each stream adds its own observer when it is created and removes it when it terminates: when the task
// iterating it is cancelled (a SwiftUI `.task` ends when its view goes away), or when iteration stops.
// Observers are called on Casebook's threads; the streams hand the events over to whoever iterates them.

import Foundation

/// A change of a case: which case, and what changed (see `CaseChange`).
public struct CaseEvent: Sendable, Equatable {
    public let caseId: String
    public let change: CaseChange

    public init(caseId: String, change: CaseChange) {
        self.caseId = caseId
        self.change = change
    }
}

/// What a `SyncClient` tells its observers, as one type (see `SyncClient.events()`).
public enum SyncEvent: Sendable, Equatable {
    /// The sync status of a case changed.
    case statusChanged(caseId: String, status: CaseSyncStatus)
    /// The relay refused this device for good (wrong or revoked token): sync stopped; sign in again.
    case failed(CasebookError)
    /// The relay says this account is not a member of the case (removed from it): it is not synced.
    case notMember(caseId: String)
}

public extension Store {
    /// Every change of every case of this store (or only of `caseId`), in order, none dropped: local
    /// writes (`.local`: the screen that wrote already shows it), other devices' changes merged into the
    /// open cases (`.remote`, naming the sections and appointments that changed) and imported files
    /// (`.import`: open the case again). Changes made before the stream was created are not replayed: read
    /// the state after creating it.
    func caseChanges(caseId: String? = nil) -> AsyncStream<CaseEvent> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let id = addObserver(observer: CaseChangeForwarder(caseId: caseId, continuation: continuation))
            continuation.onTermination = { [weak self] _ in _ = self?.removeObserver(id: id) }
        }
    }
}

public extension SyncClient {
    /// The sync status of a case: its current status first, then each new one. Keeps only the newest
    /// (a slow reader sees the latest status, not every step), like a `@Published` value. Finishes at once
    /// if the client is stopped.
    func statusUpdates(caseId: String) -> AsyncStream<CaseSyncStatus> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let id = addObserver(observer: SyncEventForwarder(continuation: continuation) { event in
                if case let .statusChanged(changed, status) = event, changed == caseId { return status }
                return nil
            })
            continuation.onTermination = { [weak self] _ in _ = self?.removeObserver(id: id) }
            // Read after the observer is in place, so that no change falls in between.
            if let current = try? status(caseId: caseId) {
                continuation.yield(current)
            } else {
                continuation.finish()
            }
        }
    }

    /// Every event of this client, in order, none dropped (see `SyncEvent`).
    func events() -> AsyncStream<SyncEvent> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let id = addObserver(observer: SyncEventForwarder(continuation: continuation) { $0 })
            continuation.onTermination = { [weak self] _ in _ = self?.removeObserver(id: id) }
        }
    }
}

// The observers behind the streams: final classes holding only a continuation and immutable Sendable
// values, hence checked `Sendable` (the observer protocols require it).

private final class CaseChangeForwarder: CaseObserver {
    private let caseId: String?
    private let continuation: AsyncStream<CaseEvent>.Continuation

    init(caseId: String?, continuation: AsyncStream<CaseEvent>.Continuation) {
        self.caseId = caseId
        self.continuation = continuation
    }

    func onCaseChanged(caseId: String, change: CaseChange) {
        if self.caseId == nil || self.caseId == caseId {
            continuation.yield(CaseEvent(caseId: caseId, change: change))
        }
    }
}

private final class SyncEventForwarder<Element: Sendable>: SyncObserver {
    private let continuation: AsyncStream<Element>.Continuation
    /// The element an event becomes, or nil to skip it.
    private let element: @Sendable (SyncEvent) -> Element?

    init(continuation: AsyncStream<Element>.Continuation, element: @escaping @Sendable (SyncEvent) -> Element?) {
        self.continuation = continuation
        self.element = element
    }

    func onSyncStatusChanged(caseId: String, status: CaseSyncStatus) {
        forward(.statusChanged(caseId: caseId, status: status))
    }

    func onSyncFailed(error: CasebookError) {
        forward(.failed(error))
    }

    func onNotMember(caseId: String) {
        forward(.notMember(caseId: caseId))
    }

    private func forward(_ event: SyncEvent) {
        if let e = element(event) { continuation.yield(e) }
    }
}
