/// The configured tokens, as an immutable value (a reload builds a new store and swaps it in).
public struct TokenStore: Sendable, Hashable {
    public let tokens: [StoredToken]

    public enum Invalid: Error, Hashable, Sendable, CustomStringConvertible {
        case emptyName
        case duplicateName(String)
        /// Two names share one secret: the server could not tell them apart.
        case duplicateDigest(first: String, second: String)
        /// Without `read` a token could call no tool: `write` adds to it (the server has no
        /// write-only access, and used to grant a `write` token the reading tools too).
        case noReadScope(String)

        public var description: String {
            switch self {
            case .emptyName: return "a token has an empty name"
            case .duplicateName(let name): return "token name \"\(name)\" is used twice"
            case .duplicateDigest(let first, let second): return "tokens \"\(first)\" and \"\(second)\" have the same secret"
            case .noReadScope(let name): return "token \"\(name)\" lacks the read scope ([read] or [read, write])"
            }
        }
    }

    /// Validates and stores `tokens`. An empty store is valid here; refusing to start a network
    /// listener without a token is the server's decision.
    public init(_ tokens: [StoredToken]) throws(Invalid) {
        var names: Set<String> = []
        var digests: [TokenDigest: String] = [:]
        for token in tokens {
            guard !token.name.isEmpty else { throw .emptyName }
            guard names.insert(token.name).inserted else { throw .duplicateName(token.name) }
            if let first = digests[token.digest] { throw .duplicateDigest(first: first, second: token.name) }
            digests[token.digest] = token.name
            guard token.scopes.contains(.read) else { throw .noReadScope(token.name) }
        }
        self.tokens = tokens
    }

    public var isEmpty: Bool { tokens.isEmpty }
    public var count: Int { tokens.count }
}
