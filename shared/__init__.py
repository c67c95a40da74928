"""Visage face core: everything that looks at a face, used by the device and the server alike.

runtime.py         ONNX Runtime sessions and their execution providers
model_registry.py  models/manifest.json: the one place that finds and verifies a model (sha256)
bundle.py          the exported models as one versioned bundle that devices install
detect.py          MTCNN (P/R/O-Net)      yunet.py  YuNet, the optional second detector
detectors.py       the detectors by name
align.py, quality.py, embed.py   5-point alignment, the quality verdict, embedders behind one interface
analysis.py        FaceAnalyzer: detect -> align -> quality -> embed in one call
similarity.py      distances and calibrated thresholds      lfw.py  the LFW protocol
media.py           safe image decoding      samples.py  sample photos shipped by a registry package
messages.py        the MQTT contract (topics, versioned payloads)   mqtt_connect.py  MQTT TLS and logins
deepfake/          the deepfake check: crops, SBI, video sampling, classifier, aggregation, pipeline
export/            PyTorch -> ONNX exports and training code (build time only, never on a device)

Only this package (with `bench/` and `scripts/`) imports onnxruntime or PyTorch; it imports none of
`edge`, `server`, `simulate`, `visage` (tests/test_layout_imports.py; docs/architecture.md).
"""

__version__ = "0.1.0"
