#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# test_bench_tls_stream.sh - tests/bench/tls_stream.py, the measured TLS
# link ceiling of `make bench` section repl, on small streams (no timing is
# checked): both tools negotiate TLS 1.3 with TLS_AES_256_GCM_SHA384 and
# every receiver gets exactly the bytes sent, alone and two at once; a
# socat that is not on PATH is skipped with the reason, not an error; and
# the byte check can fail: a socat sender that sends one 16 KiB record
# less than it was told gets the tool skipped with the count in the reason.
# Certificates: section_repl.sh's own repl_certs.
# timeout: 300
set -u
. "$(dirname "$0")/../lib.sh"
need_tools openssl python3
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
