# Sourced by scripts/jetson_cross_test.sh and scripts/jetson_wheel.sh (set STEP first, the
# name their lines begin with): skip() ends the script with a one-line reason, or fails it
# under CI=true, where every piece must be there; the cross compiler both need.
skip() {
  if [ "${CI:-}" = true ]; then
    echo "$STEP: FAILED, $1" >&2
    exit 1
  fi
  echo "$STEP: skipped, $1"
  exit 0
}
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 \
  || skip "no aarch64-linux-gnu-g++ (scripts/jetson_setup.sh installs it as root)"
