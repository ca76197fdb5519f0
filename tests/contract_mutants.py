"""A should-fail example for `make contracts`: a registry whose register_operation
forgets to count the new operation as live. CrossHair must find a counterexample
to its postcondition (`tests/test_contracts.py` checks that it does)."""

from __future__ import annotations

from opsref.impl import AlreadyRegisteredError, OperationSpec, OperationStatus, OpsLifecycleError, OpsLifecycleRegistry
from opsref.impl.registry import _Record


class ForgetsTheLiveSet(OpsLifecycleRegistry):
    def register_operation(self, spec: OperationSpec) -> None:
        """raises: OpsLifecycleError
        post: spec.id in self._live"""
        with self._lock:
            if spec.id in self._records or spec.id in self._used:
                raise AlreadyRegisteredError(spec.id)
            self._records[spec.id] = _Record(spec, OperationStatus.PROVISIONING)
            self._used[spec.id] = None


__all__ = ["ForgetsTheLiveSet", "OpsLifecycleError"]
