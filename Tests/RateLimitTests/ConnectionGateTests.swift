import Testing
import RateLimit

@Suite struct ConnectionGateTests {
    let a = ClientAddressKey(ip: "127.0.0.1")!
    let b = ClientAddressKey(ip: "127.0.0.2")!
    let c = ClientAddressKey(ip: "127.0.0.3")!
    let second: Nanoseconds = 1_000_000_000
    let t0: Nanoseconds = 50_000_000_000

    func gate(
        max: Int = 100, perAddress: Int = 100, handshakes: Int = 100, handshakesPerAddress: Int = 100,
        perAddressRate: GCRA? = nil, globalRate: GCRA? = nil
    ) -> ConnectionGate {
        ConnectionGate(.init(
            maxConnections: max, maxPerAddress: perAddress, maxHandshakes: handshakes,
            maxHandshakesPerAddress: handshakesPerAddress,
            perAddressRate: perAddressRate, globalRate: globalRate, rateTableCapacity: 16))
    }

    /// Admit through a completed handshake, as the server would.
    func open(_ gate: inout ConnectionGate, _ key: ClientAddressKey, at now: Nanoseconds) -> ConnectionGate.Decision {
        let decision = gate.admit(key, now: now)
        if decision == .admit { gate.handshakeFinished(key) }
        return decision
    }

    @Test func perAddressCapRefusesOnlyThatAddress() {
        var gate = gate(perAddress: 2)
        #expect(open(&gate, a, at: t0) == .admit)
        #expect(open(&gate, a, at: t0) == .admit)
        #expect(open(&gate, a, at: t0) == .reject(.perAddressCap))
        #expect(open(&gate, c, at: t0) == .admit)
        gate.closed(a)
        #expect(open(&gate, a, at: t0) == .admit)
        #expect(gate.rejections[.perAddressCap] == 1)
    }

