import Stepwise

/// The chrome around every page: the header with its navigation, the stylesheet and script.
enum Layout {
    static func page(_ title: String, _ page: PageContext, notice: Notice? = nil, _ body: HTML) -> HTML {
        let navigation: [(String, String)] = [
            ("events", "Events"), ("runs", "Runs"), ("functions", "Functions"), ("send", "Send event"), ("environments", "Environments"),
        ]
        let links = HTML.join(navigation.map { path, label in "<a href=\"\(page.link(path))\">\(label)</a>" })
        let mode: HTML = page.isDevelopment ? "<span class=\"muted\">development</span>" : signOut(page)
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · Stepwise</title>
            <link rel="stylesheet" href="\(page.base)/assets/dashboard.css">
            <script src="\(page.base)/assets/dashboard.js" defer></script>
            </head><body>
            <header><span class="brand">Stepwise</span><nav>\(links)</nav>
            <span class="env">environment <strong>\(page.environment)</strong> · \(mode)</span></header>
            <main>\(notice.map(render))\(body)</main>
            </body></html>
            """
    }

    /// A message at the top of a page: what an action did, or why it was refused.
    struct Notice: Sendable {
        let text: String
        let isError: Bool
    }

    private static func render(_ notice: Notice) -> HTML {
        notice.isError
            ? "<p class=\"notice error\" role=\"alert\">\(notice.text)</p>"
            : "<p class=\"notice\" role=\"status\">\(notice.text)</p>"
    }

    private static func signOut(_ page: PageContext) -> HTML {
        guard case .session = page.access else { return "<span class=\"muted\">signed in by key</span>" }
        return """
            <form class="inline" method="post" action="\(page.base)/logout">\(page.formFields)<button type="submit">Sign out</button></form>
            """
    }

    /// A run's or a step's status as a coloured label.
    static func status(_ status: String) -> HTML {
        "<span class=\"status \(status)\" data-status=\"\(status)\">\(status)</span>"
    }

    /// An error record as its name and message.
    static func error(_ error: ErrorRecord?) -> HTML {
        guard let error else { return .empty }
        return "<pre class=\"error\">\(error.name): \(error.message)</pre>"
    }
}
