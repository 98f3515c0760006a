# Sourced (not run) by the scripts that drive the browser tools: puts cargo's
# bin and the pinned tools of scripts/setup.sh (<repo>/.tools, or $ELB_TOOLS)
# on PATH and playwright-core on NODE_PATH. Expects $here = the repository root.
tools=""
for t in "$here/.tools/node_modules" ${ELB_TOOLS:+"$ELB_TOOLS"}; do
  if [ -d "$t" ]; then tools="$(cd "$t" && pwd)"; break; fi
done
export PATH="$HOME/.cargo/bin:${tools:+$tools/.bin:}$PATH"
export NODE_PATH="${tools}${NODE_PATH:+:$NODE_PATH}"
