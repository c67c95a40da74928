"""Classroom simulator: a ceiling-camera lecture video composed from real face photos, with truth.

    truth = compose_classroom("../shared/data/lfw_deepfunneled_pairs/images", "out/", seed=0)
    truth.video            # out/classroom.avi, one frame every `truth.seconds_per_frame` simulated s
    truth.enrol_dir        # out/enrol/<person>/*.jpg, photos never used in the video
    truth.expected         # person -> "present" | "late" | "left_early" | "absent"

`run_simulation(...)` (simulate.run) plays that video through the whole system and scores
the attendance against the truth. See docs/simulator.md.
"""

from simulate.compose import compose_classroom
from simulate.timeline import Truth, load_truth

__all__ = ["Truth", "compose_classroom", "load_truth"]
