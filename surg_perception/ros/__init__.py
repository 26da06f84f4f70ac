"""ROS 2 side of surg_perception: the only package that imports rclpy."""
