#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_bench_tls_stream.sh - tests/bench/tls_stream.py, the measured TLS
# link ceiling of `make bench` section repl, and its C tool
# build/tests/bench/wbtlsstream, on small streams (no timing is checked):
# every tool negotiates TLS 1.3 with TLS_AES_256_GCM_SHA384 and every
# receiver gets exactly the bytes sent, alone and two at once; a socat
# that is not on PATH and a wbtlsstream that is not built are skipped with
# the reason, not an error; --ping (the QD1 floor's TLS round trip) reports
# its round trips and refuses a wrong certificate; and the byte checks can fail: wbtlsstream
# whose senders send 16 KiB less than its receivers expect exits 1 saying
# so (and tls_stream.py skips it with that reason), a wbtlsstream JSON
# that claims a wrong count is caught by tls_stream.py itself, and a socat
# sender that sends one 16 KiB record less than it was told gets the tool
# skipped with the count in the reason. Certificates: section_repl.sh's
# own repl_certs.
# timeout: 300
set -u
. "$(dirname "$0")/../lib.sh"
need_tools openssl python3
WBTS=build/tests/bench/wbtlsstream
[ -x "$WBTS" ] || { fail "$WBTS not built (make all)"; finish; }
tmpdir tlsstream
SECTIONS=()
# shellcheck source=../bench/section_repl.sh
. tests/bench/section_repl.sh
repl_certs "$T" || { fail "certificates: $(tail -3 "$T/openssl.log")"; finish; }
TS=(python3 tests/bench/tls_stream.py --runs 1 --warmup-mib 8 --mib 32)

# check JSON TOOL: the tool measured 1 and 2 streams of 32 MiB, TLS 1.3,
# AES-256-GCM, every byte received
check() {
	python3 - "$1" "$2" <<'EOP'
import json, sys
t = json.load(open(sys.argv[1]))["tools"][sys.argv[2]]
assert "skipped" not in t, t.get("skipped")
for k in ("1", "2"):
    m = t["streams"][k]
    assert m["streams"] == int(k) and m["mib_per_stream"] == 32, m
    for r in m["runs"] + [m["warmup"]]:
        assert r["protocol"] == "TLSv1.3", r["protocol"]
        assert r["cipher"] == "TLS_AES_256_GCM_SHA384", r["cipher"]
        assert len(r["stream_secs"]) == int(k) and r["mibps_per_stream"] > 0, r
        assert len(r["recv_other_writes"]) == int(k), r
        for w in r["recv_other_writes"]:
            assert (0 < w <= 8192) if sys.argv[2] == "socat" else w == 0, w
        assert len(r["cpu_ms_per_mib_send"]) == int(k), r
EOP
}

# wbtlsstream itself: 1 and 2 streams of 32 MiB, its JSON
N=$((32 << 20))
for k in 1 2; do
	if "$WBTS" "$T" $N --streams $k >"$T/wbts$k.json" 2>"$T/wbts$k.err" &&
		python3 - "$T/wbts$k.json" $N $k <<'EOP' 2>>"$T/wbts$k.err"; then
import json, sys
w = json.load(open(sys.argv[1]))
n, k = int(sys.argv[2]), int(sys.argv[3])
assert w["tool"] == "wbtlsstream" and w["streams"] == k, w
assert w["protocol"] == "TLSv1.3" and w["cipher"] == "TLS_AES_256_GCM_SHA384", w
assert w["bytes_per_stream"] == n and len(w["per_stream"]) == k, w
assert [s["peer"] for s in w["per_stream"]] == ["beta", "gamma"][:k], w
for s in w["per_stream"]:
    assert s["bytes_received"] == n, s
    assert s["secs"] > 0 and s["cpu_ms_per_mib_send"] > 0 and s["cpu_ms_per_mib_recv"] > 0, s
EOP
		pass "wbtlsstream, $k stream(s) of 32 MiB: TLS 1.3 AES-256-GCM, every byte received"
	else
		fail "wbtlsstream, $k stream(s): $(tail -3 "$T/wbts$k.err")"
	fi
done
# senders 16 KiB short of what the receivers expect: exit 1, the count said
if "$WBTS" "$T" $N --send-bytes $((N - 16384)) >"$T/short-wbts.json" 2>"$T/short-wbts.err"; then
	fail "wbtlsstream short by 16 KiB: exit 0 ($(cat "$T/short-wbts.json"))"
