-- Scenario (4) outbound detokenize: the merchant's body with the token of
-- the pre-tokenized card, and the API key header; the gateway injects the
-- network token, a fresh cryptogram and the ECI on every request.
--   wrk ... -s detokenize.lua http://127.0.0.1:PORT/payments -- TEMPLATE TOKEN API_KEY
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

setup = common.setup
done = common.done

function init(args)
  local template, token, key = args[1], args[2], args[3]
  assert(template and token and key, "usage: -- TEMPLATE TOKEN API_KEY")
  local head, tail = common.split(common.read_file(template), "{{TOKEN}}")
  wrk.method = "POST"
  wrk.body = head .. token .. tail
  wrk.headers["Content-Type"] = common.content_type(template)
  wrk.headers["X-Tokengate-Api-Key"] = key
end
