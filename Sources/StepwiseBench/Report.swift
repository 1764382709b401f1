import Foundation

/// One measured metric next to its baseline.
struct Measurement {
    let workload: String
    let metric: String
    let value: Double
    let unit: String
    let baseline: Double
    /// Whether a larger value is better (rates) or a smaller one (latencies).
    var higherIsBetter = true

    /// How Stepwise compares with its baseline: value / baseline for rates, so that above 1
    /// is faster than the baseline, and the same for latencies (where above 1 is slower).
    var ratio: Double { baseline == 0 ? 0 : value / baseline }

    var jsonLine: String {
        func number(_ value: Double) -> String {
            value.isFinite ? String(format: "%.3f", value) : "null"
        }
        return #"{"workload":"\#(workload)","metric":"\#(metric)","value":\#(number(value)),"unit":"\#(unit)","baseline":\#(number(baseline)),"ratio":\#(number(ratio))}"#
    }
}

/// Prints measurements as they come: a JSON line each, or a row of a table.
struct Reporter {
    let json: Bool

    func header(_ title: String) {
        guard !json else { return }
        print(title)
        print(pad("metric", 14) + pad("stepwise", 16) + pad("baseline", 16) + "ratio")
    }

    func report(_ measurement: Measurement) {
        if json {
            print(measurement.jsonLine)
        } else {
            print(
                pad(measurement.metric, 14)
                    + pad(String(format: measurement.unit == "ms" ? "%.2f %@" : "%.0f %@", measurement.value, measurement.unit), 16)
                    + pad(String(format: measurement.unit == "ms" ? "%.2f" : "%.0f", measurement.baseline), 16)
                    + String(format: "%.2f", measurement.ratio))
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Seconds taken by `body`, on a monotonic clock.
func measure(_ body: () async throws -> Void) async rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    let elapsed = clock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
