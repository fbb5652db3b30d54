import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Producers (members of group changegate) insert into the queue with the sqlite3 CLI, so the database and its
/// -wal/-shm files must be read-write for the group and closed to others: mode 0660, in the setgid state
/// directory. SQLite creates a database with 0644 minus the umask (0640 under the unit's `UMask=0007`), which
/// locks producers out, and gives -wal/-shm the database's mode; so the daemon sets the mode itself.
enum DatabaseFileModes {
    static let mode: mode_t = 0o660

    /// The database and the files SQLite keeps next to it.
    static func files(of database: String) -> [String] {
        [database, database + "-wal", database + "-shm"]
    }

    /// Before SQLite opens it: creates a missing database file with ``mode`` (an empty file is a valid empty
    /// database), so the -wal/-shm files SQLite then creates get the same mode.
    static func createIfMissing(_ database: String) {
        let fd = open(database, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { return }  // exists already, or the directory is missing (QueueStore reports that)
        _ = fchmod(fd, mode)  // the umask may have removed group bits
        close(fd)
    }

    /// After opening: gives the files this process owns exactly ``mode`` (repairs databases made by older
    /// versions, or created while the directory was missing). Files of other owners are left alone.
    static func repair(_ database: String) {
        for path in files(of: database) {
            var st = stat()
            guard stat(path, &st) == 0, st.st_uid == geteuid(), st.st_mode & 0o7777 != mode else { continue }
            _ = chmod(path, mode)
        }
    }
}
