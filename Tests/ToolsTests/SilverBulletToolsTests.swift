import MCPCore
import Synchronization
import Testing
@testable import Tools

/// SilverBullet file API (tools-catalogue.md, SilverBullet table).
@Suite struct SilverBulletToolsTests {
    func withSpace(token: String = "sbtoken", _ body: (FakeBackend, [ToolDefinition]) async throws -> Void) async throws {
        let fake = try await FakeBackend.start { request in
            switch (request.method, request.path) {
            case ("GET", "/.fs"):
                .json(#"[{"name":"Home.md","size":10},{"name":"Notes/Kubernetes.md","size":20},{"name":"img.png","size":5},{"name":"Other.md","size":3}]"#)
            case ("GET", "/.fs/Home.md"): .text("# Home\nwelcome\n")
            case ("GET", "/.fs/Notes/Kubernetes.md"): .text("pods and nodes\nHOME lab cluster\n")
            case ("GET", "/.fs/Other.md"): .text("nothing\n")
            case ("GET", _): .text("Not found", status: 404)
            default: .respond(200, [], [])
            }
        }
        try await body(fake, tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: token))))
        await fake.stop()
    }

    @Test func everyRequestSendsSyncModeAndBearer() async throws {
        try await withSpace { fake, tools in
            #expect(await call(tools, "silverbullet_list_pages").error == nil)
            #expect(await call(tools, "silverbullet_get_page", ["page_name": "Home"]).text == "# Home\nwelcome\n")
            #expect(fake.last?.path == "/.fs/Home.md")
            for request in fake.requests {
                #expect(request.header("X-Sync-Mode") == "true")
                #expect(request.header("Authorization") == "Bearer sbtoken")
            }
        }
    }

    @Test func userColonPasswordIsBasicAuth() async throws {
        try await withSpace(token: "alice:s3cret") { fake, tools in
            _ = await call(tools, "silverbullet_list_pages")
            #expect(fake.last?.header("Authorization") == "Basic " + Base64.encode(Array("alice:s3cret".utf8)))
        }
    }

    @Test func createRefusesAnExistingPageAndPutsMarkdown() async throws {
        try await withSpace { fake, tools in
            let exists = await call(tools, "silverbullet_create_page", ["page_name": "Home", "content": "x"])
            #expect(exists.error?.kind == .invalidArgument)
            #expect(!fake.requests.contains { $0.method == "PUT" })

            let created = await call(tools, "silverbullet_create_page", ["page_name": "Journal/2026 01", "content": "# Day\n"])
            #expect(created.error == nil)
            #expect(fake.last?.method == "PUT" && fake.last?.path == "/.fs/Journal/2026%2001.md")
            #expect(fake.last?.text == "# Day\n")
            #expect(fake.last?.header("Content-Type")?.hasPrefix("text/markdown") == true)

            _ = await call(tools, "silverbullet_update_page", ["page_name": "Home.md", "content": "new"])
            #expect(fake.last?.method == "PUT" && fake.last?.path == "/.fs/Home.md" && fake.last?.text == "new")
            _ = await call(tools, "silverbullet_delete_page", ["page_name": "Home"])
            #expect(fake.last?.method == "DELETE" && fake.last?.path == "/.fs/Home.md")
        }
    }

    /// "../\u{301}x": "/" and the combining mark are one Character, so a Character split
    /// saw one segment, not "..", and sent it as ..%2F%CC%81x.
    @Test(arguments: ["../etc/passwd", "a//b", "./x", "", "bad\u{01}name", "../\u{301}x", "a/..\u{301}/../../b", "x/.\u{301}/./y"])
    func pageNamesCannotEscapeTheSpace(_ name: String) async throws {
        try await withSpace { fake, tools in
            #expect(await call(tools, "silverbullet_get_page", ["page_name": .string(name)]).error?.kind == .invalidArgument)
            #expect(fake.requests.isEmpty)
        }
    }

    /// A combining mark after "/" stays in the next segment: the separator is never encoded.
    @Test func aSlashIsNeverPercentEncoded() async throws {
        try await withSpace { fake, tools in
            _ = await call(tools, "silverbullet_get_page", ["page_name": "Notes/\u{301}x"])
            #expect(fake.last?.path == "/.fs/Notes/%CC%81x.md")
            #expect(!fake.requests.contains { $0.path.uppercased().contains("%2F") })
        }
        #expect(PercentEncoding.encodePath("a/\u{301}b/c") == "a/%CC%81b/c")
    }

    /// Names in the backend's listing follow the page-name rules too; a bad one is skipped.
    @Test func searchSkipsListedNamesThatLeaveTheSpace() async throws {
        let fake = try await FakeBackend.start { request in
            switch request.path {
            case "/.fs": .json(#"[{"name":"../../admin.md"},{"name":"../\u0301admin.md"},{"name":"a//admin.md"},{"name":"ok/admin.md"}]"#)
            default: .text("admin\n")
            }
        }
        let tools = tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t")))
        let outcome = await call(tools, "silverbullet_search_pages", ["query": "admin"])
        #expect(outcome.json?["results"]?.arrayValue?.map { $0["page_name"] } == ["ok/admin"])
        #expect(fake.requests.map(\.path) == ["/.fs", "/.fs/ok/admin.md"])
        // Named and counted, not dropped without a word: the search is not complete.
        #expect(outcome.json?["pages_unreadable"]?.arrayValue?.count == 3)
        #expect(outcome.json?["pages_total"] == 4)
        #expect(outcome.json?["complete"] == false)
        await fake.stop()
    }

    /// The schema counts a name's characters, and so does the check (it counted bytes: 200
    /// CJK characters passed the schema and were refused as if the name left the space).
    @Test func aPageNameIsMeasuredInCharacters() async throws {
        try await withSpace { fake, tools in
            let wide = String(repeating: "漢", count: 200)
            _ = await call(tools, "silverbullet_get_page", ["page_name": .string(wide)])
            #expect(fake.last?.path == "/.fs/" + PercentEncoding.encodePath(wide) + ".md")
            let long = await call(tools, "silverbullet_get_page", ["page_name": .string(String(repeating: "a", count: 513))])
            #expect(long.error?.kind == .invalidArgument)
        }
        #expect(SilverBulletTools.filePath(page: String(repeating: "漢", count: 512)) != nil)
        #expect(SilverBulletTools.filePath(page: String(repeating: "漢", count: 513)) == nil)
    }

    /// A snippet shows the match: the first 200 characters of a long paragraph often left it
    /// out. Lines end at CRLF too ("\r\n" is one Character: a page with CRLF endings was one
    /// line, and its snippet the page's start).
    @Test func snippetsShowTheMatch() {
        let paragraph = Substring(String(repeating: "word ", count: 120) + "the needle here " + String(repeating: "more ", count: 100))
        let snippet = SilverBulletTools.snippet(of: paragraph, around: "NEEDLE")
        #expect(snippet.contains("the needle here") && snippet.hasPrefix("…") && snippet.hasSuffix("…"))
        #expect(snippet.count == 202)
        #expect(SilverBulletTools.snippet(of: "short needle", around: "needle") == "short needle")
        let atStart = Substring("needle " + String(repeating: "x", count: 300))
        #expect(SilverBulletTools.snippet(of: atStart, around: "needle").hasPrefix("needle "))
        let atEnd = Substring(String(repeating: "x", count: 300) + " needle")
        #expect(SilverBulletTools.snippet(of: atEnd, around: "needle").hasSuffix(" needle"))
    }

    @Test func searchSnippetsSplitCRLFLines() async throws {
        let fake = try await FakeBackend.start { request in
            request.path == "/.fs" ? .json(#"[{"name":"Win.md"}]"#) : .text("first line\r\nthe needle line\r\nlast\r\n")
        }
        let tools = tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t")))
        let outcome = await call(tools, "silverbullet_search_pages", ["query": "needle"])
        await fake.stop()
        #expect(outcome.json?["results"]?[0]?["snippets"] == ["the needle line"])
    }

    /// Searches "needle" in a space of three pages, the middle one (`name`) answered with
    /// `status`; returns the pages read and the outcome.
    func searchPast(_ name: String, status: Int, first: Bool = false) async throws -> (paths: [String], outcome: Outcome) {
        let listing = first ? #"[{"name":"\#(name).md"},{"name":"A.md"},{"name":"B.md"}]"#
            : #"[{"name":"A.md"},{"name":"\#(name).md"},{"name":"B.md"}]"#
        let fake = try await FakeBackend.start { request in
            switch request.path {
            case "/.fs": .json(listing)
            case "/.fs/\(name).md": .text("refused", status: status)
            default: .text("the needle is here\n")
            }
        }
        let tools = tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t")))
        let outcome = await call(tools, "silverbullet_search_pages", ["query": "needle"])
        await fake.stop()
        return (fake.requests.map(\.path), outcome)
    }

    /// One page the backend refuses no longer loses the matches of every other page.
    @Test func searchSkipsAnUnreadablePageAndNamesIt() async throws {
        let outcome = try await searchPast("Locked", status: 403).outcome
        #expect(outcome.error == nil)
        #expect(outcome.json?["results"]?.arrayValue?.map { $0["page_name"] } == ["A", "B"])
        #expect(outcome.json?["pages_unreadable"] == ["Locked"])
        #expect(outcome.json?["complete"] == false)
        #expect(outcome.result?.limitReached == nil)
    }

    /// A page over the backend's response cap is skipped like an unreadable one, and the
    /// search reports the cap it reached (`mcp_tool_limits_total`); a search that read every
    /// page, or skipped one for another reason, reports none.
    @Test func searchCountsAPageTooLargeToRead() async throws {
        let fake = try await FakeBackend.start { request in
            switch request.path {
            case "/.fs": .json(#"[{"name":"Big.md"},{"name":"Small.md"}]"#)
            case "/.fs/Big.md": .text(String(repeating: "needle\n", count: 2000))
            default: .text("the needle is here\n")
            }
        }
        let tools = tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t"), maxResultBytes: 1024))
        let outcome = await call(tools, "silverbullet_search_pages", ["query": "needle"])
        #expect(outcome.json?["pages_unreadable"] == ["Big"])
        #expect(outcome.result?.limitReached == .backendResponseBytes)
        await fake.stop()
    }

    /// A backend that starts failing (5xx) or refusing for load (429) ends the search: asked
    /// for every remaining page, it would only be loaded further. What was found before is
    /// kept, with the failure named (it used to be lost to the error); with nothing read yet,
    /// the call fails with it.
    @Test func searchStopsAtABackendFailure() async throws {
        for status in [429, 503] {
            let (paths, outcome) = try await searchPast("Busy", status: status)
            #expect(outcome.error == nil)
            #expect(outcome.json?["results"]?.arrayValue?.map { $0["page_name"] } == ["A"])
            #expect(outcome.json?["pages_scanned"] == 1)
            #expect(outcome.json?["complete"] == false)
            #expect(outcome.json?["stopped_by_error"]?.stringValue?.contains("HTTP \(status)") == true)
            #expect(outcome.json?["stopped_at_page"] == "Busy")
            #expect(outcome.result?.limitReached == .backendError)
            #expect(!paths.contains("/.fs/B.md"))
        }
        let (paths, outcome) = try await searchPast("Busy", status: 503, first: true)
        #expect(outcome.error?.kind == .backendStatus)
        #expect(outcome.error?.message.contains("503") == true)
        #expect(!paths.contains("/.fs/A.md"))
        // A page skipped (refused, too large) is not one read: nothing to keep yet.
        let fake = try await FakeBackend.start { request in
            switch request.path {
            case "/.fs": .json(#"[{"name":"Locked.md"},{"name":"Busy.md"},{"name":"A.md"}]"#)
            case "/.fs/Locked.md": .text("refused", status: 403)
            case "/.fs/Busy.md": .text("down", status: 503)
            default: .text("the needle is here\n")
            }
        }
        let skippedThenFailed = await call(tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t"))),
                                           "silverbullet_search_pages", ["query": "needle"])
        await fake.stop()
        #expect(skippedThenFailed.error?.kind == .backendStatus)
    }

    /// The call cancelled (its client, its connection, the dispatcher's deadline) while a
    /// later page is awaited stays cancelled: never a partial answer.
    @Test func aSearchCancelledDuringAPageIsNotAnswered() async throws {
        let fake = try await FakeBackend.start { request in
            switch request.path {
            case "/.fs": .json(#"[{"name":"A.md"},{"name":"Slow.md"},{"name":"B.md"}]"#)
            case "/.fs/Slow.md": .hang
            default: .text("the needle is here\n")
            }
        }
        let tools = tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t")))
        let search = Task { await call(tools, "silverbullet_search_pages", ["query": "needle"]) }
        let deadline = ContinuousClock.now + .seconds(10)
        while !fake.requests.contains(where: { $0.path == "/.fs/Slow.md" }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        search.cancel()
        let outcome = await search.value
        await fake.stop()
        #expect(outcome.json == nil)
        #expect(outcome.error?.kind == .timeout)
    }

    /// A page that does not come in time ends the search with what it found, before the
    /// call's deadline (8 s here: the full suite's CPU-bound tests can hold both cooperative
    /// threads of a 2-core host for about 5 s, and with 4 s the pages before it once did not
    /// come in time), said so and counted as `deadline`; it used to lose every match to the call's
    /// timeout. A page that fails within the time left (its own timeout, 2 s here, with 10 s
    /// left: room for the pages before it on a loaded host) is the backend's failure: the
    /// search ends there too, keeping what it found and naming the failure.
    @Test func searchStopsAtTheCallsDeadlineWithWhatItFound() async throws {
        let listing = #"[{"name":"A.md"},{"name":"B.md"},{"name":"Slow.md"},{"name":"C.md"}]"#
        let fake = try await FakeBackend.start { request in
            switch request.path {
            case "/.fs": .json(listing)
            case "/.fs/Slow.md": .hang
            default: .text("the needle is here\n")
            }
        }
        var context = ToolContext(toolName: "silverbullet_search_pages")
        let start = ContinuousClock.now
        context.setDeadline(.seconds(8), from: start)
        let found = await call(tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t"))),
                               "silverbullet_search_pages", ["query": "needle"], context: context)
        let elapsed = ContinuousClock.now - start
        #expect(found.error == nil)
        #expect(found.json?["results"]?.arrayValue?.map { $0["page_name"] } == ["A", "B"])
        #expect(found.json?["pages_scanned"] == 2)
        #expect(found.json?["complete"] == false)
        #expect(found.json?["stopped_at_deadline"] == true)
        #expect(found.result?.limitReached == .deadline)
        // At the bound, not at the page's own timeout (30 s); the dispatcher test checks that
        // the answer comes before the deadline.
        #expect(elapsed >= .milliseconds(7500) && elapsed < .seconds(20))

        var roomy = ToolContext(toolName: "silverbullet_search_pages")
        roomy.setDeadline(.seconds(10), from: .now)
        let failed = await call(tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t", timeout: .seconds(2)))),
                                "silverbullet_search_pages", ["query": "needle"], context: roomy)
        await fake.stop()
        #expect(failed.error == nil)
        #expect(failed.json?["results"]?.arrayValue?.map { $0["page_name"] } == ["A", "B"])
        #expect(failed.json?["pages_scanned"] == 2)
        #expect(failed.json?["stopped_at_page"] == "Slow")
        #expect(!fake.requests.contains { $0.path == "/.fs/C.md" })
        #expect(failed.json?["stopped_at_deadline"] == nil)
        #expect(failed.json?["stopped_by_error"]?.stringValue?.isEmpty == false)
        #expect(failed.result?.limitReached == .backendError)
    }

    /// The results cap (50) filled on the last page leaves no page unread: complete, no cap
    /// counted. One page more is left unread: stopped early, `backend_pages` counted, and
    /// `pages_scanned` says how many were read.
    @Test("a search whose results fill up on its last page is complete; with a page left, it stopped early",
          arguments: [(50, true, 50), (51, false, 50)])
    func resultsCapOnTheLastPage(pages: Int, complete: Bool, scanned: Int) async throws {
        let listing = "[" + (0..<pages).map { #"{"name":"P\#($0).md"}"# }.joined(separator: ",") + "]"
        let fake = try await FakeBackend.start { request in
            request.path == "/.fs" ? .json(listing) : .text("the needle is here\n")
        }
        let tools = tools(CatalogueSettings(silverbullet: BackendSettings(url: fake.url, token: "t")))
        let outcome = await call(tools, "silverbullet_search_pages", ["query": "needle"])
        await fake.stop()
        #expect(outcome.json?["results"]?.arrayValue?.count == 50)
        #expect(outcome.json?["complete"] == .bool(complete))
        #expect(outcome.json?["pages_scanned"] == .int(Int64(scanned)))
        #expect(outcome.result?.limitReached == (complete ? nil : .backendPages))
    }

    /// The Go server called /.client/search.json, which SilverBullet does not have: search
    /// lists the pages and reads them.
    @Test func searchMatchesNamesAndContentWithProgress() async throws {
        try await withSpace { fake, tools in
            let progress = Mutex<[Double]>([])
            let context = ToolContext(toolName: "silverbullet_search_pages", progress: { value, _, _ in progress.withLock { $0.append(value) } })
            let outcome = await call(tools, "silverbullet_search_pages", ["query": "home"], context: context)
            let results = outcome.json?["results"]?.arrayValue ?? []
            #expect(results.map { $0["page_name"] } == ["Home", "Notes/Kubernetes"])
            #expect(results[1]["snippets"]?[0] == "HOME lab cluster")
            #expect(results[0]["name_match"] == true)
            #expect(outcome.json?["complete"] == true)
            #expect(!fake.requests.contains { $0.path.hasPrefix("/.client") })
            #expect(!fake.requests.contains { $0.path == "/.fs/img.png" })
            #expect(progress.withLock { $0 } == [0, 1, 2])
        }
    }
}
