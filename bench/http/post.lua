-- wrk script: one keep-alive POST repeated. BODY and HEADERS (name: value|name: value) come
-- from the environment so bench.sh can drive every server with the same file.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
for pair in string.gmatch(os.getenv("HEADERS") or "", "[^|]+") do
    local name, value = pair:match("^%s*([^:]+):%s*(.*)$")
    wrk.headers[name] = value
end
