import Foundation
import NIOSSL
import PostgresNIO

extension PostgresStore {
    /// How durable a commit is: PostgreSQL's `synchronous_commit`.
    public enum Durability: String, Sendable, Hashable {
        /// `synchronous_commit = on`, the default: a commit returns once its WAL is flushed to
        /// disk, so a commit that returned survives a crash of the server or its machine.
        case full
        /// `synchronous_commit = off`: "there can be a delay between when success is reported
        /// to the client and when the transaction is really guaranteed to be safe against a
        /// server crash … [but] the database will be consistent"
        /// (https://www.postgresql.org/docs/15/wal-async-commit.html). The last few hundred
        /// milliseconds of commits may be lost in a crash of the server — an event `send`
        /// answered, a step recorded and then done again — never half of one. Faster; a
        /// deliberate trade.
        ///
        /// Set on each of the store's connections when it opens, rather than by `SET LOCAL`
        /// in each transaction: the same setting for the same transactions, without a round
        /// trip per transaction.
        case normal
    }

    /// Where the server is, how to log in, and how the store uses it.
    public struct Configuration: Sendable {
        /// How to reach the server.
        public enum Endpoint: Sendable, Hashable {
            /// A host name or address, and its port.
            case tcp(host: String, port: Int)
            /// The path of the server's unix-domain socket (`/run/postgresql/.s.PGSQL.5432`).
            case unixSocket(path: String)
        }

        public var endpoint: Endpoint
        public var username: String
        public var password: String?
        public var database: String?
        /// Whether to use TLS over TCP, as libpq's `sslmode`.
        public enum TLSMode: String, Sendable, Hashable {
            /// Plain TCP: on loopback or a network you trust.
            case disable
            /// TLS when the server offers it, plain TCP otherwise (libpq's default).
            case prefer
            /// TLS or no connection.
            case require
        }

        public var tls: TLSMode
        /// The schema Stepwise's tables live in, created by the first `run()`: one database
        /// can hold several Stepwise stores, or share with the app's own tables.
        public var schema: String
        /// The most connections the pool opens: the most transactions the store runs at once
        /// (each requirement holds one connection for its transaction).
        public var poolSize: Int
        public var durability: Durability
        /// How long opening a connection may take before it fails.
        public var connectTimeout: Duration

        public init(
            endpoint: Endpoint, username: String, password: String? = nil, database: String? = nil,
            tls: TLSMode = .prefer, schema: String = "stepwise", poolSize: Int = 20,
            durability: Durability = .full, connectTimeout: Duration = .seconds(10)
        ) {
            self.endpoint = endpoint
            self.username = username
            self.password = password
            self.database = database
            self.tls = tls
            self.schema = schema
            self.poolSize = poolSize
            self.durability = durability
            self.connectTimeout = connectTimeout
        }

