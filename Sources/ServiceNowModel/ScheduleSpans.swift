import Foundation

/// One `cmn_schedule_span` row (a schedule entry) as a rule: a first occurrence in the schedule's time zone and how
/// it repeats. Both the client (blackout spans) and the simulator (conflict check) expand entries with it.
public struct ScheduleSpanRule: Sendable, Equatable {
    /// `repeat_type`; an empty value (or `none`) is "Doesn't repeat".
    public enum Repeat: String, Sendable, CaseIterable {
        case none, daily, weekdays, weekends, weekly, monthly, yearly
    }

    /// Wall-clock time in the schedule's zone.
    public struct WallTime: Sendable, Equatable {
        public var year, month, day, hour, minute, second: Int
        /// The text carried a `Z`: the value is UTC whatever the schedule's zone.
        public var utc: Bool
    }

    public var start: WallTime
    public var end: WallTime
    public var allDay: Bool
    public var repeatType: Repeat
    /// `repeat_count`: every N days, weeks, months or years.
    public var every: Int
    /// `days_of_week` for weekly entries: 1 Monday … 7 Sunday.
    public var daysOfWeek: Set<Int>
    /// `repeat_until`, a date (inclusive); nil repeats forever.
    public var until: WallTime?
    public var timeZone: TimeZone

    /// nil when the start or end cannot be read or the repeat type is unknown (monthly by weekday, floating yearly
    /// days and other forms are not modelled: the caller reports the entry rather than guess).
    public init?(start: String, end: String, allDay: Bool, repeatType: String, repeatCount: String = "",
                 daysOfWeek: String = "", repeatUntil: String = "", timeZone: String = "") {
        guard let s = Self.wallTime(start), let e = Self.wallTime(end) else { return nil }
        let kind = repeatType.trimmingCharacters(in: .whitespaces).lowercased()
        guard let r = kind.isEmpty ? Repeat.none : Repeat(rawValue: kind) else { return nil }
        self.start = s
        self.end = e
        self.allDay = allDay
        self.repeatType = r
        self.every = max(1, Int(repeatCount.trimmingCharacters(in: .whitespaces)) ?? 1)
        self.daysOfWeek = Set(daysOfWeek.compactMap { $0.wholeNumberValue }.filter { (1...7).contains($0) })
        self.until = repeatUntil.isEmpty ? nil : Self.wallTime(repeatUntil)
        // Floating (empty) schedules follow the viewer; a daemon has no viewer, so they are read as UTC.
        self.timeZone = TimeZone(identifier: timeZone.isEmpty || timeZone.lowercased() == "floating" ? "UTC" : timeZone)
            ?? TimeZone(identifier: "UTC")!
    }

