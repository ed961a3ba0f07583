-- bench/server-post.lua — wrk script for bench/server: POST /api/v1/requests with the bearer
-- token of $ESCORT_TOKEN. Each request carries a different command (a rotating set of
-- realistic commands with a counter), so nothing can be served from a cache. With
-- $BENCH_MAX the thread stops after that many answers (filling the queue for the memory
-- row; run it with -t1). done() prints one machine-readable WRK line for bench/server.
local token = os.getenv("ESCORT_TOKEN") or ""
local target = os.getenv("BENCH_TARGET") or "dod-web"
local max = tonumber(os.getenv("BENCH_MAX") or "0")
local cmds = {
	"systemctl status nginx-%d",
	"journalctl -u nginx --since '-%d min' --no-pager",
	"ls -la /var/log/app-%d",
	"grep -c ERROR /var/log/app/%d.log",
	"df -h /srv/data%d",
	"tail -n %d /var/log/syslog",
}
local n, answered = 0, 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
	n = n + 1
	local c = string.format(cmds[n % #cmds + 1], n)
	local body = string.format(
		'{"target":"%s","commands":["%s"],"ticket":"BENCH-%d","justification":"bench"}',
		target, c, n)
	return wrk.format(nil, nil, nil, body)
end

if max > 0 then
	response = function(status, headers, body)
		answered = answered + 1
		if answered >= max then
			wrk.thread:stop()
		end
	end
end

done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"WRK requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d status_errors=%d " ..
		"connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
		summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
		latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
