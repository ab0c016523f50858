-- Scenario (3) new-card tokenize: the checkout body with a new, unique,
-- Luhn-valid 16-digit Visa PAN on every request, so every request is a
-- vault write.
--   wrk ... -s new_card.lua http://127.0.0.1:PORT/checkout -- TEMPLATE PREFIX
-- PAN = "4" .. PREFIX (5 digits, unique per wrk run: bench/run hands out a
-- random base plus a sequence number) .. thread id (2 digits) .. counter
-- (7 digits) .. Luhn check digit.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

setup = common.setup
done = common.done

local head, tail, prefix, path, headers
local counter = 0

function init(args)
  local template = args[1]
  prefix = args[2]
  assert(template and prefix and #prefix == 5 and prefix:match("^%d+$"), "usage: -- TEMPLATE PREFIX(5 digits)")
  assert(tid and tid < 100, "at most 100 threads")
  head, tail = common.split(common.read_file(template), "{{PAN}}")
  path = wrk.path
  headers = { ["Content-Type"] = common.content_type(template) }
end

function request()
  counter = counter + 1
  assert(counter < 10000000, "PAN counter exhausted for this run")
  local pan = common.luhn_complete(string.format("4%s%02d%07d", prefix, tid, counter))
  return wrk.format("POST", path, headers, head .. pan .. tail)
end
