"""Validation targets: the papers' checkable numbers, each reproducible by its protocol.

A target is registered with :func:`register` by the module of its device family and run by
``synaptax reproduce ID`` (or :func:`run_target`), which returns a dict with at least
``target``, ``measured``, ``expected`` and ``passed`` (plus ``description``, ``tolerance``,
``source`` and anything else the protocol wants to report).  Each target is also a test.
:func:`format_result` (:mod:`.report`) renders such a result as readable text ending in
``PASS``, ``FAIL`` or ``KNOWN FAILURE``.
"""
from .registry import TARGETS, Target, register, run_target, target_ids
from .report import format_result

__all__ = ["TARGETS", "Target", "format_result", "register", "run_target", "target_ids"]
