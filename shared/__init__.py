"""Visage face core: everything that looks at a face (ONNX inference, alignment, quality).

Only this package (with `bench/` and `scripts/`) imports onnxruntime or PyTorch; it imports neither
`edge` nor `server`, and those two never import each other (tests/test_layout_imports.py).
"""

__version__ = "0.1.0"
