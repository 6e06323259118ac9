-- callback.lua: a waiting caller asks to be called back; the call keeps its place.
-- KEYS: none.
-- ARGV: 1 call id
-- Returns {'ok', status before, rows} or {'refused', status, rows}.
local call = ARGV[1]
local ck = P..'call:'..call
local out = {}
local st = redis.call('HGET', ck, 'st')
if st ~= 'queued' and st ~= 'offered' and st ~= 'callback_pending' then
  return {'refused', st or '', cjson.encode(out)}
end
redis.call('HSET', ck, 'cb', '1')
if st == 'queued' then
  redis.call('HSET', ck, 'st', 'callback_pending')
  call_row(out, call, 'callback_pending', bump(ck), 'callback_requested')
end
return {'ok', st, cjson.encode(out)}
