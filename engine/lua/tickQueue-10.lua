--[[
  The waiting room's clock tick, run by the queue keeper (engine/queueKeeper.ts) a few times a
  second per active room: closes the PREQUEUE at the opening, lapses run-out passes, gives back the
  slots of candidates gone idle, admits the next tickets in line, measures the line's service rate,
  and ends an opening's room once its line has drained.
  Admission is closed-loop: a ticket is admitted only into a free slot (at most `targetActive`
  candidates active at once; the keeper sets it from the gateways' adaptive limits), so an unused
  or released pass gives its slot back at once; `ratePerSec`/`burst` (a token bucket) cap how fast
  (the keeper's pace, engine/queueControl.ts admissionPace, under the operator's maxAdmitPerMinute). Tickets are admitted strictly in seq order: the drawn PREQUEUE
  first (only as far as the draw has got), then the late joiners in arrival order.
  KEYS[1] room  KEYS[2] calendar  KEYS[3] tickets  KEYS[4] prequeue list  KEYS[5] drawn list
  KEYS[6] late list  KEYS[7] slots  KEYS[8] passes  KEYS[9] stream  KEYS[10] queue channel
  ARGV[1] now  ARGV[2] targetActive  ARGV[3] ratePerSec (0: no cap)  ARGV[4] burst
  ARGV[5] idleMs (an admitted candidate's slot until it acts)  ARGV[6] maxBatch
  ARGV[7] drainGraceMs  ARGV[8] auto mode: '1' saturated, '0' not, '' unknown
  ARGV[9] rateTauMs (the service rate's smoothing)  ARGV[10] plan (planned admissions/s)
  ARGV[11] trendTauMs (the smoothing of the rate's trend)
  The rate (the ETA's denominator) is the slots given back per second while people wait: in a line
  that is served as slots free, admissions follow departures, and a burst that merely fills empty
  slots (at the opening) says nothing about how fast the line moves after it. Its trend (admissions/s
  gained per second) is kept beside it, Holt's linear method: a line whose rate grows (the keeper
  growing the target once logins stop) is served faster than its average so far says.
  Returns ok {admitted, lapsed, head, waiting, active, rate, phase, live}
  Emits QUEUE_CLOSED, QUEUE_ACTIVATED, QUEUE_LAPSED, QUEUE_ADMITTED, QUEUE_DRAINED (payloads declared in engine/outbox.ts)
]]
local roomKey, calendarKey, ticketsKey, preKey, drawKey, lateKey, slotsKey, passesKey, streamKey, channel =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local nowText = ARGV[1]
local now = tonumber(nowText)
local targetActive, ratePerSec, burst = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local idleMs, maxBatch, drainGraceMs = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local saturated, rateTauMs, plan = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local trendTauMs = tonumber(ARGV[11])

--@include result
--@include events
--@include queue

local room = loadRoom(roomKey)
if room.mode == 'off' then return ok({ live = false }) end
local opensAt = opensAtOf(calendarKey)
closePrequeueIfDue(room, roomKey, preKey, opensAt, now, streamKey, nowText)

local state = redis.call('HMGET', roomKey, 'tokens', 'tokensAt', 'rateAt', 'since', 'emptySince', 'lastActive')
local tokens, tokensAt = tonumber(state[1]) or burst, tonumber(state[2]) or now
local rateAt, departedSince, emptySince = tonumber(state[3]) or now, tonumber(state[4]) or 0, tonumber(state[5]) or 0
local lastActive = tonumber(state[6]) or 0
local total = room.n + room.late
local waitingBefore = total - room.head

-- auto mode: the keeper says whether admission is saturated; the room closes only when nobody waits
if room.mode == 'auto' and saturated ~= '' then
  if saturated == '1' and not room.auto then
    room.auto = true
    room.phase = 'OPEN'
    redis.call('HSET', roomKey, 'auto', '1', 'phase', 'OPEN')
    emit(streamKey, 'QUEUE_ACTIVATED', nowText, { active = true })
  elseif saturated == '0' and room.auto and waitingBefore == 0 then
    room.auto = false
    redis.call('HSET', roomKey, 'auto', '0')
    emit(streamKey, 'QUEUE_ACTIVATED', nowText, { active = false })
  end
end

-- passes that ran out: LAPSED, and their slots given back
local lapsed = redis.call('ZRANGEBYSCORE', passesKey, '-inf', now, 'LIMIT', 0, 1000)
if #lapsed > 0 then
  for _, ticketId in ipairs(lapsed) do
    local ticket = loadTicket(ticketsKey, ticketId)
    if ticket and ticket[T_STATE] == 'A' then
      ticket[T_STATE] = 'L'
      saveTicket(ticketsKey, ticketId, ticket)
    end
  end
  redis.call('ZREM', passesKey, unpack(lapsed))
  redis.call('ZREM', slotsKey, unpack(lapsed))
  emit(streamKey, 'QUEUE_LAPSED', nowText, { tickets = lapsed, at = now })
end
-- candidates idle since their last gated write (or since admission) give their slot back
redis.call('ZREMRANGEBYSCORE', slotsKey, '-inf', now)
local active = redis.call('ZCARD', slotsKey)
-- slots given back since the last tick (idle, lapsed, or released by an order)
if waitingBefore > 0 and lastActive > active then departedSince = departedSince + (lastActive - active) end

if ratePerSec > 0 then
  tokens = math.min(burst, tokens + (now - tokensAt) / 1000 * ratePerSec)
else
  tokens = burst
end
tokensAt = now

-- the next seqs that may be admitted: the drawn part of the PREQUEUE, then (once the draw is
-- done) the late joiners
local admittable = (room.drawn < room.n) and room.drawn or total
local live = roomActive(room, opensAt, now)
local k = 0
if live then
  k = math.min(math.floor(tokens), targetActive - active, admittable - room.head, maxBatch)
end
if k > 0 then
  local ids = {}
  local first, last = room.head + 1, room.head + k
  if first <= room.n then
    local drawn = redis.call('LRANGE', drawKey, first - 1, math.min(last, room.n) - 1)
    for _, id in ipairs(drawn) do ids[#ids + 1] = id end
  end
  if last > room.n then
    local late = redis.call('LRANGE', lateKey, math.max(first, room.n + 1) - room.n - 1, last - room.n - 1)
    for _, id in ipairs(late) do ids[#ids + 1] = id end
  end
  local passExpiresAt = now + room.passMs
  local slots, passes = {}, {}
  for i, ticketId in ipairs(ids) do
    local ticket = loadTicket(ticketsKey, ticketId)
    ticket[T_STATE] = 'A'
    ticket[T_ADMITTED] = now
    ticket[T_PASS] = passExpiresAt
    saveTicket(ticketsKey, ticketId, ticket)
    slots[#slots + 1] = now + idleMs
    slots[#slots + 1] = ticketId
    passes[#passes + 1] = passExpiresAt
    passes[#passes + 1] = ticketId
  end
  redis.call('ZADD', slotsKey, unpack(slots))
  redis.call('ZADD', passesKey, unpack(passes))
  room.head = room.head + #ids
  tokens = tokens - #ids
  active = active + #ids
  emit(streamKey, 'QUEUE_ADMITTED', nowText, {
    tickets = ids, firstSeq = first, admittedAt = now, passExpiresAt = passExpiresAt,
  })
end

-- the service rate, measured once a second while people wait (the ETA's denominator): an
-- exponential average over rateTauMs, so that an ETA does not jump with one slow second, of what
-- was measured against what the level and its trend predicted; the trend an average over trendTauMs
if now - rateAt >= 1000 then
  if waitingBefore > 0 and departedSince > 0 then
    local dt = now - rateAt
    local instant = departedSince * 1000 / dt
    if room.rate == 0 then
      room.rate = instant
      room.trend = 0
    else
      local predicted = math.max(0, room.rate + room.trend * dt / 1000)
      local level = predicted + (1 - math.exp(-dt / rateTauMs)) * (instant - predicted)
      room.trend = room.trend + (1 - math.exp(-dt / trendTauMs)) * ((level - room.rate) * 1000 / dt - room.trend)
      room.rate = level
    end
  end
  rateAt = now
  departedSince = 0
end

-- an opening's room ends once nobody has waited for drainGraceMs after the opening
local waiting = total - room.head
if room.mode == 'opening' and room.phase == 'OPEN' and waiting == 0 and opensAt ~= nil and now >= opensAt then
  if emptySince == 0 then emptySince = now end
  if now - emptySince >= drainGraceMs then
    room.phase = 'DONE'
    redis.call('HSET', roomKey, 'phase', 'DONE')
    emit(streamKey, 'QUEUE_DRAINED', nowText, { admitted = room.head })
  end
else
  emptySince = 0
end

room.plan = plan
redis.call('HSET', roomKey, 'head', room.head, 'tokens', tokens, 'tokensAt', tokensAt, 'rate', room.rate, 'trend', room.trend,
  'rateAt', rateAt, 'since', departedSince, 'emptySince', emptySince, 'plan', plan, 'lastActive', active,
  'target', targetActive)
redis.call('PUBLISH', channel, cjson.encode({ room = roomView(room), at = now, admitted = math.max(0, k) }))
return ok({
  admitted = math.max(0, k), lapsed = #lapsed, head = room.head, waiting = waiting, active = active, rate = room.rate,
  phase = room.phase, live = live,
})
