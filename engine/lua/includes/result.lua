-- Answers are JSON strings: {"ok":true,...} or {"ok":false,"code":"...","details":{...}}.
-- CODE (the shared code table) is generated from engine/codes.ts and prepended by the loader.
local function ok(fields)
  fields = fields or {}
  fields.ok = true
  return cjson.encode(fields)
end

local function refuse(code, details)
  return cjson.encode({ ok = false, code = code, details = details })
end
