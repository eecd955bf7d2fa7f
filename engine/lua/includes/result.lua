-- Answers are JSON strings: {"ok":true,...} or {"ok":false,"code":"...","details":{...}}.
-- CODE.<NAME> names a code of engine/codes.ts; the loader checks it and writes the literal string.
local function ok(fields)
  fields = fields or {}
  fields.ok = true
  return cjson.encode(fields)
end

local function refuse(code, details)
  return cjson.encode({ ok = false, code = code, details = details })
end
