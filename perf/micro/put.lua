-- wrk script: PUTs of new 4 KiB objects w<thread>-<n> into bucket $PUT_BUCKET (default b),
-- with the query a proxy's redirect adds (so a core port takes them as redirected); with
-- $PUT_DIRS = N, spread over N directories d0/ .. d<N-1>/
local counter = 0
local body = string.rep("x", 4096)
local bucket = os.getenv("PUT_BUCKET") or "b"
local dirs = tonumber(os.getenv("PUT_DIRS") or "0")
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
request = function()
  counter = counter + 1
  local dir = dirs > 0 and ("d" .. (counter % dirs) .. "/") or ""
  return wrk.format("PUT", "/v1/objects/" .. bucket .. "/" .. dir .. "w" .. tid .. "-" .. counter .. "?pid=x&utm=y", {["Content-Type"]="application/octet-stream"}, body)
end
