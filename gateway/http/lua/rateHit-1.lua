-- One fixed-window hit: INCR, and the window's expiry set by the hit that created the counter.
-- KEYS[1] the counter; ARGV[1] the window (ms). Returns the count.
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
