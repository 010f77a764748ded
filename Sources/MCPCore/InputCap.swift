/// A cap on what a client sends, named in `mcp_input_refused_total{cap}` when a message is
/// refused at it. Each one has a config key (README "Limits"); counting them apart tells an
/// operator whether a client hit a cap that is too tight or someone is probing it, which a
/// bare -32700 or 400 among malformed requests does not.
public enum InputCap: String, Sendable, CaseIterable {
    /// The body or message size (`server.max_body`).
    case body
    /// JSON nesting (`server.max_json_depth`).
    case jsonDepth = "json_depth"
    /// JSON values in one message (`server.max_json_values`).
    case jsonValues = "json_values"
    /// Messages in one JSON-RPC batch (`server.max_batch`).
    case batch
    /// The answers of one JSON-RPC batch together (`server.max_batch_answer_bytes`): a request
    /// past it is answered with an error, not run.
    case batchAnswer = "batch_answer"
}
