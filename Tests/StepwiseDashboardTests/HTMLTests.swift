import Testing
@testable import StepwiseDashboard

@Suite("HTML escapes by construction")
struct HTMLTests {
    @Test("an interpolated string is escaped; markup from a literal or from HTML is not")
    func interpolation() {
        let payload = #"<script>alert("x") & 'y'</script>"#
        let html: HTML = "<td title=\"\(payload)\">\(payload)</td>"
        #expect(html.description == "<td title=\"&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;\">&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;</td>")
        let nested: HTML = "<tr>\(html)</tr>"
        #expect(nested.description.hasPrefix("<tr><td title="))
        let number: HTML = "<b>\(42)</b>"
        #expect(number.description == "<b>42</b>")
    }
}
