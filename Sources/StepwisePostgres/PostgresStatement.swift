import PostgresNIO

/// A statement assembled from parts, its values bound as `$1`, `$2`, …: for the statements
/// whose shape depends on the call (a checkpoint's transition), which string interpolation,
/// fixed at one literal, cannot build.
struct PostgresStatement {
    private(set) var sql = ""
    private var bindings = PostgresBindings()

    /// Binds `value` and returns its placeholder.
    mutating func bind(_ value: some PostgresThrowingDynamicTypeEncodable) throws -> String {
        try bindings.append(value)
        return "$\(bindings.count)"
    }

    /// Binds an optional value (NULL for `nil`) and returns its placeholder.
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value?) throws -> String {
        try bindings.append(value)
        return "$\(bindings.count)"
    }

    mutating func append(_ text: String) {
        sql += text
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: bindings) }
}