    /// `20250101T220000`, `20250101T220000Z`, `2025-01-01 22:00:00` or a bare date (`20250101`, `2025-01-01`).
    public static func wallTime(_ text: String) -> WallTime? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let digits = t.filter(\.isNumber).compactMap(\.wholeNumberValue)
        guard digits.count == 14 || digits.count == 8 else { return nil }
        func n(_ r: Range<Int>) -> Int { r.reduce(0) { $0 * 10 + digits[$1] } }
        let w = WallTime(year: n(0..<4), month: n(4..<6), day: n(6..<8),
                         hour: digits.count == 14 ? n(8..<10) : 0, minute: digits.count == 14 ? n(10..<12) : 0,
                         second: digits.count == 14 ? n(12..<14) : 0, utc: t.hasSuffix("Z"))
        guard (1...12).contains(w.month), (1...31).contains(w.day), w.hour < 24, w.minute < 60, w.second < 60 else { return nil }
        return w
    }

    /// Every occurrence that overlaps `from..<to` (touching ends do not overlap), at most `limit`.
    public func occurrences(overlapping from: Date, _ to: Date, limit: Int = 1000) -> [DateInterval] {
        guard to > from else { return [] }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let utcZone = TimeZone(identifier: "UTC")!
        func date(_ w: WallTime, dayOffset: Int = 0, midnight: Bool = false) -> Date? {
            var c = DateComponents(year: w.year, month: w.month, day: w.day + dayOffset,
                                   hour: midnight ? 0 : w.hour, minute: midnight ? 0 : w.minute, second: midnight ? 0 : w.second)
            c.timeZone = w.utc ? utcZone : timeZone
            return calendar.date(from: c)
        }
        guard let first = date(start, midnight: allDay),
              let firstEnd = allDay ? date(end, dayOffset: 1, midnight: true) : date(end), firstEnd > first else { return [] }
        let length = firstEnd.timeIntervalSince(first)
        if repeatType == .none {
            let span = DateInterval(start: first, end: firstEnd)
            return span.end > from && span.start < to ? [span] : []
        }
        let firstDay = calendar.startOfDay(for: first)
        let offsetInDay = first.timeIntervalSince(firstDay)
        let lastDay = until.flatMap { date($0, midnight: true) }
        let weekdays = daysOfWeek.isEmpty ? [Self.isoWeekday(calendar, first)] : daysOfWeek
        // Start from the first day that can still overlap `from`: occurrences start at most `length` before it.
        var day = max(firstDay, calendar.startOfDay(for: from.addingTimeInterval(-length - 86_400)))
        var out: [DateInterval] = []
        // A day at a time, at most ~110 years: a caller asking up to `distantFuture` still gets an answer.
        var steps = 0
        while day < to, out.count < limit, steps < 40_000 {
            steps += 1
            if let lastDay, day > lastDay { break }
            if matches(day, firstDay: firstDay, weekdays: weekdays, calendar: calendar) {
                // The entry's wall-clock start on that day, so daylight saving time keeps it at the same local hour.
                let s = start.utc || allDay ? day.addingTimeInterval(offsetInDay)
                    : calendar.date(bySettingHour: start.hour, minute: start.minute, second: start.second, of: day) ?? day.addingTimeInterval(offsetInDay)
                let span = DateInterval(start: s, end: s.addingTimeInterval(length))
                if span.end > from, span.start < to { out.append(span) }
            }
            guard let next = calendar.date(byAdding: .day, value: 1, to: day) else { break }
            day = next
        }
        return out
    }

    private func matches(_ day: Date, firstDay: Date, weekdays: Set<Int>, calendar: Calendar) -> Bool {
        let weekday = Self.isoWeekday(calendar, day)
        switch repeatType {
        case .none: return day == firstDay
        case .daily:
            let days = calendar.dateComponents([.day], from: firstDay, to: day).day ?? 0
            return days % every == 0
        case .weekdays: return weekday <= 5
        case .weekends: return weekday >= 6
        case .weekly:
            let days = calendar.dateComponents([.day], from: Self.mondayOf(firstDay, calendar), to: day).day ?? 0
            return (days / 7) % every == 0 && weekdays.contains(weekday)
        case .monthly:
            let a = calendar.dateComponents([.year, .month, .day], from: firstDay)
            let b = calendar.dateComponents([.year, .month, .day], from: day)
            let months = (b.year! - a.year!) * 12 + (b.month! - a.month!)
            return b.day == a.day && months % every == 0
        case .yearly:
            let a = calendar.dateComponents([.year, .month, .day], from: firstDay)
            let b = calendar.dateComponents([.year, .month, .day], from: day)
            return b.month == a.month && b.day == a.day && (b.year! - a.year!) % every == 0
        }
    }

    /// 1 Monday … 7 Sunday.
    static func isoWeekday(_ calendar: Calendar, _ date: Date) -> Int {
        let w = calendar.component(.weekday, from: date) // 1 Sunday … 7 Saturday
        return w == 1 ? 7 : w - 1
    }

    static func mondayOf(_ day: Date, _ calendar: Calendar) -> Date {
        calendar.date(byAdding: .day, value: 1 - isoWeekday(calendar, day), to: day) ?? day
    }
}
