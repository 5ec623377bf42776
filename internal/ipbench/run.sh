#!/usr/bin/env bash
# ipmon benchmarks: installs Debian's fping (for the comparison), then runs
# the Go allocation benchmark of the probe path and the ipbench program
# (fping comparison, maximum rate, 10,000-target scale run, detection).
# Run as root from anywhere: bash internal/ipbench/run.sh [ipbench flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
if ! command -v fping >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fping >/dev/null
fi
fping --version
echo "== allocations of the send/receive path"
go test -run '^$' -bench 'BenchmarkProbePath' -benchmem -count 3 ./ipmon/
echo "== ipbench"
go run ./internal/ipbench "$@"
