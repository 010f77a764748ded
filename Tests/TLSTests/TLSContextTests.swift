import COpenSSL
import Foundation
import NIOCore
import Synchronization
import Testing
@testable import TLS

@Suite("TLSContext, dev certificates and reload")
struct TLSContextTests {
    let fixtures = Fixtures.shared

    @Test("A key that does not match the certificate is refused, naming the file and OpenSSL's reason")
    func keyMismatch() throws {
        let wrongKey = fixtures.directory + "/" + DevCertificates.caKeyFileName
        let settings = TLSServerSettings(certificateChainFile: fixtures.chain, privateKeyFile: wrongKey)
        let error = try #require(throws: TLSError.self) { try TLSContext.server(settings) }
        #expect(error.kind == .keyMismatch)
        #expect(error.file == wrongKey)
        #expect(error.description.contains(wrongKey))
        #expect(error.description.contains("key values mismatch"))
    }

    @Test("A missing certificate file is refused with the path and the system's reason")
    func missingFile() throws {
        let settings = TLSServerSettings(certificateChainFile: "/nonexistent/chain.pem", privateKeyFile: fixtures.key)
        let error = try #require(throws: TLSError.self) { try TLSContext.server(settings) }
        #expect(error.kind == .fileUnreadable)
        #expect(error.description.contains("/nonexistent/chain.pem"))
        #expect(error.description.contains("No such file"))
    }

