"""Embedded copies of the .msg definitions the bag tools register with rosbags.

A pip-installed library (no ROS, no source tree) has neither ``interfaces/`` nor
``share/*/msg``, so the text lives here; ``test/bags/test_typestore.py`` fails when a copy
drifts from ``interfaces/vision_msgs/msg/*.msg`` or ``msg/*.msg``.
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
    "surg_perception/msg/Instrument": """\
# One instrument of one left-camera frame (an element of InstrumentArray), for robot
# controllers. 2D values are pixels of the LEFT image as published (u right, v down, pixel
# centres); tip_3d is in metres in the left camera optical frame (the array header's
# frame_id: x right, y down, z forward). A controller must gate every value on its flag.

# Track id of this stream: >= 1, stable over frames and short occlusions, never reused
# while the node runs (a memory reset starts new tracks with new ids).
uint32 track_id
# Frames and seconds since the track was first seen (0 on its first frame).
uint32 track_age_frames
float64 track_age_s

# Instrument type: class_id indexes the segmentation LabelInfo; class_name is its name.
uint16 class_id
string class_name
# Detection score of the box that claimed the instance, else the mask score (0..1).
float32 score
# Axis-aligned box of the instance mask (pixels).
vision_msgs/BoundingBox2D box
# Instance mask pixels.
uint32 mask_area

# Tool tip in the left image (pixels): the clasper / mask point farthest along the shaft.
vision_msgs/Point2D tip_2d
# Tool tip triangulated from the stereo pair (metres, left camera optical frame). Only
# meaningful when tip_3d_valid; tip_3d_reason says why not: mono (no right eye paired for
# this frame), no_match (no instrument of this class on the right epipolar row), no_tip,
# disparity, depth (outside the configured depth range); "ok" when valid.
geometry_msgs/Point tip_3d
bool tip_3d_valid
string tip_3d_reason

# Shaft axis in the left image: a point on it and the unit direction towards the tip.
vision_msgs/Point2D shaft_point
vision_msgs/Point2D shaft_direction

# Jaw opening angle in the image plane (radians); valid only where the claspers allow it.
float32 jaw_opening
bool jaw_opening_valid

# True when the image of this result was older than instruments.stale_after_s when it was
# published (the same as the array's stale flag): never act on it as on fresh data.
bool stale
""",
    "surg_perception/msg/InstrumentArray": """\
# Every instrument seen in one left-camera frame (~/instruments), for robot controllers.

# The LEFT image header, unchanged (stamp AND frame_id = the left camera optical frame, in
# which every tip_3d is expressed).
std_msgs/Header header

Instrument[] instruments

# True when a right image was paired with this left image (approximate time, stereo.slop_s)
# and the rig's camera_info is known: only then can tips be valid in 3D.
bool stereo
# Right stamp minus left stamp of the pair (seconds; 0 when not stereo).
float64 stereo_skew_s

# Seconds from the image stamp to publishing (node clock), and whether that exceeded
# instruments.stale_after_s: a stale array must not be taken for new data.
float64 age_s
bool stale
""",
}