elif grep -q "got $((N - 16384)) bytes, $N expected" "$T/short-wbts.err" &&
	[ ! -s "$T/short-wbts.json" ]; then
	pass "wbtlsstream short by 16 KiB: exit 1 ($(cat "$T/short-wbts.err"))"
else
	fail "wbtlsstream short by 16 KiB: $(cat "$T/short-wbts.err" "$T/short-wbts.json")"
fi
# a receiver's certificate that the sender does not expect (gamma's for
# beta): the handshake fails, exit 1
mkdir -p "$T/swap"
cp "$T/ca.crt" "$T/alpha.crt" "$T/alpha.key" "$T/swap/"
cp "$T/gamma.crt" "$T/swap/beta.crt"
cp "$T/gamma.key" "$T/swap/beta.key"
if "$WBTS" "$T/swap" $N >/dev/null 2>"$T/swap.err"; then
	fail "wbtlsstream, receiver with another name's certificate: exit 0"
elif grep -q "handshake" "$T/swap.err"; then
	pass "wbtlsstream, receiver with another name's certificate: refused ($(head -1 "$T/swap.err"))"
else
	fail "wbtlsstream, receiver with another name's certificate: $(cat "$T/swap.err")"
fi

# --ping (the QD1 floor's round trip): 200 round trips of a 4 KiB record's
# frame and a 32-byte reply, every byte on both ends, TLS 1.3; with
# another name's certificate on the receiver: refused, exit 1
if "$WBTS" "$T" 4160 --ping 200 >"$T/ping.json" 2>"$T/ping.err" &&
	python3 - "$T/ping.json" <<'EOP' 2>>"$T/ping.err"; then
import json, sys
w = json.load(open(sys.argv[1]))
assert w["tool"] == "wbtlsstream" and w["mode"] == "ping", w
assert w["protocol"] == "TLSv1.3" and w["cipher"] == "TLS_AES_256_GCM_SHA384", w
assert w["size"] == 4160 and w["reply"] == 32 and w["round_trips"] == 200, w
assert 0 < w["p50_us"] <= w["p99_us"] and w["mean_us"] > 0, w
EOP
	pass "wbtlsstream --ping 200: TLS 1.3 round trips, p50 $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["p50_us"])' "$T/ping.json") us"
else
	fail "wbtlsstream --ping: $(tail -3 "$T/ping.err")"
fi
if "$WBTS" "$T/swap" 4160 --ping 200 >/dev/null 2>"$T/swap-ping.err"; then
	fail "wbtlsstream --ping, receiver with another name's certificate: exit 0"
elif grep -q "handshake" "$T/swap-ping.err"; then
	pass "wbtlsstream --ping, receiver with another name's certificate: refused"
else
	fail "wbtlsstream --ping, receiver with another name's certificate: $(cat "$T/swap-ping.err")"
fi

if "${TS[@]}" --tools wbtlsstream "$T" "$T/wb.json" 2>"$T/wb.err" &&
	check "$T/wb.json" wbtlsstream 2>>"$T/wb.err"; then
	pass "tls_stream.py wbtlsstream: 1 and 2 streams, TLS 1.3 AES-256-GCM, every byte received"
else
	fail "tls_stream.py wbtlsstream: $(tail -3 "$T/wb.err")"
fi
# tls_stream.py with a wbtlsstream that sends 16 KiB short: skipped, why
# (the tool's own check), and one whose JSON claims more bytes than were
# sent (tls_stream.py's own check)
# shellcheck disable=SC2016 # $@ and $2 are the wrapper's own
printf '#!/bin/sh\nexec %s "$@" --send-bytes $(($2 - 16384))\n' "$PWD/$WBTS" >"$T/wbts-short"
printf '#!/bin/sh\n%s "$@" | sed "s/\\"bytes_received\\": \\([0-9]*\\)/\\"bytes_received\\": 1\\1/"\n' \
	"$PWD/$WBTS" >"$T/wbts-lie"
