import Foundation
import ServiceNowModel

extension ServiceNowClient {
    /// State, approval, window and type of many changes by number, keyed by number, through the Table API with only
    /// the fields a decision needs. Numbers go in `numberIN…` queries of `statusBatchSize` (one request per batch, batches in parallel up to `maxConcurrentRequests`),
    /// never one request per change. Changes that do not exist (or that an ACL hides) are absent from the answer,
    /// as are numbers that cannot be ServiceNow numbers (holding `^`, `,` or control characters).
    public func statuses(numbers: [String]) async throws(ServiceNowError) -> [String: ChangeSnapshot] {
        try await batchedStatuses(numbers, field: .number, key: \.number)
    }

    /// As `statuses(numbers:)`, by sys_id (`sys_idIN…`), keyed by sys_id.
    public func statuses(sysIDs: [String]) async throws(ServiceNowError) -> [String: ChangeSnapshot] {
        try await batchedStatuses(sysIDs, field: .sysID, key: \.sysID)
    }

    private func batchedStatuses(_ keys: [String], field: ChangeQuery.Field, key: KeyPath<ChangeSnapshot, String> & Sendable) async throws(ServiceNowError) -> [String: ChangeSnapshot] {
        var seen = Set<String>()
        var wanted: [String] = []
        for k in keys {
            let k = k.trimmingCharacters(in: .whitespaces)
            guard QueryEncoding.isSafe(k, inList: true), seen.insert(k).inserted else { continue }
            wanted.append(k)
        }
        let size = max(1, configuration.statusBatchSize)
        let batches = stride(from: 0, to: wanted.count, by: size).map { Array(wanted[$0..<min($0 + size, wanted.count)]) }
        if batches.isEmpty { return [:] }
        if batches.count == 1 { return try await statusBatch(batches[0], field: field, key: key) }

        let results = await withTaskGroup(of: Result<[String: ChangeSnapshot], ServiceNowError>.self) { group in
            for batch in batches {
                group.addTask {
                    do throws(ServiceNowError) {
                        return .success(try await self.statusBatch(batch, field: field, key: key))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var merged: [String: ChangeSnapshot] = [:]
            var firstError: ServiceNowError?
            for await result in group {
                switch result {
                case .success(let part): merged.merge(part) { a, _ in a }
                case .failure(let e):
                    if firstError == nil {
                        firstError = e
                        group.cancelAll()
                    }
                }
            }
            return firstError.map { Result.failure($0) } ?? .success(merged)
        }
        return try results.get()
    }

    /// One `fieldIN…` query; stops paging as soon as every asked-for change has come back.
    private func statusBatch(_ batch: [String], field: ChangeQuery.Field, key: KeyPath<ChangeSnapshot, String>) async throws(ServiceNowError) -> [String: ChangeSnapshot] {
        let query = field == .number ? ChangeQuery().number(.in(batch)) : ChangeQuery().sysID(.in(batch))
        let wanted = Set(batch)
        var found: [String: ChangeSnapshot] = [:]
        try await pageThrough(path: Self.changeTable, query: query.encodedQuery, pageSize: batch.count, extra: Self.tableReadParameters,
                              operation: "status of \(batch.count) change requests", decode: RecordDecoding.change) { changes in
            for change in changes {
                let k = change[keyPath: key]
                if wanted.contains(k) { found[k] = change }
            }
            return found.count >= wanted.count
        }
        return found
    }
}
