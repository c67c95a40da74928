"""Deepfake check: the face crop shared by training and scoring, the SBI generator, scoring.

Training (scripts/train_deepfake.py) and inference must cut faces the same way, so both go
through `shared.deepfake.crops.face_crop`; the classifier contract is in docs/deepfake.md.
"""
