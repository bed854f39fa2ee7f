for i in $(seq 1 ${N:-8}); do
  rm -rf /tmp/keepf
  WB_KEEP=/tmp/keepf bash tests/run.sh tests/integration/test_repl_sb.sh > /tmp/sbf.log 2>&1
  if grep -q 'FAIL replsb-rollback' /tmp/sbf.log; then echo "failed at run $i"; exit 0; fi
  echo "run $i ok"
done
