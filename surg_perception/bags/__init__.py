"""rosbag2 tools without ROS: EndoVis/video -> bag, replay, offline processing, rendering.

Bag I/O uses the ``rosbags`` library (sqlite3 and mcap, metadata version 8); only the parts
that publish, subscribe or build the node's messages import ``surg_perception.ros`` (lazily).
"""
