print("axinova-mcp-server")
