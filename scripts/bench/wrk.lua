-- The request and the result file for one wrk run of scripts/bench.sh, configured through the
-- environment so that one script serves every case:
--
--   BENCH_METHOD   HTTP method (GET)
--   BENCH_BODY     JSON request body (none); sets Content-Type: application/json
--   BENCH_TOKEN    bearer token for the Authorization header (none)
--   BENCH_RESULT   file that done() writes the run's figures to, as one JSON object
--   BENCH_CLK_TCK  clock ticks per second of /proc/self/stat (getconf CLK_TCK; 100)
--
-- wrk's own summary goes to stdout as usual; the JSON holds what the report needs with more
-- precision than wrk prints: every latency in microseconds, the error counts by kind, and the
-- CPU time wrk itself used (it runs on the same machine as the services, so it counts).

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
   wrk.body = body
   wrk.headers["Content-Type"] = "application/json"
end

local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. token
end

-- utime + stime of this wrk process (all its threads), in seconds.
local function cpu_seconds()
   local file = io.open("/proc/self/stat", "r")
   if not file then
      return -1
   end
   local line = file:read("*l")
   file:close()
   -- The fields after the command name, which is in parentheses: state is the 1st of them,
   -- utime the 12th and stime the 13th.
   local rest = line:match(".*%) (.*)")
   local fields = {}
   for field in rest:gmatch("%S+") do
      fields[#fields + 1] = field
   end
   local ticks = tonumber(os.getenv("BENCH_CLK_TCK") or "100")
   return (tonumber(fields[12]) + tonumber(fields[13])) / ticks
end

function done(summary, latency, requests)
   local path = os.getenv("BENCH_RESULT")
   if not path or path == "" then
      return
   end
   local out = assert(io.open(path, "w"))
   local errors = summary.errors
   out:write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},' ..
      '"cpu_seconds":%.2f}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max,
      cpu_seconds()))
   out:close()
end