chmod +x "$T/wbts-short" "$T/wbts-lie"
for c in "short:expected" "lie:received 1"; do
	w=${c%%:*} want=${c#*:}
	if "${TS[@]}" --tools wbtlsstream --streams 1 --wbtlsstream "$T/wbts-$w" "$T" \
		"$T/wb-$w.json" 2>"$T/wb-$w.err" &&
		python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["tools"]["wbtlsstream"]
print(s.get("skipped", "")); sys.exit(0 if sys.argv[2] in s.get("skipped", "") else 1)' \
			"$T/wb-$w.json" "$want" >"$T/wb-$w.why"; then
		pass "tls_stream.py, wbtlsstream $w: skipped ($(cat "$T/wb-$w.why"))"
	else
		fail "tls_stream.py, wbtlsstream $w not caught: $(cat "$T/wb-$w.why" "$T/wb-$w.err" | tail -3)"
	fi
done
# not built: skipped with the reason
if "${TS[@]}" --tools wbtlsstream --streams 1 --wbtlsstream "$T/none" "$T" "$T/wb-none.json" \
	2>"$T/wb-none.err" &&
	python3 -c 'import json, sys
sys.exit(0 if "not built" in json.load(open(sys.argv[1]))["tools"]["wbtlsstream"]["skipped"] else 1)' \
		"$T/wb-none.json"; then
	pass "tls_stream.py, wbtlsstream not built: skipped (not built)"
else
	fail "tls_stream.py, wbtlsstream not built: $(tail -3 "$T/wb-none.err")"
fi

if "${TS[@]}" --tools python "$T" "$T/py.json" 2>"$T/py.err" && check "$T/py.json" python \
	2>>"$T/py.err"; then
	pass "python stream: 1 and 2 streams, TLS 1.3 AES-256-GCM, every byte received"
else
	fail "python stream: $(tail -3 "$T/py.err")"
fi

if command -v socat >/dev/null; then
	if "${TS[@]}" --tools socat "$T" "$T/socat.json" 2>"$T/socat.err" &&
		check "$T/socat.json" socat 2>>"$T/socat.err"; then
		pass "socat stream: 1 and 2 streams, TLS 1.3 AES-256-GCM, every byte received"
	else
		fail "socat stream: $(tail -3 "$T/socat.err")"
	fi
	# a socat that sends 16 KiB less than its readbytes= says
	mkdir -p "$T/short"
	cat >"$T/short/socat" <<EOF
#!/usr/bin/env bash
a=()
for x in "\$@"; do
	if [[ \$x =~ ^OPEN:/dev/zero,readbytes=([0-9]+)\$ ]]; then
		x=OPEN:/dev/zero,readbytes=\$((BASH_REMATCH[1] - 16384))
	fi
	a+=("\$x")
done
exec $(command -v socat) "\${a[@]}"
EOF
	chmod +x "$T/short/socat"
	if PATH="$T/short:$PATH" "${TS[@]}" --tools socat --streams 1 "$T" "$T/short.json" \
		2>"$T/short.err" &&
		python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["tools"]["socat"]
print(s.get("skipped", "")); sys.exit(0 if "written besides" in s.get("skipped", "") else 1)' \
			"$T/short.json" >"$T/short.why"; then
		pass "socat short by one record: skipped ($(cat "$T/short.why"))"
	else
		fail "socat short by one record not caught: $(cat "$T/short.why" "$T/short.err" | tail -3)"
	fi
else
	skip "socat stream: socat not installed (scripts/deps.sh)"
fi

# no socat on PATH: skipped with the reason, the run still succeeds
# (the interpreter itself: python3 may be a pyenv shim that needs bash)
py=$(python3 -c 'import sys; print(sys.executable)')
mkdir -p "$T/nosocat"
if PATH="$T/nosocat" "$py" tests/bench/tls_stream.py --tools socat,python \
	--runs 1 --warmup-mib 8 --mib 32 --streams 1,2 "$T" "$T/nosocat.json" 2>"$T/nosocat.err" &&
	python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["tools"]
sys.exit(0 if "not installed" in t["socat"]["skipped"] and "skipped" not in t["python"] else 1)' \
		"$T/nosocat.json"; then
	pass "no socat on PATH: socat skipped (not installed), python measured"
else
	fail "no socat on PATH: $(tail -3 "$T/nosocat.err")"
fi
finish
