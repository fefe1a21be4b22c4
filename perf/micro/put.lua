local counter = 0
local body = string.rep("x", 4096)
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/v1/objects/b/w" .. tid .. "-" .. counter .. "?pid=x&utm=y", {["Content-Type"]="application/octet-stream"}, body)
end
