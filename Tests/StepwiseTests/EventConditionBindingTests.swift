import Testing
@testable import Stepwise

@Suite("Event conditions on the expression language")
struct EventConditionBindingTests {
    let trigger: JSON = [
        "name": "billing/invoice.created", "data": ["userId": "u-1", "minimum": 100, "tags": ["vip"], "note": "a \"quoted\"\nline 'x'", "limits": ["eur": 50]],
        "user": nil,
    ]
    let incoming: JSON = ["name": "billing/invoice.paid", "data": ["userId": "u-1", "amount": 150, "currency": "EUR", "tag": "vip", "note": "a \"quoted\"\nline 'x'"], "user": nil]

    @Test("the whole language works in a condition, bound or not", arguments: [
        ("has(async.data.amount) && !has(event.data.missing)", true),
        ("has(event.data.tags[0]) && !has(event.data.tags[1])", true),
        ("async.data.tag in event.data.tags", true),
        ("async.data.amount - event.data.minimum == 50", true),
        ("async.data.amount > (event.data.minimum > 100 ? 1000 : 100)", true),
        ("async.data.amount >= event.data.limits[async.data.currency.contains('E') ? 'eur' : 'usd']", true),
        ("async.data.note == event.data.note", true),
        ("async.data.userId + '/' + event.data.userId == 'u-1/u-1'", true),
        ("size(event.data.tags) == 1 && string(async.data.amount) == '150'", true),
        ("event.data.missing.deeper == null", true),
        ("int(async.data.currency) == 1", false),
        ("async.data.userId", true),
        ("async.data.missing", false),
    ])
    func bound(text: String, expected: Bool) throws {
        let condition = try EventCondition(text)
        #expect(condition.isSatisfied(by: incoming, triggering: trigger) == expected)
        let bound = condition.binding(event: trigger)
        #expect(!bound.description.contains("event."), "no event path is left: \(bound)")
        let stored = try EventCondition(bound.description)
        #expect(stored.isSatisfied(by: incoming) == expected, "\(stored)")
        #expect(stored.description == bound.description, "the stored form is stable")
    }

    @Test("binding replaces event paths by their values; a path that would fail is left to fail when evaluated")
    func bindingForm() throws {
        let condition = try EventCondition("async.data.amount >= event.data.minimum && has(event.data.tags) && event.data.minimum.x == 1")
        #expect(condition.binding(event: trigger).description == "async.data.amount >= 100 && true && (100).x == 1")
        #expect(try EventCondition("(100).x == 1").isSatisfied(by: incoming) == false)
    }

    @Test("conditions stored by the parser before this one still read the same")
    func olderStoredForms() throws {
        let stored = [
            ("(async.data.amount >= 100 && async.data.currency == \"EUR\")", true),
            ("!(async.data.currency == \"EUR\")", false),
            ("(async.data.userId == \"u-1\" || async.data.amount == 1.5)", true),
            ("async.data.amount > -1", true),
            ("async.data.missing == null", true),
        ]
        for (text, expected) in stored {
            #expect(try EventCondition(text).isSatisfied(by: incoming) == expected, "\(text)")
        }
    }

    @Test("as in CEL, ! binds tighter than a comparison (the parser before this one read !a == b as !(a == b))")
    func notPrecedence() throws {
        // (!150) == true is false; !(150 == true) would be true.
        #expect(try EventCondition("!async.data.amount == true").isSatisfied(by: incoming) == false)
        #expect(try EventCondition("!(async.data.amount == true)").isSatisfied(by: incoming))
    }

    @Test("a condition's parse error keeps its shape: the condition, the character offset, the reason")
    func errors() {
        let error = #expect(throws: EventConditionError.self) { try EventCondition("async.data.x == (1") }
        #expect(error?.offset == 18)
        #expect(error?.reason == "expected ')', found the end")
        #expect(error?.description == "invalid condition 'async.data.x == (1' at 18: expected ')', found the end")
        let unknown = #expect(throws: EventConditionError.self) { try EventCondition("data.x == 1") }
        #expect(unknown?.reason == "unknown name 'data'; a path starts with 'event.' or 'async.'")
    }
}
