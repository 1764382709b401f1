import HTTPTypes

/// Why a page or an action could not be served, in words for the page that says so.
struct DashboardError: Error, Sendable {
    let status: HTTPResponse.Status
    let message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}
