"""surg_perception: multi-task surgical scene perception for ROS 2 and offline training.

The library (models, processing, training, bag tools) never imports rclpy; only
:mod:`surg_perception.ros` does.
"""

import pkgutil

# The ROS build installs generated message code (``surg_perception.msg``) into the
# installed copy of this package. extend_path lets a source checkout that shadows the
# installed copy (running from the repository root) still find the generated modules.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"
