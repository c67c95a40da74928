"""Build time only: the networks in PyTorch, their export to ONNX with a parity check against the
source framework, `build.py` (models/ and its manifest from weights inside registry packages) and
the deepfake classifier's training (`deepfake_sbi.py`, `efficientnet_lite.py`, `landmarks68.py`).

The only place besides `bench/` and `scripts/` that imports PyTorch; nothing at run time imports it.
"""
