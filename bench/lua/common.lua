-- Shared by the benchmark's wrk scripts. Each script is run as
--   wrk ... -s <script>.lua URL -- <template file> [extra args]
-- where the template is one of bench/bodies/* (a .json or .form body with a
-- {{PAN}} or {{TOKEN}} placeholder). Bodies come from files so that wrk,
-- vegeta and the curl checks send exactly the same bytes.

local M = {}

function M.read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local s = f:read("*a")
  f:close()
  return s
end

function M.content_type(path)
  if path:match("%.json$") then return "application/json" end
  if path:match("%.form$") then return "application/x-www-form-urlencoded" end
  error("template must end in .json or .form: " .. path)
end

-- Plain (not pattern) replacement of the first occurrence of needle.
function M.split(s, needle)
  local i, j = s:find(needle, 1, true)
  assert(i, "placeholder " .. needle .. " not found in template")
  return s:sub(1, i - 1), s:sub(j + 1)
end

-- luhn_complete appends the Luhn check digit to a string of digits.
function M.luhn_complete(digits)
  local sum, double = 0, true -- the rightmost payload digit is doubled
  for i = #digits, 1, -1 do
    local d = digits:byte(i) - 48
    if double then
      d = d * 2
      if d > 9 then d = d - 9 end
    end
    sum = sum + d
    double = not double
  end
  return digits .. tostring((10 - sum % 10) % 10)
end

-- Thread numbering: setup() runs in the main Lua state once per thread and
-- hands each thread its id, which new_card.lua folds into its PANs.
local threads = {}
local next_id = 0
function M.setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- M.done prints one machine-readable line. Lines starting with WRKJSON are
-- what bench/run parses. Latencies are in microseconds. "non2xx" is wrk's
-- status error count (responses >= 400; none of our endpoints redirect).
function M.done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d,"non2xx":%d,"bytes":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status, summary.bytes))
end

return M
