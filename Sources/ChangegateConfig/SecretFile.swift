import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads a secret named in the config: a systemd credential name or an absolute path to a private file.
public enum SecretFile {
    /// `reference` is a bare name (read from `$CREDENTIALS_DIRECTORY/NAME`, as `LoadCredential=` provides)
    /// or an absolute path, which must not be readable by group or others.
    public static func read(_ reference: String, key: String, configFile: String,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> String {
        let path: String
        if reference.hasPrefix("/") {
            path = reference
            var st = stat()
            guard stat(path, &st) == 0 else {
                throw ConfigError(file: configFile, key: key, problem: "the secret file \(path) does not exist or cannot be read",
                                  fix: "create it with mode 0600 (owned by the changegate user), or use a systemd credential name")
            }
            guard st.st_mode & 0o077 == 0 else {
                throw ConfigError(file: configFile, key: key,
                                  problem: "the secret file \(path) has mode \(String(st.st_mode & 0o777, radix: 8)); group or others can read it",
                                  fix: "chmod 600 \(path)")
            }
        } else {
            guard !reference.contains("/"), !reference.isEmpty else {
                throw ConfigError(file: configFile, key: key, problem: "\"\(reference)\" is neither a credential name nor an absolute path",
                                  fix: "use a name given to LoadCredential= or an absolute path")
            }
            guard let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty else {
                throw ConfigError(file: configFile, key: key, problem: "names the credential \"\(reference)\" but $CREDENTIALS_DIRECTORY is not set",
                                  fix: "run under systemd with LoadCredential=\(reference):/etc/changegate/credentials/\(reference), or give an absolute path")
            }
            // The unit loads the whole credentials directory (`LoadCredential=changegate:/etc/changegate/credentials`),
            // which systemd names `changegate_<file>`; a per-file `LoadCredential=NAME:…` gives the bare name.
            let prefixed = "\(dir)/changegate_\(reference)"
            path = FileManager.default.fileExists(atPath: "\(dir)/\(reference)") || !FileManager.default.fileExists(atPath: prefixed)
                ? "\(dir)/\(reference)" : prefixed
        }
        guard let data = FileManager.default.contents(atPath: path), var text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: configFile, key: key, problem: "cannot read the secret at \(path)",
                              fix: "check that the file exists and the changegate user can read it")
        }
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else {
            throw ConfigError(file: configFile, key: key, problem: "the secret at \(path) is empty", fix: "write the secret into it")
        }
        return text
    }
}
