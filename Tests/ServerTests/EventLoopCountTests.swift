import Foundation
import Testing
@testable import MCPServerKit

@Suite struct EventLoopCountTests {
    static let status = "Name:\taxinova-mcp-ser\nThreads:\t7\nCpus_allowed:\t00000003\nCpus_allowed_list:\t0-1\n"

    @Test func affinityMaskBoundsTheCount() {
        // taskset -c 0 on an 8-core machine: one loop, not eight taking turns on one CPU.
        let pinned = Self.status.replacingOccurrences(of: "00000003", with: "00000001")
        #expect(EventLoopCount.suggestion(environment: [:], coreCount: 8, processStatus: pinned) == 1)
        // The mask allows more CPUs than NIO counts (a cgroup quota): NIO's count stays.
        let wide = Self.status.replacingOccurrences(of: "00000003", with: "ff,ffffffff")
        #expect(EventLoopCount.suggestion(environment: [:], coreCount: 2, processStatus: wide) == 2)
        #expect(EventLoopCount.allowedCPUs(inStatus: wide) == 40)
    }

    @Test func anOperatorsSettingIsLeftToNIO() {
        let environment = ["NIO_SINGLETON_GROUP_LOOP_COUNT": "3"]
        #expect(EventLoopCount.suggestion(environment: environment, coreCount: 8, processStatus: Self.status) == nil)
        // Not a number: NIO would fall back to its core count, past the affinity mask.
        for unreadable in ["", "two", "3 "] {
            #expect(EventLoopCount.suggestion(environment: ["NIO_SINGLETON_GROUP_LOOP_COUNT": unreadable], coreCount: 8,
                                              processStatus: Self.status) == 2)
        }
    }

    @Test func noMaskMeansTheCoreCount() {
        #expect(EventLoopCount.suggestion(environment: [:], coreCount: 4, processStatus: nil) == 4)
        #expect(EventLoopCount.suggestion(environment: [:], coreCount: 4, processStatus: "Name:\tx\n") == 4)
        #expect(EventLoopCount.allowedCPUs(inStatus: "Cpus_allowed:\t0\n") == nil)
    }
}
