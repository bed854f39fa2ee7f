#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
#
# test_tls_rotate.sh - certificates rotated without a restart
# (docs/configuration.md, "Rotating certificates"): alpha (primary) and
# beta over TLS on loopback, a stamped writer on alpha the whole time.
#   shown        wbctl status --json .tls and the metric
#                wbrep_tls_certificate_expiry_seconds say alpha's certificate
#                (serial and notAfter as openssl reads the file)
#   rotate       a new key and certificate for alpha at the same paths,
#                wbctl reload: accepted, the log names the new serial,
#                status shows it, the link stayed up (no reconnect)
#   presented    a TLS client on alpha's peer port is shown the new
#                certificate; after disconnect/connect the link is up again
#                and beta UpToDate (beta accepted it)
#   bad-key      a key that does not match: the reload is refused with the
#                reason (also in status), the certificate in use stays
#   expired      an expired certificate: refused (expired), the one in use
#                stays; one that expires in 10 days: accepted, status warns
#                without -v; after a reconnect beta warns of its peer's
#                certificate (log, status, metric
#                wbrep_peer_tls_certificate_expiry_seconds)
#   ca-bundle    a second CA: both nodes take a bundle of both CAs, beta a
#                certificate of the new CA: the link comes up with it;
#                alpha back to the old CA alone: the reload alone ends the
#                link (a changed CA reconnects every link) and beta's next
#                connection is refused (certificate verify failed), the old
#                certificate on beta again: up
#   node-id      beta's [node] given a node-id in alpha's file: the reload
#                is refused (it needs a restart), nothing changes (an
#                address change is applied: test_repl_readdr.sh)
#   data         every acknowledged write of the stamped writer is on both
#                nodes, byte-identical
# Output ends with "N passed, N failed".
set -u
. "$(dirname "$0")/../lib.sh"

need_bins tls-rotate "$WBREPD" "$WBCTL"
need_tools tls-rotate nbdcopy nbdinfo openssl python3 cmp jq curl
"$WBREPD" --list-engines | grep -q '^wblog ' || skip_all "tls-rotate (engine wblog not registered)"
tmpdir tls-rotate
REPL_SIZE_MB=16
REPL_METRICS=1
. "$ROOT/tests/repl_lib.sh"
repl_init alpha beta || finish
P=tls-rotate

repl_conf alpha primary wb-min-peers=1
repl_conf beta secondary wb-min-peers=1
repl_start_pair "$P" alpha beta

