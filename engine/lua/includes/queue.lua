-- The waiting room of a province (API.md "Waiting room", engine/queue.ts). Keys, all under the
-- province's hash tag: the room hash (settings and the line's counters), tickets by id (one
-- MessagePack array each), the account -> ticket map, the PREQUEUE list (join order), the drawn
-- list (seq 1..n, the draw's order), the late list (seq n+1.., arrival order), the active slots
-- (ticket -> when its slot is given back) and the passes (ticket -> when the pass lapses).
-- A ticket: {accountId, state P|W|A|L, seq (0 while PREQUEUE), joinedAt, admittedAt, passExpiresAt}
local T_ACCOUNT, T_STATE, T_SEQ, T_JOINED, T_ADMITTED, T_PASS = 1, 2, 3, 4, 5, 6

local ROOM_FIELDS = {
  'mode', 'preMs', 'passMs', 'phase', 'n', 'drawn', 'late', 'head', 'auto', 'rate', 'plan', 'lastJoin', 'trend',
}

local function loadRoom(roomKey)
  local v = redis.call('HMGET', roomKey, unpack(ROOM_FIELDS))
  return {
    mode = v[1] or 'off', preMs = tonumber(v[2]) or 0, passMs = tonumber(v[3]) or 900000,
    phase = v[4] or 'PRE', n = tonumber(v[5]) or 0, drawn = tonumber(v[6]) or 0, late = tonumber(v[7]) or 0,
    head = tonumber(v[8]) or 0, auto = v[9] == '1', rate = tonumber(v[10]) or 0, plan = tonumber(v[11]) or 0,
    lastJoin = tonumber(v[12]) or 0, trend = tonumber(v[13]) or 0,
  }
end

-- What a caller needs to show a ticket's position and ETA (engine/queue.ts ticketView).
local function roomView(room)
  return {
    mode = room.mode, phase = room.phase, n = room.n, drawn = room.drawn, late = room.late, head = room.head,
    rate = room.rate, trend = room.trend, plan = room.plan, passMs = room.passMs,
  }
end

local function opensAtOf(calendarKey)
  return tonumber(redis.call('HGET', calendarKey, 'o'))
end

-- Whether the gated writes need a pass now: `opening` from preQueueMinutes before the opening until
-- the line has drained after it; `auto` while the keeper says admission is saturated.
local function roomActive(room, opensAt, now)
  if room.mode == 'opening' then
    return opensAt ~= nil and room.phase ~= 'DONE' and now >= opensAt - room.preMs
  elseif room.mode == 'auto' then
    return room.auto
  end
  return false
end

local function loadTicket(ticketsKey, ticketId)
  local raw = redis.call('HGET', ticketsKey, ticketId)
  if not raw then return nil end
  return cmsgpack.unpack(raw)
end

local function saveTicket(ticketsKey, ticketId, ticket)
  redis.call('HSET', ticketsKey, ticketId, cmsgpack.pack(ticket))
end

-- A ticket that no longer holds a place: lapsed, or admitted with its pass run out.
local function ticketSpent(ticket, now)
  return ticket[T_STATE] == 'L' or (ticket[T_STATE] == 'A' and ticket[T_PASS] <= now)
end

-- At the opening the PREQUEUE closes: its size is fixed, the draw may begin, later joiners queue
-- behind all of it. Done by whichever script first sees the opening (a join or the keeper's tick).
local function closePrequeueIfDue(room, roomKey, preKey, opensAt, now, streamKey, nowText)
  if room.mode ~= 'opening' or room.phase ~= 'PRE' or opensAt == nil or now < opensAt then return end
  room.n = redis.call('LLEN', preKey)
  room.phase = 'DRAWING'
  redis.call('HSET', roomKey, 'phase', room.phase, 'n', room.n)
  emit(streamKey, 'QUEUE_CLOSED', nowText, { prequeued = room.n })
end

-- The gated writes (API.md): while the room is active they need the account's ADMITTED pass.
-- A valid pass keeps its slot for `idleMs` more (the candidate is active). Returns nil (go on)
-- or the refusal's details {ticketId, ticket, room} (ticketId absent when the account has none).
local function passRefusal(roomKey, calendarKey, ticketsKey, accountsKey, slotsKey, accountId, now, idleMs)
  local room = loadRoom(roomKey)
  if not roomActive(room, opensAtOf(calendarKey), now) then return nil end
  local ticketId = redis.call('HGET', accountsKey, accountId)
  if not ticketId then return { room = roomView(room) } end
  local ticket = loadTicket(ticketsKey, ticketId)
  if ticket and ticket[T_STATE] == 'A' and ticket[T_PASS] > now then
    redis.call('ZADD', slotsKey, now + idleMs, ticketId)
    return nil
  end
  return { ticketId = ticketId, ticket = ticket, room = roomView(room) }
end
