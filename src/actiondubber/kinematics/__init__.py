"""Kinematics: optical flow backends, camera-motion removal, and inflectional flow."""

from actiondubber.kinematics.flow import BACKENDS, FlowBackend, make_flow_backend
from actiondubber.kinematics.globalmotion import compensate, global_flow
from actiondubber.kinematics.inflection import Kinematics, inflectional_flow, iter_kinematics

__all__ = [
    "BACKENDS",
    "FlowBackend",
    "Kinematics",
    "compensate",
    "global_flow",
    "inflectional_flow",
    "iter_kinematics",
    "make_flow_backend",
]
