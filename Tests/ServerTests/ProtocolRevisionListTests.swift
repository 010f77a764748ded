import Config
import MCPCore
import Testing

/// Config imports no other module (DESIGN.md "Dependency direction"), so it keeps its own
/// list of the revisions `server.protocol_version` may name; it must be MCPCore's.
@Suite struct ProtocolRevisionListTests {
    @Test("server.protocol_version accepts exactly the session-era revisions the dispatcher negotiates")
    func listsAgree() {
        #expect(ServerConfig.protocolRevisions.sorted() == ProtocolVersion.sessionEra.sorted())
        #expect(AppConfig().server.protocolVersion == ProtocolVersion.latestSessionEra)
    }
}
