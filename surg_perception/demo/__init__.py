"""``make demo``: the main job end to end on this machine, scored on what it shows.

The application at the top of the package: it composes the data, training, the live node
and the bag tools, and nothing imports it. ``recipe`` (data + model), ``app`` (the steps),
``summary`` (the bag -> scores); the rclpy half is :mod:`surg_perception.ros.demo_live`.
"""
