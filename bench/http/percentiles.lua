-- wrk script: post.lua's request (run from the repository's root), and at the end one line
-- of latency percentiles in ms, for bench/latency.sh: the shape of the distribution, not
-- just its p99.
dofile("bench/http/post.lua")

done = function(summary, latency, requests)
    local line = ""
    for _, p in ipairs({10, 25, 50, 75, 90, 95, 99, 99.9}) do
        line = line .. string.format("p%s %.2f  ", p, latency:percentile(p) / 1000)
    end
    io.write(line .. string.format("max %.2f  (%d requests)\n", latency.max / 1000, summary.requests))
end
