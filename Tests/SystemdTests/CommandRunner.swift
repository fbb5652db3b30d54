import Foundation

/// Outcome of a finished command.
struct CommandResult: Sendable, CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var succeeded: Bool { status == 0 }
    var description: String { "exit \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
}

struct CommandError: Error, CustomStringConvertible {
    var command: [String]
    var result: CommandResult
    var description: String { "command failed: \(command.joined(separator: " "))\n\(result)" }
}

/// Runs `arguments` (absolute executable first) to completion. Output goes through temporary files, so large
/// output on both streams cannot dead-lock and detached grandchildren holding no pipes cannot hang us.
func runCommand(_ arguments: [String], input: String? = nil, environment: [String: String]? = nil) throws -> CommandResult {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cg-cmd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outURL = scratch.appendingPathComponent("out"), errURL = scratch.appendingPathComponent("err")
    let inURL = scratch.appendingPathComponent("in")
    try Data().write(to: outURL)
    try Data().write(to: errURL)
    try Data((input ?? "").utf8).write(to: inURL)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    let stdin = try FileHandle(forReadingFrom: inURL)
    defer { try? out.close(); try? err.close(); try? stdin.close() }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    if let environment { process.environment = environment }
    process.standardOutput = out
    process.standardError = err
    process.standardInput = stdin
    try process.run()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus,
        stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
    )
}

/// Path of the running test executable (the same inside the box: /work is not overlaid).
func currentExecutablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}
