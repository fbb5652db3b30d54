import ArgumentParser
import ChangegateConfig
import Foundation
import QueueStore

/// `changegate`: the daemon and the tools around its queue.
public struct Changegate: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "changegate",
        abstract: "Gate deployments to change-controlled environments behind approved ServiceNow change requests.",
        discussion: """
            Producers insert rows into the SQLite queue (or use `changegate enqueue`); the daemon takes each \
            through its change request to a guarded run.

            Exit codes:
              0  success
              1  failure (e.g. the task already finished; the audit chain is broken)
              3  invalid configuration
              4  no such task
              5  database error
              6  a ServiceNow or `doctor` check failed
              7  another daemon holds the database
              64 bad usage
            """,
        version: changegateVersion,
        subcommands: [DaemonCommand.self, Enqueue.self, Status.self, Logs.self, Cancel.self, CheckConfig.self, Doctor.self, AuditCommand.self, Migrate.self],
        defaultSubcommand: nil)

    public init() {}
}

/// Options every command that reads the queue shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file.")
    var config: String = ConfigLoader.defaultPath

    @Option(name: .long, help: "The queue database (default: the config's daemon.database).")
    var database: String?

    func databasePath() throws -> String {
        if let database { return database }
        do { return try ConfigLoader.load(path: config).daemon.database } catch {
            throw CLIError.config(error)
        }
    }

    func open(readOnly: Bool = false) throws -> QueueStore {
        let path = try databasePath()
        do { return try QueueStore(path: path, readOnly: readOnly) } catch { throw CLIError.store(error) }
    }
}

/// Errors of the CLI, each with its documented exit code.
enum CLIError: Error, CustomStringConvertible {
    case config(ConfigError)
    case store(QueueStoreError)
    case failure(String)

    var description: String {
        switch self {
        case .config(let e): "changegate: invalid configuration: \(e)"
        case .store(let e): "changegate: \(e)"
        case .failure(let m): "changegate: \(m)"
        }
    }

    var exitCode: ExitCode {
        switch self {
        case .config: ExitCode(3)
        case .store(.notFound): ExitCode(4)
        case .store(.alreadyRunning): ExitCode(7)
        case .store: ExitCode(5)
        case .failure: ExitCode(1)
        }
    }
}

extension AsyncParsableCommand {
    /// Prints a CLIError to stderr and exits with its code; anything else is rethrown for ArgumentParser.
    func reporting<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as CLIError {
            FileHandle.standardError.write(Data((e.description + "\n").utf8))
            throw e.exitCode
        } catch let e as ConfigError {
            FileHandle.standardError.write(Data((CLIError.config(e).description + "\n").utf8))
            throw ExitCode(3)
        } catch let e as QueueStoreError {
            let cli = CLIError.store(e)
            FileHandle.standardError.write(Data((cli.description + "\n").utf8))
            throw cli.exitCode
        }
    }
}
