import NIOCore
import PostgresNIO

/// A `text[]` parameter whose elements may be NULL: postgres-nio encodes arrays of values,
/// not of optionals, and the store's batch statements (`unnest` over columns) need NULLs for
/// an event without `user`, a step without output.
///
/// The binary array format, as PostgreSQL's `array_recv` reads it: dimensions, a flags word,
/// the element type, each dimension's length and lower bound, then each element as its
/// length (-1 for NULL) and its bytes.
struct NullableTextArray: PostgresNonThrowingEncodable, Sendable {
    let elements: [String?]

    init(_ elements: [String?]) {
        self.elements = elements
    }

    static var psqlType: PostgresDataType { .textArray }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeInteger(elements.isEmpty ? 0 : 1, as: Int32.self)
        buffer.writeInteger(elements.contains(nil) ? 1 : 0, as: Int32.self)
        buffer.writeInteger(PostgresDataType.text.rawValue)
        guard !elements.isEmpty else { return }
        buffer.writeInteger(Int32(elements.count), as: Int32.self)
        buffer.writeInteger(1, as: Int32.self)
        for element in elements {
            guard let element else {
                buffer.writeInteger(-1, as: Int32.self)
                continue
            }
            buffer.writeInteger(Int32(element.utf8.count), as: Int32.self)
            buffer.writeString(element)
        }
    }
}