    @Test("A file that is not PEM is refused with OpenSSL's reason")
    func notPEM() throws {
        let path = fixtures.directory + "/garbage.pem"
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: path))
        let settings = TLSServerSettings(certificateChainFile: path, privateKeyFile: fixtures.key)
        let error = try #require(throws: TLSError.self) { try TLSContext.server(settings) }
        #expect(error.kind == .fileUnreadable)
        #expect(error.file == path)
        #expect(error.reason.contains("no start line") || error.reason.contains("PEM"))
    }

    @Test("An encrypted key is refused at once with a clear error: no passphrase prompt", .enabled(if: OpenSSLCLI.available))
    func encryptedKey() throws {
        let path = fixtures.directory + "/encrypted-\(UUID().uuidString).pem"
        let out = try OpenSSLCLI.run(["pkey", "-in", fixtures.key, "-aes256", "-passout", "pass:secret", "-out", path])
        #expect(out.status == 0, "\(out.all)")
        let settings = TLSServerSettings(certificateChainFile: fixtures.chain, privateKeyFile: path)
        let error = try #require(throws: TLSError.self) { try TLSContext.server(settings) }
        #expect(error.file == path)
        #expect(error.reason.hasPrefix("the private key is encrypted"), "\(error)")
    }

    @Test("mTLS verifies a client chain of at most four intermediates (OpenSSL's default is 100)")
    func clientChainDepth() throws {
        let context = try fixtures.serverContext(clientAuth: .optional)
        #expect(SSL_CTX_get_verify_depth(context.ctx) == 4)
    }

    @Test("mTLS without a CA file is a configuration error")
    func mTLSNeedsCA() throws {
        let settings = TLSServerSettings(
            certificateChainFile: fixtures.chain, privateKeyFile: fixtures.key, clientAuth: .required)
        let error = try #require(throws: TLSError.self) { try TLSContext.server(settings) }
        #expect(error.kind == .contextSetup)
    }

    @Test("notAfter of the leaf is exposed (for mcp_tls_cert_not_after_seconds)")
    func notAfter() throws {
        let context = try fixtures.serverContext()
        let notAfter = try #require(context.certificateNotAfter)
        let expected = Date().timeIntervalSince1970 + 365 * 86_400
        #expect(abs(notAfter - expected) < 2 * 86_400)
    }

    @Test("DevCertificates.ensure is idempotent and writes keys mode 0600")
    func devCertificatesIdempotent() throws {
        let before = try String(contentsOfFile: fixtures.chain, encoding: .utf8)
        let paths = try DevCertificates.ensure(directory: fixtures.directory)
        #expect(paths.chain == fixtures.chain)
        #expect(try String(contentsOfFile: fixtures.chain, encoding: .utf8) == before)
        let attributes = try FileManager.default.attributesOfItem(atPath: fixtures.key)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test("a key is written through a file of its own: a symbolic link planted at the temporary name is replaced, not followed")
    func keyIsNotWrittenThroughAPlantedLink() throws {
        let dir = fixtures.directory
        let victim = dir + "/victim.txt"
        try "untouched".write(toFile: victim, atomically: false, encoding: .utf8)
        let target = dir + "/planted-key.pem"
        try FileManager.default.createSymbolicLink(atPath: target + ".tmp-\(getpid())", withDestinationPath: victim)
        try DevCertificates.writePEM(privateKey: Fixtures.loadKey(fixtures.key), to: target)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "untouched")
        _ = try Fixtures.loadKey(target)  // the key went to the target, whole
        #expect((try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: target + ".tmp-\(getpid())"))
    }

    @Test("DevCertificates.ensure makes missing parent directories, and renews a certificate about to expire")
    func devCertificatesAnywhereAndRenewed() throws {
        let dir = fixtures.directory + "/nested-\(UUID().uuidString)/certs/out"
        let first = try DevCertificates.ensure(directory: dir, validityDays: 0)
        let stale = try String(contentsOfFile: first.chain, encoding: .utf8)
        let renewed = try DevCertificates.ensure(directory: dir)
        #expect(try String(contentsOfFile: renewed.chain, encoding: .utf8) != stale, "expiring today: made anew")
        let notAfter = try #require(DevCertificates.notAfter(ofFile: renewed.chain))
        #expect(notAfter > Date().timeIntervalSince1970 + 300 * 86_400)
        let kept = try String(contentsOfFile: renewed.chain, encoding: .utf8)
        _ = try DevCertificates.ensure(directory: dir)
        #expect(try String(contentsOfFile: renewed.chain, encoding: .utf8) == kept, "still good: kept")
    }

    /// Two first runs at once in one directory could leave one's key beside the other's
    /// certificate (or a CA that did not sign it): every start then failed on the mismatch
    /// until someone deleted the directory. Such a set is made anew.
    @Test func devCertificatesThatDoNotBelongTogetherAreMadeAnew() throws {
        let dir = fixtures.directory + "/mixed-\(UUID().uuidString)"
        let other = try DevCertificates.ensure(directory: dir + "/other")
        for (file, from) in [(DevCertificates.keyFileName, other.key), (DevCertificates.caFileName, other.ca)] {
            let mine = try DevCertificates.ensure(directory: dir)
            #expect(DevCertificates.isConsistent(chain: mine.chain, key: mine.key, ca: mine.ca))
            let target = dir + "/" + file
            unlink(target)
            #expect(link(from, target) == 0)
            #expect(!DevCertificates.isConsistent(chain: mine.chain, key: mine.key, ca: mine.ca), "\(file)")
            let mended = try DevCertificates.ensure(directory: dir)
            #expect(DevCertificates.isConsistent(chain: mended.chain, key: mended.key, ca: mended.ca), "\(file)")
            _ = try TLSContext.server(TLSServerSettings(certificateChainFile: mended.chain, privateKeyFile: mended.key))
        }
    }

    @Test("Reload: a change is picked up; a broken file keeps the old context; a fix is picked up")
    func reload() throws {
        let dir = fixtures.directory + "/reload-\(UUID().uuidString)"
        let (chain, key, _) = try DevCertificates.ensure(directory: dir)
        let outcomes = OutcomeLog()
        let reloader = try TLSContextReloader(
            settings: TLSServerSettings(certificateChainFile: chain, privateKeyFile: key),
            pollInterval: .milliseconds(10), observer: { outcomes.append($0) })
        let first = reloader.current
        #expect(reloader.poll().map { _ in true } == nil, "nothing changed")

        // Write-then-rename a key that does not match: refused, old context kept.
        let good = try Data(contentsOf: URL(fileURLWithPath: key))
        let otherKey = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + DevCertificates.caKeyFileName))
        try otherKey.write(to: URL(fileURLWithPath: key + ".new"))
        #expect(rename(key + ".new", key) == 0)
        let failed = try #require(reloader.poll())
        guard case .failure(let error) = failed else { Issue.record("expected failure"); return }
        #expect(error.kind == .keyMismatch)
        #expect(reloader.current === first)
        #expect(reloader.poll().map { _ in true } == nil, "no retry until the files change again")

        // Put the right key back (new inode): picked up.
        try good.write(to: URL(fileURLWithPath: key + ".new"))
        #expect(rename(key + ".new", key) == 0)
        let fixed = try #require(reloader.poll())
        guard case .success(let context) = fixed else { Issue.record("expected success"); return }
        #expect(reloader.current === context)
        #expect(context !== first)
        #expect(outcomes.count == 2)
    }

    @Test("A reload refuses a certificate outside its validity window and keeps the current one")
    func reloadRefusesAnExpiredCertificate() throws {
        let dir = fixtures.directory + "/validity-\(UUID().uuidString)"
        let (chain, key, _) = try DevCertificates.ensure(directory: dir)
        let clock = Clock()
        let reloader = try TLSContextReloader(
            settings: TLSServerSettings(certificateChainFile: chain, privateKeyFile: key), now: { clock.seconds })
        let first = reloader.current
        let notAfter = try #require(first.certificateNotAfter)
        let notBefore = try #require(first.certificateNotBefore)
        for (moment, words) in [(notAfter, "expired"), (notBefore - 1, "not valid before")] {
            clock.seconds = moment
            guard case .failure(let error) = reloader.reload() else { Issue.record("accepted at \(moment)"); continue }
            #expect(error.reason.contains(words) && error.file == chain, "\(error)")
            #expect(reloader.current === first)
        }
        clock.seconds = notAfter - 1
        guard case .success(let context) = reloader.reload() else { Issue.record("refused inside the window"); return }
        #expect(reloader.current === context)
        // What start-up says of the certificate it serves (it skipped the check entirely).
        #expect(reloader.validityProblem == nil)
        clock.seconds = notAfter
        #expect(reloader.validityProblem?.kind == .certificateExpired)
        clock.seconds = notBefore - 1
        #expect(reloader.validityProblem?.kind == .certificateNotYetValid)
    }

    @Test("A certificate not valid yet is tried again once it is valid, not at every poll before; an expired one is not")
    func notYetValidIsRetried() throws {
        let dir = fixtures.directory + "/skew-\(UUID().uuidString)"
        let (chain, key, _) = try DevCertificates.ensure(directory: dir)
        let clock = Clock()
        let reloader = try TLSContextReloader(
            settings: TLSServerSettings(certificateChainFile: chain, privateKeyFile: key), now: { clock.seconds })
        let first = reloader.current
        // New files, but our clock is a little behind the CA's.
        let fresh = try DevCertificates.ensure(directory: dir + "/fresh")
        let notBefore = try #require(TLSContext.server(TLSServerSettings(certificateChainFile: fresh.chain, privateKeyFile: fresh.key)).certificateNotBefore)
        for (from, to) in [(fresh.key, key), (fresh.chain, chain)] { #expect(rename(from, to) == 0) }
        clock.seconds = notBefore - 2
        guard case .failure(let early) = reloader.poll() else { Issue.record("accepted before notBefore"); return }
        #expect(early.kind == .certificateNotYetValid)
        #expect(reloader.current === first)
        clock.seconds = notBefore - 1
        #expect(reloader.poll() == nil, "not valid yet: no failed reload logged and counted at every poll")
        clock.seconds = notBefore + 1
        guard case .success(let later) = reloader.poll() else { Issue.record("not retried once valid"); return }
        #expect(reloader.current === later)
        // Expired: refused once, then left alone until the files change.
        clock.seconds = (later.certificateNotAfter ?? 0) + 1
        let again = try DevCertificates.ensure(directory: dir + "/again")
        for (from, to) in [(again.key, key), (again.chain, chain)] { #expect(rename(from, to) == 0) }
        guard case .failure(let expired) = reloader.poll() else { Issue.record("accepted an expired certificate"); return }
        #expect(expired.kind == .certificateExpired)
        #expect(reloader.poll() == nil)
    }

    /// An ACME hook that writes the key readable by root only: the reload fails for
    /// permissions, and the `chmod` that mends it changes neither inode, size nor mtime.
    @Test("A poll retries a failed reload after a chmod of the files (their ctime changes), without a SIGHUP")
    func chmodIsSeen() throws {
        let dir = fixtures.directory + "/chmod-\(UUID().uuidString)"
        let (chain, key, _) = try DevCertificates.ensure(directory: dir)
        let reloader = try TLSContextReloader(settings: TLSServerSettings(certificateChainFile: chain, privateKeyFile: key))
        #expect(reloader.poll() == nil)
        // Kernels before 6.13 move ctime in clock ticks (up to 10 ms): let one pass.
        Thread.sleep(forTimeInterval: 0.05)
        #expect(chmod(key, 0o600) == 0)  // the same mode: only the ctime moves
        guard case .success = reloader.poll() else { Issue.record("a chmod was not seen"); return }
        #expect(reloader.poll() == nil)
    }

    @Test("With session tickets on, a poll rebuilds the context once the ticket keys reach their lifetime")
    func ticketKeysRotate() throws {
        let dir = fixtures.directory + "/tickets-\(UUID().uuidString)"
        let (chain, key, _) = try DevCertificates.ensure(directory: dir)
        let off = try TLSContextReloader(
            settings: TLSServerSettings(certificateChainFile: chain, privateKeyFile: key), ticketKeyLifetime: .zero)
        #expect(off.poll() == nil, "tickets off: nothing to rotate")
        let on = try TLSContextReloader(
            settings: TLSServerSettings(certificateChainFile: chain, privateKeyFile: key, sessionTickets: true),
            ticketKeyLifetime: .milliseconds(50))
        let first = on.current
        #expect(on.poll() == nil, "keys still young")
        Thread.sleep(forTimeInterval: 0.06)
        guard case .success(let rotated) = on.poll() else { Issue.record("no rotation"); return }
        #expect(rotated !== first && on.current === rotated)
        #expect(on.poll() == nil, "the new keys are young again")
    }

    /// Tickets expire an hour after issue whatever the rotation does (OpenSSL's default is two
    /// hours), and the poll loop wakes for the rotation when `reload_interval` is longer.
    @Test func ticketsExpireWithTheirKeys() throws {
        let dir = fixtures.directory + "/ticket-life-\(UUID().uuidString)"
        let (chain, key, _) = try DevCertificates.ensure(directory: dir)
        let settings = TLSServerSettings(certificateChainFile: chain, privateKeyFile: key, sessionTickets: true)
        #expect(try TLSContext.server(settings).sessionTimeoutSeconds == 3600)
        let slowPoll = try TLSContextReloader(settings: settings, pollInterval: .seconds(7200), ticketKeyLifetime: .seconds(3600))
        #expect(slowPoll.nextWait() <= .seconds(3600))
        var off = settings
        off.sessionTickets = false
        #expect(try TLSContextReloader(settings: off, pollInterval: .seconds(7200)).nextWait() == .seconds(7200))
    }

    /// A failure that says nothing about the files (out of descriptors: EMFILE) is not
    /// remembered as theirs: the next poll builds from them again. Remembered, the new
    /// certificate waited for another change or a SIGHUP, and the old one served on.
    @Test func aTransientFailureIsTriedAgainAtTheNextPoll() throws {
        let dir = fixtures.directory + "/transient-\(UUID().uuidString)"
        let (chain, key, _) = try DevCertificates.ensure(directory: dir)
        let failNext = Mutex(false)
        /// Builds from the files, or fails as out of descriptors while `failNext` is set.
        func reloader(tickets: Bool = false, poll: Duration = .seconds(5)) throws -> TLSContextReloader {
            try TLSContextReloader(
                settings: TLSServerSettings(certificateChainFile: chain, privateKeyFile: key, sessionTickets: tickets),
                pollInterval: poll, ticketKeyLifetime: .milliseconds(20),
                build: { (settings: TLSServerSettings) throws(TLSError) -> TLSContext in
                    if failNext.withLock({ $0 }) {
                        var error = TLSError(kind: .fileUnreadable, reason: "cannot open: Too many open files", file: settings.certificateChainFile)
                        error.isTransient = true
                        throw error
                    }
                    return try TLSContext.server(settings)
                })
        }
        let files = try reloader()
        let first = files.current
        Thread.sleep(forTimeInterval: 0.05)
        #expect(chmod(key, 0o600) == 0)  // the files change (their ctime)
        #expect(files.nextWait() == .seconds(5))
        failNext.withLock { $0 = true }
        guard case .failure = files.poll() else { Issue.record("the build did not fail"); return }
        failNext.withLock { $0 = false }
        guard case .success(let second) = files.poll() else { Issue.record("not tried again"); return }
        #expect(second !== first && files.current === second)
        #expect(files.poll() == nil)

        // With the ticket keys overdue, such a failure is tried again a poll interval later
        // (at most 30 s), not every millisecond (each try logged and counted).
        let tickets = try reloader(tickets: true)
        let daily = try reloader(tickets: true, poll: .seconds(86_400))
        Thread.sleep(forTimeInterval: 0.03)
        #expect(tickets.nextWait() == .milliseconds(1), "overdue keys: rotate at once")
        failNext.withLock { $0 = true }
        guard case .failure = tickets.poll() else { Issue.record("the rotation did not fail"); return }
        #expect(tickets.nextWait() == .seconds(5))
        guard case .failure = daily.poll() else { Issue.record("the daily rotation did not fail"); return }
        #expect(daily.nextWait() == .seconds(30), "not the day's poll interval")
        failNext.withLock { $0 = false }
        guard case .success = tickets.poll() else { Issue.record("the rotation was not tried again"); return }
        #expect(tickets.nextWait() <= .milliseconds(20))
    }

    @Test("run() notices a replaced certificate within a few poll intervals and stops on cancel")
    func runLoop() async throws {
        let dir = fixtures.directory + "/run-\(UUID().uuidString)"
        let (chain, key, _) = try DevCertificates.ensure(directory: dir)
        let reloader = try TLSContextReloader(
            settings: TLSServerSettings(certificateChainFile: chain, privateKeyFile: key), pollInterval: .milliseconds(20))
        let first = reloader.current
        let task = Task { await reloader.run() }
        // New certificate + key for the same names, written then renamed into place.
        let fresh = try DevCertificates.ensure(directory: dir + "/fresh")
        for (from, to) in [(fresh.key, key), (fresh.chain, chain)] {
            #expect(rename(from, to) == 0)
        }
        var swapped = false
        for _ in 0..<100 where !swapped {  // ≤ 2 s
            try await Task.sleep(for: .milliseconds(20))
            swapped = reloader.current !== first
        }
        task.cancel()
        await task.value
        #expect(swapped)
    }

    @Test("A live connection keeps the context it started with across a reload")
    func liveConnectionKeepsContext() throws {
        let reloader = try TLSContextReloader(
            settings: TLSServerSettings(certificateChainFile: fixtures.chain, privateKeyFile: fixtures.key))
        let pair = try Pair(serverContext: reloader.current, clientContext: fixtures.clientContext())
        defer { pair.finish() }
        try pair.handshake()
        _ = reloader.reload()
        try pair.client.writeAndFlush(ByteBuffer(string: "after reload")).wait()
        try pair.pump()
        #expect(pair.serverRecorder.text == "after reload")
    }
}


final class OutcomeLog: Sendable {
    private let items = Mutex<[Result<TLSContext, TLSError>]>([])
    func append(_ item: Result<TLSContext, TLSError>) { items.withLock { $0.append(item) } }
    var count: Int { items.withLock { $0.count } }
}

/// A settable wall clock for the validity check.
final class Clock: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0.0
    var seconds: Double {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
