import Testing
@testable import Config

@Test func smokeRender() throws {
    print(AppConfig.defaultsYAML)
    let config = try ConfigLoader.load(yaml: "log:\n  format: xml\n")
    print(config)
}
