"""python -m executorch_tensorrt.runtime prebuild model.pte (runtime/prebuild.py)"""

import sys

from .prebuild import main

sys.exit(main())
