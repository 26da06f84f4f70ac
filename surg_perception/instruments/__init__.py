"""Instruments for robot controllers: instances, tips, tracks and stereo (no ROS, no torch).

``instances`` turns a type mask (+ part mask, + detections) into one :class:`Instance` per
instrument (mask, class, score, box, shaft axis, 2D tip, jaw opening); ``tracking`` gives
them ids that persist over a stream; ``stereo`` matches them across the eyes of a rectified
pair and triangulates their tips; ``pairing`` pairs left/right stamps by approximate time.
"""
