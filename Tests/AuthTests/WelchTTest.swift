#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Timing measurement and Welch's t-test, in the style of dudect (Reparaz, Balasch, Verbauwhede,
/// "Dude, is my code constant time?", 2017): interleave the input classes at random, time each
/// call with the monotonic clock, crop the slow tail (preemption, interrupts), and compare the
/// means. |t| above 4.5 rejects "same distribution" with overwhelming confidence.
enum TimingHarness {
    /// Monotonic nanoseconds via `clock_gettime`.
    @inline(__always)
    static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// Runs `operation(classIndex)` `samplesPerClass` times per class in a seeded random
    /// interleaving and returns each class's durations. Loop count is fixed: bounded in time.
    static func measure(classes: Int, samplesPerClass: Int, seed: UInt64 = 0x5EED,
                        _ operation: (Int) -> Void) -> [[UInt64]] {
        var order: [Int] = []
        order.reserveCapacity(classes * samplesPerClass)
        for index in 0..<classes { order += Array(repeating: index, count: samplesPerClass) }
        var generator = SeededGenerator(state: seed)
        order.shuffle(using: &generator)
        // Warm-up so caches, branch predictors and lazy allocations settle before measuring.
        for index in order.prefix(2_000) { operation(index) }
        var samples = Array(repeating: [UInt64](), count: classes)
        for index in 0..<classes { samples[index].reserveCapacity(samplesPerClass) }
        for index in order {
            let start = nanoseconds()
            operation(index)
            let end = nanoseconds()
            samples[index].append(end &- start)
        }
        return samples
    }

    /// Welch's t statistic of two samples after dropping values above the pooled `keep` quantile.
    static func welchT(_ first: [UInt64], _ second: [UInt64], keep: Double = 0.95) -> Double {
        let pooled = (first + second).sorted()
        let threshold = pooled[min(pooled.count - 1, Int(Double(pooled.count) * keep))]
        let a = first.filter { $0 <= threshold }.map { Double($0) }
        let b = second.filter { $0 <= threshold }.map { Double($0) }
        let (meanA, varianceA) = meanAndVariance(a)
        let (meanB, varianceB) = meanAndVariance(b)
        let standardError = (varianceA / Double(a.count) + varianceB / Double(b.count)).squareRoot()
        guard standardError > 0 else { return meanA == meanB ? 0 : .infinity }
        return (meanA - meanB) / standardError
    }

    static func meanAndVariance(_ values: [Double]) -> (Double, Double) {
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        return (mean, variance)
    }

    static func median(_ values: [UInt64]) -> UInt64 { values.sorted()[values.count / 2] }
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Keeps a value observable so the optimiser cannot drop the measured call.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
