import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs blocking socket code on a thread of its own, off the cooperative pool: on a machine
/// with two cores, a test polling a socket there would starve the very server it waits for.
func blocking<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

/// A TCP connection to a loopback server through plain POSIX sockets, for the clients no HTTP
/// library would be: silent, slow, stalled, malformed, or gone mid-request.
///
/// `@unchecked Sendable`: a test hands a connection to one ``blocking(_:)`` thread at a time,
/// and never uses it from two at once.
final class RawConnection: @unchecked Sendable {
    private(set) var descriptor: Int32

    /// Connects to 127.0.0.1 at the port of `url` (`http://127.0.0.1:PORT`).
    init(_ url: String) throws {
        guard let port = URL(string: url)?.port else { throw TestFailure("no port in \(url)") }
        #if canImport(Glibc)
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            close(descriptor)
            throw TestFailure("connect: errno \(errno)")
        }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Sends all of `bytes`; `false` once the server has closed or reset the connection.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { systemSend(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Sends what fits without waiting; how many bytes went, or `nil` once the connection is gone.
    func sendWithoutWaiting(_ bytes: [UInt8]) -> Int? {
        let sent = bytes.withUnsafeBytes { systemSend(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        if sent >= 0 { return sent }
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : nil
    }

    /// What arrives within `timeout`: the bytes, and whether the server closed (or reset) the
    /// connection. Returns early at end of stream, or once `until` holds for what was read.
    func receive(for timeout: Duration, until: ([UInt8]) -> Bool = { _ in false }) -> (bytes: [UInt8], closed: Bool) {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            if until(received) { return (received, false) }
            let remaining = deadline - ContinuousClock.now
            let milliseconds = Int32(max(1, remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000))
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, milliseconds) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return (received, true) }
            received += buffer[..<count]
        }
        return (received, false)
    }

    /// Closes with a reset instead of an orderly close, as a client that crashed would.
    func reset() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        close(descriptor)
        descriptor = -1
    }
}

private func systemSend(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int {
    #if canImport(Glibc)
    Glibc.send(descriptor, bytes, count, flags)
    #else
    Darwin.send(descriptor, bytes, count, flags)
    #endif
}

extension Array where Element == UInt8 {
    /// The bytes as text, invalid UTF-8 repaired: for reading answers in tests.
    var text: String { String(decoding: self, as: UTF8.self) }
}
