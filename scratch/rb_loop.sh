#!/usr/bin/env bash
# repro loop: the replsb-rollback case, roles swapping each round
set -u
. "$(dirname "$0")/../tests/lib.sh"
tmpdir rbloop
NODES="alpha beta"
. "$ROOT/tests/repl_lib.sh"
repl_init $NODES || finish
repl_conf alpha primary wb-min-peers=1
repl_conf beta secondary wb-min-peers=1
for n in $NODES; do repl_start $n || { fail "start $n"; finish; }; done
wait_for 60 repl_connected alpha primary && wait_for 60 repl_connected beta secondary || { fail link; finish; }
P=alpha S=beta
head -c $((DEVSZ)) /dev/urandom > "$T/img"
timeout 120 nbdcopy "$T/img" "$(URI $P)" || fail "init write"
for round in $(seq 1 ${ROUNDS:-8}); do
	wait_for 120 same_as "$T/img" $S || { fail "r$round: $S not in sync before"; break; }
	wait_for 60 json $S 's["disk_state"] == "UpToDate"' || { fail "r$round: $S not UpToDate"; break; }
	cp "$T/img" "$T/img.rb"
	dd if=/dev/urandom of="$T/img.rb" bs=1M count=24 conv=notrunc status=none
	kill -STOP "${PID[$S]}"
	timeout 60 nbdcopy --request-size=4194304 --requests=8 "$T/img.rb" "$(URI $P)" 2>/dev/null &
	NPID=$!
	sleep 2
	repl_stop $P KILL
	kill -CONT "${PID[$S]}"
	wait $NPID 2>/dev/null
	if ! wait_for 30 ctl $S primary r0 >"$T/p.out" 2>&1; then
		ctl $S primary r0 --force >"$T/p.out" 2>&1 || fail "r$round: promote $S: $(cat "$T/p.out")"
	fi
	timeout 120 nbdcopy "$(URI $S)" "$T/img" || fail "r$round: read $S"
	python3 -c "
import os,sys
f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])<<20); f.write(os.urandom(1<<20))" "$T/img" $((40 + round % 8))
	if ! timeout 60 nbdcopy "$T/img" "$(URI $S)"; then
		fail "r$round: write to new primary $S hung"
		ctl $S status --json r0 > "$T/hang.json" 2>&1
		cp "$T/hang.json" /tmp/rb_hang.json; cp "$T/$S/wbrepd.log" /tmp/rb_hang_$S.log
		break
	fi
	# old primary back as secondary
	sed -i 's/^role = primary/role = secondary/' "$T/$P/wbrep.conf"
	repl_start $P || { fail "r$round: $P did not start"; break; }
	if wait_for 120 same_as "$T/img" $P && wait_for 60 json $P 's["disk_state"] == "UpToDate" and not s["repl_problem"]'; then
		pass "r$round ($(grep -o 'rolled back: the blocks.*' "$T/$P/wbrepd.log" | tail -1 | cut -c1-70))"
	else
		fail "r$round: $P not identical/UpToDate: $(jget $P 's["disk_state"], s["repl_problem"]')"
		cp "$T/$P/wbrepd.log" /tmp/rb_fail_$P.log; cp "$T/$S/wbrepd.log" /tmp/rb_fail_$S.log
		break
	fi
	X=$P; P=$S; S=$X
done
for n in $NODES; do repl_stop $n; done
finish
