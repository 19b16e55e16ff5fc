# tests/golden/ndpi_env.sh: sourced by the nDPI golden tests
# (test_golden_ndpi.sh, test_ndpi_labels.sh) after `cd` to the top of the
# tree: sets NETMOON, SHARED_PCAPS, variant, out and cache (ndpiReader's
# parsed output, content-addressed: ~/.cache/netmoon-golden or
# $GOLDEN_CACHE), and SKIPs the caller (label $1) when ndpiReader is missing.
NETMOON=${NETMOON:-./netmoon}
SHARED_PCAPS=${SHARED_PCAPS:-../shared/pcaps}
variant=${NETMOON_VARIANT:-rel}
out=tests/out
mkdir -p "$out"
cache=${GOLDEN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/netmoon-golden}
mkdir -p "$cache" 2>/dev/null || cache=$out/golden-cache
mkdir -p "$cache"
if ! command -v "${NDPI_READER:-ndpiReader}" >/dev/null 2>&1; then
    echo "SKIP $1: ndpiReader not installed (Debian package libndpi-bin)"
    exit 0
fi