# newcert NAME CA DAYS: a new key and certificate for NAME (CN and DNS
# name) signed by CA (ca or ca2), DAYS valid (negative: expired), written
# to $T/NAME.new.{crt,key}
newcert() {
	(
		cd "$T" || exit 1
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
			-keyout "$1.new.key" -out "$1.new.csr" &&
			openssl x509 -req -in "$1.new.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
				-days "$3" -extfile "$1.ext" -out "$1.new.crt"
	) >>"$T/openssl.log" 2>&1
}
# install NAME: the new files in place of NAME's (renamed over: a reader
# never sees half a file)
install_cert() { mv -f "$T/$1.new.key" "$T/$1.key" && mv -f "$T/$1.new.crt" "$T/$1.crt"; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
status_serial() { ctl "$1" status --json 2>/dev/null | jq -r '.tls.serial'; }
ups() { grep -c "r0: peer beta up" "$T/alpha/wbrepd.log"; }
# presented: the serial alpha's peer listener shows a TLS client now
presented() {
	timeout 10 openssl s_client -connect "127.0.0.1:${PORT[alpha]}" -CAfile "$T/ca.crt" \
		-cert "$T/beta.crt" -key "$T/beta.key" </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
relink() {
	ctl alpha disconnect r0 >/dev/null 2>&1
	ctl alpha connect r0 >/dev/null 2>&1
}

ST=$T/stamps
stamp_start alpha "$ST" 2048 2 4 || fail "$P-writer: did not start"

# ---- shown
s0=$(serial_of "$T/alpha.crt")
na=$(date -d "$(openssl x509 -in "$T/alpha.crt" -noout -enddate | cut -d= -f2)" +%s)
js=$(ctl alpha status --json 2>/dev/null)
metric=$(curl -s "http://127.0.0.1:${MPORT[alpha]}/metrics" | awk '$1 == "wbrep_tls_certificate_expiry_seconds" {print $2}')
if [ "$(jq -r '.tls.serial' <<<"$js")" = "$s0" ] && [ "$(jq -r '.tls.not_after' <<<"$js")" = "$na" ] &&
	[ "$metric" = "$na" ] && [ "$(jq -r '.tls.certificate' <<<"$js")" = "$T/alpha.crt" ]; then
	pass "$P-shown" "(serial $s0, not after $na)"
else
	fail "$P-shown: file serial $s0 not after $na; status $(jq -c .tls <<<"$js"); metric '$metric'"
fi

# ---- rotate
u0=$(ups)
newcert alpha ca 400 && install_cert alpha
s1=$(serial_of "$T/alpha.crt")
if out=$(ctl alpha reload 2>&1) && [ "$(status_serial alpha)" = "$s1" ] &&
	grep -q "tls: new connections present $T/alpha.crt .*serial $s1" "$T/alpha/wbrepd.log" &&
	[ "$(ups)" = "$u0" ] && repl_uptodate alpha; then
	pass "$P-rotate" "(serial $s0 -> $s1, the link stayed up)"
else
	fail "$P-rotate: reload: $out; status serial $(status_serial alpha), want $s1; ups $u0 -> $(ups); $(grep "tls:" "$T/alpha/wbrepd.log" | tail -2 | tr '\n' ' ')"
fi

# ---- presented
got=$(presented)
relink
if [ "$got" = "$s1" ] && wait_for 60 repl_uptodate alpha && [ "$(ups)" -gt "$u0" ]; then
	pass "$P-presented" "(a client is shown serial $got; the link came up again)"
else
	fail "$P-presented: shown '$got', want $s1; alpha: $(jget alpha 's["peers"]')"
fi

# ---- bad-key: a key of another certificate
newcert alpha ca 400
cp "$T/alpha.new.key" "$T/alpha.key"
if out=$(ctl alpha reload 2>&1); then
	fail "$P-bad-key: reload accepted a key that does not match"
elif grep -q "tls-key does not match tls-cert" <<<"$out" && [ "$(status_serial alpha)" = "$s1" ] &&
	ctl alpha status --json | jq -e '.config.reload_error | test("does not match")' >/dev/null; then
	pass "$P-bad-key" "($out)"
else
	fail "$P-bad-key: $out; status serial $(status_serial alpha)"
fi
install_cert alpha # the matching pair again (a new serial)
s2=$(serial_of "$T/alpha.crt")
ctl alpha reload >/dev/null 2>&1 || fail "$P-bad-key: reload of a matching pair refused"

# ---- expired, then one expiring soon
cp "$T/alpha.crt" "$T/alpha.good.crt"
cp "$T/alpha.key" "$T/alpha.good.key"
newcert alpha ca -1 && install_cert alpha
if out=$(ctl alpha reload 2>&1); then
	fail "$P-expired: reload accepted an expired certificate"
elif grep -q "has expired" <<<"$out" && [ "$(status_serial alpha)" = "$s2" ]; then
	pass "$P-expired" "($out)"
else
	fail "$P-expired: $out; status serial $(status_serial alpha), want $s2"
fi
newcert alpha ca 10 && install_cert alpha
s3=$(serial_of "$T/alpha.crt")
if ctl alpha reload >/dev/null 2>&1 && [ "$(status_serial alpha)" = "$s3" ] &&
	ctl alpha status r0 | grep -q "tls $T/alpha.crt: EXPIRES in [0-9]* days" &&
	grep -q "tls: certificate $T/alpha.crt expires in [0-9]* days" "$T/alpha/wbrepd.log"; then
	pass "$P-expiring" "($(ctl alpha status r0 | grep "^tls"))"
else
	fail "$P-expiring: status serial $(status_serial alpha), want $s3; $(ctl alpha status r0 | tail -2 | tr '\n' ' ')"
fi
na3=$(date -d "$(openssl x509 -in "$T/alpha.crt" -noout -enddate | cut -d= -f2)" +%s)
relink
peer_na() { ctl beta status --json 2>/dev/null | jq -r '.resources[0].peers[0].cert_not_after'; }
peer_metric() {
	curl -s "http://127.0.0.1:${MPORT[beta]}/metrics" |
		awk '$1 == "wbrep_peer_tls_certificate_expiry_seconds{resource=\"r0\",peer=\"alpha\"}" {print $2}'
}
seen_by_beta() { [ "$(peer_na)" = "$na3" ]; }
if wait_for 60 seen_by_beta && [ "$(peer_metric)" = "$na3" ] &&
	ctl beta status r0 | grep -q "peer alpha .*cert-expires-in:[0-9]*d" &&
	grep -q "peer alpha (resource r0): its certificate expires in [0-9]* days" "$T/beta/wbrepd.log"; then
	pass "$P-peer-expiring" "($(ctl beta status r0 | grep "peer alpha" | head -1 | sed 's/^ *//'))"
else
	fail "$P-peer-expiring: beta's peer cert_not_after '$(peer_na)' metric '$(peer_metric)', want $na3; $(ctl beta status r0 | grep "peer alpha")"
fi
cp "$T/alpha.good.crt" "$T/alpha.crt"
cp "$T/alpha.good.key" "$T/alpha.key"
ctl alpha reload >/dev/null 2>&1 || fail "$P-expiring: reload of the good pair refused"
relink

# ---- ca-bundle
(cd "$T" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj '/CN=wbrep CA 2' -keyout ca2.key -out ca2.crt) >>"$T/openssl.log" 2>&1
cat "$T/ca.crt" "$T/ca2.crt" >"$T/bundle.crt"
for n in alpha beta; do
	sed -i "s|^tls-ca = .*|tls-ca = $T/bundle.crt|" "$T/$n/wbrep.conf"
	ctl "$n" reload >/dev/null 2>&1 || fail "$P-ca-bundle: $n: reload with the bundle refused"
done
cp "$T/beta.crt" "$T/beta.ca1.crt"
cp "$T/beta.key" "$T/beta.ca1.key"
newcert beta ca2 400 && install_cert beta
u1=$(ups)
if ctl beta reload >/dev/null 2>&1 && relink && wait_for 60 repl_uptodate alpha && [ "$(ups)" -gt "$u1" ]; then
	pass "$P-ca-bundle" "(beta's certificate of the new CA accepted)"
else
	fail "$P-ca-bundle: alpha: $(jget alpha 's["peers"]'); $(grep -i "refused\|verif" "$T/alpha/wbrepd.log" | tail -1)"
fi
sed -i "s|^tls-ca = .*|tls-ca = $T/ca.crt|" "$T/alpha/wbrep.conf"
n0=$(grep -c "certificate verify failed" "$T/alpha/wbrepd.log" "$T/beta/wbrepd.log" | awk -F: '{s += $2} END {print s}')
verify_failed() {
	[ "$(grep -c "certificate verify failed" "$T/alpha/wbrepd.log" "$T/beta/wbrepd.log" |
		awk -F: '{s += $2} END {print s}')" -gt "$n0" ]
}
# no disconnect/connect: the CA's change alone ends the link it let in
if ctl alpha reload >/dev/null 2>&1 && wait_for 30 verify_failed && ! repl_connected alpha primary &&
	grep -q "tls: $T/ca.crt changed: every replication link reconnects" "$T/alpha/wbrepd.log"; then
	pass "$P-ca-removed" "($(grep -h "certificate verify failed" "$T/alpha/wbrepd.log" "$T/beta/wbrepd.log" | tail -1 | cut -c1-160))"
else
	fail "$P-ca-removed: alpha: $(jget alpha 's["peers"]')"
fi
cp "$T/beta.ca1.crt" "$T/beta.crt"
cp "$T/beta.ca1.key" "$T/beta.key"
ctl beta reload >/dev/null 2>&1 || fail "$P-ca-removed: beta's reload of its old certificate refused"
if wait_for 90 repl_uptodate alpha; then
	pass "$P-ca-restored"
else
	fail "$P-ca-restored: alpha: $(jget alpha 's["peers"]')"
fi

# ---- node-id
cp "$T/alpha/wbrep.conf" "$T/alpha/wbrep.conf.keep"
sed -i "s|^address = 127.0.0.1:${PORT[beta]}\$|&\nnode-id = 9|" "$T/alpha/wbrep.conf"
if ! grep -q "^node-id = 9$" "$T/alpha/wbrep.conf"; then
	fail "$P-node-id: the test could not edit alpha's file"
elif out=$(ctl alpha reload 2>&1); then
	fail "$P-node-id: a reload with beta's node-id changed was applied"
elif grep -q "\[node beta\] node-id changed" <<<"$out" && repl_uptodate alpha; then
	pass "$P-node-id" "($out)"
else
	fail "$P-node-id: $out"
fi
mv -f "$T/alpha/wbrep.conf.keep" "$T/alpha/wbrep.conf"
ctl alpha reload >/dev/null 2>&1 || fail "$P-node-id: the reload of the old file refused"

# ---- data
stamp_stop || fail "$P-writer: did not stop"
ctl alpha flush r0 >/dev/null 2>&1
if wait_for 60 repl_caught_up alpha beta && stamp_verify alpha "$ST" --exact && stamp_verify beta "$ST" --exact; then
	pass "$P-acked" "(every acknowledged write on both nodes: $(tail -1 "$ST.verify"))"
else
	fail "$P-acked: $(tail -2 "$ST.verify" 2>/dev/null | tr '\n' ' ')"
fi
if timeout 300 nbdcopy "$(URI alpha)" "$T/img.alpha" &&
	same_as "$T/img.alpha" beta; then
	pass "$P-identical"
else
	fail "$P-identical: the exports differ"
fi
repl_log_clean "$P" alpha beta
finish
