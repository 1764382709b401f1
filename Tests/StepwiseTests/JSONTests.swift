import Foundation
import Testing
@testable import Stepwise

@Suite("JSON")
struct JSONTests {
    @Test("literals build the values they spell")
    func literals() {
        let value: JSON = ["cartId": "ed12c8bde", "itemIds": ["9f08sdh84", "sdf098487"], "count": 2, "total": 42.5, "gift": false, "note": nil]
        #expect(value["cartId"] == "ed12c8bde")
        #expect(value["itemIds"]?[1] == "sdf098487")
        #expect(value["count"]?.intValue == 2)
        #expect(value["total"]?.doubleValue == 42.5)
        #expect(value["gift"]?.boolValue == false)
        #expect(value["note"]?.isNull == true)
        #expect(value["missing"] == nil)
    }

    @Test("text round-trips exactly", arguments: [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
        #"{"big":9223372036854775807,"small":-9223372036854775808}"#,
        #"{"pi":3.141592653589793,"tenth":0.1,"tiny":5e-324,"huge":1.7976931348623157e+308}"#,
        #"{"unicode":"héllo wörld 你好 👋🏽","escapes":"quote\" backslash\\ tab\t newline\n nul\u0000"}"#,
        #"[[],{},"",0,-0.5,1e+100]"#,
        #"{"z":1,"a":2,"m":3}"#,
    ])
    func roundTrip(text: String) throws {
        let value = try JSON(parsing: text)
        let again = try JSON(parsing: value.serialized)
        #expect(again == value)
        #expect(again.serialized == value.serialized)
    }

    @Test("object keys keep their order")
    func keyOrder() throws {
        let value = try JSON(parsing: #"{"z":1,"a":2,"m":3}"#)
        #expect(value.serialized == #"{"z":1,"a":2,"m":3}"#)
    }

    @Test("numbers keep their kind and value")
    func numbers() throws {
        #expect(try JSON(parsing: "9223372036854775807") == .int(Int64.max))
        #expect(try JSON(parsing: "-9223372036854775808") == .int(Int64.min))
        // Beyond 64 bits an integer literal becomes the nearest double, as in every JSON library.
        #expect(try JSON(parsing: "18446744073709551616") == .double(18446744073709551616))
        #expect(try JSON(parsing: "0.1") == .double(0.1))
        #expect(try JSON(parsing: "1.0").serialized == "1.0")
        #expect(try JSON(parsing: "1E2") == .double(100))
        #expect(JSON.int(1) == JSON.double(1.0))
        #expect(JSON.int(1).hashValue == JSON.double(1.0).hashValue)
    }

    @Test("equality ignores key order")
    func unorderedEquality() throws {
        #expect(try JSON(parsing: #"{"a":1,"b":2}"#) == JSON(parsing: #"{"b":2,"a":1}"#))
        #expect(try JSON(parsing: #"{"a":1,"b":2}"#).hashValue == JSON(parsing: #"{"b":2,"a":1}"#).hashValue)
        #expect(try JSON(parsing: #"{"a":1}"#) != JSON(parsing: #"{"a":1,"b":2}"#))
    }

    @Test("surrogate pairs decode to one character")
    func surrogates() throws {
        #expect(try JSON(parsing: #""\ud83d\udc4b""#) == "👋")
        #expect(try JSON(parsing: #""\u00e9""#) == "é")
    }

    @Test("a duplicate key keeps the last value")
    func duplicateKeys() throws {
        #expect(try JSON(parsing: #"{"a":1,"a":2}"#) == ["a": 2])
    }

    @Test("malformed text is refused with its position", arguments: [
        ("", "unexpected end"),
        ("{", "end of input"),
        (#"{"a":1,}"#, "string key"),
        ("[1,]", "expected a value"),
        ("01", "leading zero"),
        ("1.", "digit after '.'"),
        ("-", "digit"),
        ("1e", "exponent"),
        ("tru", "literal"),
        ("nul", "literal"),
        (#""abc"#, "unterminated string"),
        (#""\x""#, "invalid escape"),
        (#""\ud83d""#, "lone high surrogate"),
        (#""\udc4b""#, "lone low surrogate"),
        (#""\u12G4""#, "hex digit"),
        ("\"a\u{1}b\"", "control character"),
        ("1 2", "after the end"),
        ("1e400", "out of range"),
        ("NaN", "unexpected character"),
        ("{\"a\" 1}", "':'"),
    ])
    func malformed(text: String, reason: String) {
        #expect {
            _ = try JSON(parsing: text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() {
        let bytes: [UInt8] = [0x22, 0x61, 0xFF, 0x62, 0x22]  // "a\xFFb"
        #expect(throws: JSONParseError.self) { try JSON(parsing: bytes) }
        let overlong: [UInt8] = [0x22, 0xC0, 0xAF, 0x22]
        #expect(throws: JSONParseError.self) { try JSON(parsing: overlong) }
    }

    @Test("nesting beyond the limit is refused, not a crash")
    func deepNesting() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSON(parsing: deep) }
        let allowed = String(repeating: "[", count: JSON.maximumNestingDepth) + String(repeating: "]", count: JSON.maximumNestingDepth)
        #expect(throws: Never.self) { try JSON(parsing: allowed) }
    }

    struct Receipt: Codable, Equatable, Sendable {
        let cartId: String
        let amount: Int
        let lines: [Line]
        let note: String?
        struct Line: Codable, Equatable, Sendable {
            let sku: String
            let price: Double
        }
    }

    @Test("Codable values convert both ways")
    func codable() throws {
        let receipt = Receipt(cartId: "ed12c8bde", amount: 1000, lines: [.init(sku: "a", price: 0.1), .init(sku: "b", price: 19.99)], note: nil)
        let json = try JSON(encoding: receipt)
        #expect(json["cartId"] == "ed12c8bde")
        #expect(json["lines"]?[0]?["price"] == 0.1)
        #expect(try json.decode(as: Receipt.self) == receipt)
        #expect(throws: JSONConversionError.self) { try (["cartId": 5] as JSON).decode(as: Receipt.self) }
    }

    @Test("JSON is itself Codable through Foundation's coders")
    func jsonThroughFoundation() throws {
        let value: JSON = ["a": [1, 2.5, "x", true, nil], "b": ["c": "d"]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSON.self, from: data) == value)
    }
}
