import Stepwise

/// The records of one listing as they are read, held to a count and to a number of bytes of
/// JSON, and how many records to read from the store next: few while records are large, more
/// once they prove small, so that neither the page nor a read grows past the budget by more
/// than a record.
struct PageBuilder {
    /// Records per read at first, before their size is known: four of the largest events a
    /// client accepts by default (256 KiB) fill a page of 1 MiB.
    static let firstChunkSize = 4
    /// The most records read at once; the run store answers at most 1000, and one more is asked
    /// to learn whether another page follows.
    static let maximumChunkSize = 500

    let limit: Int
    let maxBytes: Int
    private(set) var records: [JSON] = []
    private(set) var bytes = 0
    private var largest = 1

    init(limit: Int, maxBytes: Int) {
        self.limit = limit
        self.maxBytes = maxBytes
    }

    /// Whether the page holds `limit` records.
    var isFull: Bool { records.count >= limit }

    /// How many records to read next: no more than the page still takes, by count and (judged
    /// by the largest record so far) by bytes.
    var nextChunkSize: Int {
        let remaining = limit - records.count
        if records.isEmpty { return max(1, min(remaining, Self.firstChunkSize)) }
        let fitting = (maxBytes - bytes) / largest + 1
        return max(1, min(remaining, fitting, Self.maximumChunkSize))
    }

    /// Adds `record` if it fits in the byte budget, or if the page is empty (a page always has
    /// one record, whatever its size); returns whether it was added.
    mutating func add(_ record: JSON) -> Bool {
        let size = record.serializedUTF8.count + 1
        guard records.isEmpty || bytes + size <= maxBytes else { return false }
        records.append(record)
        bytes += size
        largest = max(largest, size)
        return true
    }
}
