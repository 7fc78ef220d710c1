#!/usr/bin/env bash
# sidebyside.sh: stompd and RabbitMQ's STOMP plugins, same load, same machine;
# and stompd's fan-out latency at fixed rates beside core NATS.
#
# What it does, from the repository root, as root on Debian (bookworm):
#   1. installs rabbitmq-server (3.10.x on bookworm) and python3 from Debian
#      packages if they are missing, and stops the Debian service if it runs;
#   2. builds stompd and stompbench into a temporary directory;
#   3. starts stompd alone, pinned to CPU 0, with a fresh data dir and one
#      user, runs every scenario against it with stompbench pinned to CPU 1,
#      and stops it; each conns run gets a freshly started broker, so memory
#      the broker kept from an earlier run does not hide what connections
#      cost;
#   4. starts a redis-server and two stompd nodes on it (--redis), pinned
#      to CLUSTER_CPUS, with one user in Redis, and runs the 2-node rows:
#      p2p with the publisher on node A and the subscriber on node B, and
#      fan-out 1->100 with the subscribers split over both nodes
#      (stompbench -tcp A,B); the nodes' stompd_redis_commands_total gives
#      the Redis commands they send per published message, and Redis's
#      INFO commandstats, reset before each run, what Redis ran for them;
#   5. does the same with RabbitMQ (rabbitmq_stomp and rabbitmq_web_stomp
#      enabled, its own config, data, logs, node name and Erlang cookie in
#      the same temporary directory);
#   6. runs fan-out 1->100 over TCP at each of FIXED_RATES msg/s against
#      stompd and then core NATS (Debian's nats-server, installed if
#      missing, pinned to CPU 0 like stompd; stompbench -nats), a freshly
#      started broker for each run, alternating brokers so that a change of
#      the machine's load hits both alike, and p2p over TCP flat out
#      against each, the comparison of throughput with NATS;
#   7. prints, on stdout, each run's JSON report, then one markdown table:
#      each figure for stompd and RabbitMQ and their ratio (the 2-node rows
#      against RabbitMQ's single node), the Redis commands per message, with the date,
#      machine, versions, load averages and the stompbench commands, and a
#      second one with the fixed-rate latencies (p50, p99, p99.9) of stompd
#      and NATS and their ratios. Progress
#      goes to stderr, with the broker's CPU use during each run: a broker
#      well below 100% was not what limited that run.
#
# To keep the whole output:
#   bash cmd/stompbench/sidebyside.sh 2>&1 | tee /tmp/sidebyside-$(date +%F).txt
#
# Scenarios, 128-byte bodies, each run DURATION long after a WARMUP:
#   p2p and fanout 1->100 over TCP and over WebSocket, flat out (delivered
#   msg/s); fanout 1->100 at half of the broker's own flat-out publish rate
#   (p99 latency); a queue over TCP with QUEUE_PUBS producers sending
#   persistent:true and QUEUE_SUBS consumers acking each message (RabbitMQ's
#   STOMP plugin makes /queue/ destinations durable queues and stores
#   persistent messages; stompd stores them in its bbolt journal before
#   delivering them); CONNS idle connections with one subscription each over
#   TCP and over WebSocket (broker RSS growth per connection). stompd runs
#   with its default topic history (100 messages per topic); p2p and fan-out
#   over TCP run again with --history-size 0, to show what history costs.
# A run that loses, duplicates or corrupts a message shows as INVALID; a run
# that cannot run at all shows the error stompbench printed.
#
# Everything listens on 127.0.0.1 only: stompd's STOMP and HTTP ports,
# RabbitMQ's STOMP, Web-STOMP and Erlang distribution ports (AMQP is off),
# and epmd. Ports are picked free at start, so a stompd or RabbitMQ already
# running on its default ports is left alone. The two brokers never run at
# the same time.
#
# Takes about 7 minutes on 2 cores (plus the RabbitMQ install the first
# time). Needs 2 CPUs or more, Go, and taskset (util-linux). Other load on
# the machine skews the figures: the load averages are printed with them.
#
# Settings, from the environment:
#   ONLY     (all)  stompd, cluster, rabbitmq or nats: run that part alone
#                   (the table then shows errors for the others); nats runs
#                   the fixed-rate rows of both stompd and NATS
#   FIXED_RATES (200 2000) publish rates of the fixed-rate fan-out rows
#   PRIO     (none) a command every broker and stompbench run under, such as
#                   "chrt -f 10" (SCHED_FIFO), so that on a machine others
#                   load the low-rate latency rows are the brokers' own; the
#                   kernel holds real-time tasks to 95% of each second, so a
#                   broker that needs its whole core stalls 50 ms a second
#                   under it: not for the flat-out or 2,000 msg/s rows
#   CLUSTER_CPUS (the broker's CPU) CPUs of Redis and both cluster nodes,
#                   for taskset -c; the default gives the whole cluster the
#                   one core a single broker gets
#   DURATION (10s)  measured time of each run
#   WARMUP   (2s)   warm-up before each run
#   CONNS    (2000) idle connections in the conns runs
#   HOLD     (5s)   how long the conns runs hold their connections
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-2000}
HOLD=${HOLD:-5s}
ONLY=${ONLY:-}
FIXED_RATES=${FIXED_RATES:-200 2000}
SIZE=128
SUBS=100
QUEUE_PUBS=4
QUEUE_SUBS=2
BROKER_CPU=0
BENCH_CPU=1
CLUSTER_CPUS=${CLUSTER_CPUS:-$BROKER_CPU}
read -ra prio <<<"${PRIO:-}"

