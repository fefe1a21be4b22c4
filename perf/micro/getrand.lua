local n = tonumber(os.getenv("NOBJ") or "1000")
request = function()
  return wrk.format("GET", "/v1/objects/b/w1-" .. math.random(1, n))
end
