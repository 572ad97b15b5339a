-- wrk script for zapgate's send benchmarks; bench/_load.py runs it, see its docstring.
--
-- Environment (read in every thread):
--   BENCH_KIND   "send" (POST /api/v1/messages, the default) or "health" (GET /healthz)
--   BENCH_AUTH   the Authorization header's value ("Bearer <api key>")
--   BENCH_ADDRS  host:port[,host:port...]: thread i connects to address i mod n, so two
--                nodes take half the connections each (wrk runs one thread per address
--                or more); empty means the URL's own address
--
-- Each send has its own recipient and text, as bench/send.py's Python clients do: every
-- send opens a new chat, and no two bodies are alike. Only 2xx answers are counted as
-- accepted (wrk itself counts only >= 400 as errors); done() prints one line of JSON,
-- prefixed "BENCH_JSON ", with latency percentiles from wrk's own histogram (every
-- completed answer, whatever its status) in microseconds.

local addrs = {}
local threads = {}

function setup(thread)
   if #addrs == 0 then
      for hostport in string.gmatch(os.getenv("BENCH_ADDRS") or "", "[^,]+") do
         local host, port = hostport:match("^(.+):(%d+)$")
         table.insert(addrs, wrk.lookup(host, port)[1])
      end
   end
   table.insert(threads, thread)
   thread:set("id", #threads)
   if #addrs > 0 then
      thread.addr = addrs[(#threads - 1) % #addrs + 1]
   end
end

function init(args)
   sent = 0
   accepted = 0
   statuses = {}
   kind = os.getenv("BENCH_KIND") or "send"
   wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   if kind == "health" then
      return wrk.format("GET", "/healthz", nil, nil)
   end
   sent = sent + 1
   local body = string.format(
      '{"to":"5511%d%06d01","text":"bench %d-%d"}', id, sent % 1000000, id, sent
   )
   return wrk.format("POST", "/api/v1/messages", nil, body)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      accepted = accepted + 1
   else
      local key = tostring(status)
      statuses[key] = (statuses[key] or 0) + 1
   end
end

function done(summary, latency, requests)
   local total = 0
   local others = {}
   for _, thread in ipairs(threads) do
      total = total + thread:get("accepted")
      for code, n in pairs(thread:get("statuses")) do
         others[code] = (others[code] or 0) + n
      end
   end
   local codes = {}
   for code, n in pairs(others) do
      table.insert(codes, string.format('"%s":%d', code, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"duration_us":%d,"requests":%d,"accepted":%d,"non_2xx":{%s},'
         .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
         .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.duration, summary.requests, total, table.concat(codes, ","),
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean
   ))
end
