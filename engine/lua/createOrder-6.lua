--[[
  Open a payment order (R23) for every unpaid, unexpired held subject of the registration.
  A candidate who has chosen what to pay for is done with the waiting room's pass: its slot is
  given back at once, so the next in line is admitted (the pass itself stays valid until it lapses).
  KEYS[1] registrations bucket  KEYS[2] calendar  KEYS[3] orders bucket  KEYS[4] stream
  KEYS[5] queue accounts  KEYS[6] queue slots
  ARGV[1] candidateId  ARGV[2] accountId  ARGV[3] orderId  ARGV[4] method  ARGV[5] now
  ARGV[6] quota: orders a candidate may open within ARGV[7] ms (a hold's span, R22): every order is
          kept, so without it one session could grow Redis until it refuses writes (issue 16 item 2)
  Returns ok {order}  or NO_REGISTRATION | REGISTRATION_NOT_OPEN | REGISTRATION_CLOSED | NOTHING_TO_PAY
        | TOO_MANY_ORDERS {retryAfterSeconds}
  The record keeps when its recent orders were opened (field oc, oldest first).
  order = {id, c candidateId, a accountId, m method, st PENDING, amt, it = {{subject, holdId, fee}}, ca createdAt}
  Emits ORDER_CREATED, QUEUE_RELEASED (payloads declared in engine/outbox.ts)
]]
local registrationsKey, calendarKey, ordersKey, streamKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local queueAccountsKey, slotsKey = KEYS[5], KEYS[6]
local candidateId, accountId, orderId, method = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local nowText = ARGV[5]
local now = tonumber(nowText)
local quota, quotaSpanMs = tonumber(ARGV[6]), tonumber(ARGV[7])

--@include result
--@include record
--@include window
--@include events

local rec = loadRecord(registrationsKey, candidateId)
if rec == nil or rec.a ~= accountId then return refuse(CODE.NO_REGISTRATION) end

local closed = windowRefusal(calendarKey, now)
if closed then return refuse(closed) end

local items, amount = {}, 0
local subjects = {}
for subject in pairs(rec.i) do subjects[#subjects + 1] = subject end
table.sort(subjects)
for _, subject in ipairs(subjects) do
  local item = rec.i[subject]
  if item[I_STATUS] == 'H' and item[I_PAY_BY] > now then
    items[#items + 1] = { subject, item[I_HOLD], item[I_FEE] }
    amount = amount + item[I_FEE]
  end
end
if #items == 0 then return refuse(CODE.NOTHING_TO_PAY) end

local recent = {}
for _, at in ipairs(rec.oc or {}) do
  if at > now - quotaSpanMs then recent[#recent + 1] = at end
end
if #recent >= quota then
  return refuse(CODE.TOO_MANY_ORDERS, { retryAfterSeconds = math.ceil((recent[1] + quotaSpanMs - now) / 1000) })
end
recent[#recent + 1] = now
rec.oc = recent
saveRecord(registrationsKey, rec)

local order = { id = orderId, c = candidateId, a = accountId, m = method, st = 'PENDING', amt = amount, it = items, ca = now }
redis.call('HSET', ordersKey, orderId, cjson.encode(order))
emit(streamKey, 'ORDER_CREATED', nowText, {
  orderId = orderId, candidateId = candidateId, accountId = accountId, method = method, amount = amount, items = items,
})
local ticketId = redis.call('HGET', queueAccountsKey, accountId)
if ticketId and redis.call('ZREM', slotsKey, ticketId) == 1 then
  emit(streamKey, 'QUEUE_RELEASED', nowText, { ticketId = ticketId, accountId = accountId })
end
return ok({ order = order })
