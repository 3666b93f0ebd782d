-- paths.lua is the wrk script of bench/nix.sh: every connection sends GETs
-- for the paths listed in a file, in turn, optionally with an Authorization
-- header, and the run ends with one machine-readable line for the script.
--
-- Usage: wrk [options] -s paths.lua http://HOST:PORT -- PATHS_FILE [AUTHORIZATION]
--        wrk [options] -s paths.lua http://HOST:PORT -- unique:PREFIX [AUTHORIZATION]
--
-- The requests from a file are formatted once in init, so the per-request
-- Lua cost is a table lookup and the client spends its CPU on the socket,
-- not on Lua. With unique:PREFIX every request asks for a narinfo never
-- asked before, PREFIX .. HASH .. ".narinfo", where HASH is 32 characters of
-- Nix's base-32 alphabet: the thread's number, random bytes and a counter.

local requests, count, next_index = {}, 0, 0
local unique_prefix, unique_headers, counter = nil, nil, 0
local alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

local function base32(n, width)
	local digits = {}
	for i = width, 1, -1 do
		local d = n % 32
		digits[i] = alphabet:sub(d + 1, d + 1)
		n = (n - d) / 32
	end
	return table.concat(digits)
end

-- setup numbers the threads (it runs in the main Lua state; thread_id
-- becomes a global of each thread's state).
local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("thread_id", threads)
end

-- random_u24 returns 3 bytes of /dev/urandom as a number.
local function random_u24(f)
	local b1, b2, b3 = f:read(3):byte(1, 3)
	return (b1 * 256 + b2) * 256 + b3
end

function init(args)
	local file, authorization = args[1], args[2]
	if file == nil then
		error("paths.lua: usage: wrk ... -s paths.lua URL -- PATHS_FILE [AUTHORIZATION]")
	end
	local headers = {}
	if authorization ~= nil and authorization ~= "" then
		headers["Authorization"] = authorization
	end
	local urandom = assert(io.open("/dev/urandom", "rb"))
	local r1, r2 = random_u24(urandom), random_u24(urandom)
	urandom:close()
	if file:sub(1, 7) == "unique:" then
		-- 2 + 5 + 5 + 20 characters.
		unique_prefix = file:sub(8) .. base32(thread_id or 0, 2) .. base32(r1, 5) .. base32(r2, 5)
		unique_headers = headers
		return
	end
	-- Threads start at different offsets, so they do not ask for the same
	-- key in lockstep.
	math.randomseed(r1 * 4096 + r2)
	for line in io.lines(file) do
		if line ~= "" then
			count = count + 1
			requests[count] = wrk.format("GET", line, headers)
		end
	end
	if count == 0 then
		error("paths.lua: no paths in " .. file)
	end
	next_index = math.random(count) - 1
end

function request()
	if unique_prefix then
		counter = counter + 1
		return wrk.format("GET", unique_prefix .. base32(counter, 20) .. ".narinfo", unique_headers)
	end
	next_index = next_index % count + 1
	return requests[next_index]
end

-- done prints: RESULT requests bytes duration_us non2xx connect read write timeout
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT %d %d %d %d %d %d %d %d\n",
		summary.requests, summary.bytes, summary.duration,
		e.status, e.connect, e.read, e.write, e.timeout))
	io.write(string.format("LATENCY p50_us=%d p99_us=%d\n",
		latency:percentile(50), latency:percentile(99)))
end