    @Test func globalCapRefusesEveryoneUntilAClose() {
        var gate = gate(max: 3)
        for key in [a, b, c] { #expect(open(&gate, key, at: t0) == .admit) }
        #expect(open(&gate, c, at: t0) == .reject(.globalCap))
        #expect(gate.active == 3)
        gate.closed(b)
        #expect(open(&gate, c, at: t0) == .admit)
    }

    @Test func handshakeCapCountsOnlyHandshakesInProgress() {
        var gate = gate(handshakes: 2)
        #expect(gate.admit(a, now: t0) == .admit)
        #expect(gate.admit(b, now: t0) == .admit)
        #expect(gate.admit(c, now: t0) == .reject(.handshakes))
        gate.handshakeFinished(a)
        #expect(gate.admit(c, now: t0) == .admit)
        gate.closed(b, duringHandshake: true)
        #expect(gate.handshaking == 1)
        #expect(gate.active == 2)
    }

    /// A few addresses holding silent connections cannot fill `maxHandshakes`: each may hold
    /// `maxHandshakesPerAddress`, released however its handshake ends.
    @Test func perAddressHandshakeCapAtItsBoundary() {
        var gate = gate(handshakesPerAddress: 3)
        for _ in 0..<3 { #expect(gate.admit(a, now: t0) == .admit) }
        #expect(gate.admit(a, now: t0) == .reject(.handshakesPerAddress))
        #expect(gate.handshakes(from: a) == 3)
        #expect(gate.admit(b, now: t0) == .admit, "another address is unaffected")
        gate.handshakeFinished(a)                              // success (or a failure reported as such)
        #expect(gate.handshakes(from: a) == 2 && gate.connections(from: a) == 3)
        #expect(gate.admit(a, now: t0) == .admit)
        #expect(gate.admit(a, now: t0) == .reject(.handshakesPerAddress))
        gate.closed(a, duringHandshake: true)                  // timeout, failure or the client left
        #expect(gate.admit(a, now: t0) == .admit)
        #expect(gate.admit(a, now: t0) == .reject(.handshakesPerAddress))
        #expect(gate.rejections[.handshakesPerAddress] == 3)
    }

    @Test func perAddressHandshakeCapActsBeforeTheGlobalOne() {
        var gate = gate(handshakes: 4, handshakesPerAddress: 2)
        #expect(gate.admit(a, now: t0) == .admit)
        #expect(gate.admit(a, now: t0) == .admit)
        #expect(gate.admit(a, now: t0) == .reject(.handshakesPerAddress))
        #expect(gate.admit(b, now: t0) == .admit)
        #expect(gate.admit(b, now: t0) == .admit)
        #expect(gate.admit(c, now: t0) == .reject(.handshakes))
    }

    @Test func perAddressRateLimitsNewConnectionsPerAddress() {
        var gate = gate(perAddressRate: GCRA(emissionInterval: second, burst: 2)!)
        #expect(open(&gate, a, at: t0) == .admit)
        #expect(open(&gate, a, at: t0) == .admit)
        #expect(open(&gate, a, at: t0) == .reject(.rateAddress))
        #expect(open(&gate, b, at: t0) == .admit, "another address is unaffected")
        #expect(open(&gate, a, at: t0 + second - 1) == .reject(.rateAddress))
        #expect(open(&gate, a, at: t0 + second) == .admit)
    }

    @Test func globalRateLimitsAllAddressesTogether() {
        var gate = gate(globalRate: GCRA(emissionInterval: second, burst: 3)!)
        #expect(open(&gate, a, at: t0) == .admit)
        #expect(open(&gate, b, at: t0) == .admit)
        #expect(open(&gate, c, at: t0) == .admit)
        #expect(open(&gate, c, at: t0) == .reject(.rateGlobal))
        #expect(open(&gate, a, at: t0 + second) == .admit)
    }

    /// A flooding address is refused on its own rate and does not use up the global one.
    @Test func floodingAddressDoesNotConsumeGlobalRate() {
        var gate = gate(perAddressRate: GCRA(emissionInterval: second, burst: 1)!,
                        globalRate: GCRA(emissionInterval: second, burst: 2)!)
        #expect(open(&gate, a, at: t0) == .admit)
        for _ in 0..<100 { #expect(open(&gate, a, at: t0) == .reject(.rateAddress)) }
        #expect(open(&gate, b, at: t0) == .admit)
    }

    /// Caps are checked before rates: a capped connection consumes no rate token.
    @Test func capRejectionConsumesNoRateToken() {
        var gate = gate(perAddress: 1, perAddressRate: GCRA(emissionInterval: second, burst: 2)!)
        #expect(open(&gate, a, at: t0) == .admit)
        for _ in 0..<10 { #expect(open(&gate, a, at: t0) == .reject(.perAddressCap)) }
        gate.closed(a)
        #expect(open(&gate, a, at: t0) == .admit)
    }

    /// At the global cap the caller closes an idle connection to make room (GateAdmission), so
    /// the cap must be reported only for a connection that passes every other check: here B,
    /// at its own cap, is refused as such and A's idle connection is left alone.
    @Test func addressAtItsCapIsNotReportedAsGlobalCap() {
        var gate = gate(max: 2, perAddress: 1)
        #expect(open(&gate, a, at: t0) == .admit)   // A: idle, oldest
        #expect(open(&gate, b, at: t0) == .admit)   // B: idle
        #expect(open(&gate, b, at: t0) == .reject(.perAddressCap))
        #expect(gate.rejections[.globalCap] == nil)
        #expect(gate.connections(from: a) == 1)
        #expect(open(&gate, c, at: t0) == .reject(.globalCap), "a client within its limits may make room")
    }

    @Test func addressOverItsRateIsNotReportedAsGlobalCap() {
        var gate = gate(max: 1, perAddressRate: GCRA(emissionInterval: second, burst: 1)!)
        #expect(open(&gate, a, at: t0) == .admit)
        gate.closed(a)
        #expect(open(&gate, b, at: t0) == .admit)   // the cap is full now
        #expect(open(&gate, a, at: t0) == .reject(.rateAddress))
    }

    /// A connection refused at the global cap or the global rate takes no per-address token
    /// (nor a global one): it is as if it never came.
    @Test func onlyAnAdmittedConnectionTakesRateTokens() {
        let slow = GCRA(emissionInterval: 10 * second, burst: 1)!
        var gate = gate(max: 1, perAddressRate: slow)
        #expect(open(&gate, a, at: t0) == .admit)
        #expect(open(&gate, b, at: t0) == .reject(.globalCap))
        gate.closed(a)
        #expect(open(&gate, b, at: t0) == .admit, "B's refusal at the cap cost it no token")

        var rated = self.gate(perAddressRate: slow, globalRate: GCRA(emissionInterval: second, burst: 1)!)
        #expect(open(&rated, a, at: t0) == .admit)
        #expect(open(&rated, b, at: t0) == .reject(.rateGlobal))
        #expect(open(&rated, b, at: t0 + second) == .admit, "B's refusal at the global rate cost it no token")
        #expect(rated.rateTableCount == 2)
    }

    /// A trusted proxy (admitted with no address) speaks for many clients: none of the
    /// per-address checks applies to it, the global ones do, and it holds no address's count.
    @Test func peerWithoutAddressIsHeldOnlyToGlobalChecks() {
        var gate = gate(max: 6, perAddress: 1, handshakes: 5, handshakesPerAddress: 1,
                        perAddressRate: GCRA(emissionInterval: second, burst: 1)!)
        for _ in 0..<4 { #expect(gate.admit(nil, now: t0) == .admit) }  // handshakes in progress
        #expect(gate.admit(a, now: t0) == .admit)
        #expect(gate.admit(a, now: t0) == .reject(.perAddressCap), "an untrusted address is not exempt")
        #expect(gate.admit(nil, now: t0) == .reject(.handshakes))
        for _ in 0..<4 { gate.handshakeFinished(nil) }
        #expect(gate.admit(nil, now: t0) == .admit)
        #expect(gate.admit(nil, now: t0) == .reject(.globalCap))
        #expect(gate.addresses == 1 && gate.connections(from: a) == 1)
        for _ in 0..<4 { gate.closed(nil) }
        gate.closed(nil, duringHandshake: true)
        gate.closed(a, duringHandshake: true)
        #expect(gate.active == 0 && gate.handshaking == 0 && gate.addresses == 0 && gate.unbalancedCalls == 0)
    }

    @Test func unbalancedCallsDoNotUnderflow() {
        var gate = gate()
        gate.closed(a)
        gate.handshakeFinished(a)
        #expect(gate.active == 0 && gate.handshaking == 0)
        #expect(gate.unbalancedCalls == 2)
    }

    @Test func addressTableHoldsOnlyOpenAddresses() {
        var gate = gate()
        for index in 0..<50 {
            _ = open(&gate, ClientAddressKey.v4(UInt32(index)), at: t0)
        }
        #expect(gate.addresses == 50)
        for index in 0..<50 { gate.closed(ClientAddressKey.v4(UInt32(index))) }
        #expect(gate.addresses == 0 && gate.active == 0)
    }

    @Test func sharedGateIsUsableFromManyTasks() async {
        let shared = SharedConnectionGate(.init(
            maxConnections: 1_000, maxPerAddress: 1_000, maxHandshakes: 1_000, maxHandshakesPerAddress: 1_000,
            perAddressRate: nil, globalRate: nil, rateTableCapacity: 16))
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let key = ClientAddressKey.v4(UInt32(task))
                    for _ in 0..<100 {
                        if shared.admit(key, now: 1) == .admit {
                            shared.handshakeFinished(key)
                            shared.closed(key)
                        }
                    }
                }
            }
        }
        let snapshot = shared.snapshot()
        #expect(snapshot.active == 0 && snapshot.handshaking == 0 && snapshot.unbalancedCalls == 0)
    }
}
