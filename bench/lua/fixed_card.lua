-- Scenarios (1) plain reverse_proxy and (2) repeat-card tokenize: the same
-- checkout body on every request, with a card the vault already holds.
--   wrk ... -s fixed_card.lua http://127.0.0.1:PORT/checkout -- TEMPLATE PAN
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

setup = common.setup
done = common.done

function init(args)
  local template, pan = args[1], args[2]
  assert(template and pan, "usage: -- TEMPLATE PAN")
  local head, tail = common.split(common.read_file(template), "{{PAN}}")
  wrk.method = "POST"
  wrk.body = head .. pan .. tail
  wrk.headers["Content-Type"] = common.content_type(template)
end
