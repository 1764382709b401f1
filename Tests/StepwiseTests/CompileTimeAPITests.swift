import Foundation
import Testing

/// What must not compile: user code type-checked against the Stepwise module just built.
///
/// Each case runs `swiftc -typecheck` on a few lines of user code, with the built modules
/// (`.build/…/debug/Modules`) on the import path: a second or two, against the module this
/// test run built, and no fixture target to slow every build down. Every case is paired with
/// a control, the same code with the one change that makes it right, which must type-check:
/// so a missing toolchain or module fails the test instead of passing it by a wrong error.
@Suite("Compile-time API checks")
struct CompileTimeAPITests {
    /// The user's code around `body`: a function whose steps the cases fill in.
    static func program(_ body: String) -> String {
        """
        import Stepwise

        struct NotCodable: Sendable { let value: Int }
        struct Receipt: Codable, Sendable { let value: Int }

        func define(_ stepwise: StepwiseClient) throws {
            try stepwise.createFunction(id: "f", trigger: .event("e")) { event, step in
                \(body)
            }
        }
        """
    }

    @Test(
        "a step.run result that is not Codable does not compile, where a Codable one does",
        arguments: [
            // The result is a value that is not Codable: with the old `Void` overload this
            // compiled and recorded `null`.
            (#"_ = try await step.run("s") { NotCodable(value: 1) }"#, #"_ = try await step.run("s") { Receipt(value: 1) }"#),
            (#"let x = try await step.run("s") { NotCodable(value: 1) }; _ = x"#, #"let x = try await step.run("s") { Receipt(value: 1) }; _ = x"#),
            // A body that returns nothing is `perform`, not `run`.
            (#"try await step.run("s") { print("side effect") }"#, #"try await step.perform("s") { print("side effect") }"#),
        ])
    func nonCodableStepResult(wrong: String, right: String) throws {
        let control = try TypeCheck.run(Self.program(right))
        try #require(control.succeeded, "the control must type-check, or this test proves nothing:\n\(control.diagnostics)")
        let result = try TypeCheck.run(Self.program(wrong))
        #expect(!result.succeeded, "compiled, but must not:\n\(wrong)")
        #expect(result.diagnostics.contains("conform to 'Encodable'") || result.diagnostics.contains("conform to 'Decodable'"),
                "\(result.diagnostics)")
    }
}

/// `swiftc -typecheck` of one source file against the modules this test run was built with.
enum TypeCheck {
    struct Result {
        let succeeded: Bool
        let diagnostics: String
    }

    struct SetupError: Error, CustomStringConvertible {
        let description: String
    }

    /// The package's root, from this file's path (`Tests/StepwiseTests/…`).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The directory of the built `.swiftmodule`s: beside the test executable, under `Modules`.
    static func modulesDirectory() throws -> URL {
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let modules = directory.appendingPathComponent("Modules")
            if FileManager.default.fileExists(atPath: modules.appendingPathComponent("Stepwise.swiftmodule").path) {
                return modules
            }
            directory = directory.deletingLastPathComponent()
        }
        throw SetupError(description: "no Modules/Stepwise.swiftmodule near the test executable")
    }

    static func run(_ source: String) throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stepwise-typecheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("main.swift")
        try source.write(to: file, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "swiftc", "-typecheck", "-swift-version", "6",
            "-I", try modulesDirectory().path,
            // Stepwise imports the CSQLite system library, whose module map its clients load too.
            "-Xcc", "-fmodule-map-file=\(packageRoot.appendingPathComponent("Sources/CSQLite/module.modulemap").path)",
            file.path,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(succeeded: process.terminationStatus == 0, diagnostics: String(decoding: data, as: UTF8.self))
    }
}
