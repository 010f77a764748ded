// Built by bench/json/run.sh together with MCPCore's JSONValue, JSONParser and JSONWriter.
// Times parsing and serializing one document (default: our tools/list answer) with MCPCore's
// JSON and, side by side, with Foundation's JSONSerialization.
import Foundation

let label = ProcessInfo.processInfo.environment["JSON_BENCH_LABEL"] ?? "MCPCore"
let path = CommandLine.arguments.dropFirst().first ?? "bench/json/tools-list.json"
let rounds = CommandLine.arguments.dropFirst(2).first.flatMap(Int.init) ?? 100_000
let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
let data = Data(bytes)
let value = try JSONParser.parse(bytes)
let object = try JSONSerialization.jsonObject(with: data)
var sink = 0

func time(_ name: String, _ body: () throws -> Int) rethrows {
    for _ in 0..<1000 { sink &+= try body() }  // warm up
    let start = ContinuousClock.now
    for _ in 0..<rounds { sink &+= try body() }
    let elapsed = ContinuousClock.now - start
    let ns = Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9
    print(name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: "%8.0f ns", ns / Double(rounds)))
}

print("document: \(path), \(bytes.count) bytes, \(rounds) rounds")
if ProcessInfo.processInfo.environment["JSON_BENCH_ONLY_OURS"] != nil {
    try time("\(label) parse") { try JSONParser.parse(bytes).objectValue?.count ?? 0 }
    time("\(label) serialize") { value.serialized().count }
    exit(0)
}
try time("\(label) parse") { try JSONParser.parse(bytes).objectValue?.count ?? 0 }
try time("Foundation JSONSerialization parse") { (try JSONSerialization.jsonObject(with: data) as? [String: Any])?.count ?? 0 }
time("\(label) serialize") { value.serialized().count }
try time("Foundation JSONSerialization serialize") { try JSONSerialization.data(withJSONObject: object).count }
if sink == 42 { print(sink) }
