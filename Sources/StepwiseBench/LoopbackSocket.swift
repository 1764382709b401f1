import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A non-blocking TCP socket to 127.0.0.1, for clients that behave as no HTTP library would:
/// thousands of them held open, silent or stalled. Loopback only, by construction: the address
/// is not a parameter.
///
/// Not `Sendable`: each scenario makes and uses its sockets on one thread of its own.
final class LoopbackSocket {
    private(set) var descriptor: Int32

    /// Starts connecting to 127.0.0.1:`port` without waiting for the connection to complete.
    init(port: Int) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw LoopbackSocketError("socket: errno \(errno) (raise ulimit -n?)") }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 || errno == EINPROGRESS else {
            closeDescriptor(descriptor)
            throw LoopbackSocketError("connect: errno \(errno)")
        }
    }

    deinit { if descriptor >= 0 { closeDescriptor(descriptor) } }

    /// Sends what the kernel takes now: the count sent (0 when it takes nothing yet), or `nil`
    /// once the connection is gone.
    func send(_ bytes: ArraySlice<UInt8>) -> Int? {
        #if canImport(Glibc)
        let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #else
        let sent = bytes.withUnsafeBytes { Darwin.send(descriptor, $0.baseAddress, $0.count, 0) }
        #endif
        if sent >= 0 { return sent }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN ? 0 : nil
    }

    /// Reads what has arrived, waiting up to `milliseconds`: the bytes (empty when none came),
    /// or `nil` at end of stream or on an error.
    func receive(waiting milliseconds: Int32) -> [UInt8]? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, milliseconds) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count > 0 { return Array(buffer[..<count]) }
        if count < 0, errno == EAGAIN || errno == EWOULDBLOCK { return [] }
        return nil
    }

    func close() {
        guard descriptor >= 0 else { return }
        closeDescriptor(descriptor)
        descriptor = -1
    }
}

private func closeDescriptor(_ descriptor: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(descriptor)
    #else
    _ = Darwin.close(descriptor)
    #endif
}

/// Gives the C allocator's free memory back to the system (glibc's `malloc_trim`, found at run
/// time since the Glibc module does not declare it), so that a measurement after a phase that
/// allocated much starts from what is in use; does nothing elsewhere.
func returnFreeMemoryToSystem() {
    #if canImport(Glibc)
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
    typealias MallocTrim = @convention(c) (Int) -> Int32
    _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    #endif
}

struct LoopbackSocketError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs blocking socket code on a thread of its own, off the cooperative pool, which the
/// server in this process needs.
func onOwnThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// This process's resident memory, in MiB, from /proc/self/status (`VmRSS`); `nil` where there
/// is no /proc.
func residentMemoryMiB(_ field: String = "VmRSS") -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first
        return kilobytes.map { $0 / 1024 }
    }
    return nil
}

/// Raises this process's soft limit on open files (`ulimit -n`) to at least `wanted`, within
/// the hard limit; returns the limit now in force.
func raiseOpenFileLimit(to wanted: Int) -> Int {
    var limit = rlimit()
    #if os(Linux)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    guard getrlimit(resource, &limit) == 0 else { return -1 }
    if limit.rlim_cur < rlim_t(wanted) {
        limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
        _ = setrlimit(resource, &limit)
        _ = getrlimit(resource, &limit)
    }
    return Int(clamping: limit.rlim_cur)
}
