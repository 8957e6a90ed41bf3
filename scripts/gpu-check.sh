#!/usr/bin/env bash
# Run the product's GPU paths on this CUDA machine and print what worked (scripts/gpu_check.py).
#
#   ./scripts/gpu-check.sh                      # uses .venv (scripts/setup.sh makes it)
#   ./scripts/gpu-check.sh --python python3     # a Python that already has a torch for this GPU
#   ./scripts/gpu-check.sh --python python3 --wheels DIR   # offline: missing packages from DIR
#   ... --out DIR --timeout SECONDS             # passed on to gpu_check.py
#
# Exit: 0 all applicable checks passed, 1 one failed, 3 no usable CUDA GPU, 2 bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
python="" wheels="" pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --python) python=${2:?--python needs a value}; shift 2 ;;
    --wheels) wheels=${2:?--wheels needs a value}; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) pass+=("$1"); shift ;;
  esac
done
if [ -z "$python" ]; then
  ./scripts/setup.sh
  python=.venv/bin/python
fi
# What the agent's build-and-measure path imports (pyproject's base and [full]), by module name.
modules=(yaml rich psutil pynvml numpy torch torchvision torch_pruning sklearn onnx onnxscript onnxruntime)
missing=()
for m in "${modules[@]}"; do
  "$python" -c "import $m" 2>/dev/null || missing+=("$m")
done
if [ ${#missing[@]} -gt 0 ]; then
  declare -A pkg=([yaml]=pyyaml [pynvml]=nvidia-ml-py [torch_pruning]=torch-pruning [sklearn]=scikit-learn)
  names=(); for m in "${missing[@]}"; do names+=("${pkg[$m]:-$m}"); done
  echo "gpu-check: installing ${names[*]}" >&2
  if [ -n "$wheels" ]; then
    "$python" -m pip install -q --no-index --find-links "$wheels" "${names[@]}"
  else
    "$python" -m pip install -q -c constraints.txt "${names[@]}"
  fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" scripts/gpu_check.py "${pass[@]}"
