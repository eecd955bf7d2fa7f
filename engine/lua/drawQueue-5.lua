--[[
  The opening's draw (API.md "Waiting room": verifiable), one chunk per call: the keeper computes
  the order of the closed PREQUEUE — HMAC-SHA256(seed, ticketId) ascending (engine/queueDraw.ts),
  which Lua cannot compute — and hands it over in chunks starting at `offset` (the tickets drawn so
  far; a chunk at another offset is not applied, so two keepers cannot both apply one). Each ticket
  becomes WAITING with seq = its place in the draw. The last chunk reveals the seed (checked
  against the commitment by the caller) and ends the draw.
  KEYS[1] room  KEYS[2] tickets  KEYS[3] drawn list  KEYS[4] stream  KEYS[5] queue channel
  ARGV[1] offset  ARGV[2] seed hex ('' unless this chunk ends the draw)  ARGV[3] now
  ARGV[4..] ticket ids in drawn order
  Returns ok {applied, drawn, done}  or DRAW_NOT_DUE (the room is not drawing)
  Emits QUEUE_DRAWN, QUEUE_DRAW_DONE (payloads declared in engine/outbox.ts)
]]
local roomKey, ticketsKey, drawKey, streamKey, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local offset, seedHex, nowText = tonumber(ARGV[1]), ARGV[2], ARGV[3]

--@include result
--@include events
--@include queue

local room = loadRoom(roomKey)
if room.phase ~= 'DRAWING' then return refuse(CODE.DRAW_NOT_DUE) end
if room.drawn ~= offset then return ok({ applied = false, drawn = room.drawn, done = false }) end
local count = #ARGV - 3
if offset + count > room.n then return refuse(CODE.DRAW_NOT_DUE) end

local ids = {}
for i = 1, count do
  local ticketId = ARGV[3 + i]
  local ticket = loadTicket(ticketsKey, ticketId)
  if ticket == nil or ticket[T_STATE] ~= 'P' then return refuse(CODE.DRAW_NOT_DUE) end
  ticket[T_STATE] = 'W'
  ticket[T_SEQ] = offset + i
  saveTicket(ticketsKey, ticketId, ticket)
  ids[i] = ticketId
end
if count > 0 then
  redis.call('RPUSH', drawKey, unpack(ids))
  emit(streamKey, 'QUEUE_DRAWN', nowText, { offset = offset, tickets = ids })
end
room.drawn = offset + count
local done = room.drawn == room.n and seedHex ~= ''
if done then
  room.phase = 'OPEN'
  redis.call('HSET', roomKey, 'drawn', room.drawn, 'phase', room.phase, 'seed', seedHex)
  emit(streamKey, 'QUEUE_DRAW_DONE', nowText, { seed = seedHex, count = room.n })
else
  redis.call('HSET', roomKey, 'drawn', room.drawn)
end
redis.call('PUBLISH', channel, cjson.encode({ room = roomView(room), at = tonumber(nowText) }))
return ok({ applied = true, drawn = room.drawn, done = done })
