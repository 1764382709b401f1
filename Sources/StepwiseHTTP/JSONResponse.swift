import Hummingbird
import NIOCore
import Stepwise

/// JSON answers, written with Stepwise's own ``JSON`` so that payloads go out exactly as they
/// were stored (key order included).
enum JSONResponse {
    static func make(_ body: JSON, status: HTTPResponse.Status = .ok) -> Response {
        let bytes = body.serializedUTF8
        var buffer = ByteBuffer()
        buffer.reserveCapacity(bytes.count + 1)
        buffer.writeBytes(bytes)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return Response(
            status: status,
            headers: [.contentType: "application/json", .contentLength: "\(buffer.readableBytes)"],
            body: .init(byteBuffer: buffer))
    }
}
