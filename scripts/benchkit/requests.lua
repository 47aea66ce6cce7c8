-- The benchmarks' requests, each prepared once and sent in turn:
--   wrk -s requests.lua URL -- paths FILE    GET each path listed in FILE
--   wrk -s requests.lua URL -- paths-gzip FILE   the same with Accept-Encoding: gzip
--   wrk -s requests.lua URL -- posts TOKEN   POST /api/posts into threads 1 to 100, as TOKEN's account
--   wrk -s requests.lua URL -- keyed-posts TOKEN RUN   the same, each with an Idempotency-Key of its own
--                                            (RUN-<wrk thread>-<n>: RUN sets one run's keys apart)
--   wrk -s requests.lua URL -- mix TOKEN     19 of 20: the first page of threads 1 to 100; 1 of 20: a
--                                            new post into them (every write drops pages being read)
--   wrk -s requests.lua URL -- sign-in N     POST /api/sessions as bench_0 .. bench_(N-1), right passwords
local reqs = {}
local keyed  -- keyed-posts: {token, run}; each request is made as it is sent

local function json_post(path, body, token)
  local headers = {["Content-Type"] = "application/json"}
  if token then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", path, headers, body)
end

local function new_post(token, thread)
  return json_post("/api/posts", '{"thread":' .. thread .. ',"text":"bench post"}', token)
end

local modes = {
  paths = function(file)
    for line in io.lines(file) do reqs[#reqs + 1] = wrk.format("GET", line) end
  end,
  ["paths-gzip"] = function(file)
    for line in io.lines(file) do reqs[#reqs + 1] = wrk.format("GET", line, {["Accept-Encoding"] = "gzip"}) end
  end,
  posts = function(token)
    for i = 1, 100 do reqs[i] = new_post(token, i) end
  end,
  mix = function(token)
    for n = 1, 2000 do
      if n % 20 == 0 then
        reqs[n] = new_post(token, (n / 20) % 100 + 1)
      else
        reqs[n] = wrk.format("GET", "/api/posts/in-thread/" .. (n % 100 + 1) .. "?limit=100")
      end
    end
  end,
  ["keyed-posts"] = function(token, run)
    keyed = {token = token, run = run}
  end,
  ["sign-in"] = function(accounts)
    for i = 0, tonumber(accounts) - 1 do
      reqs[i + 1] = json_post("/api/sessions", string.format('{"username":"bench_%d","password":"bench password %d"}', i, i))
    end
  end,
}

-- Each wrk thread has a Lua state of its own: its number keeps its keys
-- apart from the other threads'.
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

init = function(args)
  local mode = modes[args[1]]
  if not mode then error("requests.lua: unknown mode " .. tostring(args[1])) end
  mode(args[2], args[3])
end

local n = 0
request = function()
  n = n + 1
  if keyed then
    local key = string.format('"%s-%d-%d"', keyed.run, thread_number, n)
    return wrk.format("POST", "/api/posts", {["Content-Type"] = "application/json",
                                             ["Authorization"] = "Bearer " .. keyed.token, ["Idempotency-Key"] = key},
                      '{"thread":' .. (n % 100 + 1) .. ',"text":"bench post"}')
  end
  return reqs[(n - 1) % #reqs + 1]
end
