#!/usr/bin/env bash
# The house's walls, checked on the dependency graph (`make walls`, in `make test`):
#  1. no engine crate depends on a GUI toolkit, directly or not;
#  2. only the daemon and the faces depend on the API crate (the client is the faces' library);
#  3. a heavy dependency (HTTP client, SSH, NATS, S3, SMTP) is a direct dependency of its own
#     concern's crate only;
#  4. no import circle inside any crate (scripts/circles.py).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
fail=0
engine_crates=(qcity-platform qcity-types qcity-config qcity-store qcity-engine qcity-healer
  qcity-notify qcity-secrets qcity-status qcity-installer qcity-update qcity-logminer qcity-build qcity-offload qcity-fleet qcity-api qcity-daemon qcity-client)
tree() { "$CARGO" tree -p "$1" --locked -e normal --prefix none "${@:2}" 2>/dev/null; }
for c in "${engine_crates[@]}"; do
  if tree "$c" | grep -Eq '^(tauri|wry|gtk|webkit2gtk|tao|muda|tray-icon) '; then
    echo "walls: $c depends on a GUI crate"; fail=1
  fi
done
for c in "${engine_crates[@]}"; do
  case $c in qcity-api|qcity-daemon|qcity-client) continue ;; esac
  if tree "$c" | grep -q '^qcity-api '; then
    echo "walls: $c depends on qcity-api (only the daemon and the faces may)"; fail=1
  fi
done
# heavy dependency -> the crates that may name it directly.
declare -A owner=(
  [reqwest]="qcity-engine qcity-notify qcity-status qcity-offload"  # probes; chat channels; status pages; GitHub Actions
  [ureq]="qcity-installer qcity-client qcity"   # release downloads; the faces' API client
  [russh]="qcity-offload" [ssh2]="qcity-offload" [openssh]="qcity-offload"  # offload to SSH hosts
  [async-nats]="qcity-fleet" [nats]="qcity-fleet"  # the fleet over NATS JetStream
  [object_store]="qcity-offload" [aws-sdk-s3]="qcity-offload"  # artifacts and caches
  [lettre]="qcity-notify"       # the email channel
  [keyring]="qcity-secrets"
)
for c in "${engine_crates[@]}" qcity qcity-tray; do
  direct=$(tree "$c" --depth 1 | awk '{print $1}')
  for dep in "${!owner[@]}"; do
    if grep -qx "$dep" <<<"$direct" && ! grep -qw "$c" <<<"${owner[$dep]}"; then
      echo "walls: $c depends on $dep, which belongs to: ${owner[$dep]:-no crate yet}"; fail=1
    fi
  done
done
python3 scripts/circles.py crates/* src-tauri || fail=1
[ "$fail" = 0 ] && echo "walls: ok"
exit "$fail"
