# SPDX-License-Identifier: GPL-2.0-only
#
# pypath.sh - sourced by tests/run.sh, tests/lib.sh and tests/bench/run.sh
# (with $ROOT set): the tests' python3 is Debian's (scripts/deps.sh installs
# it; the tests use its standard library only). A version manager's shim
# found first in PATH runs instead a shell script that looks the version
# up on every call: pyenv's took 0.5-0.6 s per call on the development
# machine against 0.06 s for /usr/bin/python3, and the tests call python3
# thousands of times (every JSON status check while waiting). A directory
# holding only a python3 link to /usr/bin/python3 goes first in PATH, so
# scripts with "#!/usr/bin/env python3" get it too.
# (once: a script sourcing this under run.sh finds the link already)
case $(command -v python3) in
/usr/bin/python3 | "$ROOT/build/pybin/python3") ;;
*) [ -x /usr/bin/python3 ] && wb_pypath=1 ;;
esac
if [ -n "${wb_pypath:-}" ]; then
	if [ "$(readlink "$ROOT/build/pybin/python3" 2>/dev/null)" != /usr/bin/python3 ]; then
		mkdir -p "$ROOT/build/pybin" &&
			ln -s /usr/bin/python3 "$ROOT/build/pybin/python3.$$" &&
			mv -T "$ROOT/build/pybin/python3.$$" "$ROOT/build/pybin/python3"
	fi
	export PATH=$ROOT/build/pybin:$PATH
fi
unset wb_pypath
