#!/usr/bin/env bash
# Văn Kiện beyond one machine, on one machine: a PostgreSQL primary and streaming replica, a Ray head and worker,
# the sample corpus ingested through Ray, N API replicas, and nginx in front of them when it is installed.
# PostgreSQL listens on Unix sockets, the API replicas and nginx on 127.0.0.1; Ray's own ports listen on every
# interface (a Ray cluster spans machines): firewall them on a shared host. See README.md here and docs/scale.md.
#
#   deploy/scale-out/run.sh up [N]     start everything (N API replicas, default 2) under $VANKIEN_DEPLOY (./deploy-run)
#   deploy/scale-out/run.sh down       stop everything
#   deploy/scale-out/run.sh status     what runs, and the addresses
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN="${VANKIEN_DEPLOY:-$ROOT/deploy-run}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
RAY="$(dirname "$PY")/ray"
RAY_PORT="${RAY_PORT:-6379}"
API_PORT="${API_PORT:-8100}"
PROXY_PORT="${PROXY_PORT:-8000}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

up() {
    local replicas="${1:-2}"
    mkdir -p "$RUN"
    echo "== PostgreSQL: primary and streaming replica (tools/local_pg.py)"
    "$PY" -m tools.local_pg up "$RUN/pg" --replica > "$RUN/pg.json"
    local primary replica
    primary="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["primary"])' "$RUN/pg.json")"
    replica="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["replica"])' "$RUN/pg.json")"

    echo "== Ray: a head and a worker node on 127.0.0.1"
    "$RAY" start --head --node-ip-address=127.0.0.1 --port="$RAY_PORT" \
        --num-cpus=1 --include-dashboard=false --disable-usage-stats > "$RUN/ray-head.log" 2>&1
    "$RAY" start --address="127.0.0.1:$RAY_PORT" --node-ip-address=127.0.0.1 \
        --num-cpus=1 --disable-usage-stats > "$RUN/ray-worker.log" 2>&1

    echo "== Ingest the sample corpus through Ray into the primary"
    "$PY" -m vankien ingest "$ROOT/corpus" --store "$primary" --ray "127.0.0.1:$RAY_PORT"

    echo "== API keys (one file shared by the replicas)"
    if [ ! -f "$RUN/keys.json" ]; then
        "$PY" -m vankien keys create --index "$RUN" --role admin --clearance toi-mat --name quan-tri --json \
            > "$RUN/admin-key.json"
        echo "   admin key saved in $RUN/admin-key.json (shown once)"
    fi

    echo "== $replicas API replicas"
    local upstreams=""
    for i in $(seq 1 "$replicas"); do
        local port=$((API_PORT + i))
        local read="$replica"
        [ "$i" = 1 ] && read=""  # the first replica reads the primary, the others the streaming replica
        VANKIEN_STORE="$primary" VANKIEN_STORE_READ="$read" VANKIEN_NODE="replica-$i" \
            VANKIEN_KEYS_FILE="$RUN/keys.json" \
            nohup "$PY" -m vankien serve --index "$RUN/replica-$i" --port "$port" > "$RUN/replica-$i.log" 2>&1 &
        echo $! > "$RUN/replica-$i.pid"
        upstreams="$upstreams        server 127.0.0.1:$port;\n"
        echo "   replica $i on http://127.0.0.1:$port (log $RUN/replica-$i.log)"
    done
    for i in $(seq 1 "$replicas"); do
        until curl -sf "http://127.0.0.1:$((API_PORT + i))/healthz" > /dev/null; do sleep 1; done
    done

    if command -v nginx > /dev/null; then
        echo "== nginx on http://127.0.0.1:$PROXY_PORT"
        sed -e "s|@UPSTREAMS@|$upstreams|" -e "s|@PORT@|$PROXY_PORT|" -e "s|@RUN@|$RUN|g" "$HERE/nginx.conf" \
            > "$RUN/nginx.conf"
        nginx -c "$RUN/nginx.conf" -p "$RUN"
    else
        echo "== nginx is not installed: call a replica directly, or install nginx (apt-get install nginx) and run up again"
    fi
    status
}

down() {
    [ -f "$RUN/nginx.pid" ] && nginx -c "$RUN/nginx.conf" -p "$RUN" -s quit || true
    for pid in "$RUN"/replica-*.pid; do
        [ -f "$pid" ] && kill "$(cat "$pid")" 2> /dev/null || true
        rm -f "$pid"
    done
    "$RAY" stop > /dev/null 2>&1 || true
    "$PY" -m tools.local_pg down "$RUN/pg" || true
}

status() {
    echo "store: $(cat "$RUN/pg.json" 2> /dev/null || echo 'not started')"
    for pid in "$RUN"/replica-*.pid; do
        [ -f "$pid" ] || continue
        local name; name="$(basename "$pid" .pid)"
        if kill -0 "$(cat "$pid")" 2> /dev/null; then echo "$name: running"; else echo "$name: stopped"; fi
    done
    "$RAY" status 2> /dev/null | sed -n '1,12p' || echo "ray: not running"
}

case "${1:-}" in
    up) up "${2:-2}" ;;
    down) down ;;
    status) status ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
esac
