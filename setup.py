"""pip install path for the library alone (training servers without ROS); see setup.cfg."""
from setuptools import setup

setup()
