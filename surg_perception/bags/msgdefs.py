"""Embedded copies of the .msg definitions the bag tools register with rosbags.

A pip-installed library (no ROS, no source tree) has neither ``interfaces/`` nor
``share/*/msg``, so the text lives here; ``test/bags/test_typestore.py`` fails when a copy
drifts from ``interfaces/vision_msgs/msg/*.msg`` or ``msg/SurgicalScene.msg``.
"""

MSG_DEFINITIONS: dict[str, str] = {
    "vision_msgs/msg/BoundingBox2D": """\
vision_msgs/Pose2D center
float64 size_x
float64 size_y
""",
    "vision_msgs/msg/Classification": """\
std_msgs/Header header
vision_msgs/ObjectHypothesis[] results
""",
    "vision_msgs/msg/Detection2D": """\
std_msgs/Header header
vision_msgs/ObjectHypothesisWithPose[] results
vision_msgs/BoundingBox2D bbox
string id
""",
    "vision_msgs/msg/Detection2DArray": """\
std_msgs/Header header
vision_msgs/Detection2D[] detections
""",
    "vision_msgs/msg/LabelInfo": """\
std_msgs/Header header
vision_msgs/VisionClass[] class_map
float32 threshold
""",
    "vision_msgs/msg/ObjectHypothesis": """\
string class_id
float64 score
""",
    "vision_msgs/msg/ObjectHypothesisWithPose": """\
vision_msgs/ObjectHypothesis hypothesis
geometry_msgs/PoseWithCovariance pose
""",
    "vision_msgs/msg/Point2D": """\
float64 x
float64 y
""",
    "vision_msgs/msg/Pose2D": """\
vision_msgs/Point2D position
float64 theta
""",
    "vision_msgs/msg/VisionClass": """\
uint16 class_id
string class_name
""",
    "surg_perception/msg/SurgicalScene": """\
# All results of one processed camera frame, published together for controllers
# (e.g. a da Vinci Research Kit node) that need every output of the SAME frame.

# The source image header, unchanged (stamp AND frame_id of the camera image).
std_msgs/Header header

# Frames processed since the node was last activated (0-based, no gaps; dropped frames
# are not counted here but in /diagnostics).
uint64 sequence

# Instrument-type class ids (mono8) at camera resolution; ids index the seg LabelInfo.
sensor_msgs/Image mask

# Detections in camera pixels; class_id strings match the detection LabelInfo.
vision_msgs/Detection2DArray detections

# Surgical activity: every class with its probability (they sum to 1).
vision_msgs/Classification activity

# Image received -> results ready, and the network step alone, in milliseconds.
float32 latency_ms
float32 inference_ms

# Temporal memory (DMNet): entries in the local (last tau frames) and global memories,
# and whether the memory was cleared before this frame (stamp rewind, gap, frame_id or
# size change, or an explicit reset), with the reason.
uint32 local_memory_size
uint32 global_memory_size
bool memory_reset
string memory_reset_reason
""",
}
