public import Hummingbird
public import HummingbirdCore
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a Stepwise HTTP server grants one connection, and how many it holds at once: the
/// defences against clients that open connections and say nothing, send a head or a body a byte
/// at a time, or stall halfway.
///
/// Use it where the server is built, for `stepwise dev`/`serve` or an app's own server:
///
/// ```swift
/// import Hummingbird
/// import Stepwise
/// import StepwiseHTTP
///
/// let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"))
/// let limits = StepwiseServerLimits()
/// let app = Application(
///     router: StepwiseHTTPAPI(client: stepwise, configuration: .init(isDevelopment: true)).router(),
///     server: limits.server,
///     configuration: limits.applicationConfiguration(address: .hostname("127.0.0.1", port: 8288)))
/// ```
///
/// A connection past ``maxConnections`` waits in the kernel's accept queue until one closes,
/// which the timeouts guarantee: so a flood of silent connections delays new clients by at
/// most ``headerTimeout`` per round of ``maxConnections``, instead of locking them out.
public struct StepwiseServerLimits: Sendable {
    /// How long a request's head may take: from a new connection's opening, or from the first
    /// byte of a later request. A head still incomplete is answered 408 and the connection closed.
    public var headerTimeout: Duration
    /// How long a connection may stay open between requests, with nothing sent.
    public var idleTimeout: Duration
    /// How long a request's body may take from its head to its end, however steadily it
    /// trickles. A body still incomplete is answered 408, unless an answer has begun.
    public var bodyTimeout: Duration
    /// How many connections are served at once; more wait to be accepted. Every connection
    /// costs a file descriptor, so the default keeps well within the process's limit.
    public var maxConnections: Int

    /// Limits with sane defaults: a 10 s head, 60 s between requests, 60 s for a body (1 MiB at
    /// 150 kbit/s), and ``defaultMaxConnections``.
    public init(
        headerTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60), bodyTimeout: Duration = .seconds(60),
        maxConnections: Int = StepwiseServerLimits.defaultMaxConnections
    ) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
        self.maxConnections = max(1, maxConnections)
    }

    /// Half the process's file-descriptor limit (`RLIMIT_NOFILE`, `ulimit -n`), from 16 to
    /// 10 000: 512 under the common limit of 1024. The other half is for the database, logs
    /// and outgoing connections; a server that runs out of descriptors can accept no one.
    public static var defaultMaxConnections: Int {
        var limit = rlimit()
        #if os(Linux)
        let status = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        #else
        let status = getrlimit(RLIMIT_NOFILE, &limit)
        #endif
        guard status == 0 else { return 512 }
        // No limit reads as the largest value, which the upper bound then caps.
        return min(10_000, max(16, Int(clamping: limit.rlim_cur) / 2))
    }

    /// An HTTP/1.1 server whose connections keep these deadlines (see ``headerTimeout``), answer
    /// `Expect: 100-continue`, close after an answer sent before the body was read, and answer
    /// requests the codec cannot parse with the APIs' JSON error shape.
    public var server: HTTPServerBuilder {
        let limits = self
        return .http1(configuration: .init(additionalChannelHandlers: [ConnectionGuard(limits: limits)], idleTimeout: nil))
    }

    /// An application configuration that listens on `address` and holds at most
    /// ``maxConnections`` connections at once.
    public func applicationConfiguration(address: BindAddress, serverName: String? = nil) -> ApplicationConfiguration {
        ApplicationConfiguration(
            address: address, serverName: serverName, availableConnectionsDelegate: MaximumAvailableConnections(maxConnections))
    }
}
