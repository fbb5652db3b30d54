/// What to run: always from the root-owned config, never from a queue row.
public struct CommandSpec: Sendable, Equatable {
    /// argv; argv[0] is an absolute path or a name looked up in the child's own PATH.
    public var arguments: [String]
    /// The child's complete environment: nothing of the daemon's leaks in unless put here.
    public var environment: [String: String]
    public var workingDirectory: String?

    public init(arguments: [String], environment: [String: String], workingDirectory: String? = nil) {
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
    }
}

/// How the child ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// Shell convention: a signal N reads as 128 + N.
    public var exitCode: Int32 {
        switch self {
        case .exited(let c): c
        case .signaled(let s): 128 + s
        }
    }

    public var description: String {
        switch self {
        case .exited(let c): "exited with status \(c)"
        case .signaled(let s): "killed by signal \(s)"
        }
    }
}

public enum ChildStream: String, Sendable { case stdout, stderr }

public enum ExecutorError: Error, Sendable, CustomStringConvertible {
    case commandNotFound(String)
    case spawnFailed(command: String, reason: String)
    case emptyCommand

    public var description: String {
        switch self {
        case .commandNotFound(let c):
            "the deploy command \(c) was not found or is not executable; fix the project's `command` in the config"
        case .spawnFailed(let c, let reason):
            "could not start \(c): \(reason); check the project's `command` and `working_directory`"
        case .emptyCommand:
            "the project's `command` is empty; set it in the config"
        }
    }
}