say() { printf '%s\n' "$*" >&2; }
die() {
	say "sidebyside: $*"
	exit 1
}

# part NAME says whether this run includes the part NAME.
part() { [[ -z $ONLY || $ONLY == "$1" ]]; }

[[ -z $ONLY || $ONLY =~ ^(stompd|cluster|rabbitmq|nats)$ ]] || die "ONLY=$ONLY: want stompd, cluster, rabbitmq or nats"
[[ $(id -u) == 0 ]] || die "run as root (it installs packages and starts RabbitMQ)"
[[ -f go.mod && -d cmd/stompbench ]] || die "run from the repository root: bash cmd/stompbench/sidebyside.sh"
(($(nproc) >= 2)) || die "needs 2 CPUs or more: the broker and the load tool get one each"
command -v taskset >/dev/null || die "taskset is missing (apt-get install util-linux)"
command -v go >/dev/null || die "go is missing"

# --- packages ---------------------------------------------------------------

RMQ_BIN=/usr/lib/rabbitmq/bin
if [[ ! -x $RMQ_BIN/rabbitmq-server ]] || ! command -v python3 >/dev/null || ! command -v redis-server >/dev/null ||
	! command -v nats-server >/dev/null; then
	say "installing rabbitmq-server, redis-server, nats-server and python3 from Debian packages"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server redis-server nats-server python3 >/dev/null
fi
# Debian's nats-server service, if it started on install, listens on 4222;
# the NATS rows start their own on a free port.
# Debian's redis-server service, if it started on install, is left alone:
# the cluster rows start their own on a free port.
# The package's service may have started on install; only the pinned node
# started below may run during the measurements.
if pgrep -u rabbitmq -x beam.smp >/dev/null; then
	say "stopping the rabbitmq-server service"
	service rabbitmq-server stop >/dev/null || die "could not stop the rabbitmq-server service"
fi

# --- scratch space and cleanup ------------------------------------------------

tmp=$(mktemp -d /tmp/sidebyside.XXXXXX)
res=$tmp/results
mkdir -p "$res"
stompd_pid=
nats_pid=
rmq_pid=
broker_pid=
broker_pids= # every process of the broker under test, for its CPU use
cluster_pids=
epmd_before=$(pgrep -x epmd || true)

stop_stompd() {
	if [[ -n $stompd_pid ]]; then
		kill -TERM "$stompd_pid" 2>/dev/null || true
		wait "$stompd_pid" 2>/dev/null || true
		stompd_pid=
	fi
}

stop_rabbitmq() {
	if [[ -n $rmq_pid ]]; then
		rmq rabbitmqctl stop >/dev/null 2>&1 || kill -TERM "$rmq_pid" 2>/dev/null || true
		wait "$rmq_pid" 2>/dev/null || true
		rmq_pid=
	fi
	# epmd is started by the first Erlang node; stop it only if this
	# script's node started it.
	if [[ -z $epmd_before ]] && pgrep -x epmd >/dev/null; then
		epmd -kill >/dev/null 2>&1 || true
	fi
}

