-- tick.lua: the room's status after one tick (room.lua). No ARGV.
local s = tick(now_s())
if not s then return {'UNKNOWN'} end
return answer('STATUS', nil, nil, s)
