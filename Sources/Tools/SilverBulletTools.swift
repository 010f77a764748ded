import MCPCore
import NIOHTTP1

/// The SilverBullet tools, over its file API (`/.fs/{path}`). Every request carries
/// `X-Sync-Mode: true` so SilverBullet answers with the raw file rather than its web app.
///
/// Search: SilverBullet has no documented search endpoint (the Go server called
/// `/.client/search.json`, which does not exist), so ``searchTool`` lists the pages,
/// matches names, then reads at most ``searchPageLimit`` pages to match their text.
enum SilverBulletTools {
    static let searchPageLimit = 200
    static let searchResultLimit = 50
    static let snippetsPerPage = 3
    /// Pages named as unreadable in one search's result.
    static let unreadableLimit = 20
    /// The statuses a page read takes as answers (``search(_:query:context:)`` skips them and
    /// names the page); 429 and 5xx are the backend failing, thrown as its status error.
    static let pageStatuses = Set(300..<500).subtracting([429])

    static func make(_ backend: Backend, format: ResultFormatter) -> [ToolDefinition] {
        let pageName = ("page_name", Schema.string("Page name, with folders separated by '/', without '.md'", maxLength: 512))
        let content = ("content", Schema.string("Markdown content of the page", maxLength: 4 << 20))
        return [
            ToolDefinition(
                name: "silverbullet_list_pages", title: "SilverBullet pages",
                description: "List the files of the space (name, lastModified, size, perm).",
                inputSchema: Schema.object(), annotations: .readOnly
            ) { _, _ in
                format.json(try await backend.json(.GET, "/.fs"))
            },
            ToolDefinition(
                name: "silverbullet_get_page", title: "Read a SilverBullet page",
                description: "The Markdown text of a page.",
                inputSchema: Schema.object([pageName], required: ["page_name"]), annotations: .readOnly
            ) { arguments, _ in
                let path = try pagePath(arguments)
                return format.text(try await backend.send(.GET, path).text)
            },
            ToolDefinition(
                name: "silverbullet_create_page", title: "Create a SilverBullet page",
                description: "Create a new page; fails if the page already exists (use silverbullet_update_page).",
                inputSchema: Schema.object([pageName, content], required: ["page_name", "content"]),
                annotations: .write
            ) { arguments, _ in
                let path = try pagePath(arguments)
                let text = try arguments.string("content")
                let existing = try await backend.send(.GET, path, accept: [404])
                if existing.status != 404 {
                    throw ToolError.invalidArgument("page_name", "page already exists; use silverbullet_update_page to change it")
                }
                return try await put(backend, path, arguments, text, "created")
            },
            ToolDefinition(
                name: "silverbullet_update_page", title: "Update a SilverBullet page",
                description: "Replace the whole content of a page (creates it when missing).",
                inputSchema: Schema.object([pageName, content], required: ["page_name", "content"]),
                annotations: ToolAnnotations(readOnlyHint: false, destructiveHint: true, idempotentHint: true)
            ) { arguments, _ in
                let path = try pagePath(arguments)
                return try await put(backend, path, arguments, try arguments.string("content"), "updated")
            },
            ToolDefinition(
                name: "silverbullet_delete_page", title: "Delete a SilverBullet page",
                description: "Delete a page.",
                inputSchema: Schema.object([pageName], required: ["page_name"]), annotations: .destructive
            ) { arguments, _ in
                let path = try pagePath(arguments)
                _ = try await backend.send(.DELETE, path)
                return .json(["page_name": .string(try arguments.string("page_name")), "result": "deleted"])
            },
            ToolDefinition(
                name: "silverbullet_search_pages", title: "Search SilverBullet pages",
                description: "Find pages whose name or text contains the query (case-insensitive). Reads at most \(searchPageLimit) pages, within the call's time; the result says when it stopped early.",
                inputSchema: Schema.object([("query", Schema.string("Text to look for", maxLength: 512))], required: ["query"]),
                annotations: .readOnly
            ) { arguments, context in
                let query = try arguments.nonEmptyString("query")
                let (answer, limit) = try await search(backend, query: query, context: context)
                var result = format.json(answer)
                if result.limitReached == nil { result.limitReached = limit }
                return result
            },
        ]
    }

