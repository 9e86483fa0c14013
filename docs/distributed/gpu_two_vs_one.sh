#!/usr/bin/env bash
# A gpt-oss-20b-shaped model (random weights, MXFP4 experts, 13.8 GB) split across 2 GPUs (NCCL) against the same
# engine on 1 GPU, prefill and decode, in one call of the device tool on a 2-GPU NVIDIA machine.
#
# It runs `mlx-harmony bench engine --json` under `mlx.launch -n 2 --backend nccl`: the engine first runs its rounds
# on both GPUs (rank 0 samples, rank 1 follows), then rank 0 alone loads the model again on its GPU and runs the
# usual engine-vs-raw-mlx-lm rounds there; the JSON line holds both (`*_ranks` and `decode_ratio_ranks`,
# `prefill_ratio_ranks`: 2 GPUs / 1 GPU) and each rank's memory after loading.
#
# Before it, on the same warm machine, stage and install the wheels as ../../shared/gpu/README.md says (its call1.sh,
# then drive.sh's `install` step: mlx, mlx-cuda-13 and mlx-lm installed in ONE pip command into /tmp/site, or the
# mlx.launch entry point is missing), with build_tok.py and build_model.py from that folder in $SCRIPTS. Then, from
# the repository root on the device (the project is the working tree itself):
#
#     bash docs/distributed/gpu_two_vs_one.sh
#
# Everything it writes goes to $OUT (the device tool brings it back): bench.json, launch.log, smi.csv.
set -u
SCRIPTS=${SCRIPTS:-.dev/common/scripts}
M=${M:-/root/m20b}
OUT=${OUT:-/tmp/out}
ROUNDS=${ROUNDS:-4}
mkdir -p "$OUT" /root/ptxcache

export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH=/tmp/site:$PWD
export MLX_PTX_CACHE_DIR=/root/ptxcache
SP=$(python3 -c "import importlib.util as u, os; print(os.path.dirname(os.path.dirname(u.find_spec('torch').origin)))")
LIBDIRS=$(find "$SP/nvidia" -name "lib*.so*" -printf "%h\n" 2>/dev/null | sort -u | tr "\n" ":")
export LD_LIBRARY_PATH=$SP/nvidia/cu13/lib:$SP/nvidia/cudnn/lib:$SP/nvidia/nccl/lib:$LIBDIRS${LD_LIBRARY_PATH:-}

nvidia-smi -L
python3 -c "import mlx.core as mx, mlx_lm; print('mlx', mx.__version__, mx.default_device(), 'mlx-lm', mlx_lm.__version__)" || exit 1
# The launcher as a function of the installed mlx (its console script may be missing from a --target install).
LAUNCH=(python3 -c "import sys; from mlx._distributed_utils.launch import main; sys.argv[0] = 'mlx.launch'; main()")

if [ ! -f "$M/config.json" ]; then
  python3 "$SCRIPTS/build_tok.py" "$M" && python3 "$SCRIPTS/build_model.py" "$M" || exit 1
fi
du -sh "$M"

# Both ranks join and answer (doctor prints the group from rank 0).
"${LAUNCH[@]}" -n 2 --backend nccl --python python3 -- -m mlx_harmony_tui.cli.main doctor 2>&1 | tee "$OUT/doctor.log"

nvidia-smi --query-gpu=timestamp,index,memory.used,utilization.gpu --format=csv -l 2 > "$OUT/smi.csv" 2>&1 &
SMI=$!
"${LAUNCH[@]}" -n 2 --backend nccl --python python3 -- -m mlx_harmony_tui.cli.main bench engine --model "$M" \
  --prompt-tokens 1024 --max-tokens 128 --rounds "$ROUNDS" --json > "$OUT/launch.log" 2>&1
kill $SMI
grep '^{' "$OUT/launch.log" | tail -1 > "$OUT/bench.json"
grep -v '^{' "$OUT/launch.log" | tail -20
python3 - "$OUT/bench.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['model']} on {r['backend']}: {r['prompt_tokens']} prompt tokens, {r['generated_tokens']} generated, {r['rounds']} rounds")
print(f"2 GPUs : prefill {r['prefill_tps_ranks']:.0f} tok/s, decode {r['decode_tps_ranks']:.1f} tok/s, TTFT {r['ttft_s_ranks']:.3f} s, "
      f"memory per rank GB {', '.join(f'{g:.1f}' for g in r['memory_gb_per_rank'])}")
print(f"1 GPU  : prefill {r['prefill_tps_engine']:.0f} tok/s, decode {r['decode_tps_engine']:.1f} tok/s, TTFT {r['ttft_s']:.3f} s, "
      f"peak memory {r['peak_memory_gb']:.1f} GB (raw mlx-lm: prefill {r['prefill_tps_mlx_lm']:.0f}, decode {r['decode_tps_mlx_lm']:.1f})")
print(f"2 GPUs / 1 GPU: prefill x{r['prefill_ratio_ranks']:.3f}, decode x{r['decode_ratio_ranks']:.3f}")
EOF
