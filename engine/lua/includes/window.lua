-- R5, R6: the province's online registration window, {o = opensAt, c = closesAt} in ms.
local function windowRefusal(calendarKey, now)
  local window = redis.call('HMGET', calendarKey, 'o', 'c')
  local opensAt, closesAt = tonumber(window[1]), tonumber(window[2])
  if opensAt == nil or now < opensAt then return CODE.REGISTRATION_NOT_OPEN end
  if closesAt ~= nil and now >= closesAt then return CODE.REGISTRATION_CLOSED end
  return nil
end