    /// The file path of the `page_name` argument (see ``filePath(page:)``).
    static func pagePath(_ arguments: ToolArguments) throws(ToolError) -> String {
        var name = try arguments.nonEmptyString("page_name")
        if name.hasSuffix(".md") { name.removeLast(3) }
        guard let path = filePath(page: name) else {
            throw ToolError.invalidArgument("page_name", "must be a page name like 'Notes/Today': at most 512 characters, no empty, '.' or '..' segments, no control characters")
        }
        return path
    }

    /// `/.fs/{name}.md`, each segment percent-encoded, or nil when the name could leave the
    /// space: an empty, `.` or `..` segment, or a control character, or longer than the
    /// schema's 512 characters (Unicode scalars, as the schema counts: counted in bytes, 200
    /// CJK characters passed the schema and were refused here). Segments are split on
    /// the byte `/`, as ``PercentEncoding/encodePath(_:)`` does, since `/` followed by a
    /// combining mark is a single Character that would hide a `..` segment. Names from the
    /// backend's own listing pass here too: the listing is not trusted to be well formed.
    static func filePath(page name: String) -> String? {
        let bytes = name.utf8
        guard !bytes.isEmpty, name.unicodeScalars.count <= 512,
              !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }),
              bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
                  .allSatisfy({ !$0.isEmpty && !$0.elementsEqual(".".utf8) && !$0.elementsEqual("..".utf8) })
        else { return nil }
        return "/.fs/" + PercentEncoding.encodePath(name) + ".md"
    }

    private static func put(_ backend: Backend, _ path: String, _ arguments: ToolArguments, _ text: String, _ result: String) async throws(ToolError) -> ToolResult {
        _ = try await backend.send(.PUT, path, body: Array(text.utf8), contentType: "text/markdown; charset=utf-8")
        return .json(["page_name": .string(try arguments.string("page_name")), "result": .string(result), "bytes": .int(Int64(text.utf8.count))])
    }

    /// At most 200 characters of `line` around the first match of `query` (the line's start
    /// when the match is near it), marked with "…" where cut. The first 200 characters of a
    /// long paragraph often left the match out.
    static func snippet(of line: Substring, around query: String) -> String {
        let width = 200
        if line.count <= width { return String(line) }
        let lower = line.lowercased()
        // Lower-casing keeps the count of characters for all but rare letters; the window
        // then falls back to the line's start.
        guard lower.count == line.count, let match = lower.firstRange(of: query.lowercased()) else {
            return String(line.prefix(width)) + "…"
        }
        let offset = lower.distance(from: lower.startIndex, to: match.lowerBound)
        let startOffset = max(0, min(offset - width / 4, line.count - width))
        let start = line.index(line.startIndex, offsetBy: startOffset)
        let end = line.index(start, offsetBy: width)
        return (startOffset > 0 ? "…" : "") + String(line[start..<end]) + (end < line.endIndex ? "…" : "")
    }

    /// The answer, and the cap it reached, if any: a page skipped as too large, the pages or
    /// results it may read, the call's deadline, or the backend failing part way (counted
    /// first, as the one an operator must see).
    static func search(_ backend: Backend, query: String, context: ToolContext) async throws(ToolError) -> (JSONValue, ToolLimit?) {
        let listing = try await backend.json(.GET, "/.fs")
        guard let files = listing.arrayValue else {
            throw ToolError(.badResponse, "silverbullet: the file list is not a JSON array")
        }
        var pages: [(name: String, path: String)] = []
        // Listed names no page path can be made of (`..`, control characters, too long) are
        // named as unreadable: left out without a word, the answer still said `complete`.
        var unsafe: [String] = []
        for file in files.compactMap({ $0["name"]?.stringValue }) where file.hasSuffix(".md") {
            let name = String(file.dropLast(3))
            if let path = filePath(page: name) { pages.append((name, path)) } else { unsafe.append(name) }
        }
        let needle = query.lowercased()
        var results: [JSONValue] = []
        // A page that cannot be read (refused, too large, malformed) is skipped and named in
        // the result: one bad page lost every match found. A backend that cannot be reached
        // at all still fails the search.
        var unreadable: [JSONValue] = unsafe.prefix(unreadableLimit).map { .string($0) }
        var skippedTooLarge = false
        // Pages read (or tried): fewer than `toScan` when the results filled up first, or the
        // call's time ran out.
        var scanned = 0
        var outOfTime = false
        // The backend failing once a page was read: the search stops there and keeps them.
        var failure: (page: String, error: ToolError)?
        var read = 0
        let toScan = pages.prefix(searchPageLimit)
        for (index, (page, path)) in toScan.enumerated() {
            if results.count >= searchResultLimit { break }
            if Task.isCancelled { throw ToolError(.timeout, "silverbullet search was cancelled") }
            if context.wantsProgress {
                await context.progress(Double(index), total: Double(toScan.count), message: "reading \(page)")
            }
            let nameMatch = page.lowercased().contains(needle)
            // A page's own refusal (403, 410, …) or a page too large or malformed skips it. A
            // failure of the backend itself (429, 5xx, this page timing out on its own, a lost
            // connection) ends the search rather than have it asked for up to 200 more pages:
            // with what it found, named, once a page was read; before that there is nothing
            // to keep, and the call fails with it.
            let response: BackendResponse?
            do throws(ToolError) {
                guard let answer = try await backend.page(path, accept: pageStatuses, context: context) else {
                    outOfTime = true
                    break
                }
                response = answer
            } catch where error.kind == .tooLarge || error.kind == .badResponse {
                if error.kind == .tooLarge { skippedTooLarge = true }
                response = nil
            } catch where read > 0 && !Task.isCancelled {
                failure = (page, error)
                break
            }
            scanned = index + 1
            guard let response, response.status == 404 || (200..<300).contains(response.status) else {
                if unreadable.count < unreadableLimit { unreadable.append(.string(page)) }
                continue
            }
            read += 1
            var snippets: [JSONValue] = []
            if response.status != 404 {
                for line in response.text.split(whereSeparator: \.isNewline) where line.lowercased().contains(needle) {
                    snippets.append(.string(snippet(of: line, around: query)))
                    if snippets.count >= snippetsPerPage { break }
                }
            }
            if nameMatch || !snippets.isEmpty {
                results.append(["page_name": .string(page), "name_match": .bool(nameMatch), "snippets": .array(snippets)])
            }
        }
        // Stopped early: pages were left unread (past the page cap, after the results filled
        // up, or when the call's time ran out). Filling up on the last page leaves none unread.
        let stoppedEarly = scanned < pages.count
        let complete = !stoppedEarly && unreadable.isEmpty
        var answer: JSONObject = [
            "query": .string(query), "results": .array(results),
            "pages_total": .int(Int64(pages.count + unsafe.count)), "pages_scanned": .int(Int64(scanned)),
            "complete": .bool(complete),
        ]
        if !unreadable.isEmpty { answer["pages_unreadable"] = .array(unreadable) }
        if outOfTime { answer["stopped_at_deadline"] = .bool(true) }
        if let failure {
            answer["stopped_at_page"] = .string(failure.page)
            answer["stopped_by_error"] = .string(failure.error.message)
        }
        let limit: ToolLimit? = failure != nil ? .backendError : skippedTooLarge ? .backendResponseBytes
            : outOfTime ? .deadline : stoppedEarly ? .backendPages : nil
        return (.object(answer), limit)
    }
}
