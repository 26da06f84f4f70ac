"""``python -m surg_perception.demo --work DIR --model-config YAML --train-config YAML``."""

import sys

from surg_perception.demo.app import main

sys.exit(main())
