#!/usr/bin/env bash
# Reproduces docs/images/progress.png (the progress display, captured from tmux) and
# docs/images/report.png (the HTML report, rendered by headless Chromium).
# Needs tmux and chromium (apt-get install tmux chromium). Run from the repository root.
set -euo pipefail
out="$(pwd)/docs/images"
work="$(mktemp -d)"
trap 'tmux kill-session -t loader-shot 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build -q -p loader-cli
loader="$(pwd)/target/debug/loader"
cargo xtask gen-data --rows 1000000 --files 4 --out "$work/data" >/dev/null
printf 'id,amount\n' > "$work/data/returns.csv"
for i in $(seq 1 1500); do
  if [ "$i" -gt 1000 ] && [ $((i % 100)) -eq 0 ]; then echo "$i,n/a"; else echo "$i,$i.25"; fi
done >> "$work/data/returns.csv"

# The progress display: a terminal of 132x10, captured 2.5 s into the load.
tmux new-session -d -s loader-shot -x 132 -y 10 \
  "cd $work && $loader load data --into demo.db --memory-limit 48MiB --workers 2 --on-error skip; sleep 60"
sleep 2.5
tmux capture-pane -t loader-shot -p > "$work/progress.txt"
sleep 12
run_id="$("$loader" history --into "$work/demo.db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["run"]["run_id"])')"

terminal_page() {
  python3 - "$1" <<'PY'
import html, sys
text = open(sys.argv[1]).read().rstrip("\n")
print('<!DOCTYPE html><meta charset="utf-8"><body style="margin:0;background:#1e1e1e">'
      '<pre style="margin:0;padding:12px;color:#e6e6e6;font:14px/1.35 DejaVu Sans Mono,monospace">'
      + html.escape(text) + '</pre>')
PY
}
terminal_page "$work/progress.txt" > "$work/progress.html"
shot() {
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --user-data-dir="$work/profile-$3" --window-size="$2" --screenshot="$out/$3" "file://$1" 2>/dev/null
}
shot "$work/progress.html" 1120,230 progress.png
"$loader" report "$run_id" --into "$work/demo.db" --html "$work/report.html" >/dev/null
shot "$work/report.html" 1000,1500 report.png
cp "$work/progress.txt" "$out/progress.txt"
echo "wrote $out/progress.png, $out/progress.txt and $out/report.png (run $run_id)"
