-- wrk script: every request carries a session cookie picked at random from
-- the file named by $BENCH_COOKIES (one "name=value" per line), and asks for
-- JSON, so that a request whose session is unknown gets 401 (counted by wrk
-- as non-2xx) instead of a 200 sign-in form.
local cookies = {}

init = function(args)
   local path = os.getenv("BENCH_COOKIES")
   for line in io.lines(path) do
      if #line > 0 then cookies[#cookies + 1] = line end
   end
   math.randomseed(os.time() + tonumber(tostring(cookies):sub(-6), 16))
end

request = function()
   local c = cookies[math.random(#cookies)]
   return wrk.format("GET", nil, {["Cookie"] = c, ["Accept"] = "application/json"})
end
