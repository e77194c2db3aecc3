#!/bin/sh
#  Runs the Python module's pytest tests with PYTHON - under $ZGM_EXE_WRAPPER (qemu) in an ARM
#  build, where PYTHON is the sysroot's python3 (cross/sysroot.sh installs it there).
#  Usage: run_pytest.sh PYTHON TESTDIR [PYTEST-ARGUMENT...]       exit 77: skipped
set -u
python=$1 tests=$2
shift 2
if [ -n "${ZGM_EXE_WRAPPER:-}" ] && [ ! -e "$python" ]; then
    #  A sysroot made before cross/sysroot.sh installed python3 in it.
    echo "skipped: no $python for the ARM module; rebuild the sysroot (rm -rf its directory)"
    exit 77
fi
if [ "${ZGM_SANITIZE:-none}" != none ]; then
    #  ctypes cannot load a library built with -fsanitize into a python3 built without it
    #  (ASan: "runtime does not come first"; TSan: libtsan "cannot allocate memory in static
    #  TLS block"); the C tests cover the library under the sanitizers.
    echo "skipped: a -fsanitize=$ZGM_SANITIZE build's libzgm cannot be loaded into python3"
    exit 77
fi
if [ -n "${ZGM_EXE_WRAPPER:-}" ]; then
    #  Under qemu, the module against the ARM library; the example programs are the same
    #  Python on every architecture and run natively (each session costs ~30 s under qemu).
    tests="$tests/test_zgm.py"
fi
export PYTHONDONTWRITEBYTECODE=1    # no __pycache__ in the source tree
# shellcheck disable=SC2086  # the wrapper is words: qemu-ARCH -L SYSROOT
exec ${ZGM_EXE_WRAPPER:-} "$python" -m pytest -p no:cacheprovider -v -rs --durations=5 \
    "$tests" "$@"
