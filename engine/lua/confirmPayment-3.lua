--[[
  Apply the provider's confirmation of an order (R23), exactly once: items still held and not
  past their pay-by are paid; items that ended first (expired, cancelled, re-held under another
  hold id, or paid by another order) are recorded for refund and never revived; so is an oral item
  whose written item (R18) is not paid once this confirmation is applied.
  KEYS[1] orders bucket  KEYS[2] registrations bucket (of the order's candidate)  KEYS[3] stream
  ARGV[1] orderId  ARGV[2] now  ARGV[3] provider transaction id
  Returns ok {order, duplicate}  (order.st = PAID when at least one item was applied, else LATE_REFUND;
          order.paid / order.refund list the subjects)   or ORDER_NOT_FOUND
  Emits PAYMENT_CONFIRMED (payload declared in engine/outbox.ts)
]]
local ordersKey, registrationsKey, streamKey = KEYS[1], KEYS[2], KEYS[3]
local orderId, providerTx = ARGV[1], ARGV[3]
local nowText = ARGV[2]
local now = tonumber(nowText)

--@include result
--@include record
--@include events

local raw = redis.call('HGET', ordersKey, orderId)
if not raw then return refuse(CODE.ORDER_NOT_FOUND) end
local order = cjson.decode(raw)
if order.st ~= 'PENDING' then return ok({ order = order, duplicate = true }) end

local rec = loadRecord(registrationsKey, order.c)
-- Written items first: an oral item is paid only if its written item ends up paid (R18). Otherwise
-- the unpaid written item would expire later and leave a paid oral subject without it (I3).
local applied = {}
for _, kind in ipairs({ 'W', 'O' }) do
  for _, entry in ipairs(order.it) do
    local subject, holdId = entry[1], entry[2]
    local item = rec and rec.i[subject] or nil
    if item ~= nil and item[I_KIND] == kind and item[I_HOLD] == holdId and item[I_STATUS] == 'H' and item[I_PAY_BY] > now then
      local written = kind == 'O' and rec.i[item[I_REQUIRES]] or nil
      if kind == 'W' or (written ~= nil and written[I_STATUS] == 'P') then
        item[I_STATUS] = 'P'
        item[I_SETTLED] = now
        applied[subject] = true
      end
    end
  end
end
local paid, refund, paidAmount, refundAmount = {}, {}, 0, 0
for _, entry in ipairs(order.it) do
  local subject, fee = entry[1], entry[3]
  if applied[subject] then
    paid[#paid + 1] = subject
    paidAmount = paidAmount + fee
  else
    refund[#refund + 1] = subject
    refundAmount = refundAmount + fee
  end
end
if #paid > 0 then saveRecord(registrationsKey, rec) end

order.st = (#paid > 0) and 'PAID' or 'LATE_REFUND'
order.pa = now
order.tx = providerTx
order.paid = paid
order.refund = refund
order.paidAmt = paidAmount
order.refundAmt = refundAmount
redis.call('HSET', ordersKey, orderId, cjson.encode(order))
emit(streamKey, 'PAYMENT_CONFIRMED', nowText, {
  orderId = orderId, candidateId = order.c, status = order.st, providerTx = providerTx,
  paid = paid, refund = refund, paidAmount = paidAmount, refundAmount = refundAmount,
})
return ok({ order = order, duplicate = false })