cleanup() {
	stop_stompd
	stop_nats
	stop_cluster
	stop_rabbitmq
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Connections per run go past the usual 1024 open files.
ulimit -n "$(ulimit -Hn)"

# free_port prints a TCP port free on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port waits up to $2 seconds for 127.0.0.1:$1 to accept connections.
wait_port() {
	local port=$1 deadline=$((SECONDS + $2))
	until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

# cpu_ticks prints the CPU time, user and system, the broker's processes
# have used so far, in clock ticks (1/100 s on Linux).
cpu_ticks() {
	local p sum=0
	for p in $broker_pids; do
		sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$sum"
}

# --- build ------------------------------------------------------------------

say "building stompd and stompbench"
go build -o "$tmp/stompd" ./cmd/stompd
go build -o "$tmp/stompbench" ./cmd/stompbench

# bench NAME ARGS... runs stompbench pinned to BENCH_CPU, keeping its JSON
# report in $res/NAME.json and its error output in $res/NAME.err.
bench() {
	local name=$1
	shift
	local cmd=("${prio[@]}" taskset -c "$BENCH_CPU" "$tmp/stompbench" -json -quiet -size "$SIZE" "$@")
	printf '%s\n' "${cmd[*]}" | sed -e "s|$tmp/||g" -e 's|\(-auth-login [^:]*:\)[^ ]*|\1PASSWORD|' >"$res/$name.cmd"
	say "  $name: $(cat "$res/$name.cmd")"
	local ticks start=$EPOCHREALTIME
	ticks=$(cpu_ticks)
	"${cmd[@]}" >"$res/$name.json" 2>"$res/$name.err" || true
	python3 -c 'import sys; t, s, e = map(float, sys.argv[1:]); print("%.0f%%" % (t / (e - s)))' \
		"$(($(cpu_ticks) - ticks))" "$start" "$EPOCHREALTIME" >"$res/$name.cpu"
	say "    $(summary "$res/$name"); broker CPU $(cat "$res/$name.cpu") of one core over the whole run"
}

# summary prints one line about the run whose files start with $1.
summary() {
	python3 - "$1" <<'PY'
import json, sys
base = sys.argv[1]
try:
    r = json.load(open(base + ".json"))
except ValueError:
    err = open(base + ".err").read().strip().splitlines()
    print("error:", err[-1] if err else "no output")
    sys.exit()
state = "OK" if r["valid"] else "INVALID"
lat = r["latency_us"]
line = "%s delivered %.0f msg/s, published %.0f msg/s, p99 %.0f us" % (
    state, r["delivery_rate"], r["publish_rate"], lat["p99"])
if r.get("conns"):
    line += ", %.2f KiB per connection" % r["conns"].get("kib_per_connection", 0)
if r.get("error"):
    line += ", error: " + r["error"]
print(line)
PY
}

# half_rate prints half the publish rate of run $1, or nothing if that run
# is not valid.
half_rate() {
	python3 - "$res/$1.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit()
if r["valid"] and r["publish_rate"] > 0:
    print(int(r["publish_rate"] / 2))
PY
}

# phases BROKER TCPADDR WSURL ARGS... runs every scenario against one
# broker, ARGS being its credentials. Each conns run gets a freshly started
# broker, so that memory left over from earlier runs does not hide what the
# connections cost; start_BROKER sets broker_pid and stop_BROKER ends it.
phases() {
	local b=$1 tcp=$2 ws=$3
	shift 3
	local run=(-duration "$DURATION" -warmup "$WARMUP" "$@")
	load >"$res/$b.load-start"

	"start_$b"
	bench "$b-conns-tcp" -tcp "$tcp" -scenario conns -conns "$CONNS" -duration "$HOLD" -pid "$broker_pid" "$@"
	"stop_$b"
	"start_$b"
	bench "$b-conns-ws" -ws "$ws" -scenario conns -conns "$CONNS" -duration "$HOLD" -pid "$broker_pid" "$@"
	"stop_$b"

	"start_$b"
	bench "$b-p2p-tcp" -tcp "$tcp" -scenario p2p "${run[@]}"
	if [[ $b == stompd ]]; then # RabbitMQ has no per-SEND token check to compare
		bench "$b-sendauth-tcp" -tcp "$tcp" -scenario sendauth "${run[@]}"
	fi
	bench "$b-fanout-tcp" -tcp "$tcp" -scenario fanout -subs "$SUBS" "${run[@]}"
	bench "$b-p2p-ws" -ws "$ws" -scenario p2p "${run[@]}"
	bench "$b-fanout-ws" -ws "$ws" -scenario fanout -subs "$SUBS" "${run[@]}"
	bench "$b-queue-persistent-tcp" -tcp "$tcp" -scenario queue -persistent -pubs "$QUEUE_PUBS" -subs "$QUEUE_SUBS" "${run[@]}"
	local t rate target
	for t in tcp ws; do
		rate=$(half_rate "$b-fanout-$t")
		if [[ -z $rate ]]; then
			echo "the flat-out fanout run over $t has no valid rate to halve" >"$res/$b-fanoutrate-$t.err"
			continue
		fi
		target=(-tcp "$tcp")
		[[ $t == ws ]] && target=(-ws "$ws")
		bench "$b-fanoutrate-$t" "${target[@]}" -scenario fanout -subs "$SUBS" -rate "$rate" "${run[@]}"
	done
	"stop_$b"
	load >"$res/$b.load-end"
}

# --- stompd -----------------------------------------------------------------

sd_stomp=$(free_port)
sd_http=$(free_port)
sd_pass=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
"$tmp/stompd" user add --data "$tmp/stompd-data" --email bench@example.com --password "$sd_pass" >/dev/null
echo "stompd at commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" >"$res/stompd.version"

start_stompd() {
	say "starting stompd on CPU $BROKER_CPU: STOMP 127.0.0.1:$sd_stomp, HTTP 127.0.0.1:$sd_http"
	"${prio[@]}" taskset -c "$BROKER_CPU" "$tmp/stompd" --data "$tmp/stompd-data" \
		--stomp "127.0.0.1:$sd_stomp" --http "127.0.0.1:$sd_http" \
		--access-ttl 1h --log-level warn "${sd_extra[@]}" >>"$tmp/stompd.log" 2>&1 &
	stompd_pid=$!
	broker_pid=$stompd_pid
	broker_pids=$broker_pid
	wait_port "$sd_stomp" 30 && wait_port "$sd_http" 30 || die "stompd did not start: $(tail -5 "$tmp/stompd.log")"
}

sd_extra=()
sd_auth=(-auth-login "bench@example.com:$sd_pass" -auth-url "http://127.0.0.1:$sd_http")
part stompd && phases stompd "127.0.0.1:$sd_stomp" "ws://127.0.0.1:$sd_http/ws" "${sd_auth[@]}"

# What topic history costs: p2p and fan-out again with --history-size 0
# (the runs above keep the default 100 messages per topic).
if part stompd; then
	sd_extra=(--history-size 0)
	start_stompd
	nohist=(-tcp "127.0.0.1:$sd_stomp" -duration "$DURATION" -warmup "$WARMUP" "${sd_auth[@]}")
	bench stompd-nohistory-p2p-tcp -scenario p2p "${nohist[@]}"
	bench stompd-nohistory-fanout-tcp -scenario fanout -subs "$SUBS" "${nohist[@]}"
	stop_stompd
	sd_extra=()
fi

# --- stompd cluster: two nodes on one Redis ----------------------------------

rd_port=$(free_port)
cl_stomp=("$(free_port)" "$(free_port)")
cl_http=("$(free_port)" "$(free_port)")
rd() { redis-cli -p "$rd_port" "$@"; }

# start_cluster starts redis-server (no persistence: the rows publish to
# topics, which Redis never stores) and nodes A and B on it.
start_cluster() {
	say "starting redis-server on 127.0.0.1:$rd_port and stompd nodes A and B on it, on CPUs $CLUSTER_CPUS"
	mkdir -p "$tmp/redis"
	"${prio[@]}" taskset -c "$CLUSTER_CPUS" redis-server --port "$rd_port" --bind 127.0.0.1 --dir "$tmp/redis" \
		--save "" --appendonly no --logfile "$tmp/redis/redis.log" &
	cluster_pids=$!
	wait_port "$rd_port" 30 || die "redis-server did not start: $(tail -5 "$tmp/redis/redis.log")"
	redis-server --version | cut -d' ' -f1-3 >"$res/redis.version"
	local i
	for i in 0 1; do
		"${prio[@]}" taskset -c "$CLUSTER_CPUS" "$tmp/stompd" --redis "redis://127.0.0.1:$rd_port" \
			--stomp "127.0.0.1:${cl_stomp[i]}" --http "127.0.0.1:${cl_http[i]}" \
			--access-ttl 1h --log-level warn >>"$tmp/cluster-$i.log" 2>&1 &
		cluster_pids+=" $!"
		wait_port "${cl_stomp[i]}" 30 && wait_port "${cl_http[i]}" 30 || die "stompd node $i did not start: $(tail -5 "$tmp/cluster-$i.log")"
	done
	broker_pids=$cluster_pids
}

stop_cluster() {
	local p
	for p in $cluster_pids; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	cluster_pids=
}

# cluster_bench NAME ARGS... is bench with Redis's command counts of the
# run: the commands the nodes sent (stompd_redis_commands_total of both,
# before and after) in $res/NAME.sent, and what Redis ran, from INFO
# commandstats reset before it, in $res/NAME.redis.
cluster_bench() {
	local name=$1
	rd CONFIG RESETSTAT >/dev/null
	local before
	before=$(sent_commands)
	bench "$@"
	echo $(($(sent_commands) - before)) >"$res/$name.sent"
	rd INFO commandstats | tr -d '\r' | grep '^cmdstat_' >"$res/$name.redis" || true
	redis_per_message "$res/$name" >"$res/$name.redisline"
	say "    Redis: $(cat "$res/$name.redisline")"
}

# sent_commands prints the sum of stompd_redis_commands_total over the
# cluster's nodes.
sent_commands() {
	python3 - "${cl_http[@]}" <<'PY'
import re, sys, urllib.request
total = 0
for port in sys.argv[1:]:
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=10).read().decode()
    total += sum(float(v) for v in re.findall(r"^stompd_redis_commands_total\{[^}]*\} (\S+)$", text, re.M))
print(int(total))
PY
}

# redis_per_message prints the Redis commands the nodes sent per published
# message of the run whose files start with $1, then those Redis ran, in
# all and for the busiest: INFO commandstats counts the commands a script
# runs (topic history's EVALSHA) besides the EVALSHA itself.
redis_per_message() {
	python3 - "$1" <<'PY'
import json, re, sys
base = sys.argv[1]
try:
    published = json.load(open(base + ".json"))["published"]
    sent = int(open(base + ".sent").read())
    stats = open(base + ".redis").read().splitlines()
except (OSError, ValueError, KeyError):
    print("no figure: the run has no report or Redis no command stats")
    sys.exit()
calls = {}
for line in stats:
    m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
    if m and not m.group(1).startswith("config"):  # the script's own RESETSTAT
        calls[m.group(1).upper()] = int(m.group(2))
if not published:
    print("no message published; %d commands sent" % sent)
    sys.exit()
top = sorted(calls.items(), key=lambda kv: -kv[1])[:4]
print("%.2f commands sent per published message: %d commands for %d messages; Redis ran %.2f (%s)" % (
      sent / published, sent, published, sum(calls.values()) / published,
      ", ".join("%s %.2f" % (k, v / published) for k, v in top)))
PY
}

if part cluster; then
	start_cluster
	# With --redis the users live in Redis: one user add serves both nodes.
	if cl_err=$("$tmp/stompd" user add --redis "redis://127.0.0.1:$rd_port" \
		--email bench@example.com --password "$sd_pass" 2>&1 >/dev/null); then
		cl_run=(-duration "$DURATION" -warmup "$WARMUP" -auth-login "bench@example.com:$sd_pass" -auth-url "http://127.0.0.1:${cl_http[0]}")
		nodes="127.0.0.1:${cl_stomp[0]},127.0.0.1:${cl_stomp[1]}"
		cluster_bench stompd-cluster-p2p-tcp -tcp "$nodes" -scenario p2p "${cl_run[@]}"
		cluster_bench stompd-cluster-fanout-tcp -tcp "$nodes" -scenario fanout -subs "$SUBS" "${cl_run[@]}"
	else
		for run in p2p-tcp fanout-tcp; do
			echo "stompd user add --redis: $cl_err" >"$res/stompd-cluster-$run.err"
		done
		say "cluster rows skipped: stompd user add --redis failed: $cl_err"
	fi
	stop_cluster
fi

# --- fan-out latency at fixed rates: stompd and core NATS ---------------------

nats_port=$(free_port)

start_nats() {
	say "starting nats-server on CPU $BROKER_CPU: 127.0.0.1:$nats_port"
	"${prio[@]}" taskset -c "$BROKER_CPU" nats-server -a 127.0.0.1 -p "$nats_port" >>"$tmp/nats.log" 2>&1 &
	nats_pid=$!
	broker_pids=$nats_pid
	wait_port "$nats_port" 30 || die "nats-server did not start: $(tail -5 "$tmp/nats.log")"
	[[ -s $res/nats.version ]] || nats-server --version >"$res/nats.version"
}

stop_nats() {
	if [[ -n $nats_pid ]]; then
		kill -TERM "$nats_pid" 2>/dev/null || true
		wait "$nats_pid" 2>/dev/null || true
		nats_pid=
	fi
}

if part nats; then
	load >"$res/nats.load-start"
	echo "${PRIO:-the default scheduling policy}" >"$res/nats.prio"
	start_stompd
	bench stompd-natsp2p-tcp -tcp "127.0.0.1:$sd_stomp" "${sd_auth[@]}" -scenario p2p -duration "$DURATION" -warmup "$WARMUP"
	stop_stompd
	start_nats
	bench nats-natsp2p-tcp -nats "nats://127.0.0.1:$nats_port" -scenario p2p -duration "$DURATION" -warmup "$WARMUP"
	stop_nats
	fixed=(-scenario fanout -subs "$SUBS" -duration "$DURATION" -warmup "$WARMUP")
	for rate in $FIXED_RATES; do
		start_stompd
		bench "stompd-fixed-$rate" -tcp "127.0.0.1:$sd_stomp" "${sd_auth[@]}" -rate "$rate" "${fixed[@]}"
		stop_stompd
		start_nats
		bench "nats-fixed-$rate" -nats "nats://127.0.0.1:$nats_port" -rate "$rate" "${fixed[@]}"
		stop_nats
	done
	load >"$res/nats.load-end"
fi

# --- RabbitMQ ---------------------------------------------------------------

rq_stomp=$(free_port)
rq_ws=$(free_port)
rq_dist=$(free_port)
mkdir -p "$tmp/rabbitmq/home" "$tmp/rabbitmq/mnesia" "$tmp/rabbitmq/log"
cat >"$tmp/rabbitmq/rabbitmq.conf" <<EOF
listeners.tcp = none
stomp.listeners.tcp.1 = 127.0.0.1:$rq_stomp
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = $rq_ws
loopback_users.guest = true
log.console = false
log.file.level = warning
EOF

# rmq_env makes RabbitMQ's commands work on this script's node only, with
# its own cookie, config, plugins, data and logs, listening on loopback.
rmq_env=(
	HOME="$tmp/rabbitmq/home"
	RABBITMQ_NODENAME="sidebyside$$@localhost"
	RABBITMQ_CONFIG_FILE="$tmp/rabbitmq/rabbitmq.conf"
	RABBITMQ_ENABLED_PLUGINS_FILE="$tmp/rabbitmq/enabled_plugins"
	RABBITMQ_MNESIA_BASE="$tmp/rabbitmq/mnesia"
	RABBITMQ_LOG_BASE="$tmp/rabbitmq/log"
	RABBITMQ_DIST_PORT="$rq_dist"
	ERL_EPMD_ADDRESS=127.0.0.1
	RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
	RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
)
rmq() {
	local cmd=$1
	shift
	env "${rmq_env[@]}" "$RMQ_BIN/$cmd" "$@"
}
rmq rabbitmq-plugins enable --offline rabbitmq_stomp rabbitmq_web_stomp >/dev/null

# start_rabbitmq starts the node; broker_pid is its beam.smp, the process
# doing the work (the one started is a shell script waiting on it).
start_rabbitmq() {
	say "starting RabbitMQ on CPU $BROKER_CPU: STOMP 127.0.0.1:$rq_stomp, Web-STOMP 127.0.0.1:$rq_ws"
	"${prio[@]}" taskset -c "$BROKER_CPU" env "${rmq_env[@]}" "$RMQ_BIN/rabbitmq-server" >>"$tmp/rabbitmq/startup.log" 2>&1 &
	rmq_pid=$!
	wait_port "$rq_stomp" 120 && wait_port "$rq_ws" 30 || die "RabbitMQ did not start: $(tail -5 "$tmp/rabbitmq/startup.log")"
	broker_pid=$(rmq rabbitmqctl eval 'os:getpid().' | tr -dc '0-9')
	[[ -n $broker_pid ]] || die "could not read RabbitMQ's beam.smp pid"
	broker_pids=$broker_pid
	say "RabbitMQ's beam.smp is pid $broker_pid, on CPUs $(taskset -cp "$broker_pid" | sed 's/.*: //')"
	[[ -s $res/rabbitmq.version ]] ||
		echo "RabbitMQ $(rmq rabbitmqctl version 2>/dev/null | tail -1) on Erlang/OTP $(rmq rabbitmqctl eval 'erlang:system_info(otp_release).' | tr -dc '0-9')" >"$res/rabbitmq.version"
}

part rabbitmq && phases rabbitmq "127.0.0.1:$rq_stomp" "ws://127.0.0.1:$rq_ws/ws" -login guest -passcode guest -vhost /

# --- report -----------------------------------------------------------------

printf '\n## Raw results (one JSON report per run)\n\n'
for f in "$res"/*.json; do
	[[ -e $f ]] || continue # no run made a report
	name=$(basename "$f" .json)
	printf '%s: %s\n' "$name" "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$f" 2>/dev/null || tail -1 "$res/$name.err")"
done

python3 - "$res" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" \
	"$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" "$(go version | cut -d' ' -f3)" \
	"$DURATION" "$WARMUP" "$CONNS" "$HOLD" "$SIZE" "$SUBS" "$CLUSTER_CPUS" "$QUEUE_PUBS" "$QUEUE_SUBS" "$FIXED_RATES" <<'PY'
import json, os, sys

res, date, ncpu, cpu, gover, duration, warmup, conns, hold, size, subs, cluster_cpus, queue_pubs, queue_subs, fixed_rates = sys.argv[1:]

def read(name):
    """The run's report, or None and the error it printed."""
    try:
        return json.load(open(os.path.join(res, name + ".json"))), None
    except (OSError, ValueError):
        pass
    try:
        lines = open(os.path.join(res, name + ".err")).read().strip().splitlines()
    except OSError:
        lines = []
    return None, (lines[-1] if lines else "no output")

def cell(r, err, fmt):
    if r is None:
        return "error: " + err.replace("|", "\\|")
    if not r["valid"]:
        why = "lost %d, duplicated %d, corrupted %d, misrouted %d" % (
            r["lost"], r["duplicated"], r["corrupted"], r["misrouted"])
        if r.get("error"):
            why += "; " + r["error"]
        return "INVALID (" + why.replace("|", "\\|") + ")"
    return fmt(r)

def group(n):
    return format(int(round(n)), ",")

rate = lambda r: r["delivery_rate"]
p99 = lambda r: r["latency_us"]["p99"]
kib = lambda r: (r.get("conns") or {}).get("kib_per_connection", 0) or None

def at_rate(v, r):
    s = "%.3f ms at %s msg/s" % (v / 1e3, group(r["rate"]))
    if r["publish_rate"] < 0.98 * r["rate"]:
        s += " (fell behind: published %s msg/s)" % group(r["publish_rate"])
    return s

rows = [
    # label, run, value, format, higher is better
    ("p2p, TCP: delivered msg/s", "p2p-tcp", rate, lambda v, r: group(v), True),
    ("fanout 1→%s, TCP: delivered msg/s" % subs, "fanout-tcp", rate, lambda v, r: group(v), True),
    ("p2p, WebSocket: delivered msg/s", "p2p-ws", rate, lambda v, r: group(v), True),
    ("fanout 1→%s, WebSocket: delivered msg/s" % subs, "fanout-ws", rate, lambda v, r: group(v), True),
    ("durable queue, %s producers sending persistent:true, %s consumers acking, TCP: delivered msg/s" % (queue_pubs, queue_subs),
     "queue-persistent-tcp", rate, lambda v, r: group(v), True),
    ("fanout 1→%s, TCP: p99 latency at half its own max rate" % subs, "fanoutrate-tcp", p99,
     at_rate, None),
    ("fanout 1→%s, WebSocket: p99 latency at half its own max rate" % subs, "fanoutrate-ws", p99,
     at_rate, None),
    ("2-node p2p, TCP, publisher on A, subscriber on B (RabbitMQ: one node): delivered msg/s", "cluster-p2p-tcp", rate,
     lambda v, r: group(v), True),
    ("2-node fanout 1→%s, TCP, subscribers split (RabbitMQ: one node): delivered msg/s" % subs, "cluster-fanout-tcp", rate,
     lambda v, r: group(v), True),
    ("%s idle conns, TCP: RSS per connection" % group(int(conns)), "conns-tcp", kib,
     lambda v, r: "%.1f KiB" % v, False),
    ("%s idle conns, WebSocket: RSS per connection" % group(int(conns)), "conns-ws", kib,
     lambda v, r: "%.1f KiB" % v, False),
]

def text(name):
    try:
        return open(os.path.join(res, name)).read().strip()
    except OSError:
        return "unknown"

print()
print("## stompd and RabbitMQ side by side")
print()
print("- date: %s" % date)
print("- machine: %s CPUs, %s; each broker pinned to CPU 0 (the 2-node cluster, its Redis included, to CPUs %s), stompbench to CPU 1, one broker running at a time" % (ncpu, cpu, cluster_cpus))
print("- versions: %s (%s); %s; %s" % (text("stompd.version"), gover, text("rabbitmq.version"), text("redis.version")))
print("- load average (1/5/15 min) at start and end: stompd %s → %s; RabbitMQ %s → %s" % (
    text("stompd.load-start"), text("stompd.load-end"), text("rabbitmq.load-start"), text("rabbitmq.load-end")))
print("- runs: %s-byte bodies, %s measured after a %s warm-up; conns runs hold %s idle connections, one subscription each, for %s" % (
    size, duration, warmup, conns, hold))
print("- command: `bash cmd/stompbench/sidebyside.sh` (DURATION=%s WARMUP=%s CONNS=%s HOLD=%s)" % (duration, warmup, conns, hold))
print()
print("| scenario | stompd | RabbitMQ | ratio |")
print("|---|---|---|---|")
for label, run, value, fmt, higher in rows:
    cells, vals = [], []
    for b in ("stompd", "rabbitmq"):
        # The 2-node rows set stompd's cluster against RabbitMQ's one node.
        r, err = read(b + "-" + (run.replace("cluster-", "", 1) if b == "rabbitmq" else run))
        v = value(r) if r is not None and r["valid"] else None
        if r is not None and r["valid"] and v is None:
            err, r = "no figure in the report", None
        cells.append(cell(r, err, lambda r: fmt(v, r)))
        vals.append(v)
    s, q = vals
    if higher is None or not s or not q:
        ratio = "—"
    else:
        ratio = "%.1f×" % (s / q if higher else q / s)
    print("| %s | %s | %s | %s |" % (label, cells[0], cells[1], ratio))
print()
r, err = read("stompd-sendauth-tcp")
p2p, _ = read("stompd-p2p-tcp")
line = cell(r, err, lambda r: "%s msg/s" % group(rate(r)))
if r is not None and r["valid"] and p2p is not None and p2p["valid"]:
    line += ", %.2f× its p2p TCP run above" % (rate(r) / rate(p2p))
print("sendauth (p2p with a Bearer token on every SEND), TCP, stompd only: " + line + ".")
print()
print("Topic history (stompd only): the rows above keep the default 100 messages")
print("per topic; the same runs with --history-size 0:")
print()
for run, label in (("p2p-tcp", "p2p, TCP"), ("fanout-tcp", "fanout 1→%s, TCP" % subs)):
    on, _ = read("stompd-" + run)
    off, err = read("stompd-nohistory-" + run)
    line = cell(off, err, lambda r: "%s msg/s without history" % group(rate(r)))
    if on is not None and on["valid"] and off is not None and off["valid"]:
        line += ", %s with it: %.2f× (with ÷ without)" % (group(rate(on)), rate(on) / rate(off))
    print("- %s: %s" % (label, line))
print()
print("Redis commands per published message in the 2-node rows: those the nodes")
print("sent (stompd_redis_commands_total of both, before and after each run), then")
print("those Redis ran (INFO commandstats, reset before each run, which counts the")
print("commands a script runs besides its EVALSHA); every command of the run, the")
print("nodes' once-a-second PINGs and the logins included:")
print()
for run in ("cluster-p2p-tcp", "cluster-fanout-tcp"):
    print("- %s: %s" % (run, text("stompd-" + run + ".redisline")))
print()
print("Ratio: how many times better stompd's figure is (stompd ÷ RabbitMQ for")
print("rates, RabbitMQ ÷ stompd for memory). Latency rows run each broker at half")
print("of its own flat-out fanout publish rate, so their rates differ and no ratio")
print("is given. Delivered msg/s counts every delivery to every subscriber.")
print()
print("## stompd and core NATS: fan-out 1→%s over TCP at fixed rates" % subs)
print()
print("- versions: %s; %s" % (text("stompd.version"), text("nats.version")))
print("- load average (1/5/15 min) at start and end: %s → %s" % (text("nats.load-start"), text("nats.load-end")))
print("- each broker pinned to CPU 0, stompbench (`-nats` for NATS: the same client, bodies, ledger and histogram) to CPU 1;")
print("  a freshly started broker for each run, stompd and NATS alternating; brokers and stompbench under %s" % text("nats.prio"))
print()
print("| rate, percentile | stompd | NATS | ratio |")
print("|---|---|---|---|")
fixed = fixed_rates.split()
for fixed_rate in fixed:
    runs = [read(b + "-fixed-" + fixed_rate) for b in ("stompd", "nats")]
    for q, key in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p99_9")):
        cells, vals = [], []
        for r, err in runs:
            v = r["latency_us"][key] if r is not None and r["valid"] else None
            cells.append(cell(r, err, lambda r: at_rate(v, r)))
            vals.append(v)
        s, n = vals
        ratio = "%.2f×" % (n / s) if s and n else "—"
        print("| %s msg/s, %s | %s | %s | %s |" % (group(int(fixed_rate)), q, cells[0], cells[1], ratio))
print()
print("Ratio: NATS ÷ stompd, so above 1 means stompd's latency is lower.")
print()
runs = [read(b + "-natsp2p-tcp") for b in ("stompd", "nats")]
cells = [cell(r, err, lambda r: group(rate(r)) + " msg/s") for r, err in runs]
ok = [r is not None and r["valid"] for r, _ in runs]
ratio = ", stompd ÷ NATS %.2f×" % (rate(runs[0][0]) / rate(runs[1][0])) if all(ok) else ""
print("p2p over TCP, flat out, the same pinning, a fresh broker each: stompd %s, NATS %s%s." % (cells[0], cells[1], ratio))
print()
print("stompbench commands (PASSWORD is a random one made for the run):")
print()
fixed_runs = ["fixed-" + rate for rate in fixed]
for b in ("stompd", "rabbitmq", "nats"):
    for run in [run for _, run, *_ in rows] + ["sendauth-tcp", "nohistory-p2p-tcp", "nohistory-fanout-tcp", "natsp2p-tcp"] + fixed_runs:
        try:
            print("    " + open(os.path.join(res, b + "-" + run + ".cmd")).read().strip())
        except OSError:
            pass
PY
