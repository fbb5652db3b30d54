import Foundation
import PackagePlugin

/// Generates `Version.swift` (`let changegateVersion = "…"`) from the VERSION file at the package root, so
/// `changegate --version` and the Debian package read the version from the same place.
@main
struct VersionFile: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let input = context.package.directoryURL.appending(path: "VERSION")
        let output = context.pluginWorkDirectoryURL.appending(path: "Version.swift")
        // A shell one-liner rather than a tool target: nothing more to compile for each build.
        let script = #"v=$(tr -d ' \n' < "$1") && printf '/// From the VERSION file (Plugins/VersionFile).\nlet changegateVersion = "%s"\n' "$v" > "$2""#
        return [.buildCommand(
            displayName: "Version.swift from VERSION",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", script, "sh", input.path, output.path],
            inputFiles: [input],
            outputFiles: [output])]
    }
}
