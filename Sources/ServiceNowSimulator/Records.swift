import Foundation

/// One stored row. Values are text, as ServiceNow keeps them; a missing value means the schema default.
struct Row: Codable, Sendable {
    var values: [String: String]
    /// Journal entries of the row's journal fields (`work_notes`, `comments`), oldest first.
    var journal: [JournalEntry] = []

    init(values: [String: String], journal: [JournalEntry] = []) {
        self.values = values
        self.journal = journal
    }

    subscript(_ field: String) -> String? {
        get { values[field] }
        set { values[field] = newValue }
    }

    func value(_ spec: FieldSpec) -> String { values[spec.name] ?? spec.defaultValue }
    func value(_ field: String, in schema: TableSchema) -> String {
        values[field] ?? schema[field]?.defaultValue ?? ""
    }
}

struct JournalEntry: Codable, Sendable, Equatable {
    var field: String
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    var at: String
    /// The writer's display name, as the journal shows it.
    var author: String
    var text: String
}

/// A standard change template (record producer) with the values it copies into a new change.
struct SimTemplate: Codable, Sendable {
    var sysID: String
    var name: String
    var shortDescription: String
    var templateSysID: String
    var versionSysID: String
    var categorySysID: String
    var categoryName: String
    var active: Bool
    var createdOn: String
    var updatedOn: String
    var createdBy: String
    /// change_request field values the template sets.
    var fields: [String: String]
    var seeded: Bool

    var versionName: String { "\(name) - 1" }
}

/// Reference targets that are not tables of their own here: groups and change models.
enum Reference {
    static let groups: [(sysID: String, name: String)] = [
        ("679434f053231300e321ddeeff7b12d8", "Help Desk"),
        ("8a5055c9c61122780043563ef53438e3", "Change Management"),
        ("b85d44954a3623120004689b2d5dd60a", "CAB Approval"),
    ]
    static let changeManagementGroup = "8a5055c9c61122780043563ef53438e3"

    /// `chg_model` rows of a current instance, one per change type.
    static let models: [String: (sysID: String, name: String)] = [
        "normal": ("007c4001c343101035ae3f52c1d3aeb2", "Normal"),
        "standard": ("e55d0bfec343101035ae3f52c1d3ae49", "Standard"),
        "emergency": ("62d10fa1c303101035ae3f52c1d3aec1", "Emergency"),
    ]
}

/// Seedable generator (SplitMix64): the same seed gives the same sys_ids and fault decisions.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func sysID() -> String {
        String(format: "%016llx%016llx", next(), next())
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// A sys_id derived from a name, so users made up from `--approvers` keep their ids across restarts.
func stableSysID(_ text: String) -> String {
    func fnv(_ seed: UInt64) -> UInt64 {
        var h = seed
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
    return String(format: "%016llx%016llx", fnv(0xcbf2_9ce4_8422_2325), fnv(0x84222325cbf29ce4))
}

func isSysID(_ s: some StringProtocol) -> Bool {
    s.utf8.count == 32 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
}

/// Conversions between UTC glide text and the display zone. Done by arithmetic rather than Calendar:
/// listing 10,000 changes formats tens of thousands of dates.
struct GlideClock: Sendable {
    let zone: TimeZone

    init(zoneIdentifier: String) {
        zone = TimeZone(identifier: zoneIdentifier) ?? TimeZone(identifier: "UTC")!
    }

    static func text(_ epoch: Int) -> String {
        let days = epoch >= 0 ? epoch / 86_400 : (epoch - 86_399) / 86_400
        let secs = epoch - days * 86_400
        let (y, m, d) = civil(fromDays: days)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
    }

    static func epoch(_ text: String) -> Int? {
        let u = Array(text.utf8)
        guard u.count >= 19 else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r { guard (48...57).contains(u[i]) else { return nil }; v = v * 10 + Int(u[i] - 48) }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
              let mi = num(14..<16), let s = num(17..<19) else { return nil }
        return days(fromCivil: y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
    }

    static func now() -> String { text(Int(Date().timeIntervalSince1970)) }

    /// UTC glide text → the same instant shown in the display zone.
    func display(_ utc: String) -> String {
        guard let e = GlideClock.epoch(utc) else { return utc }
        return GlideClock.text(e + zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(e))))
    }

    // Howard Hinnant's civil-calendar algorithms.
    static func days(fromCivil y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
