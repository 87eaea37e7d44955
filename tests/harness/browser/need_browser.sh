# Sourced by the browser tests' scripts: fails, rather than skipping, when
# chromium, node ($node) or the npm packages ($here/node_modules) are missing.
for need in /usr/bin/chromium "$here/node_modules/playwright-core"; do
  [[ -e $need ]] || { echo "browser test: $need is missing; run ./scripts/setup" >&2; exit 1; }
done
[[ -x $node ]] || { echo "browser test: node was not found when CMake configured; run ./scripts/setup" >&2; exit 1; }
