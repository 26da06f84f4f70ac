"""Child process for test_dds_exchange: publishes one SurgicalScene and one Detection2DArray.

It keeps publishing (1 Hz-ish) until killed, so discovery timing never matters.
"""

import sys
import time

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from surg_perception.msg import SurgicalScene


def make_detections() -> Detection2DArray:
    msg = Detection2DArray()
    msg.header.frame_id = "jhu_daVinci_left"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1700000000, 123456789
    det = Detection2D()
    det.header = msg.header
    det.bbox.center.position.x, det.bbox.center.position.y = 320.5, 240.25
    det.bbox.size_x, det.bbox.size_y = 64.0, 48.0
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = "Prograsp Forceps"
    hyp.hypothesis.score = 0.875
    det.results.append(hyp)
    det.id = "7"
    msg.detections.append(det)
    return msg


def make_scene(dets: Detection2DArray) -> SurgicalScene:
    scene = SurgicalScene()
    scene.header = dets.header
    scene.sequence = 41
    scene.mask.height, scene.mask.width, scene.mask.encoding = 2, 3, "mono8"
    scene.mask.step = 3
    scene.mask.data = bytes([0, 1, 2, 3, 4, 7])
    scene.detections = dets
    scene.activity.header = dets.header
    scene.latency_ms, scene.inference_ms = 12.5, 8.25
    scene.local_memory_size, scene.global_memory_size = 4, 3
    scene.memory_reset, scene.memory_reset_reason = True, "stamp went backwards"
    return scene


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("foundation_publisher")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pub_det = node.create_publisher(Detection2DArray, "foundation/detections", qos)
    pub_scene = node.create_publisher(SurgicalScene, "foundation/scene", qos)
    dets = make_detections()
    scene = make_scene(dets)
    deadline = time.monotonic() + float(sys.argv[1] if len(sys.argv) > 1 else 60)
    while time.monotonic() < deadline:
        pub_det.publish(dets)
        pub_scene.publish(scene)
        rclpy.spin_once(node, timeout_sec=0.2)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
