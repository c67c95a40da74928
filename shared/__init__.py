"""Visage face core: everything that looks at a face (ONNX inference, alignment, quality).

Only this package touches models; `edge` and `server` use it and never import each other.
"""

__version__ = "0.1.0"
