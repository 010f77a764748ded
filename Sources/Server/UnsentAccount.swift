import NIOCore

/// One connection's bytes handed down and not yet written, told to the shared budget on every
/// change. Every counted write carries a promise, and NIO completes (or fails, at the close)
/// each one, so the count returns to 0 by the time the connection is gone.
///
/// An answer is one write, so its count falls only once all of it is out. While it holds
/// bytes the account looks once every ``SharedByteBudget/progressInterval`` at NIO's buffered bytes:
/// when they rose by less than it handed down since the last look, the kernel took some, and
/// the budget hears of the progress. The first look after an answer starts only takes the
/// measure: at its first flush the kernel takes a socket buffer's worth even from a client
/// that never reads, which is no progress of the client's.
final class UnsentAccount {
    private let budget: SharedByteBudget
    private let channel: any Channel
    private let pendingBytes: (any Channel) -> Int
    private(set) var bytes = 0
    /// Whether a look is scheduled. It is never cancelled (a cancel walks the loop's
    /// timers); it stops itself once nothing is held.
    private var looking = false
    /// NIO's buffered bytes at the last look (nil: the next look only takes the measure), and
    /// the counted bytes handed down since.
    private var lastPending: Int?
    private var handedSinceLook = 0

    init(budget: SharedByteBudget, channel: any Channel, pendingBytes: @escaping (any Channel) -> Int) {
        self.budget = budget
        self.channel = channel
        self.pendingBytes = pendingBytes
    }

    func handed(_ count: Int) {
        if bytes == 0 {
            lastPending = nil
            if !looking { scheduleLook() }
        }
        bytes += count
        handedSinceLook += count
        budget.change(count, on: channel)
    }

    func taken(_ count: Int) {
        bytes -= count
        budget.change(-count, on: channel)
    }

    private func scheduleLook() {
        looking = true
        channel.eventLoop.assumeIsolated().scheduleTask(in: budget.progressInterval) { [self] in
            looking = false
            guard bytes > 0 else { return }
            let pending = pendingBytes(channel)
            if let lastPending, pending < lastPending + handedSinceLook { budget.progressed(on: channel) }
            (lastPending, handedSinceLook) = (pending, 0)
            scheduleLook()
        }
    }

    deinit {
        if bytes > 0 { budget.change(-bytes, on: channel) }
    }
}
