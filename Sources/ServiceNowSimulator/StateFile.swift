import Foundation

/// The optional state file: changes, approver rows, journals, added templates and the next number, as JSON,
/// replaced atomically (write to a temporary file, then rename) so a crash never leaves half a file.
struct StateFile: Sendable {
    let path: String

    func load() throws(SimulatorError) -> PersistedState? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return try JSONDecoder().decode(PersistedState.self, from: data)
        } catch {
            throw .stateFile("cannot read state file \(path): \(error). Fix or remove the file to start empty.")
        }
    }

    func save(_ state: PersistedState) throws(SimulatorError) {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(state).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .stateFile("cannot write state file \(path): \(error). Check that its directory exists and is writable.")
        }
    }
}

/// Errors that stop the simulator, worded for whoever runs it.
public enum SimulatorError: Error, CustomStringConvertible, Sendable {
    case stateFile(String)
    case didNotStart(String)
    case portFile(String)

    public var description: String {
        switch self {
        case .stateFile(let m), .didNotStart(let m), .portFile(let m): m
        }
    }
}