        /// A configuration from a connection URL,
        /// `postgres://user:password@host:port/database?sslmode=disable&schema=stepwise`, as
        /// libpq's (https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING)
        /// for the parts Stepwise reads: `sslmode` (`disable`, `prefer`, `require`), `host`
        /// (a unix socket's folder, when it starts with `/`), and Stepwise's own `schema`,
        /// `pool_size` and `durability` (`full`, `normal`).
        ///
        /// - Throws: ``PostgresStoreError/invalidConfiguration(_:)`` naming the part that is wrong.
        public init(url text: String) throws(PostgresStoreError) {
            guard let components = URLComponents(string: text), let scheme = components.scheme,
                  scheme == "postgres" || scheme == "postgresql"
            else {
                throw .invalidConfiguration("'\(Self.redacted(text))' is not a postgres:// URL")
            }
            var query: [String: String] = [:]
            for item in components.queryItems ?? [] {
                query[item.name] = item.value ?? ""
            }
            let username = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
            let password = components.password.flatMap { $0.removingPercentEncoding }
            let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            let database = path.isEmpty ? nil : path.removingPercentEncoding
            let port = components.port ?? 5432
            let endpoint: Endpoint
            if let socketFolder = query["host"], socketFolder.hasPrefix("/") {
                endpoint = .unixSocket(path: "\(socketFolder)/.s.PGSQL.\(port)")
            } else if let host = components.host, !host.isEmpty {
                endpoint = .tcp(host: host, port: port)
            } else {
                throw .invalidConfiguration("'\(Self.redacted(text))' names no host")
            }
            let tls: TLSMode
            switch query["sslmode"] ?? "prefer" {
            case "disable": tls = .disable
            case "prefer", "allow": tls = .prefer
            case "require": tls = .require
            case let other: throw .invalidConfiguration("sslmode '\(other)' is not one of disable, prefer, require")
            }
            var durability = Durability.full
            if let value = query["durability"] {
                guard let parsed = Durability(rawValue: value) else {
                    throw .invalidConfiguration("durability '\(value)' is not one of full, normal")
                }
                durability = parsed
            }
            var poolSize = 20
            if let value = query["pool_size"] {
                guard let parsed = Int(value), parsed > 0 else { throw .invalidConfiguration("pool_size '\(value)' is not a positive number") }
                poolSize = parsed
            }
            self.init(
                endpoint: endpoint, username: username, password: password, database: database, tls: tls,
                schema: query["schema"] ?? "stepwise", poolSize: poolSize, durability: durability)
        }

        /// The server in words, for errors and logs: never the password.
        public var serverDescription: String {
            switch endpoint {
            case .tcp(let host, let port): "\(host):\(port)"
            case .unixSocket(let path): path
            }
        }

        func validate() throws(PostgresStoreError) {
            guard !schema.isEmpty, schema.utf8.count <= 63, !schema.contains("\u{0}") else {
                throw .invalidConfiguration("the schema name must be 1 to 63 bytes with no NUL, not '\(schema)'")
            }
            guard poolSize > 0 else { throw .invalidConfiguration("the pool size must be at least 1, not \(poolSize)") }
            guard !username.isEmpty else { throw .invalidConfiguration("the user name is empty") }
        }

        func clientConfiguration() -> PostgresClient.Configuration {
            var configuration: PostgresClient.Configuration
            switch endpoint {
            case .tcp(let host, let port):
                let clientTLS: PostgresClient.Configuration.TLS =
                    switch tls {
                    case .disable: .disable
                    case .prefer: .prefer(.makeClientConfiguration())
                    case .require: .require(.makeClientConfiguration())
                    }
                configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: clientTLS)
            case .unixSocket(let path):
                configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
            }
            configuration.options.maximumConnections = poolSize
            configuration.options.connectTimeout = connectTimeout
            // Every statement names its tables unqualified: the startup parameters make
            // Stepwise's schema the connection's search path ("extra run-time parameters …
            // are accepted in the startup packet", protocol-message-formats, StartupMessage).
            var parameters = [("search_path", PostgresIdentifier.quoted(schema))]
            if durability == .normal { parameters.append(("synchronous_commit", "off")) }
            configuration.options.additionalStartupParameters = parameters
            return configuration
        }

        /// The same server and settings for a single connection of postgres-nio's.
        func connectionConfiguration() throws -> PostgresConnection.Configuration {
            var configuration: PostgresConnection.Configuration
            switch endpoint {
            case .tcp(let host, let port):
                let connectionTLS: PostgresConnection.Configuration.TLS =
                    switch tls {
                    case .disable: .disable
                    case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                    case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                    }
                configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: connectionTLS)
            case .unixSocket(let path):
                configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
            }
            configuration.options.additionalStartupParameters = clientConfiguration().options.additionalStartupParameters
            return configuration
        }

        /// A URL with its password replaced, for messages.
        static func redacted(_ text: String) -> String {
            guard var components = URLComponents(string: text), components.password != nil else { return text }
            components.password = "****"
            return components.string ?? text
        }
    }
}
