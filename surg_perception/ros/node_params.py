"""The node's set-parameters handling: validate every request, apply live values.

A mixin of :class:`~surg_perception.ros.lifecycle_node.ApmtlNode`. Configure-time parameters are
accepted only while unconfigured (:func:`~surg_perception.ros.params.check_update`); live
ones (thresholds, overlay, reset gap) take effect on the next frame.
"""

from __future__ import annotations

from rcl_interfaces.msg import SetParametersResult

from surg_perception.errors import ConfigError
from surg_perception.ros.params import SPECS, NodeSettings, check_update, settings_from_values
from surg_perception.ros.pipeline import resolve_postprocess


class LiveParameters:
    """``_check_parameters`` (the set-parameters callback) and ``_apply_parameters``."""

    def _check_parameters(self, params: list) -> SetParametersResult:
        current = {name: self.get_parameter(name).value for name in SPECS}
        updates = {p.name: p.value for p in params}
        reason = check_update(current, updates, self._state_machine.current_state[1])
        if not reason and not self._post_set:
            self._apply_parameters(settings_from_values({**current, **updates}), params)
        return SetParametersResult(successful=not reason, reason=reason)

    def _apply_parameters(self, settings: NodeSettings, params: list) -> None:
        """Live parameters take effect on the next frame (configure-time ones at configure)."""
        processor = self._processor
        if self._settings is None or processor is None:
            return
        self._settings = settings
        predictor = processor.predictor
        try:  # from the checkpoint's values each time: an unset parameter restores them
            predictor.postprocess = resolve_postprocess(predictor.spec.postprocess, settings)
        except ConfigError as exc:  # e.g. box fill impossible for this model's classes
            self.get_logger().error(f"post-processing unchanged: {exc}")
        if any(p.name == "detection.score_threshold" for p in params) and self._subs:
            self._publish_label_infos()  # LabelInfo.threshold follows the live value
